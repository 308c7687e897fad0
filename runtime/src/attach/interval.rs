//! `interval:UNIT:N`: a perf software cpu-clock event on CPU 0 firing every
//! period, as bpftrace attaches it.

use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::{PerfEvent, Program, ProgramError};
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::error::Action;
use crate::RuntimeError;

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut PerfEvent = typed(program, info, "perf event program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(program: &mut Program, info: &ProgramInfo, period_ns: u64) -> Result<Link, RuntimeError> {
    let program: &mut PerfEvent = typed(program, info, "perf event program")?;
    let id = program
        .attach(
            PerfEventConfig::Software(SoftwareEvent::CpuClock),
            PerfEventScope::AllProcessesOneCpu { cpu: 0 },
            SamplePolicy::Period(period_ns),
            false,
        )
        .map_err(|e| attach_error(info, e))?;
    let link = program.take_link(id).map_err(|e| attach_error(info, e))?;
    Ok(Link::Interval(link))
}

fn attach_error(info: &ProgramInfo, e: ProgramError) -> RuntimeError {
    if let ProgramError::SyscallError(s) = &e {
        // A kernel without perf events (or without this one).
        if matches!(s.io_error.raw_os_error(), Some(libc::ENOSYS | libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP)) {
            let source = std::io::Error::from_raw_os_error(s.io_error.raw_os_error().unwrap_or(0));
            return RuntimeError::Unsupported { kind: "interval", probe: info.probe_name.clone(), source };
        }
        if let Some(refusal) = RuntimeError::from_refusal(Action::AttachInterval, &s.io_error) {
            return refusal;
        }
    }
    RuntimeError::Attach { probe: info.probe_name.clone(), source: e }
}
