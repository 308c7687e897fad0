//! A target made of fixed facts, for the checker's, the probes' and the
//! code generator's tests: no kernel, no files.

use std::collections::HashMap;

use crate::ctypes::CType;

use super::{FieldKind, UserFunction, KernelFunction, KernelSymbol, SharedLibrary, Target, TargetError, TracepointField, TracepointFormat, UsdtProbe, UserSymbol};

/// A target made of fixed facts, for tests.
#[derive(Clone, Debug, Default)]
pub struct FakeTarget {
    /// Tracepoint formats by (category, name).
    pub tracepoints: HashMap<(String, String), TracepointFormat>,
    /// The functions kprobes can attach to.
    pub kernel_functions: Vec<KernelSymbol>,
    /// The kernel's BTF functions, by name.
    pub kernel_function_types: HashMap<String, KernelFunction>,
    /// Why kprobes are missing, when they are.
    pub no_kprobes: Option<String>,
    /// Whether kprobe multi-attach links are available.
    pub kprobe_multi: bool,
    /// Whether uprobe multi-attach links are available.
    pub uprobe_multi: bool,
    /// Syscall numbers by name.
    pub syscalls: HashMap<String, u32>,
    /// The functions of user binaries, by path.
    pub user_functions: HashMap<String, Vec<String>>,
    /// Why the list of kernel functions cannot be read, when it cannot.
    pub no_kernel_functions: Option<String>,
    /// Why the kernel's BTF cannot be read, when it cannot.
    pub no_btf: Option<String>,
    /// USDT probes by binary path.
    pub usdt: HashMap<String, Vec<UsdtProbe>>,
    /// Symbol addresses by (binary path, name).
    pub user_symbols: HashMap<(String, String), u64>,
    /// Symbol sizes by (binary path, name); 8 when not given.
    pub user_symbol_sizes: HashMap<(String, String), u64>,
    /// Where instructions start, by binary (addresses); a binary without
    /// an entry has an instruction at every byte.
    pub instruction_starts: HashMap<String, Vec<u64>>,
    /// Kernel symbols' addresses by name (`/proc/kallsyms`).
    pub kernel_symbols: HashMap<String, u64>,
    /// Kernel functions' sizes in the kernel image, by name.
    pub kernel_function_sizes: HashMap<String, u64>,
    /// Why the kernel image cannot be read, when it cannot.
    pub no_vmlinux: Option<String>,
    /// PATH's directories.
    pub program_directories: Vec<String>,
    /// The dynamic loader's cache.
    pub shared_libraries: Vec<SharedLibrary>,
    /// The dynamic loader's standard directories.
    pub library_directories: Vec<String>,
    /// Regular files by path, and whether each is executable.
    pub files: HashMap<String, bool>,
    /// The files each process has mapped, by pid.
    pub mapped_files: HashMap<u32, Vec<String>>,
    /// The kernel's types by C spelling (`struct task_struct`, `pid_t`).
    pub kernel_types: HashMap<String, CType>,
    /// The kernel's enumerators by name.
    pub kernel_constants: HashMap<String, i64>,
    /// The directory relative paths are resolved against (`/` when empty).
    pub current_directory: String,
    /// Functions' DWARF parameters by (binary path, function).
    pub user_function_args: HashMap<(String, String), UserFunction>,
    /// Binaries without DWARF, whose `args` cannot be read.
    pub no_dwarf: Vec<String>,
    /// Cgroup ids by directory path; another path does not exist.
    pub cgroups: HashMap<String, u64>,
}

impl FakeTarget {
    /// Adds a kernel function with typed arguments, e.g.
    /// `("vfs_read", &[("file", "struct file *", 8, false), ("count", "size_t", 8, false)], Some(("ssize_t", 8, true)))`.
    pub fn with_kernel_function(
        mut self,
        name: &str,
        args: &[(&str, &str, u32, bool)],
        ret: Option<(&str, u32, bool)>,
    ) -> Self {
        let field = |name: &str, c_type: &str, index: usize, size: u32, signed: bool| TracepointField {
            name: name.to_string(),
            c_type: c_type.to_string(),
            offset: 8 * index as u32,
            size,
            signed,
            kind: if c_type.ends_with('*') {
                FieldKind::Pointer { to_char: c_type.trim_end_matches('*').trim().ends_with("char") }
            } else {
                FieldKind::Int
            },
        };
        let fields = args.iter().enumerate().map(|(i, (n, t, size, signed))| field(n, t, i, *size, *signed)).collect();
        let retval = ret.map(|(t, size, signed)| field("retval", t, args.len(), size, signed));
        self.kernel_functions.push(KernelSymbol { name: name.to_string(), module: None });
        self.kernel_function_types
            .insert(name.to_string(), KernelFunction { args: TracepointFormat { fields }, retval, variadic: false, module: None });
        self
    }

    /// Adds a kernel function as [`FakeTarget::with_kernel_function`] does,
    /// in `module` (its BTF, and its line in the list of kernel functions).
    pub fn with_module_function(
        self,
        module: &str,
        name: &str,
        args: &[(&str, &str, u32, bool)],
        ret: Option<(&str, u32, bool)>,
    ) -> Self {
        let mut t = self.with_kernel_function(name, args, ret);
        if let Some(symbol) = t.kernel_functions.last_mut() {
            symbol.module = Some(module.to_string());
        }
        if let Some(f) = t.kernel_function_types.get_mut(name) {
            f.module = Some(module.to_string());
        }
        t
    }

    /// Adds the symbol `name` of `size` bytes at `address` to the binary `path`.
    pub fn with_user_symbol(mut self, path: &str, name: &str, address: u64, size: u64) -> Self {
        let key = (path.to_string(), name.to_string());
        self.user_symbols.insert(key.clone(), address);
        self.user_symbol_sizes.insert(key, size);
        self
    }

    /// Says where the instructions of `path` start (addresses), for the
    /// check that a uprobe's offset is on one.
    pub fn with_instruction_starts(mut self, path: &str, starts: &[u64]) -> Self {
        self.instruction_starts.insert(path.to_string(), starts.to_vec());
        self
    }

    /// Adds the kernel symbol `name` at `address`.
    pub fn with_kernel_symbol(mut self, name: &str, address: u64) -> Self {
        self.kernel_symbols.insert(name.to_string(), address);
        self
    }

    /// Adds a cgroup directory at `path` whose id is `id`.
    pub fn with_cgroup(mut self, path: &str, id: u64) -> Self {
        self.cgroups.insert(path.to_string(), id);
        self
    }

    /// Adds a user binary at `path` defining `functions`.
    pub fn with_user_functions(mut self, path: &str, functions: &[&str]) -> Self {
        self.user_functions.insert(path.to_string(), functions.iter().map(|f| f.to_string()).collect());
        self
    }

    /// Adds a USDT probe `provider:name` to the binary `path`, at file
    /// offset `address` (the fake's files map addresses to themselves).
    pub fn with_usdt(mut self, path: &str, provider: &str, name: &str, address: u64, semaphore: Option<u64>, args: &str) -> Self {
        self.usdt.entry(path.to_string()).or_default().push(UsdtProbe {
            provider: provider.to_string(),
            name: name.to_string(),
            address,
            offset: address,
            semaphore_offset: semaphore,
            args: args.to_string(),
        });
        self
    }

    /// Adds the DWARF parameters of function `name` in the binary at `path`.
    pub fn with_user_function_args(mut self, path: &str, name: &str, function: UserFunction) -> Self {
        self.user_function_args.insert((path.to_string(), name.to_string()), function);
        self
    }

    /// Adds a regular file at `path`, executable or not.
    pub fn with_file(mut self, path: &str, executable: bool) -> Self {
        self.files.insert(path.to_string(), executable);
        self
    }

    /// Adds `soname` at `path` to the dynamic loader's cache (and the file).
    pub fn with_shared_library(mut self, soname: &str, path: &str) -> Self {
        self.shared_libraries.push(SharedLibrary { name: soname.to_string(), path: path.to_string() });
        self.with_file(path, false)
    }

    /// Adds a process `pid` that maps `files`.
    pub fn with_process(mut self, pid: u32, files: &[&str]) -> Self {
        self.mapped_files.insert(pid, files.iter().map(|f| f.to_string()).collect());
        self
    }

    /// Adds a kernel type under its C spelling (`struct task_struct`).
    pub fn with_kernel_type(mut self, name: &str, ty: CType) -> Self {
        self.kernel_types.insert(name.to_string(), ty);
        self
    }

    /// Adds the types and enumerators that C definitions make, as if the
    /// kernel's BTF described them.
    pub fn with_kernel_definitions(mut self, text: &str) -> Self {
        let program = crate::parse(&format!("{text}\nBEGIN {{}}")).expect("kernel definitions parse");
        let (types, diags) = crate::cdefs::layout(&program.definitions, &mut |_| None);
        assert!(diags.is_empty(), "kernel definitions lay out: {diags:?}");
        self.kernel_types.extend(types.types);
        self.kernel_constants.extend(types.constants);
        self
    }

    /// Adds a tracepoint given the text of its format file.
    pub fn with_tracepoint(mut self, category: &str, name: &str, format: &str) -> Self {
        self.tracepoints
            .insert((category.to_string(), name.to_string()), TracepointFormat::parse(format));
        self
    }
}

impl Target for FakeTarget {
    fn possible_cpus(&self) -> u32 {
        1
    }

    /// A symbol added with [`FakeTarget::with_user_symbol`]; else a
    /// function of [`FakeTarget::user_functions`], or any function of a
    /// binary that has no such list, of unbounded size.
    fn user_function(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError> {
        if let Ok(symbol) = self.user_symbol(path, name) {
            return Ok(symbol);
        }
        match self.user_functions.get(path) {
            Some(functions) if !functions.iter().any(|f| f == name) => Err(TargetError::NotFound),
            _ => Ok(UserSymbol { address: 0, size: u64::MAX }),
        }
    }

    fn user_instruction_boundary(&self, path: &str, function: &UserSymbol, offset: u64) -> Result<bool, TargetError> {
        Ok(self.instruction_starts.get(path).is_none_or(|starts| starts.contains(&(function.address + offset))))
    }

    /// The symbol of `path` added with [`FakeTarget::with_user_symbol`]
    /// that holds `address`; any address of a binary with none resolves.
    fn user_symbol_at(&self, path: &str, address: u64) -> Result<String, TargetError> {
        let mut symbols = self.user_symbols.iter().filter(|((p, _), _)| p == path).peekable();
        if symbols.peek().is_none() {
            return Ok(String::new());
        }
        symbols
            .find(|(key, &start)| {
                let size = self.user_symbol_sizes.get(*key).copied().unwrap_or(8);
                start <= address && address - start < size
            })
            .map(|((_, name), _)| name.clone())
            .ok_or(TargetError::NotFound)
    }

    fn uprobe_multi(&self) -> bool {
        self.uprobe_multi
    }

    fn kprobes(&self) -> Result<(), TargetError> {
        match &self.no_kprobes {
            Some(why) => Err(TargetError::Unavailable(why.clone())),
            None => Ok(()),
        }
    }

    fn kprobe_multi(&self) -> bool {
        self.kprobe_multi
    }

    fn syscall_number(&self, name: &str) -> Option<u32> {
        self.syscalls.get(name).copied()
    }

    fn kernel_functions(&self) -> Result<Vec<KernelSymbol>, TargetError> {
        match &self.no_kernel_functions {
            Some(why) => Err(TargetError::Unavailable(why.clone())),
            None => Ok(self.kernel_functions.clone()),
        }
    }

    fn kernel_function(&self, module: Option<&str>, name: &str) -> Result<KernelFunction, TargetError> {
        if let Some(why) = &self.no_btf {
            return Err(TargetError::Unavailable(why.clone()));
        }
        if let Some(m) = module.filter(|m| *m != "vmlinux" && !self.kernel_btf_modules().iter().any(|known| known == m)) {
            return Err(TargetError::Unavailable(format!("no kernel module `{m}` with BTF is loaded")));
        }
        let f = self.kernel_function_types.get(name).ok_or(TargetError::NotFound)?;
        match module {
            Some(m) if f.module.as_deref().unwrap_or("vmlinux") != m => Err(TargetError::NotFound),
            _ => Ok(f.clone()),
        }
    }

    fn kernel_type(&self, name: &str) -> Result<CType, TargetError> {
        if let Some(why) = &self.no_btf {
            return Err(TargetError::Unavailable(why.clone()));
        }
        self.kernel_types.get(name).cloned().ok_or(TargetError::NotFound)
    }

    fn kernel_type_names(&self, kind: Option<&str>) -> Result<Vec<String>, TargetError> {
        if let Some(why) = &self.no_btf {
            return Err(TargetError::Unavailable(why.clone()));
        }
        let mut names: Vec<String> = self
            .kernel_types
            .keys()
            .filter_map(|key| match (kind, key.split_once(' ')) {
                (Some(k), Some((kw, name))) if k == kw => Some(name.to_string()),
                (None, None) => Some(key.clone()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    fn kernel_enum_constant(&self, name: &str) -> Result<i64, TargetError> {
        if let Some(why) = &self.no_btf {
            return Err(TargetError::Unavailable(why.clone()));
        }
        self.kernel_constants.get(name).copied().ok_or(TargetError::NotFound)
    }

    fn kernel_function_names(&self, module: &str) -> Result<Vec<String>, TargetError> {
        if let Some(why) = &self.no_btf {
            return Err(TargetError::Unavailable(why.clone()));
        }
        let mut names: Vec<String> = self
            .kernel_function_types
            .iter()
            .filter(|(_, f)| f.module.as_deref().unwrap_or("vmlinux") == module)
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    fn kernel_btf_modules(&self) -> Vec<String> {
        let mut modules: Vec<String> = self.kernel_function_types.values().filter_map(|f| f.module.clone()).collect();
        modules.sort();
        modules.dedup();
        modules
    }

    fn user_functions(&self, path: &str) -> Result<Vec<String>, TargetError> {
        self.user_functions
            .get(path)
            .cloned()
            .ok_or_else(|| TargetError::Unavailable(format!("{path} does not exist")))
    }

    fn usdt_probes(&self, path: &str) -> Result<Vec<UsdtProbe>, TargetError> {
        self.usdt.get(path).cloned().ok_or(TargetError::NotFound)
    }

    fn user_symbol_address(&self, path: &str, name: &str) -> Result<u64, TargetError> {
        self.user_symbols.get(&(path.to_string(), name.to_string())).copied().ok_or(TargetError::NotFound)
    }

    fn user_symbol(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError> {
        let key = (path.to_string(), name.to_string());
        let address = self.user_symbols.get(&key).copied().ok_or(TargetError::NotFound)?;
        Ok(UserSymbol { address, size: self.user_symbol_sizes.get(&key).copied().unwrap_or(8) })
    }

    fn kernel_symbol_address(&self, name: &str) -> Result<u64, TargetError> {
        self.kernel_symbols.get(name).copied().ok_or(TargetError::NotFound)
    }

    fn kernel_function_size(&self, name: &str) -> Result<Option<u64>, TargetError> {
        match &self.no_vmlinux {
            Some(why) => Err(TargetError::Unavailable(why.clone())),
            None => Ok(self.kernel_function_sizes.get(name).copied()),
        }
    }

    fn cgroup_id(&self, path: &str) -> Result<u64, TargetError> {
        self.cgroups.get(path).copied().ok_or_else(|| TargetError::Unavailable("No such file or directory".into()))
    }

    fn program_directories(&self) -> Vec<String> {
        self.program_directories.clone()
    }

    fn shared_libraries(&self) -> Result<Vec<SharedLibrary>, TargetError> {
        Ok(self.shared_libraries.clone())
    }

    fn library_directories(&self) -> Vec<String> {
        self.library_directories.clone()
    }

    fn is_file(&self, path: &str, executable: bool) -> bool {
        self.files.get(path).is_some_and(|&x| x || !executable)
    }

    fn current_directory(&self) -> Result<String, TargetError> {
        Ok(if self.current_directory.is_empty() { "/".into() } else { self.current_directory.clone() })
    }

    fn user_functions_args(&self, path: &str, names: &[&str]) -> Result<HashMap<String, UserFunction>, TargetError> {
        if self.no_dwarf.iter().any(|p| p == path) {
            return Err(TargetError::Unavailable(format!("{path} has no DWARF debug information")));
        }
        Ok(names
            .iter()
            .filter_map(|name| Some((name.to_string(), self.user_function_args.get(&(path.to_string(), name.to_string()))?.clone())))
            .collect())
    }

    fn mapped_files(&self, pid: u32) -> Result<Vec<String>, TargetError> {
        self.mapped_files.get(&pid).cloned().ok_or(TargetError::NotFound)
    }

    fn tracepoints(&self) -> Result<Vec<(String, String)>, TargetError> {
        let mut all: Vec<_> = self.tracepoints.keys().cloned().collect();
        all.sort();
        Ok(all)
    }

    fn tracepoint_format(&self, category: &str, name: &str) -> Result<TracepointFormat, TargetError> {
        self.tracepoints
            .get(&(category.to_string(), name.to_string()))
            .cloned()
            .ok_or(TargetError::NotFound)
    }
}
