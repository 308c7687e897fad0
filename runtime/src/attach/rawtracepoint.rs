//! `rawtracepoint:NAME`: a BPF_PROG_TYPE_RAW_TRACEPOINT program attached by
//! the tracepoint's name (BPF_RAW_TRACEPOINT_OPEN); no tracefs is needed.

use aya::programs::{Program, ProgramError, RawTracePoint};
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::error::Action;
use crate::RuntimeError;

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut RawTracePoint = typed(program, info, "raw tracepoint program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(program: &mut Program, info: &ProgramInfo, name: &str) -> Result<Link, RuntimeError> {
    let program: &mut RawTracePoint = typed(program, info, "raw tracepoint program")?;
    let id = program.attach(name).map_err(|e| attach_error(info, name, e))?;
    let link = program.take_link(id).map_err(|e| attach_error(info, name, e))?;
    Ok(Link::RawTracepoint(link))
}

fn attach_error(info: &ProgramInfo, name: &str, e: ProgramError) -> RuntimeError {
    if let ProgramError::SyscallError(s) = &e {
        match s.io_error.raw_os_error() {
            // The checker validated the name, so this is a kernel that
            // lists an event it has no raw tracepoint for, or an object
            // compiled for another kernel.
            Some(libc::ENOENT) => return RuntimeError::NoSuchRawTracepoint { name: name.to_string() },
            // The kernel compares the furthest context byte the program
            // reads with the tracepoint's argument count only here.
            Some(libc::EINVAL) => return RuntimeError::RawTracepointArgs { probe: info.probe_name.clone() },
            _ => {}
        }
        if let Some(refusal) = RuntimeError::from_refusal(Action::AttachTracepoints, &s.io_error) {
            return refusal;
        }
    }
    RuntimeError::Attach { probe: info.probe_name.clone(), source: e }
}
