//! `kprobe` and `kretprobe`: a kernel function's entry (or an instruction
//! in it) or its return, through the kernel's kprobe perf event; and many
//! functions' entries or returns through one multi-attach link (fprobe),
//! which attaches and detaches hundreds of functions in one system call.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use aya::programs::{KProbe, Program, ProgramError};
use aya::Ebpf;
use rbpf_codegen::insn::class::PSEUDO_MAP_FD;
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::dispatch::map_fd;
use crate::error::Action;
use crate::{sys, RuntimeError};

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

/// Loads a multi-attach kprobe program from the object's ELF, with the fds
/// of the maps aya created patched into its map loads (aya 0.14 cannot
/// load a program with the BPF_TRACE_KPROBE_MULTI attach type).
pub(super) fn load_multi(ebpf: &Ebpf, elf: &[u8], info: &ProgramInfo) -> Result<OwnedFd, RuntimeError> {
    let programs = rbpf_codegen::elf::read_programs(elf)
        .map_err(|e| RuntimeError::Event(format!("cannot read the object's programs: {e}")))?;
    let Some((_, code)) = programs.into_iter().find(|(name, _)| *name == info.name) else {
        return Err(RuntimeError::Missing { what: "program", name: info.name.clone() });
    };
    if !code.func_relocations.is_empty() {
        // The checker keeps programs with callbacks one per function.
        return Err(RuntimeError::Missing { what: "multi-attach program without callbacks", name: info.name.clone() });
    }
    let mut insns = code.insns;
    for reloc in &code.relocations {
        let fd = map_fd(ebpf, &reloc.map)?;
        let insn = insns
            .get_mut(reloc.insn_index)
            .ok_or_else(|| RuntimeError::Missing { what: "relocated instruction", name: reloc.map.clone() })?;
        insn.src = PSEUDO_MAP_FD;
        insn.imm = fd.as_raw_fd();
    }
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    sys::load_kprobe_multi(&info.name, &bytes)
        .map_err(|failure| RuntimeError::loaded_by_rbpf(&info.name, &info.probe_name, failure))
}

/// Links a program from [`load_multi`] to every function of the wildcard.
pub(super) fn attach_multi(program: BorrowedFd<'_>, info: &ProgramInfo, funcs: &[String], ret: bool) -> Result<Link, RuntimeError> {
    let mut sorted = funcs.to_vec();
    sorted.sort();
    sys::attach_kprobe_multi(program, &sorted, ret)
        .map(Link::Fd)
        .map_err(|e| RuntimeError::syscall(Action::AttachKprobes, "BPF_LINK_CREATE", &info.probe_name, e))
}
