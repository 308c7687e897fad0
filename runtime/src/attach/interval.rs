//! `interval:UNIT:N`: a perf software cpu-clock event on CPU 0 firing every
//! period, as bpftrace attaches it.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::ProgramInfo;

use super::Link;
use crate::error::Action;
use crate::sys::{self, perf_flag, perf_type, PerfEventAttr};
use crate::RuntimeError;

/// PERF_COUNT_SW_CPU_CLOCK.
const CPU_CLOCK: u64 = 0;

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo, period_ns: u64) -> Result<Link, RuntimeError> {
    let mut attr = PerfEventAttr {
        type_: perf_type::SOFTWARE,
        config: CPU_CLOCK,
        sample_period: period_ns,
        flags: perf_flag::DISABLED,
        ..PerfEventAttr::default()
    };
    let attach_error = |e: std::io::Error| match e.raw_os_error() {
        // A kernel without perf events (or without this one).
        Some(libc::ENOSYS | libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP) => {
            RuntimeError::Unsupported { kind: "interval", probe: info.probe_name.clone(), source: e }
        }
        _ => RuntimeError::attach(Action::AttachInterval, &info.probe_name, e),
    };
    let event = sys::perf_event_open(&mut attr, -1, 0).map_err(attach_error)?;
    let link = sys::perf_event_attach(event, program).map_err(attach_error)?;
    Ok(Link::from(link))
}
