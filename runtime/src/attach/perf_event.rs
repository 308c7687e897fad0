//! `profile`, `software` and `hardware`: one perf counter per online CPU,
//! each running the same program, as bpftrace attaches them. The three
//! differ only in the counter, so they share this attach.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{PerfCounter, PerfSample, ProgramInfo};

use super::Link;
use crate::error::Action;
use crate::sys::{self, perf_flag, perf_type, PerfEventAttr};
use crate::RuntimeError;

/// A machine without a PMU is told before BEGIN runs: a hardware counter
/// is opened once on the first CPU and closed again.
pub(super) fn check(info: &ProgramInfo, counter: PerfCounter) -> Result<(), RuntimeError> {
    if let PerfCounter::Hardware { .. } = counter {
        let cpu = online_cpus()?.first().copied().unwrap_or(0);
        open(info, counter, PerfSample::Period(u64::MAX >> 1), cpu)?;
    }
    Ok(())
}

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo, counter: PerfCounter, sample: PerfSample) -> Result<Link, RuntimeError> {
    let cpus = online_cpus()?;
    // Links already made are dropped (detached) if a later CPU fails.
    let mut link = Link::default();
    for cpu in cpus {
        let event = open(info, counter, sample, cpu)?;
        link.add(sys::perf_event_attach(event, program).map_err(|e| attach_error(info, counter, e))?);
    }
    Ok(link)
}

fn open(info: &ProgramInfo, counter: PerfCounter, sample: PerfSample, cpu: u32) -> Result<std::os::fd::OwnedFd, RuntimeError> {
    let (type_, config) = match counter {
        PerfCounter::Software { config } => (perf_type::SOFTWARE, config),
        PerfCounter::Hardware { config } => (perf_type::HARDWARE, config),
    };
    let (sample_period, freq) = match sample {
        PerfSample::Period(n) => (n, 0),
        PerfSample::Frequency(n) => (n, perf_flag::FREQ),
    };
    let mut attr = PerfEventAttr { type_, config, sample_period, flags: perf_flag::DISABLED | freq, ..PerfEventAttr::default() };
    let cpu = i32::try_from(cpu).unwrap_or(0);
    sys::perf_event_open(&mut attr, -1, cpu).map_err(|e| attach_error(info, counter, e))
}

pub(super) fn online_cpus() -> Result<Vec<u32>, RuntimeError> {
    aya::util::online_cpus().map_err(|(path, source)| RuntimeError::Syscall { call: "read", object: path.to_string(), source })
}

fn attach_error(info: &ProgramInfo, counter: PerfCounter, e: std::io::Error) -> RuntimeError {
    // perf_event_open says ENOENT (no such event), ENODEV or EOPNOTSUPP
    // when no PMU provides the counter: virtual machines and most
    // containers have none.
    match (e.raw_os_error(), counter) {
        (Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP), PerfCounter::Hardware { .. }) => {
            RuntimeError::NoPmu { probe: info.probe_name.clone() }
        }
        (Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP), PerfCounter::Software { .. }) => {
            RuntimeError::Unsupported { kind: "perf event", probe: info.probe_name.clone(), source: e }
        }
        _ => RuntimeError::attach(Action::AttachPerfEvents, &info.probe_name, e),
    }
}
