//! Objects saved to files (`rbpf --emit-elf`) and the machine descriptions
//! they are compiled against: reading an object and checking it against
//! this kernel before anything loads, and describing this machine for a
//! compile elsewhere.

use std::path::Path;

use rbpf_codegen::object_file::{self, ObjectFile, ObjectFileError};
use rbpf_lang::target::{Target, TargetDescription};

/// Why a saved object cannot run here (nothing was loaded).
#[derive(Debug, thiserror::Error)]
pub enum SavedObjectError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is not an object rbpf wrote, is damaged, is from another rbpf,
    /// or was compiled for a kernel whose tracepoints differ.
    #[error("cannot run {path}")]
    Object {
        /// The file.
        path: String,
        /// What is wrong with it.
        #[source]
        source: ObjectFileError,
    },
}

/// Reads the object saved in `bytes` (from `path`, for messages) and
/// checks that it runs on the machine `target` stands for: written by this
/// rbpf, undamaged, and compiled for tracepoint layouts that `target` has.
pub fn check_object(path: &str, bytes: &[u8], target: &dyn Target) -> Result<ObjectFile, SavedObjectError> {
    let object = |source| SavedObjectError::Object { path: path.to_string(), source };
    let file = object_file::read(bytes).map_err(object)?;
    file.check_layouts(target).map_err(object)?;
    Ok(file)
}

/// [`check_object`] of the file at `path`.
pub fn open_object(path: &Path, target: &dyn Target) -> Result<ObjectFile, SavedObjectError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SavedObjectError::Read { path: name.clone(), source })?;
    check_object(&name, &bytes, target)
}

/// This machine's description, as `target` (normally a [`crate::HostTarget`])
/// reads it: every tracepoint's format, the CPUs, the attach features.
pub fn describe_host(target: &dyn Target) -> Result<TargetDescription, rbpf_lang::target::TargetError> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    TargetDescription::capture(target, release.trim())
}
