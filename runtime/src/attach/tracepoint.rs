//! `tracepoint:CATEGORY:NAME`: a perf event on the tracepoint's id (read
//! from tracefs, mounted first if needed) with the program attached; or,
//! for many syscall tracepoints, the program's place in the table of tail
//! calls that one program on raw_syscalls runs.

use std::os::fd::{AsRawFd, BorrowedFd};

use rbpf_codegen::manifest::ProgramInfo;

use super::Link;
use crate::error::Action;
use crate::loader::Maps;
use crate::sys::{self, perf_flag, perf_type, PerfEventAttr};
use crate::{tracefs, RuntimeError};

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo, category: &str, name: &str) -> Result<Link, RuntimeError> {
    let path = tracefs::tracefs()?.join("events").join(category).join(name).join("id");
    let missing = || RuntimeError::NoSuchTracepoint { category: category.into(), name: name.into() };
    let id = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| missing())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(RuntimeError::attach(Action::AttachTracepoints, &info.probe_name, e)),
    };
    let mut attr = PerfEventAttr { type_: perf_type::TRACEPOINT, config: id, flags: perf_flag::DISABLED, ..PerfEventAttr::default() };
    // Every process, on CPU 0: a tracepoint event runs its program on
    // whichever CPU hits it.
    let event = sys::perf_event_open(&mut attr, -1, 0).map_err(|e| RuntimeError::attach(Action::AttachTracepoints, &info.probe_name, e))?;
    let link = sys::perf_event_attach(event, program).map_err(|e| RuntimeError::attach(Action::AttachTracepoints, &info.probe_name, e))?;
    Ok(Link::from(link))
}

/// Puts a loaded tracepoint program at `index` of the program array
/// `table`: from then on the dispatcher runs it for that syscall.
pub(super) fn enter_table(program: BorrowedFd<'_>, maps: &Maps, table: &str, index: u32) -> Result<(), RuntimeError> {
    sys::map_update(maps.fd(table)?, &index.to_le_bytes(), &(program.as_raw_fd() as u32).to_le_bytes())
        .map_err(|e| RuntimeError::syscall(Action::AttachTracepoints, "BPF_MAP_UPDATE_ELEM", table, e))
}
