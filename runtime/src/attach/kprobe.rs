//! `kprobe` and `kretprobe`: a kernel function's entry (or an instruction
//! in it) or its return, through the kernel's kprobe perf event.

use aya::programs::{KProbe, Program, ProgramError};
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::RuntimeError;

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut KProbe = typed(program, info, "kprobe program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn attach(program: &mut Program, info: &ProgramInfo, func: &str, offset: u64) -> Result<Link, RuntimeError> {
    let program: &mut KProbe = typed(program, info, "kprobe program")?;
    let attach_error = |source: ProgramError| match &source {
        ProgramError::SyscallError(e) if e.io_error.raw_os_error() == Some(libc::EILSEQ) => {
            RuntimeError::KprobeOffset { probe: info.probe_name.clone() }
        }
        _ => RuntimeError::Attach { probe: info.probe_name.clone(), source },
    };
    let id = program.attach(func, offset).map_err(attach_error)?;
    let link = program.take_link(id).map_err(attach_error)?;
    Ok(Link::Kprobe(link))
}
