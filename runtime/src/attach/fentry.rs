//! `fentry` and `fexit`: a kernel function's entry or return through a BPF
//! trampoline. The program is loaded against the function's BTF id, so the
//! kernel's BTF is parsed once, on the first such probe.

use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

use rbpf_codegen::manifest::ProgramInfo;

use super::Link;
use crate::btf::Btf;
use crate::error::Action;
use crate::loader::Loader;
use crate::{sys, RuntimeError};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

fn kernel_btf(info: &ProgramInfo) -> Result<&'static Btf, RuntimeError> {
    static BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    let parsed = BTF.get_or_init(|| {
        let data = std::fs::read(VMLINUX).map_err(|e| e.to_string())?;
        Btf::parse(&data)
    });
    parsed.as_ref().map_err(|why| RuntimeError::Unsupported {
        kind: "fentry",
        probe: info.probe_name.clone(),
        source: std::io::Error::other(format!("cannot read the kernel's BTF ({VMLINUX}): {why}")),
    })
}

/// The kernel's internal "operation not supported" (not in libc).
const ENOTSUPP: i32 = 524;

/// A kernel that has BTF but cannot build trampolines refuses the program
/// at load time; say so in one sentence rather than as a verifier error.
fn refused(info: &ProgramInfo, failure: sys::LoadFailure) -> RuntimeError {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let errno = failure.error.raw_os_error();
    // As root, EPERM is the kernel refusing the program type itself.
    if matches!(errno, Some(ENOTSUPP | libc::EOPNOTSUPP)) || (root && errno == Some(libc::EPERM)) {
        return RuntimeError::Unsupported {
            kind: "fentry",
            probe: info.probe_name.clone(),
            source: std::io::Error::other("the kernel refuses BPF tracing programs, which fentry and fexit need"),
        };
    }
    RuntimeError::refused(&info.name, &info.probe_name, failure)
}

pub(super) fn load(loader: &mut Loader<'_>, info: &ProgramInfo, func: &str) -> Result<std::os::fd::OwnedFd, RuntimeError> {
    let id = kernel_btf(info)?.function_id(func).ok_or_else(|| RuntimeError::Unsupported {
        kind: "fentry",
        probe: info.probe_name.clone(),
        source: std::io::Error::other(format!("the kernel's BTF has no function {func}")),
    })?;
    loader.load(info, id, &|failure| refused(info, failure))
}

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo) -> Result<Link, RuntimeError> {
    sys::raw_tracepoint_open(None, program)
        .map(Link::one)
        .map_err(|e| RuntimeError::attach(Action::AttachKprobes, &info.probe_name, e))
}
