//! The host as the checker sees it: [`HostTarget`] answers the questions of
//! [`rbpf_lang::target::Target`] from this machine's tracefs, lazily — only
//! the tracepoints a program names are read.

use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;

use rbpf_lang::target::{KernelFunction, KernelSymbol, Target, TargetError, TracepointFormat, UsdtProbe};

use crate::btf::Btf;

use crate::tracefs;

/// This machine. Creating it touches nothing; tracefs is located (and
/// mounted, if needed and allowed) on the first question that needs it.
#[derive(Debug, Default)]
pub struct HostTarget {
    tracefs: OnceLock<Result<PathBuf, String>>,
    btf: OnceLock<Result<Btf, String>>,
    kprobe_multi: OnceLock<bool>,
}

impl HostTarget {
    pub fn new() -> Self {
        HostTarget::default()
    }

    fn tracefs(&self) -> Result<&PathBuf, TargetError> {
        self.tracefs
            .get_or_init(|| tracefs::tracefs().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TargetError::Unavailable(e.clone()))
    }
}

/// The bytes of a binary or library a probe names.
fn read_binary(path: &str) -> Result<Vec<u8>, TargetError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => TargetError::Unavailable(format!("{path} does not exist")),
        _ => TargetError::Unavailable(format!("cannot read {path}: {e}")),
    })
}

/// A category or event name is one path component of plain characters.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

impl Target for HostTarget {
    fn tracepoint_format(&self, category: &str, name: &str) -> Result<TracepointFormat, TargetError> {
        if !is_plain_name(category) || !is_plain_name(name) {
            return Err(TargetError::NotFound);
        }
        let path = self.tracefs()?.join("events").join(category).join(name).join("format");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(TracepointFormat::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(TargetError::NotFound),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                Err(TargetError::Unavailable(format!("reading {} needs root", path.display())))
            }
            Err(e) => Err(TargetError::Unavailable(format!("cannot read {}: {e}", path.display()))),
        }
    }

    fn tracepoints(&self) -> Result<Vec<(String, String)>, TargetError> {
        let path = self.tracefs()?.join("available_events");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TargetError::Unavailable(format!("cannot read {}: {e}", path.display())))?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(category, name)| (category.to_string(), name.to_string()))
            .collect())
    }

    fn possible_cpus(&self) -> u32 {
        crate::sys::possible_cpus().map_or(1, |n| n as u32)
    }

    fn kprobes(&self) -> Result<(), TargetError> {
        // perf_event_open's kprobe PMU, or the older tracefs interface.
        if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
            || self.tracefs().is_ok_and(|t| t.join("kprobe_events").exists())
        {
            return Ok(());
        }
        Err(TargetError::Unavailable("this kernel is built without kprobes (CONFIG_KPROBES)".into()))
    }

    fn kprobe_multi(&self) -> bool {
        *self.kprobe_multi.get_or_init(|| self.kprobes().is_ok() && crate::sys::has_kprobe_multi())
    }

    fn kernel_functions(&self) -> Result<Vec<KernelSymbol>, TargetError> {
        let path = self.tracefs()?.join("available_filter_functions");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TargetError::Unavailable(format!("cannot read {}: {e}", path.display())))?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let name = words.next()?.to_string();
                let module = words.next().map(|m| m.trim_matches(['[', ']']).to_string());
                Some(KernelSymbol { name, module })
            })
            .collect())
    }

    fn kernel_function(&self, name: &str) -> Result<KernelFunction, TargetError> {
        let btf = self
            .btf
            .get_or_init(|| {
                let data = std::fs::read("/sys/kernel/btf/vmlinux")
                    .map_err(|e| format!("this kernel has no BTF (/sys/kernel/btf/vmlinux: {e})"))?;
                Btf::parse(&data).map_err(|e| format!("cannot read the kernel's BTF: {e}"))
            })
            .as_ref()
            .map_err(|e| TargetError::Unavailable(e.clone()))?;
        btf.function(name).ok_or(TargetError::NotFound)
    }

    fn usdt_probes(&self, path: &str) -> Result<Vec<UsdtProbe>, TargetError> {
        let data = read_binary(path)?;
        let probes = crate::sdt_notes::usdt_probes(&data).map_err(|why| TargetError::Unavailable(format!("{path}: {why}")))?;
        if probes.is_empty() {
            return Err(TargetError::NotFound);
        }
        Ok(probes)
    }

    fn user_symbol_address(&self, path: &str, name: &str) -> Result<u64, TargetError> {
        use object::{Object, ObjectSymbol};
        let data = read_binary(path)?;
        let file = object::File::parse(&*data)
            .map_err(|e| TargetError::Unavailable(format!("{path} is not an ELF binary or library: {e}")))?;
        let found = file.symbols().chain(file.dynamic_symbols()).find(|s| s.is_definition() && s.name() == Ok(name));
        found.map(|s| s.address()).ok_or(TargetError::NotFound)
    }

    fn user_function(&self, path: &str, name: &str) -> Result<(), TargetError> {
        use object::{Object, ObjectSymbol};
        let data = read_binary(path)?;
        let file = object::File::parse(&*data)
            .map_err(|e| TargetError::Unavailable(format!("{path} is not an ELF binary or library: {e}")))?;
        let defines = |s: object::Symbol<'_, '_>| s.is_definition() && s.name() == Ok(name);
        if file.symbols().any(defines) || file.dynamic_symbols().any(defines) {
            Ok(())
        } else {
            Err(TargetError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_that_would_leave_the_events_directory() {
        let target = HostTarget::new();
        for (category, name) in [("..", "x"), ("syscalls", "../../x"), ("", "x"), ("a/b", "c")] {
            assert_eq!(target.tracepoint_format(category, name), Err(TargetError::NotFound));
        }
    }
}
