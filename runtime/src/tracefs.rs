//! Finding tracefs, and mounting it when it is missing and we are root (as
//! perf and bpftool do): tracepoint formats and ids live there.

use std::ffi::CStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where tracefs is mounted on current systems, and where rbpf mounts it.
const TRACEFS: &str = "/sys/kernel/tracing";
const TRACEFS_C: &CStr = c"/sys/kernel/tracing";
/// Where older systems have it, under debugfs.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// Why tracefs could not be found, in one sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TracefsError(String);

/// The tracefs mount point, mounting it first if needed. Mounting happens
/// at most once per process; the mount stays for later runs.
pub fn tracefs() -> Result<PathBuf, TracefsError> {
    static MOUNT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut found = MOUNT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = &*found {
        return Ok(path.clone());
    }
    let path = match locate()? {
        Some(path) => path,
        None => mount()?,
    };
    *found = Some(path.clone());
    Ok(path)
}

/// A mounted tracefs has an `events` directory.
fn is_mounted(path: &Path) -> bool {
    path.join("events").is_dir()
}

/// The first mounted tracefs; `Ok(None)` when there is none, an error when
/// one is there but closed to us (tracefs is root's only, mode 0700).
fn locate() -> Result<Option<PathBuf>, TracefsError> {
    for path in [TRACEFS, DEBUGFS_TRACING].map(PathBuf::from) {
        match std::fs::metadata(path.join("events")) {
            Ok(meta) if meta.is_dir() => return Ok(Some(path)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(TracefsError(format!("reading tracefs at {} needs root", path.display())));
            }
            _ => {}
        }
    }
    Ok(None)
}

fn mount() -> Result<PathBuf, TracefsError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(TracefsError(format!(
            "tracefs is not mounted (at {TRACEFS} or {DEBUGFS_TRACING}) and mounting it needs root"
        )));
    }
    let target = Path::new(TRACEFS);
    if !target.is_dir() {
        return Err(TracefsError(format!("this kernel has no tracefs ({TRACEFS} does not exist)")));
    }
    // SAFETY: all pointers are NUL-terminated static strings; no data.
    let ret = unsafe { libc::mount(c"tracefs".as_ptr(), TRACEFS_C.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if ret != 0 {
        let e = io::Error::last_os_error();
        // Another process may have mounted it meanwhile.
        if is_mounted(target) {
            return Ok(target.to_path_buf());
        }
        return Err(TracefsError(format!("tracefs is not mounted and mounting it at {TRACEFS} failed: {e}")));
    }
    Ok(target.to_path_buf())
}
