//! `watchpoint`: a hardware breakpoint perf event (PERF_TYPE_BREAKPOINT,
//! sample period 1) running the program on every access it watches. With
//! a followed process it is one event for that process on whichever CPU it
//! runs; without one it watches a kernel address, one event per online CPU,
//! as bpftrace does.

use aya::programs::perf_event::{
    BreakpointConfig, PerfBreakpointLength, PerfBreakpointType, PerfEventConfig, PerfEventScope, SamplePolicy,
};
use aya::programs::{PerfEvent, Program, ProgramError};
use rbpf_codegen::manifest::{ProgramInfo, WatchMode};

use super::{typed, Link};
use crate::error::Action;
use crate::RuntimeError;

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut PerfEvent = typed(program, info, "perf event program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(
    program: &mut Program,
    info: &ProgramInfo,
    address: u64,
    length: u8,
    mode: WatchMode,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let program: &mut PerfEvent = typed(program, info, "perf event program")?;
    let config = PerfEventConfig::Breakpoint(breakpoint(info, address, length, mode)?);
    let scopes: Vec<PerfEventScope> = match pid {
        Some(pid) => vec![PerfEventScope::OneProcess { pid, cpu: None }],
        None => aya::util::online_cpus()
            .map_err(|(path, source)| RuntimeError::Syscall { call: "read", object: path.to_string(), source })?
            .into_iter()
            .map(|cpu| PerfEventScope::AllProcessesOneCpu { cpu })
            .collect(),
    };
    // Links already made are dropped (detached) if a later one fails.
    let mut links = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let id = program.attach(config, scope, SamplePolicy::Period(1), false).map_err(|e| attach_error(info, pid, mode, e))?;
        links.push(program.take_link(id).map_err(|e| attach_error(info, pid, mode, e))?);
    }
    Ok(Link::PerfEvents(links))
}

fn breakpoint(info: &ProgramInfo, address: u64, length: u8, mode: WatchMode) -> Result<BreakpointConfig, RuntimeError> {
    let r#type = match mode {
        WatchMode::Read => PerfBreakpointType::Read,
        WatchMode::Write => PerfBreakpointType::Write,
        WatchMode::ReadWrite => PerfBreakpointType::ReadWrite,
        // The kernel takes the length of a long for an instruction.
        WatchMode::Execute => return Ok(BreakpointConfig::Instruction { address }),
    };
    let length = match length {
        1 => PerfBreakpointLength::Len1,
        2 => PerfBreakpointLength::Len2,
        4 => PerfBreakpointLength::Len4,
        8 => PerfBreakpointLength::Len8,
        _ => return Err(RuntimeError::Missing { what: "watchpoint length", name: info.probe_name.clone() }),
    };
    Ok(BreakpointConfig::Data { r#type, address, length })
}

fn attach_error(info: &ProgramInfo, pid: Option<u32>, mode: WatchMode, e: ProgramError) -> RuntimeError {
    if let ProgramError::SyscallError(s) = &e {
        let probe = info.probe_name.clone();
        let reason = match s.io_error.raw_os_error() {
            // The breakpoint PMU is missing (some virtual machines) or
            // switched off.
            Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP) => Some("this kernel or machine has no hardware breakpoints"),
            Some(libc::ENOSPC) => Some("every debug register is in use (x86 has four; a debugger or another trace may hold them)"),
            // x86's debug registers watch writes, or reads and writes,
            // never reads alone.
            Some(libc::EINVAL) if mode == WatchMode::Read => Some("this machine cannot watch reads alone: watch `rw` (reads and writes) instead"),
            Some(libc::EINVAL) => Some("the kernel refused the breakpoint's address, length or mode on this machine"),
            Some(libc::ESRCH) if pid.is_some() => Some("the process has exited"),
            _ => None,
        };
        if let Some(reason) = reason {
            return RuntimeError::Watchpoint { probe, reason };
        }
        if let Some(refusal) = RuntimeError::from_refusal(Action::AttachPerfEvents, &s.io_error) {
            return refusal;
        }
    }
    RuntimeError::Attach { probe: info.probe_name.clone(), source: e }
}
