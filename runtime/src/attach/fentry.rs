//! `fentry` and `fexit`: a kernel function's entry or return through a BPF
//! trampoline. The program is loaded against the function's BTF id, so the
//! kernel's BTF is parsed once, on the first such probe; a module's
//! function is found in that module's split BTF, and the program is loaded
//! against the module's BTF object as well.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use rbpf_codegen::manifest::ProgramInfo;

use super::Link;
use crate::btf::KernelBtf;
use crate::error::Action;
use crate::loader::Loader;
use crate::{sys, RuntimeError};

/// The kernel's BTF files, shared by every fentry probe of the process.
fn kernel_btf() -> &'static KernelBtf {
    static BTF: OnceLock<KernelBtf> = OnceLock::new();
    BTF.get_or_init(KernelBtf::default)
}

fn unsupported(info: &ProgramInfo, why: String) -> RuntimeError {
    RuntimeError::Unsupported { kind: "fentry", probe: info.probe_name.clone(), source: std::io::Error::other(why) }
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
        return unsupported(info, "the kernel refuses BPF tracing programs, which fentry and fexit need".into());
    }
    RuntimeError::refused(&info.name, &info.probe_name, failure)
}

/// Loads the program against `func`'s BTF id: in vmlinux's BTF, or in
/// `module`'s, whose kernel BTF object the load names too.
pub(super) fn load(loader: &mut Loader<'_>, info: &ProgramInfo, module: Option<&str>, func: &str) -> Result<OwnedFd, RuntimeError> {
    let found = kernel_btf().function(Some(module.unwrap_or("vmlinux")), func).map_err(|why| unsupported(info, why))?;
    let Some(found) = found else {
        let whose = module.map_or("the kernel's BTF".to_string(), |m| format!("the BTF of module {m}"));
        return Err(unsupported(info, format!("{whose} has no function {func}")));
    };
    let object: Option<OwnedFd> = match module {
        Some(m) => Some(
            sys::kernel_btf_object(m)
                .map_err(|e| RuntimeError::Syscall { call: "BPF_BTF_GET_NEXT_ID", object: format!("the BTF of module {m}"), source: e })?
                .ok_or_else(|| unsupported(info, format!("the kernel has no BTF object for module {m} (was it unloaded?)")))?,
        ),
        None => None,
    };
    loader.load(info, found.id, object.as_ref().map(AsFd::as_fd), &|failure| refused(info, failure))
}

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo) -> Result<Link, RuntimeError> {
    sys::raw_tracepoint_open(None, program)
        .map(Link::one)
        .map_err(|e| RuntimeError::attach(Action::AttachKprobes, &info.probe_name, e))
}
