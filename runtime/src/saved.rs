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

/// The description file in a directory written by [`save_host_description`].
pub const DESCRIPTION_FILE: &str = "description";
/// The directory of kernel BTF files beside it.
pub const BTF_DIR: &str = "btf";

/// Writes this machine's description into `dir` (created if need be): its
/// [`TargetDescription`] as text in [`DESCRIPTION_FILE`], and a copy of
/// the kernel's BTF (`/sys/kernel/btf`: vmlinux and the loaded modules')
/// in [`BTF_DIR`], from which kernel types are read when compiling for it.
pub fn save_host_description(dir: &Path) -> Result<(), String> {
    let description = describe_host(&crate::HostTarget::new()).map_err(|e| match e {
        rbpf_lang::target::TargetError::NotFound => "this kernel lists no tracepoints".to_string(),
        rbpf_lang::target::TargetError::Unavailable(why) => why,
    })?;
    let btf = dir.join(BTF_DIR);
    std::fs::create_dir_all(&btf).map_err(|e| format!("cannot create {}: {e}", btf.display()))?;
    let file = dir.join(DESCRIPTION_FILE);
    std::fs::write(&file, description.to_text()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    // A kernel without BTF: the description still serves programs that
    // name no kernel type.
    let Ok(entries) = std::fs::read_dir("/sys/kernel/btf") else { return Ok(()) };
    for entry in entries.flatten() {
        let to = btf.join(entry.file_name());
        // sysfs files are read whole, not copied by range.
        let bytes = std::fs::read(entry.path()).map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        std::fs::write(&to, bytes).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    Ok(())
}

/// Reads a directory written by [`save_host_description`]: the
/// description, and a [`crate::HostTarget`] that reads kernel types from
/// its BTF copy (and binaries from this machine's files), to build a
/// `DescribedTarget` of the two.
pub fn open_description(dir: &Path) -> Result<(TargetDescription, crate::HostTarget), String> {
    let file = dir.join(DESCRIPTION_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read the target description {}: {e}", file.display()))?;
    let description = TargetDescription::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((description, crate::HostTarget::with_kernel_btf_dir(dir.join(BTF_DIR))))
}
