//! `watchpoint`: a hardware breakpoint perf event (PERF_TYPE_BREAKPOINT,
//! sample period 1) running the program on every access it watches. With
//! a followed process it is one event for that process on whichever CPU it
//! runs; without one it watches a kernel address, one event per online CPU,
//! as bpftrace does.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{ProgramInfo, WatchMode};

use super::perf_event::online_cpus;
use super::Link;
use crate::error::Action;
use crate::sys::{self, perf_flag, perf_type, PerfEventAttr};
use crate::RuntimeError;

/// `HW_BREAKPOINT_R`, `_W`, `_RW` and `_X`.
fn bp_type(mode: WatchMode) -> u32 {
    match mode {
        WatchMode::Read => 1,
        WatchMode::Write => 2,
        WatchMode::ReadWrite => 3,
        WatchMode::Execute => 4,
    }
}

pub(super) fn attach(
    program: BorrowedFd<'_>,
    info: &ProgramInfo,
    address: u64,
    length: u8,
    mode: WatchMode,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let length = match (mode, length) {
        // The kernel takes the length of a long for an instruction.
        (WatchMode::Execute, _) => std::mem::size_of::<libc::c_long>() as u64,
        (_, 1 | 2 | 4 | 8) => u64::from(length),
        _ => return Err(RuntimeError::Missing { what: "watchpoint length", name: info.probe_name.clone() }),
    };
    let scopes: Vec<(i32, i32)> = match pid.and_then(|p| i32::try_from(p).ok()) {
        Some(pid) => vec![(pid, -1)],
        None => online_cpus()?.into_iter().map(|cpu| (-1, i32::try_from(cpu).unwrap_or(0))).collect(),
    };
    // Links already made are dropped (detached) if a later one fails.
    let mut links = Vec::with_capacity(scopes.len());
    for (pid_arg, cpu) in scopes {
        let mut attr = PerfEventAttr {
            type_: perf_type::BREAKPOINT,
            sample_period: 1,
            flags: perf_flag::DISABLED | perf_flag::PRECISE_IP_ZERO_SKID,
            bp_type: bp_type(mode),
            config1: address,
            config2: length,
            ..PerfEventAttr::default()
        };
        let event = sys::perf_event_open(&mut attr, pid_arg, cpu).map_err(|e| attach_error(info, pid, mode, e))?;
        links.push(sys::perf_event_attach(event, program).map_err(|e| attach_error(info, pid, mode, e))?);
    }
    Ok(Link(links))
}

fn attach_error(info: &ProgramInfo, pid: Option<u32>, mode: WatchMode, e: std::io::Error) -> RuntimeError {
    let probe = info.probe_name.clone();
    let reason = match e.raw_os_error() {
        // The breakpoint PMU is missing (some virtual machines) or
        // switched off.
        Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP) => Some("this kernel or machine has no hardware breakpoints"),
        Some(libc::ENOSPC) => Some("every debug register is in use (x86 has four; a debugger or another trace may hold them)"),
        // x86's debug registers watch writes, or reads and writes, never
        // reads alone.
        Some(libc::EINVAL) if mode == WatchMode::Read => Some("this machine cannot watch reads alone: watch `rw` (reads and writes) instead"),
        Some(libc::EINVAL) => Some("the kernel refused the breakpoint's address, length or mode on this machine"),
        Some(libc::ESRCH) if pid.is_some() => Some("the process has exited"),
        _ => None,
    };
    match reason {
        Some(reason) => RuntimeError::Watchpoint { probe, reason },
        None => RuntimeError::attach(Action::AttachPerfEvents, &info.probe_name, e),
    }
}
