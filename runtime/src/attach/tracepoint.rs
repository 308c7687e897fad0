//! `tracepoint:CATEGORY:NAME`: a perf event on the tracepoint's id (read
//! from tracefs, mounted first if needed) with the program attached; or,
//! for many syscall tracepoints, the program's place in the table of tail
//! calls that one program on raw_syscalls runs.

use std::os::fd::{AsFd, AsRawFd};

use aya::programs::{Program, ProgramError, TracePoint};
use aya::Ebpf;
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::error::Action;
use crate::dispatch::map_fd;
use crate::{sys, tracefs, RuntimeError};

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut TracePoint = typed(program, info, "tracepoint program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(program: &mut Program, info: &ProgramInfo, category: &str, name: &str) -> Result<Link, RuntimeError> {
    let program: &mut TracePoint = typed(program, info, "tracepoint program")?;
    // aya looks tracefs up once per process: it must be mounted before.
    let events = tracefs::tracefs()?.join("events");
    if !events.join(category).join(name).join("id").exists() {
        return Err(RuntimeError::NoSuchTracepoint { category: category.into(), name: name.into() });
    }
    let id = program.attach(category, name).map_err(|e| attach_error(info, e))?;
    let link = program.take_link(id).map_err(|e| attach_error(info, e))?;
    Ok(Link::Tracepoint(link))
}

fn attach_error(info: &ProgramInfo, e: ProgramError) -> RuntimeError {
    let io_error = match &e {
        ProgramError::SyscallError(s) => Some(&s.io_error),
        ProgramError::TracePointError(aya::programs::trace_point::TracePointError::FileError { io_error, .. }) => {
            Some(io_error)
        }
        _ => None,
    };
    if let Some(refusal) = io_error.and_then(|io| RuntimeError::from_refusal(Action::AttachTracepoints, io)) {
        return refusal;
    }
    RuntimeError::Attach { probe: info.probe_name.clone(), source: e }
}

/// Puts a loaded tracepoint program at `index` of the program array
/// `table`: from then on the dispatcher runs it for that syscall.
pub(super) fn enter_table(ebpf: &mut Ebpf, info: &ProgramInfo, table: &str, index: u32) -> Result<(), RuntimeError> {
    let program: &mut TracePoint = typed(super::program(ebpf, info)?, info, "tracepoint program")?;
    let fd = program.fd().map_err(|e| RuntimeError::Attach { probe: info.probe_name.clone(), source: e })?.as_fd().as_raw_fd();
    sys::map_update(map_fd(ebpf, table)?, &index.to_le_bytes(), &(fd as u32).to_le_bytes())
        .map_err(|e| RuntimeError::syscall(Action::AttachTracepoints, "BPF_MAP_UPDATE_ELEM", table, e))
}
