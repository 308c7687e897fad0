//! The host as the checker sees it: [`HostTarget`] answers the questions of
//! [`rbpf_lang::target::Target`] from this machine's tracefs, kernel BTF and
//! ELF files, lazily — only what a program names (or a listing searches)
//! is read, and each source at most once.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;

use rbpf_lang::ctypes::CType;
use rbpf_lang::target::{KernelFunction, KernelSymbol, SharedLibrary, Target, TargetError, TracepointFormat, UserFunction, UsdtProbe, UserSymbol};

use std::sync::Arc;

use crate::btf::{Btf, KernelBtf};

use crate::tracefs;

/// This machine. Creating it touches nothing; tracefs is located (and
/// mounted, if needed and allowed) on the first question that needs it.
#[derive(Debug, Default)]
pub struct HostTarget {
    tracefs: OnceLock<Result<PathBuf, String>>,
    btf: KernelBtf,
    kprobe_multi: OnceLock<bool>,
    uprobe_multi: OnceLock<bool>,
    /// The kernel image whose symbol table bounds kprobe offsets
    /// (bpftrace's BPFTRACE_VMLINUX); unset, bpftrace's places are searched.
    vmlinux: Option<PathBuf>,
}

impl HostTarget {
    /// This machine; nothing is read yet.
    pub fn new() -> Self {
        HostTarget::default()
    }

    /// This machine, with the kernel's BTF read from `dir` rather than
    /// /sys/kernel/btf: a `vmlinux` file and modules' split BTF files
    /// beside it (another kernel's, for tests).
    pub fn with_kernel_btf_dir(dir: impl Into<PathBuf>) -> Self {
        HostTarget { btf: KernelBtf::at(dir), ..HostTarget::default() }
    }

    /// This machine, with the kernel's BTF read from the file `path`
    /// (bpftrace's BPFTRACE_BTF): its types only, no module's.
    pub fn with_kernel_btf_file(path: impl Into<PathBuf>) -> Self {
        HostTarget { btf: KernelBtf::file(path), ..HostTarget::default() }
    }

    /// This machine, with kprobe offsets bounded by the symbol table of
    /// the kernel image at `path` (bpftrace's BPFTRACE_VMLINUX).
    pub fn with_vmlinux(self, path: impl Into<PathBuf>) -> Self {
        HostTarget { vmlinux: Some(path.into()), ..self }
    }

    /// vmlinux's BTF, parsed on first use.
    fn btf(&self) -> Result<Arc<Btf>, TargetError> {
        self.btf.vmlinux().map_err(TargetError::Unavailable)
    }

    fn tracefs(&self) -> Result<&PathBuf, TargetError> {
        self.tracefs
            .get_or_init(|| tracefs::tracefs().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TargetError::Unavailable(e.clone()))
    }
}

/// An I/O error's reason without Rust's "(os error N)" suffix.
pub(crate) fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The cgroup v2 id of the directory at `path`: its kernfs file handle,
/// 8 bytes, as bpftrace reads it. A path outside a cgroup2 file system
/// has a longer handle (EOVERFLOW), or none.
fn cgroup_id(path: &str) -> io::Result<u64> {
    /// `struct file_handle` with room for a kernfs handle alone.
    #[repr(C)]
    struct Handle {
        handle_bytes: u32,
        handle_type: i32,
        id: u64,
    }
    let path = std::ffi::CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut handle = Handle { handle_bytes: 8, handle_type: 0, id: 0 };
    let mut mount_id = 0;
    // SAFETY: `path` is NUL-terminated; `handle` is a file_handle with
    // room for the `handle_bytes` it declares; `mount_id` is an int.
    let r = unsafe { libc::name_to_handle_at(libc::AT_FDCWD, path.as_ptr(), (&raw mut handle).cast(), &mut mount_id, 0) };
    match r {
        0 => Ok(handle.id),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Why `path` could not be read, in one sentence.
fn cannot_read(path: &std::path::Path, e: &io::Error) -> TargetError {
    TargetError::Unavailable(format!("cannot read {}: {}", path.display(), os_reason(e)))
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
        let text = std::fs::read_to_string(&path).map_err(|e| cannot_read(&path, &e))?;
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

    fn syscall_number(&self, name: &str) -> Option<u32> {
        crate::syscalls::number(name)
    }

    fn kprobe_multi(&self) -> bool {
        *self.kprobe_multi.get_or_init(|| self.kprobes().is_ok() && crate::sys::has_kprobe_multi())
    }

    fn kernel_type(&self, name: &str) -> Result<CType, TargetError> {
        self.btf.named_type(name).map_err(TargetError::Unavailable)?.ok_or(TargetError::NotFound)
    }

    fn kernel_type_names(&self, kind: Option<&str>) -> Result<Vec<String>, TargetError> {
        self.btf.type_names(kind).map_err(TargetError::Unavailable)
    }

    fn kernel_enum_constant(&self, name: &str) -> Result<i64, TargetError> {
        self.btf.enum_constant(name).map_err(TargetError::Unavailable)?.ok_or(TargetError::NotFound)
    }

    fn kernel_functions(&self) -> Result<Vec<KernelSymbol>, TargetError> {
        let path = self.tracefs()?.join("available_filter_functions");
        let text = std::fs::read_to_string(&path).map_err(|e| cannot_read(&path, &e))?;
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

    fn kernel_function(&self, module: Option<&str>, name: &str) -> Result<KernelFunction, TargetError> {
        let found = self.btf.function(module, name).map_err(TargetError::Unavailable)?.ok_or(TargetError::NotFound)?;
        Ok(found.function)
    }

    fn kernel_function_names(&self, module: &str) -> Result<Vec<String>, TargetError> {
        let btf = if module == "vmlinux" { self.btf()? } else { self.btf.module(module).map_err(TargetError::Unavailable)? };
        Ok(btf.function_names().map(str::to_string).collect())
    }

    fn kernel_btf_modules(&self) -> Vec<String> {
        self.btf.module_names()
    }

    fn usdt_probes(&self, path: &str) -> Result<Vec<UsdtProbe>, TargetError> {
        let data = read_elf(path)?;
        let probes = crate::sdt_notes::usdt_probes(&data).map_err(|why| TargetError::Unavailable(format!("{path}: {why}")))?;
        if probes.is_empty() {
            return Err(TargetError::NotFound);
        }
        Ok(probes)
    }

    fn user_symbol_address(&self, path: &str, name: &str) -> Result<u64, TargetError> {
        use object::{Object, ObjectSymbol};
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        let found = file.symbols().chain(file.dynamic_symbols()).find(|s| s.is_definition() && s.name() == Ok(name));
        found.map(|s| s.address()).ok_or(TargetError::NotFound)
    }

    fn user_symbol(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError> {
        use object::{Object, ObjectSymbol};
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        let found = file.symbols().chain(file.dynamic_symbols()).find(|s| s.is_definition() && s.name() == Ok(name));
        found.map(|s| UserSymbol { address: s.address(), size: s.size() }).ok_or(TargetError::NotFound)
    }

    fn kernel_symbol_address(&self, name: &str) -> Result<u64, TargetError> {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| TargetError::Unavailable(format!("/proc/kallsyms cannot be read: {e}")))?;
        use crate::kallsyms::Unresolved;
        crate::kallsyms::address_of(&text, name).map_err(|why| match why {
            Unresolved::Hidden => TargetError::Unavailable("/proc/kallsyms hides its addresses (kernel.kptr_restrict, or no CAP_SYSLOG)".into()),
            Unresolved::Absent { variables_listed: true } => TargetError::NotFound,
            Unresolved::Absent { variables_listed: false } => TargetError::Unavailable(format!(
                "`{name}` is not in /proc/kallsyms, which lists this kernel's functions but not its variables \
                 (the kernel is built without CONFIG_KALLSYMS_ALL)"
            )),
        })
    }

    fn kernel_function_size(&self, name: &str) -> Result<Option<u64>, TargetError> {
        use object::{Object, ObjectSymbol};
        let (path, named) = match &self.vmlinux {
            Some(path) => (path.clone(), true),
            None => match find_vmlinux() {
                Some(path) => (path, false),
                None => return Ok(None),
            },
        };
        let shown = if named { format!("{} (BPFTRACE_VMLINUX)", path.display()) } else { path.display().to_string() };
        // Mapped, not read: an image with debug information is hundreds of
        // MiB, of which the symbol table is a small part.
        let data = crate::btf::Bytes::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TargetError::Unavailable(format!("{shown} does not exist")),
            _ => TargetError::Unavailable(format!("cannot read {shown}: {}", os_reason(&e))),
        })?;
        let file = parse_elf(&shown, &data)?;
        Ok(file.symbols().find(|s| s.kind() == object::SymbolKind::Text && s.name() == Ok(name)).map(|s| s.size()))
    }

    fn user_function(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError> {
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        if let Some(symbol) = probe_symbol(&file, name) {
            return Ok(symbol);
        }
        let debug = separate_debug_file(path, &file).and_then(|debug| std::fs::read(debug).ok()).ok_or(TargetError::NotFound)?;
        probe_symbol(&object::File::parse(&*debug).map_err(|_| TargetError::NotFound)?, name).ok_or(TargetError::NotFound)
    }

    fn user_symbol_at(&self, path: &str, address: u64) -> Result<String, TargetError> {
        use object::{Object, ObjectSymbol};
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        let holds = |s: &object::Symbol<'_, '_>| {
            is_probe_symbol(s) && s.address() <= address && (address == s.address() || address - s.address() < s.size())
        };
        let found = |file: &object::File<'_>| file.symbols().chain(file.dynamic_symbols()).find(holds).and_then(|s| s.name().ok().map(str::to_string));
        if let Some(name) = found(&file) {
            return Ok(name);
        }
        let debug = separate_debug_file(path, &file).and_then(|debug| std::fs::read(debug).ok()).ok_or(TargetError::NotFound)?;
        found(&object::File::parse(&*debug).map_err(|_| TargetError::NotFound)?).ok_or(TargetError::NotFound)
    }

    fn user_instruction_boundary(&self, path: &str, function: &UserSymbol, offset: u64) -> Result<bool, TargetError> {
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        let code = function_code(&file, &data, function, offset)
            .ok_or_else(|| TargetError::Unavailable(format!("the code of the function at {:#x} is not in {path}", function.address)))?;
        instruction_boundary(object::Object::architecture(&file), code, function.address, offset)
    }

    fn uprobe_multi(&self) -> bool {
        *self.uprobe_multi.get_or_init(crate::sys::has_uprobe_multi)
    }

    fn program_directories(&self) -> Vec<String> {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        path.split(':').filter(|d| !d.is_empty()).map(str::to_string).collect()
    }

    fn shared_libraries(&self) -> Result<Vec<SharedLibrary>, TargetError> {
        const CACHE: &str = "/etc/ld.so.cache";
        let data = std::fs::read(CACHE).map_err(|e| cannot_read(std::path::Path::new(CACHE), &e))?;
        crate::ld_cache::parse(&data, crate::ld_cache::host_abi()).map_err(|why| TargetError::Unavailable(format!("{CACHE}: {why}")))
    }

    fn library_directories(&self) -> Vec<String> {
        // The multiarch directories first, as Debian's loader searches them.
        let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
        [format!("/lib/{multiarch}"), format!("/usr/lib/{multiarch}"), "/lib64".into(), "/usr/lib64".into(), "/lib".into(), "/usr/lib".into()].into()
    }

    fn is_file(&self, path: &str, executable: bool) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && (!executable || m.permissions().mode() & 0o111 != 0))
    }

    fn mapped_files(&self, pid: u32) -> Result<Vec<String>, TargetError> {
        let path = PathBuf::from(format!("/proc/{pid}/maps"));
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TargetError::NotFound,
            _ => cannot_read(&path, &e),
        })?;
        Ok(mapped_paths(&text))
    }

    fn cgroup_id(&self, path: &str) -> Result<u64, TargetError> {
        cgroup_id(path).map_err(|e| TargetError::Unavailable(os_reason(&e)))
    }

    fn current_directory(&self) -> Result<String, TargetError> {
        let dir = std::env::current_dir().map_err(|e| TargetError::Unavailable(os_reason(&e)))?;
        dir.into_os_string().into_string().map_err(|_| TargetError::Unavailable("its path is not UTF-8".into()))
    }

    fn user_functions_args(&self, path: &str, names: &[&str]) -> Result<HashMap<String, UserFunction>, TargetError> {
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        // A stripped binary's DWARF is in its separate debug file.
        let debug_data = if crate::dwarf::has_dwarf(&file) { None } else { separate_debug_file(path, &file).and_then(|d| std::fs::read(d).ok()) };
        let debug = debug_data.as_deref().and_then(|d| object::File::parse(d).ok());
        crate::dwarf::functions_args(path, &file, debug.as_ref(), names)
    }

    fn user_functions(&self, path: &str) -> Result<Vec<String>, TargetError> {
        let data = read_elf(path)?;
        let file = parse_elf(path, &data)?;
        let mut functions = defined_functions(&file);
        // A stripped library's local functions are in its separate debug
        // file, when one is installed (libc6-dbg), as bpftrace lists them.
        if let Some(data) = separate_debug_file(path, &file).and_then(|debug| std::fs::read(debug).ok()) {
            if let Ok(debug) = object::File::parse(&*data) {
                functions.extend(defined_functions(&debug));
            }
        }
        Ok(functions)
    }
}

/// The functions of an ELF file, from its symbol table and dynamic
/// symbols, as bpftrace lists them: every function or indirect function
/// (STT_FUNC, STT_GNU_IFUNC) with an address — which takes in an undefined
/// one whose canonical PLT entry a non-PIE executable holds.
fn defined_functions(file: &object::File<'_>) -> Vec<String> {
    use object::{Object, ObjectSymbol, SymbolFlags};
    const STT_FUNC: u8 = 2;
    const STT_GNU_IFUNC: u8 = 10;
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| matches!(s.flags(), SymbolFlags::Elf { st_info, .. } if matches!(st_info & 0xf, STT_FUNC | STT_GNU_IFUNC)))
        .filter(|s| s.address() != 0)
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(str::to_string))
        .collect()
}

/// Whether a uprobe can name `symbol`: a definition with an address, or
/// a GNU indirect function, which bpftrace 0.17 probes at the symbol's
/// address (its resolver) and which `object` counts as no definition.
fn is_probe_symbol(symbol: &object::Symbol<'_, '_>) -> bool {
    use object::{ObjectSymbol, SymbolFlags};
    const STT_GNU_IFUNC: u8 = 10;
    let ifunc = matches!(symbol.flags(), SymbolFlags::Elf { st_info, .. } if st_info & 0xf == STT_GNU_IFUNC);
    symbol.address() != 0 && (symbol.is_definition() || (ifunc && !symbol.is_undefined()))
}

/// Whether a uprobe can name `symbol` as a function: a defined one that
/// is not a variable (.data, .bss, TLS), where a uprobe would never fire;
/// an assembly label without a type counts.
fn is_code_symbol(symbol: &object::Symbol<'_, '_>) -> bool {
    use object::{ObjectSymbol, SymbolKind};
    is_probe_symbol(symbol) && !matches!(symbol.kind(), SymbolKind::Data | SymbolKind::Tls | SymbolKind::Section | SymbolKind::File)
}

/// The symbol `name` of `file` a uprobe can name, with its address and size.
fn probe_symbol(file: &object::File<'_>, name: &str) -> Option<UserSymbol> {
    use object::{Object, ObjectSymbol};
    file.symbols()
        .chain(file.dynamic_symbols())
        .find(|s| is_code_symbol(s) && s.name() == Ok(name))
        .map(|s| UserSymbol { address: s.address(), size: s.size() })
}

/// The files in the text of a `/proc/PID/maps`, each once, in order: the
/// sixth column where it is a path (not `[heap]` and the like, nor a file
/// deleted since it was mapped).
fn mapped_paths(maps: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for line in maps.lines() {
        // The path is the rest of the line after five columns; it may hold spaces.
        let Some(path) = line.splitn(6, char::is_whitespace).nth(5).map(str::trim_start) else { continue };
        if path.starts_with('/') && !path.ends_with(" (deleted)") && !files.iter().any(|f| f == path) {
            files.push(path.to_string());
        }
    }
    files
}

/// Where the debug symbols stripped from `path` are installed: by build
/// id under /usr/lib/debug/.build-id, else by its `.gnu_debuglink` name
/// beside it or under /usr/lib/debug (the places gdb looks).
pub(crate) fn separate_debug_file<'d, R: object::ReadRef<'d>>(path: &str, file: &object::File<'d, R>) -> Option<PathBuf> {
    use object::Object;
    const DEBUG_DIR: &str = "/usr/lib/debug";
    if let Ok(Some(id)) = file.build_id() {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        if hex.len() > 2 {
            let candidate = PathBuf::from(format!("{DEBUG_DIR}/.build-id/{}/{}.debug", &hex[..2], &hex[2..]));
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let (name, _crc) = file.gnu_debuglink().ok()??;
    let name = std::str::from_utf8(name).ok()?;
    let dir = std::path::Path::new(path).parent()?;
    let global = PathBuf::from(format!("{DEBUG_DIR}{}", dir.display())).join(name);
    [dir.join(name), dir.join(".debug").join(name), global].into_iter().find(|p| p.is_file() && p != std::path::Path::new(path))
}

/// The file offset a uprobe on function `name` of `path` is opened at: the
/// symbol's address (from the file, or its separate debug file for a
/// stripped local function) in the file's loadable segment that holds it.
pub(crate) fn uprobe_offset(path: &str, name: &str) -> Result<u64, TargetError> {
    match uprobe_offsets(path, &[name])?.pop().flatten() {
        Some(offset) => Ok(offset),
        None => Err(TargetError::NotFound),
    }
}

/// [`uprobe_offset`] of each of `names`, reading the file (and its debug
/// file, if some name is not in it) once: `None` for a name it lacks.
pub(crate) fn uprobe_offsets<S: AsRef<str>>(path: &str, names: &[S]) -> Result<Vec<Option<u64>>, TargetError> {
    use object::{Object, ObjectSegment, ObjectSymbol};
    let data = read_elf(path)?;
    let file = parse_elf(path, &data)?;
    let mut wanted: HashMap<&str, Option<u64>> = names.iter().map(|n| (n.as_ref(), None)).collect();
    fn collect(file: &object::File<'_>, wanted: &mut HashMap<&str, Option<u64>>) {
        for symbol in file.symbols().chain(file.dynamic_symbols()).filter(is_code_symbol) {
            if let Some(slot) = symbol.name().ok().and_then(|n| wanted.get_mut(n)) {
                slot.get_or_insert(symbol.address());
            }
        }
    }
    collect(&file, &mut wanted);
    let debug_data = match wanted.values().any(Option::is_none) {
        true => separate_debug_file(path, &file).and_then(|debug| std::fs::read(debug).ok()),
        false => None,
    };
    if let Some(debug) = debug_data.as_deref().and_then(|d| object::File::parse(d).ok()) {
        collect(&debug, &mut wanted);
    }
    let segments: Vec<(u64, u64, u64)> = file.segments().map(|s| (s.address(), s.size(), s.file_range().0)).collect();
    let offset = |name: &str, address: u64| {
        // A relocatable object (no segments) is probed at the address itself.
        if segments.is_empty() {
            return Ok(address);
        }
        segments
            .iter()
            .find(|(start, size, _)| *start <= address && address - start < *size)
            .map(|(start, _, offset)| address - start + offset)
            .ok_or_else(|| TargetError::Unavailable(format!("{path}: {name} lies in no loadable segment")))
    };
    names
        .iter()
        .map(|name| wanted[name.as_ref()].map(|address| offset(name.as_ref(), address)).transpose())
        .collect()
}

/// The bytes of `function` in the file `data` (of `file`) up to `offset`
/// and the longest instruction past it: its address mapped to the file
/// through the loadable segment that holds it (a relocatable object's
/// addresses are its sections').
fn function_code<'d>(file: &object::File<'d>, data: &'d [u8], function: &UserSymbol, offset: u64) -> Option<&'d [u8]> {
    use object::{Object, ObjectSegment};
    /// The longest x86-64 instruction.
    const MAX_INSTRUCTION: u64 = 15;
    let start = function.address;
    let file_start = match file.segments().find(|s| s.address() <= start && start - s.address() < s.size()) {
        Some(segment) => start - segment.address() + segment.file_range().0,
        None => start,
    };
    let end = file_start.checked_add(offset.saturating_add(MAX_INSTRUCTION).max(function.size))?;
    let (file_start, end) = (usize::try_from(file_start).ok()?, usize::try_from(end).ok()?.min(data.len()));
    data.get(file_start..end)
}

/// Whether `offset` bytes into `code`, a function at `address`, is where
/// one of its instructions starts, decoding them from the first on.
fn instruction_boundary(architecture: object::Architecture, code: &[u8], address: u64, offset: u64) -> Result<bool, TargetError> {
    use iced_x86::{Decoder, DecoderOptions};
    if architecture != object::Architecture::X86_64 {
        return Err(TargetError::Unavailable(format!("rbpf decodes x86-64 instructions only, not {architecture:?}")));
    }
    let mut decoder = Decoder::with_ip(64, code, address, DecoderOptions::NONE);
    let target = address + offset;
    while decoder.can_decode() && decoder.ip() < target {
        let instruction = decoder.decode();
        if instruction.is_invalid() {
            return Err(TargetError::Unavailable(format!("the bytes at {:#x} are no x86-64 instruction", instruction.ip())));
        }
    }
    Ok(decoder.ip() == target)
}

/// An uncompressed kernel image of the running kernel, with its symbol
/// table, where bpftrace looks for one.
fn find_vmlinux() -> Option<PathBuf> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let r = release.trim();
    [
        format!("/boot/vmlinux-{r}"),
        format!("/lib/modules/{r}/vmlinux-{r}"),
        format!("/lib/modules/{r}/build/vmlinux"),
        format!("/usr/lib/modules/{r}/kernel/vmlinux"),
        format!("/usr/lib/debug/boot/vmlinux-{r}"),
        format!("/usr/lib/debug/boot/vmlinux-{r}.debug"),
        format!("/usr/lib/debug/lib/modules/{r}/vmlinux"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn read_elf(path: &str) -> Result<Vec<u8>, TargetError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => TargetError::Unavailable(format!("{path} does not exist")),
        _ => TargetError::Unavailable(format!("cannot read {path}: {}", os_reason(&e))),
    })
}

fn parse_elf<'d>(path: &str, data: &'d [u8]) -> Result<object::File<'d>, TargetError> {
    object::File::parse(data).map_err(|e| TargetError::Unavailable(format!("{path} is not an ELF binary or library: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_is_on_an_instruction_boundary_or_not() {
        // push %rbp; mov %rsp,%rbp; mov %edi,-0x4(%rbp); lock incl (%rdi); ret
        let code = [0x55, 0x48, 0x89, 0xe5, 0x89, 0x7d, 0xfc, 0xf0, 0xff, 0x07, 0xc3];
        let x86 = object::Architecture::X86_64;
        let on = |offset| instruction_boundary(x86, &code, 0x1149, offset).unwrap();
        assert!([0, 1, 4, 7, 10].into_iter().all(on));
        assert!(![2, 3, 5, 6, 8, 9].into_iter().any(on));
        assert!(instruction_boundary(object::Architecture::Aarch64, &code, 0, 4).is_err());
        // Bytes that are no instruction (`ud` opcodes in data) say so.
        assert!(instruction_boundary(x86, &[0x06, 0x90], 0, 1).is_err());
    }

    #[test]
    fn the_kernel_image_named_gives_function_sizes() {
        // This test's own executable stands for the image: an ELF file
        // with a symbol table.
        let exe = std::env::current_exe().unwrap();
        let target = HostTarget::new().with_vmlinux(&exe);
        let main = target.kernel_function_size("main").unwrap();
        assert!(main.is_some_and(|size| size > 0), "{main:?}");
        assert_eq!(target.kernel_function_size("no_such_function_here").unwrap(), None);
        let missing = HostTarget::new().with_vmlinux("/nonexistent/vmlinux");
        match missing.kernel_function_size("main") {
            Err(TargetError::Unavailable(why)) => assert_eq!(why, "/nonexistent/vmlinux (BPFTRACE_VMLINUX) does not exist"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_the_files_a_process_maps() {
        let maps = "55d0a000-55d0b000 r--p 00000000 fe:00 123   /usr/bin/my app
55d0b000-55d0c000 r-xp 00001000 fe:00 123   /usr/bin/my app
7f00-7f01 rw-p 00000000 00:00 0    [heap]
7f02-7f03 r-xp 00026000 fe:00 9 /usr/lib/x86_64-linux-gnu/libc.so.6
7f04-7f05 rw-p 00000000 00:00 0
7f06-7f07 r-xp 00000000 00:05 7 /tmp/gone.so (deleted)
";
        assert_eq!(mapped_paths(maps), ["/usr/bin/my app", "/usr/lib/x86_64-linux-gnu/libc.so.6"]);
        let own = HostTarget::new().mapped_files(std::process::id()).unwrap();
        assert!(own.iter().any(|f| f.contains("libc")), "{own:?}");
    }

    #[test]
    fn refuses_names_that_would_leave_the_events_directory() {
        let target = HostTarget::new();
        for (category, name) in [("..", "x"), ("syscalls", "../../x"), ("", "x"), ("a/b", "c")] {
            assert_eq!(target.tracepoint_format(category, name), Err(TargetError::NotFound));
        }
    }
}
