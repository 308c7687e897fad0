//! `iter:`: a BPF iterator. The program is loaded against the BTF function
//! `bpf_iter_NAME` (as fentry's against its function) and linked with
//! attach type BPF_TRACE_ITER; the session then either reads one iterator
//! of the link to its end (what the program printed into the seq_file is
//! the output) or pins the link in bpffs, where each read of the pinned
//! file runs the program again.

use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rbpf_codegen::manifest::ProgramInfo;

use super::Link;
use crate::btf::KernelBtf;
use crate::error::Action;
use crate::loader::Loader;
use crate::{sys, RuntimeError};

/// Where bpffs is mounted, and where a relative pin is.
const BPFFS: &str = "/sys/fs/bpf";
const BPFFS_C: &CStr = c"/sys/fs/bpf";
/// statfs's f_type of a bpffs (BPF_FS_MAGIC).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn unsupported(info: &ProgramInfo, why: String) -> RuntimeError {
    RuntimeError::Unsupported { kind: "iter", probe: info.probe_name.clone(), source: std::io::Error::other(why) }
}

/// Loads the program against the iterator's function in vmlinux's BTF.
pub(super) fn load(loader: &mut Loader<'_>, info: &ProgramInfo, name: &str) -> Result<OwnedFd, RuntimeError> {
    let func = format!("bpf_iter_{name}");
    let found = KernelBtf::default().function(Some("vmlinux"), &func).map_err(|why| unsupported(info, why))?;
    let Some(found) = found else {
        return Err(unsupported(info, format!("the kernel's BTF has no function {func}")));
    };
    loader.load(info, found.id, None, &super::refused(info))
}

pub(super) fn attach(program: BorrowedFd<'_>, info: &ProgramInfo) -> Result<Link, RuntimeError> {
    sys::iter_link(program).map(Link::one).map_err(|e| RuntimeError::attach(Action::AttachIterator, &info.probe_name, e))
}

/// What was done with an attached iterator.
pub(crate) enum IterRun {
    /// It was read to its end: what the program printed.
    Read(Vec<u8>),
    /// Its link was pinned at this path.
    Pinned(PathBuf),
}

/// Reads one iterator of `link` to its end, or pins the link at `pin`.
pub(crate) fn read_or_pin(link: &Link, info: &ProgramInfo, pin: Option<&str>) -> Result<IterRun, RuntimeError> {
    let fail = |call: &'static str, object: String, source: std::io::Error| RuntimeError::Syscall { call, object, source };
    let Some(fd) = link.holds.first() else {
        return Err(unsupported(info, "the iterator has no link".to_string()));
    };
    if let Some(pin) = pin {
        let path = Path::new(BPFFS).join(pin);
        if path.starts_with(BPFFS) {
            mount_bpffs().map_err(|e| fail("mount", format!("bpffs at {BPFFS}"), e))?;
        }
        sys::obj_pin(fd.as_fd(), &path).map_err(|e| fail("BPF_OBJ_PIN", path.display().to_string(), e))?;
        return Ok(IterRun::Pinned(path));
    }
    let iterator = sys::iter_create(fd.as_fd()).map_err(|e| fail("BPF_ITER_CREATE", info.probe_name.clone(), e))?;
    let mut text = Vec::new();
    std::fs::File::from(iterator).read_to_end(&mut text).map_err(|e| fail("read", format!("the iterator of {}", info.probe_name), e))?;
    Ok(IterRun::Read(text))
}

/// Mounts bpffs at /sys/fs/bpf unless one is there, as bpftrace and
/// bpftool do before pinning.
fn mount_bpffs() -> std::io::Result<()> {
    let is_bpffs = || {
        // SAFETY: a zeroed statfs is a valid out parameter; the path is a
        // NUL-terminated static string.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        unsafe { libc::statfs(BPFFS_C.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
    };
    if is_bpffs() {
        return Ok(());
    }
    // SAFETY: all pointers are NUL-terminated static strings; no data.
    let ret = unsafe { libc::mount(c"bpffs".as_ptr(), BPFFS_C.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) };
    // Another process may have mounted it meanwhile.
    if ret != 0 && !is_bpffs() {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
