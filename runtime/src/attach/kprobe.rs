//! `kprobe` and `kretprobe`: a kernel function's entry (or an instruction
//! in it) or its return, through the kprobe PMU; and many functions'
//! entries or returns through one multi-attach link (fprobe), which
//! attaches and detaches hundreds of functions in one system call.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::ProgramInfo;

use super::pmu::Pmu;
use super::Link;
use crate::error::Action;
use crate::{sys, RuntimeError};

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo, func: &str, offset: u64, ret: bool) -> Result<Link, RuntimeError> {
    let pmu = Pmu::open("kprobe", "kprobe", &info.probe_name)?;
    let attach_error = |e: std::io::Error| match e.raw_os_error() {
        Some(libc::EILSEQ) => RuntimeError::KprobeOffset { probe: info.probe_name.clone() },
        _ => RuntimeError::attach(Action::AttachKprobes, &info.probe_name, e),
    };
    let event = sys::perf_event_open_probe(pmu.r#type, func, offset, pmu.retprobe(ret)?, None).map_err(attach_error)?;
    let link = sys::perf_event_attach(event, program).map_err(attach_error)?;
    Ok(Link::from(link))
}

/// Links a program loaded for multi-attach to every function of the
/// wildcard.
pub(super) fn attach_multi(program: BorrowedFd<'_>, info: &ProgramInfo, funcs: &[String], ret: bool) -> Result<Link, RuntimeError> {
    let mut sorted = funcs.to_vec();
    sorted.sort();
    sys::attach_kprobe_multi(program, &sorted, ret)
        .map(Link::one)
        .map_err(|e| RuntimeError::syscall(Action::AttachKprobes, "BPF_LINK_CREATE", &info.probe_name, e))
}
