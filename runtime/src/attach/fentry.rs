//! `fentry` and `fexit`: a kernel function's entry or return through a BPF
//! trampoline. The program is loaded against the function's BTF id, so the
//! kernel's BTF is parsed once, on the first such probe.

use std::sync::OnceLock;

use aya::programs::{FEntry, FExit, Program, ProgramError};
use aya::Btf;
use rbpf_codegen::manifest::ProgramInfo;

use super::{typed, Link};
use crate::RuntimeError;

fn kernel_btf(info: &ProgramInfo) -> Result<&'static Btf, RuntimeError> {
    static BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    BTF.get_or_init(|| Btf::from_sys_fs().map_err(|e| e.to_string())).as_ref().map_err(|why| {
        RuntimeError::Unsupported {
            kind: "fentry",
            probe: info.probe_name.clone(),
            source: std::io::Error::other(format!("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): {why}")),
        }
    })
}

/// The kernel's internal "operation not supported" (not in libc).
const ENOTSUPP: i32 = 524;

/// A kernel that has BTF but cannot build trampolines refuses the program
/// at load time; say so in one sentence rather than as a verifier error.
fn load_error(info: &ProgramInfo, e: ProgramError) -> RuntimeError {
    if let ProgramError::LoadError { io_error, .. } = &e {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        // As root, EPERM is the kernel refusing the program type itself.
        if matches!(io_error.raw_os_error(), Some(ENOTSUPP | libc::EOPNOTSUPP)) || (root && io_error.raw_os_error() == Some(libc::EPERM)) {
            return RuntimeError::Unsupported {
                kind: "fentry",
                probe: info.probe_name.clone(),
                source: std::io::Error::other("the kernel refuses BPF tracing programs, which fentry and fexit need"),
            };
        }
    }
    RuntimeError::load(&info.name, &info.probe_name, e)
}

pub(super) fn load(program: &mut Program, info: &ProgramInfo, func: &str, ret: bool) -> Result<(), RuntimeError> {
    let btf = kernel_btf(info)?;
    if ret {
        let program: &mut FExit = typed(program, info, "fexit program")?;
        program.load(func, btf).map_err(|e| load_error(info, e))
    } else {
        let program: &mut FEntry = typed(program, info, "fentry program")?;
        program.load(func, btf).map_err(|e| load_error(info, e))
    }
}

pub(super) fn attach(program: &mut Program, info: &ProgramInfo, ret: bool) -> Result<Link, RuntimeError> {
    let attach_error = |source: ProgramError| RuntimeError::Attach { probe: info.probe_name.clone(), source };
    if ret {
        let program: &mut FExit = typed(program, info, "fexit program")?;
        let id = program.attach().map_err(attach_error)?;
        Ok(Link::Fexit(program.take_link(id).map_err(attach_error)?))
    } else {
        let program: &mut FEntry = typed(program, info, "fentry program")?;
        let id = program.attach().map_err(attach_error)?;
        Ok(Link::Fentry(program.take_link(id).map_err(attach_error)?))
    }
}
