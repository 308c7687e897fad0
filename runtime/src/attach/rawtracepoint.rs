//! `rawtracepoint:NAME`: a BPF_PROG_TYPE_RAW_TRACEPOINT program attached by
//! the tracepoint's name (BPF_RAW_TRACEPOINT_OPEN); no tracefs is needed.

use std::ffi::CString;
use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::ProgramInfo;

use super::Link;
use crate::error::Action;
use crate::{sys, RuntimeError};

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo, name: &str) -> Result<Link, RuntimeError> {
    let missing = || RuntimeError::NoSuchRawTracepoint { name: name.to_string() };
    let c_name = CString::new(name).map_err(|_| missing())?;
    let e = match sys::raw_tracepoint_open(Some(&c_name), program) {
        Ok(link) => return Ok(Link::one(link)),
        Err(e) => e,
    };
    Err(match e.raw_os_error() {
        // The checker validated the name, so this is a kernel that lists
        // an event it has no raw tracepoint for, or an object compiled for
        // another kernel.
        Some(libc::ENOENT) => missing(),
        // The kernel compares the furthest context byte the program reads
        // with the tracepoint's argument count only here.
        Some(libc::EINVAL) => RuntimeError::RawTracepointArgs { probe: info.probe_name.clone() },
        _ => RuntimeError::attach(Action::AttachTracepoints, &info.probe_name, e),
    })
}
