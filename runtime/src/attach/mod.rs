//! Loading and attaching the programs of an object, one module per probe
//! kind. Every attach returns a [`Link`] that detaches when dropped.

mod interval;
mod special;
mod tracepoint;
mod uprobe;

use aya::programs::{perf_event::PerfEventLink, trace_point::TracePointLink, uprobe::UProbeLink, Program};
use aya::Ebpf;
use rbpf_codegen::manifest::{Attach, ProgramInfo};

use crate::RuntimeError;

/// An attached probe; dropping it detaches it.
#[derive(Debug)]
pub(crate) enum Link {
    Tracepoint(#[allow(dead_code, reason = "held for its Drop")] TracePointLink),
    Interval(#[allow(dead_code, reason = "held for its Drop")] PerfEventLink),
    Uprobe(#[allow(dead_code, reason = "held for its Drop")] UProbeLink),
}

fn program<'a>(ebpf: &'a mut Ebpf, info: &ProgramInfo) -> Result<&'a mut Program, RuntimeError> {
    ebpf.program_mut(&info.name)
        .ok_or_else(|| RuntimeError::Missing { what: "program", name: info.name.clone() })
}

/// Loads one program into the kernel (the verifier runs here).
pub(crate) fn load(ebpf: &mut Ebpf, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program = program(ebpf, info)?;
    match &info.attach {
        Attach::Begin | Attach::End => special::load(program, info),
        Attach::Tracepoint { .. } => tracepoint::load(program, info),
        Attach::Interval { .. } => interval::load(program, info),
        Attach::Uprobe { .. } => uprobe::load(program, info),
    }
}

/// Attaches one loaded program; BEGIN and END attach to nothing (`None`).
pub(crate) fn attach(ebpf: &mut Ebpf, info: &ProgramInfo) -> Result<Option<Link>, RuntimeError> {
    let program = program(ebpf, info)?;
    match &info.attach {
        Attach::Begin | Attach::End => Ok(None),
        Attach::Tracepoint { category, name } => tracepoint::attach(program, info, category, name).map(Some),
        Attach::Interval { period_ns } => interval::attach(program, info, *period_ns).map(Some),
        Attach::Uprobe { path, location, .. } => uprobe::attach(program, info, path, location).map(Some),
    }
}

/// Runs a BEGIN or END program once.
pub(crate) fn run_once(ebpf: &mut Ebpf, info: &ProgramInfo) -> Result<(), RuntimeError> {
    special::run(program(ebpf, info)?, info)
}

/// The program as the type its section says, or a Missing error.
fn typed<'a, T>(program: &'a mut Program, info: &ProgramInfo, what: &'static str) -> Result<&'a mut T, RuntimeError>
where
    &'a mut T: TryFrom<&'a mut Program>,
{
    program.try_into().map_err(|_| RuntimeError::Missing { what, name: info.name.clone() })
}
