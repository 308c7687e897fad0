//! `usdt`: a statically defined probe site, attached as a uprobe at its
//! file offset, so that the kernel's reference counter raises the probe's
//! semaphore in every process that maps the file while the probe is
//! attached (and lowers it after), as `if (PROVIDER_NAME_ENABLED())` in the
//! traced code expects. For `-p PID` the event is that process's alone,
//! and so is the raised semaphore.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::ProgramInfo;

use super::pmu::Pmu;
use super::Link;
use crate::error::Action;
use crate::{sys, RuntimeError};

pub(super) fn attach(
    program: BorrowedFd<'_>,
    info: &ProgramInfo,
    path: &str,
    offset: u64,
    semaphore_offset: Option<u64>,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let pmu = Pmu::open("uprobe", "usdt", &info.probe_name)?;
    let config = match semaphore_offset {
        None => 0,
        Some(semaphore) => {
            // `config:32-63` since Linux 4.20, which added the counter.
            let shift = pmu.config_bit("ref_ctr_offset").map_err(|_| {
                RuntimeError::lacks(format!("{} (a USDT probe with a semaphore)", info.probe_name), "uprobes with a reference counter".into(), "4.20")
            })?;
            semaphore << shift
        }
    };
    let event = sys::perf_event_open_probe(pmu.r#type, path, offset, config, pid)
        .map_err(|e| RuntimeError::syscall(Action::AttachUprobes, "perf_event_open", &info.probe_name, e))?;
    let link = sys::perf_event_attach(event, program).map_err(|e| RuntimeError::syscall(Action::AttachUprobes, "BPF_LINK_CREATE", &info.probe_name, e))?;
    Ok(Link::from(link))
}
