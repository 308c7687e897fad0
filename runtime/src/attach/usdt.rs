//! `usdt`: a statically defined probe site, attached as a uprobe at its
//! file offset through the uprobe PMU directly, so that the kernel's
//! reference counter raises the probe's semaphore in every process that
//! maps the file while the probe is attached (and lowers it after), as
//! `if (PROVIDER_NAME_ENABLED())` in the traced code expects. For `-p PID`
//! the event is that process's alone, and so is the raised semaphore.

use std::os::fd::AsFd;

use aya::programs::{Program, UProbe};
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::error::Action;
use crate::{sys, RuntimeError};

const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe";

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut UProbe = typed(program, info, "uprobe program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(
    program: &mut Program,
    info: &ProgramInfo,
    path: &str,
    offset: u64,
    semaphore_offset: Option<u64>,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let program: &mut UProbe = typed(program, info, "uprobe program")?;
    let prog_fd = program
        .fd()
        .map_err(|source| RuntimeError::Attach { probe: info.probe_name.clone(), source })?;
    let pmu_type = read_pmu_file("type")?
        .trim()
        .parse::<u32>()
        .map_err(|_| RuntimeError::Event(format!("{UPROBE_PMU}/type is not a number")))?;
    let config = match semaphore_offset {
        None => 0,
        Some(semaphore) => semaphore << ref_ctr_shift()?,
    };
    let syscall_error = |call, e| RuntimeError::syscall(Action::AttachUprobes, call, &info.probe_name, e);
    let event = sys::perf_event_open_uprobe(pmu_type, path, offset, config, pid).map_err(|e| syscall_error("perf_event_open", e))?;
    let link = sys::perf_event_link(event.as_fd(), prog_fd.as_fd()).map_err(|e| syscall_error("BPF_LINK_CREATE", e))?;
    Ok(Link::Fd(link))
}

fn read_pmu_file(name: &str) -> Result<String, RuntimeError> {
    std::fs::read_to_string(format!("{UPROBE_PMU}/{name}"))
        .map_err(|e| RuntimeError::Event(format!("this kernel has no uprobe PMU ({UPROBE_PMU}/{name}: {e})")))
}

/// Where the reference counter's offset goes in `config`, from the PMU's
/// format file (`config:32-63` since Linux 4.20, which added it).
fn ref_ctr_shift() -> Result<u32, RuntimeError> {
    let format = std::fs::read_to_string(format!("{UPROBE_PMU}/format/ref_ctr_offset")).map_err(|_| {
        RuntimeError::Event("this kernel's uprobes have no reference counter for USDT semaphores (Linux 4.20+)".into())
    })?;
    parse_config_bits(&format)
        .ok_or_else(|| RuntimeError::Event(format!("cannot read {UPROBE_PMU}/format/ref_ctr_offset: `{}`", format.trim())))
}

/// The first bit of a PMU format such as `config:32-63`.
fn parse_config_bits(format: &str) -> Option<u32> {
    let bits = format.trim().strip_prefix("config:")?;
    let first = bits.split('-').next()?;
    first.parse().ok().filter(|&b| b < 64)
}

#[cfg(test)]
mod tests {
    use super::parse_config_bits;

    #[test]
    fn reads_pmu_format_bits() {
        assert_eq!(parse_config_bits("config:32-63\n"), Some(32));
        assert_eq!(parse_config_bits("config:0"), Some(0));
        assert_eq!(parse_config_bits("config1:0-63"), None);
        assert_eq!(parse_config_bits("config:99"), None);
    }
}
