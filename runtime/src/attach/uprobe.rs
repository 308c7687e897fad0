//! `uprobe` and `uretprobe`: a function's entry or return in a user-space
//! binary, in every process that runs it or, for `-p PID`, in that one.

use std::num::NonZeroU32;

use aya::programs::uprobe::{UProbeAttachLocation, UProbeScope};
use aya::programs::{Program, UProbe};
use rbpf_codegen::manifest::{ProgramInfo, UprobeLocation};

use super::{typed, Link};
use crate::RuntimeError;

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut UProbe = typed(program, info, "uprobe program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(program: &mut Program, info: &ProgramInfo, path: &str, location: &UprobeLocation, pid: Option<u32>) -> Result<Link, RuntimeError> {
    let program: &mut UProbe = typed(program, info, "uprobe program")?;
    let location = match location {
        UprobeLocation::Symbol(f) => UProbeAttachLocation::Symbol(f),
        UprobeLocation::SymbolOffset(f, offset) => UProbeAttachLocation::SymbolOffset(f, *offset),
        UprobeLocation::Address(a) => UProbeAttachLocation::AbsoluteOffset(*a),
    };
    let attach_error = |source| RuntimeError::Attach { probe: info.probe_name.clone(), source };
    // The kernel then runs the program for that process's hits alone,
    // rather than every process's being filtered by the predicate.
    let scope = pid.and_then(NonZeroU32::new).map_or(UProbeScope::AllProcesses, UProbeScope::OneProcess);
    let id = program.attach(location, path, scope).map_err(attach_error)?;
    let link = program.take_link(id).map_err(attach_error)?;
    Ok(Link::Uprobe(link))
}
