//! `uprobe` and `uretprobe`: a function's entry or return in a user-space
//! binary, in every process that runs it or, for `-p PID`, in that one,
//! through the uprobe PMU at the function's file offset.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{ProgramInfo, UprobeLocation};
use rbpf_lang::target::TargetError;

use super::pmu::Pmu;
use super::Link;
use crate::error::Action;
use crate::{sys, target, RuntimeError};

pub(super) fn attach(
    program: BorrowedFd<'_>,
    info: &ProgramInfo,
    path: &str,
    location: &UprobeLocation,
    ret: bool,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let symbol = |name: &str| {
        target::uprobe_offset(path, name).map_err(|e| match e {
            TargetError::NotFound => RuntimeError::Event(format!("cannot attach {}: {path} has no function {name}", info.probe_name)),
            TargetError::Unavailable(why) => RuntimeError::Event(format!("cannot attach {}: {why}", info.probe_name)),
        })
    };
    let offset = match location {
        UprobeLocation::Symbol(f) => symbol(f)?,
        UprobeLocation::SymbolOffset(f, offset) => symbol(f)? + offset,
        UprobeLocation::Address(a) => *a,
    };
    let pmu = Pmu::open("uprobe", "uprobe", &info.probe_name)?;
    // The kernel then runs the program for that process's hits alone,
    // rather than every process's being filtered by the predicate.
    let pid = pid.filter(|&p| p != 0);
    let event = sys::perf_event_open_probe(pmu.r#type, path, offset, pmu.retprobe(ret)?, pid)
        .map_err(|e| RuntimeError::attach(Action::AttachUprobes, &info.probe_name, e))?;
    let link = sys::perf_event_attach(event, program).map_err(|e| RuntimeError::attach(Action::AttachUprobes, &info.probe_name, e))?;
    Ok(Link::one(link))
}
