//! Facts about the host that the checker needs, behind one trait so the
//! checker can be tested without a kernel. The real implementation (reading
//! tracefs) lives in rbpf-runtime; `FakeTarget` (with the `test-support`
//! feature, or in this crate's tests) serves unit tests; [`DescribedTarget`]
//! answers for another machine from a [`TargetDescription`] of it.

use crate::ctypes::CType;

mod described;
pub use described::{DescribedTarget, TargetDescription};

#[cfg(any(test, feature = "test-support"))]
mod fake;
#[cfg(any(test, feature = "test-support"))]
pub use fake::FakeTarget;

/// What the checker may ask of the machine the program will run on. Every
/// question is lazy: only what the program names is looked up.
pub trait Target {
    /// The format of `tracepoint:CATEGORY:NAME`, from
    /// `/sys/kernel/tracing/events/CATEGORY/NAME/format`.
    fn tracepoint_format(&self, category: &str, name: &str) -> Result<TracepointFormat, TargetError>;

    /// Every tracepoint as `(category, name)`, from tracefs's
    /// `available_events`, for wildcards and listing.
    fn tracepoints(&self) -> Result<Vec<(String, String)>, TargetError>;

    /// How many CPUs the kernel may run (`/sys/devices/system/cpu/possible`):
    /// the per-CPU slots of a per-CPU map, and the `ncpus` builtin.
    fn possible_cpus(&self) -> u32;

    /// The function `name` the ELF file at `path` defines (in its symbol
    /// table, its dynamic symbols or its separate debug file; a GNU
    /// indirect function counts), for uprobes: its address and size.
    fn user_function(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError>;

    /// The name of the symbol of the ELF file at `path` whose bytes hold
    /// `address`, for `uprobe:PATH:0xADDR`; `NotFound` when none does.
    fn user_symbol_at(&self, path: &str, address: u64) -> Result<String, TargetError>;

    /// Whether `offset` bytes into `function` (of the ELF file at `path`,
    /// from [`Target::user_function`]) is where one of its instructions
    /// starts, by decoding its machine code from its first byte: a uprobe
    /// inside an instruction corrupts it, and the traced process crashes.
    /// `Unavailable` says why the code cannot be checked (unreadable, not
    /// code this host decodes).
    fn user_instruction_boundary(&self, path: &str, function: &UserSymbol, offset: u64) -> Result<bool, TargetError>;

    /// Whether the kernel attaches one uprobe program to many offsets of a
    /// file through one link (BPF_TRACE_UPROBE_MULTI, Linux 6.6), for
    /// wildcards.
    fn uprobe_multi(&self) -> bool;

    /// Whether the kernel can attach kprobes; `Unavailable` says in one
    /// sentence which feature is missing.
    fn kprobes(&self) -> Result<(), TargetError>;

    /// The number of the syscall whose tracepoints are `sys_enter_NAME`
    /// and `sys_exit_NAME`, on this machine's architecture.
    fn syscall_number(&self, name: &str) -> Option<u32>;

    /// Whether the kernel attaches one kprobe program to many functions
    /// through one link (BPF_TRACE_KPROBE_MULTI, Linux 5.18 and
    /// CONFIG_FPROBE), for wildcards.
    fn kprobe_multi(&self) -> bool;

    /// The kernel functions kprobes can attach to, with their module
    /// (`None` for the kernel itself), from `available_filter_functions`.
    fn kernel_functions(&self) -> Result<Vec<KernelSymbol>, TargetError>;

    /// A kernel function's typed arguments and return value, for fentry and
    /// fexit: from `module`'s BTF when one is named (`vmlinux` is the
    /// kernel's own), else from vmlinux's BTF or, failing that, from the
    /// loaded module's whose BTF describes it ([`KernelFunction::module`]
    /// says which).
    fn kernel_function(&self, module: Option<&str>, name: &str) -> Result<KernelFunction, TargetError>;

    /// A kernel type by its C spelling — `struct task_struct`,
    /// `union bpf_attr`, `enum tcp_state`, or a typedef such as `pid_t` —
    /// from the kernel's BTF, converted to a [`CType`]. The BTF is read on
    /// the first such question, never for a program that names no kernel
    /// type. `NotFound` when the kernel has no such type.
    fn kernel_type(&self, name: &str) -> Result<CType, TargetError>;

    /// The names of the kernel's types of one kind — `Some("struct")`,
    /// `Some("union")`, `Some("enum")`, or `None` for typedefs and base
    /// types — without the keyword, from the kernel's BTF, for a "did you
    /// mean" hint on a type the kernel does not have. Asked only when a
    /// type is not found, never on the way to a program that runs.
    fn kernel_type_names(&self, kind: Option<&str>) -> Result<Vec<String>, TargetError>;

    /// The value of the kernel enumerator `name` (`TCP_ESTABLISHED`), from
    /// the enums of the kernel's BTF; `NotFound` when no enum defines it.
    fn kernel_enum_constant(&self, name: &str) -> Result<i64, TargetError>;

    /// The name of every function the BTF of `module` (`vmlinux`, or a
    /// loaded module's split BTF) describes (the ones fentry can attach
    /// to), for wildcards and listing.
    fn kernel_function_names(&self, module: &str) -> Result<Vec<String>, TargetError>;

    /// The loaded kernel modules that have BTF (`/sys/kernel/btf/MODULE`),
    /// sorted, for listing `fentry:MODULE:FUNC`.
    fn kernel_btf_modules(&self) -> Vec<String>;

    /// The functions the ELF file at `path` defines (symbol table and
    /// dynamic symbols), for listing uprobes.
    fn user_functions(&self, path: &str) -> Result<Vec<String>, TargetError>;

    /// The USDT probes of the ELF file at `path` (its `.note.stapsdt`
    /// notes), in note order; `NotFound` when it has none. For usdt probes
    /// and for listing them.
    fn usdt_probes(&self, path: &str) -> Result<Vec<UsdtProbe>, TargetError>;

    /// The address (ELF `st_value`) of the symbol `name` in the file at
    /// `path`, for USDT arguments that name a global (`4@counter(%rip)`).
    fn user_symbol_address(&self, path: &str, name: &str) -> Result<u64, TargetError>;

    /// The symbol `name` defined in the file at `path` (its `st_value` and
    /// `st_size`), for `uaddr()`.
    fn user_symbol(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError>;

    /// The address of the kernel symbol `name` (`/proc/kallsyms`, the
    /// kernel's and its modules'), for `kaddr()`.
    fn kernel_symbol_address(&self, name: &str) -> Result<u64, TargetError>;

    /// The size of the kernel function `name` in the symbol table of the
    /// kernel image (bpftrace's BPFTRACE_VMLINUX, else an uncompressed
    /// image where bpftrace looks for one), which bounds a kprobe's offset.
    /// `Ok(None)` when there is no image to read or it lacks the function:
    /// the kernel judges the offset then.
    fn kernel_function_size(&self, name: &str) -> Result<Option<u64>, TargetError>;

    /// The cgroup v2 id of the cgroup directory at `path` (relative to
    /// [`Target::current_directory`]), for `cgroupid()`: the 8-byte kernfs
    /// file handle `name_to_handle_at(2)` gives, as bpftrace reads it.
    /// `Unavailable` says why there is none ("No such file or directory").
    fn cgroup_id(&self, path: &str) -> Result<u64, TargetError>;

    /// The directories of PATH, in order, where a program named without a
    /// path (`uprobe:bash:readline`) is looked for.
    fn program_directories(&self) -> Vec<String>;

    /// The shared libraries the dynamic loader knows by name, from its
    /// cache (`/etc/ld.so.cache`, what `ldconfig -p` prints), for this
    /// machine's ABI, in the cache's order.
    fn shared_libraries(&self) -> Result<Vec<SharedLibrary>, TargetError>;

    /// The directories the dynamic loader searches after its cache (the
    /// multiarch and plain `/lib` and `/usr/lib`).
    fn library_directories(&self) -> Vec<String>;

    /// Whether `path` is a regular file (after symlinks), and with
    /// `executable`, one that someone may execute.
    fn is_file(&self, path: &str, executable: bool) -> bool;

    /// The files process `pid` has mapped (`/proc/PID/maps`), each once,
    /// by the path the process sees; `NotFound` when there is no such
    /// process.
    fn mapped_files(&self, pid: u32) -> Result<Vec<String>, TargetError>;

    /// The directory rbpf runs in, against which a relative binary path
    /// (`uprobe:./prog:f`) is resolved, as bpftrace resolves it.
    fn current_directory(&self) -> Result<String, TargetError>;

    /// The parameters of the functions `names` in the ELF file at `path`,
    /// from its DWARF debug information (in the file, or in its separate
    /// debug file), by name, for `args` in uprobes and `-lv`; a function
    /// the DWARF does not define is left out. Read only for a program that
    /// uses `args` in a uprobe, all at once for a wildcard. `Unavailable`
    /// when the binary has no DWARF at all (the string says so in one
    /// sentence).
    fn user_functions_args(&self, path: &str, names: &[&str]) -> Result<std::collections::HashMap<String, UserFunction>, TargetError>;
}

/// A user-space function's parameters, as the DWARF of its binary
/// describes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserFunction {
    /// Its parameters, in order.
    pub params: Vec<UserParam>,
    /// The structs and unions its parameters' types reach through
    /// pointers, by C spelling (`struct node`): a pointer inside a record
    /// to a record that encloses it (`struct node *next`) refers to it by
    /// name ([`CType::Named`]), and this is where that name is found.
    pub types: Vec<(String, CType)>,
}

// A `CType` holds no floating-point value, so equality is an equivalence.
impl Eq for UserFunction {}

/// One parameter of a user-space function.
#[derive(Clone, Debug, PartialEq)]
pub struct UserParam {
    /// Its name (`None` for an unnamed parameter, which `args` cannot name).
    pub name: Option<String>,
    /// Its type as the debug information spells it (`struct P*`,
    /// `const char*`, `long int`), as `bpftrace -lv` lists it.
    pub c_type: String,
    /// Its type.
    pub ty: CType,
    /// Where the caller puts it.
    pub location: ArgLocation,
}

/// Where a caller puts an argument, by the x86-64 System V calling
/// convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgLocation {
    /// In integer registers, from argument register `first` (0 for `rdi`
    /// ... 5 for `r9`), `count` of them (two for a 16-byte struct).
    Registers {
        /// The first argument register.
        first: u8,
        /// How many registers it takes.
        count: u8,
    },
    /// In vector registers (a `float` or `double`), which a uprobe
    /// program cannot read.
    Vector,
    /// On the stack: after the six argument registers are taken, or a
    /// struct larger than 16 bytes passed by value.
    Stack,
}

impl UserFunction {
    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&UserParam> {
        self.params.iter().find(|p| p.name.as_deref() == Some(name))
    }

    /// `args` as a whole: a struct with one member per named parameter,
    /// laid out by C's rules in declaration order, with where each member's
    /// value comes from (bpftrace prints `args` as such a record). Members
    /// that no register holds have no location to copy from: `None`.
    pub fn args_record(&self) -> (crate::ctypes::Record, Vec<Option<ArgLocation>>) {
        use crate::ctypes::{Member, Record, RecordKind};
        let (mut members, mut sources, mut size, mut align) = (Vec::new(), Vec::new(), 0u64, 1u64);
        for p in &self.params {
            let Some(name) = &p.name else { continue };
            let (s, a) = (p.ty.size().unwrap_or(8), p.ty.align().unwrap_or(8).max(1));
            let offset = size.div_ceil(a) * a;
            members.push(Member { name: Some(name.clone()), ty: p.ty.clone(), offset, bitfield: None });
            sources.push(matches!(p.location, ArgLocation::Registers { .. }).then_some(p.location));
            size = offset + s;
            align = align.max(a);
        }
        let record = Record { kind: RecordKind::Struct, name: None, size: size.div_ceil(align) * align, align, members };
        (record, sources)
    }
}

/// A library in the dynamic loader's cache: its soname (`libc.so.6`) and
/// the file it names (`/lib/x86_64-linux-gnu/libc.so.6`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedLibrary {
    /// The soname.
    pub name: String,
    /// The file's path.
    pub path: String,
}

/// One USDT probe site as its SystemTap note describes it, with the
/// addresses already adjusted for prelinking (by `.stapsdt.base`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtProbe {
    /// The provider (`usdt:BIN:PROVIDER:NAME`).
    pub provider: String,
    /// The probe's name within the provider.
    pub name: String,
    /// The probe's address (the `nop` the macro leaves) in the file's
    /// virtual address space.
    pub address: u64,
    /// Where that address is in the file: what a uprobe attaches to.
    pub offset: u64,
    /// The file offset of the probe's semaphore (a u16 the traced program
    /// tests before evaluating the arguments), if it has one.
    pub semaphore_offset: Option<u64>,
    /// The argument specifications as written in the note, e.g.
    /// `-4@%edi 8@-16(%rbp)`.
    pub args: String,
}

/// A symbol of a user binary: where it is and how big.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSymbol {
    /// Its address (ELF `st_value`).
    pub address: u64,
    /// Its size in bytes (ELF `st_size`).
    pub size: u64,
}

/// A function in the kernel or one of its modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSymbol {
    /// The function's name.
    pub name: String,
    /// Its module, `None` for the kernel itself.
    pub module: Option<String>,
}

/// A kernel function as BTF describes it. An fentry or fexit program's
/// context is an array of u64, one per argument, then the return value:
/// each argument is a field at offset 8 × its position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelFunction {
    /// The arguments, as fields of the context.
    pub args: TracepointFormat,
    /// The return value (a field after the arguments); `None` for void.
    pub retval: Option<TracepointField>,
    /// Whether `...` follows the arguments (which cannot be read).
    pub variadic: bool,
    /// The module whose BTF describes it; `None` for vmlinux's.
    pub module: Option<String>,
}

/// Why a [`Target`] could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// No such tracepoint (the format file does not exist).
    NotFound,
    /// The fact could not be read: permission, tracefs missing, ... The
    /// string says what failed, in one sentence.
    Unavailable(String),
}

/// The parsed `format` file of one tracepoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TracepointFormat {
    /// The event's own fields, i.e. those after the common_* header.
    pub fields: Vec<TracepointField>,
}

impl TracepointFormat {
    /// The field called `name`, if the event has one.
    pub fn field(&self, name: &str) -> Option<&TracepointField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Parses the text of a tracefs `format` file. Lines that describe
    /// fields look like
    /// `\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;`;
    /// the `common_*` fields are left out, as bpftrace does for `args`.
    pub fn parse(text: &str) -> TracepointFormat {
        let mut fields = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix("field:") else { continue };
            let mut decl = None;
            let (mut offset, mut size, mut signed) = (None, None, false);
            for part in rest.split(';') {
                let part = part.trim();
                if let Some(v) = part.strip_prefix("offset:") {
                    offset = v.trim().parse::<u32>().ok();
                } else if let Some(v) = part.strip_prefix("size:") {
                    size = v.trim().parse::<u32>().ok();
                } else if let Some(v) = part.strip_prefix("signed:") {
                    signed = v.trim() == "1";
                } else if decl.is_none() && !part.is_empty() {
                    decl = Some(part);
                }
            }
            let (Some(decl), Some(offset), Some(size)) = (decl, offset, size) else { continue };
            let Some(field) = TracepointField::from_decl(decl, offset, size, signed) else {
                continue;
            };
            if !field.name.starts_with("common_") {
                fields.push(field);
            }
        }
        TracepointFormat { fields }
    }
}

/// One field of a tracepoint's record (or of an fentry context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointField {
    /// Its name, as `args.NAME` reads it.
    pub name: String,
    /// The C type as written, e.g. `const char *`, `char[16]`, `__data_loc char[]`.
    pub c_type: String,
    /// Bytes from the start of the record.
    pub offset: u32,
    /// Its size in bytes.
    pub size: u32,
    /// Whether an integer field is signed (by its C type where known).
    pub signed: bool,
    /// How its bytes are read.
    pub kind: FieldKind,
}

/// How a tracepoint field's bytes are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer of `size` bytes.
    Int,
    /// A pointer; `to_char` when it points to characters (a string).
    Pointer {
        /// Whether it points to characters.
        to_char: bool,
    },
    /// A fixed array of `size` bytes; `chars` when of `char`.
    Array {
        /// Whether its elements are `char`s.
        chars: bool,
    },
    /// `__data_loc` field: a u32 whose low 16 bits are the offset of the data
    /// from the start of the record and high 16 bits its length.
    DataLoc {
        /// Whether the data are characters (a string).
        chars: bool,
    },
}

impl TracepointField {
    /// `decl` is the C declaration, e.g. `const char * filename`,
    /// `char comm[16]`, `__data_loc char[] name`, `unsigned long args[6]`.
    fn from_decl(decl: &str, offset: u32, size: u32, signed: bool) -> Option<TracepointField> {
        // `T *`, or `T *const` (a constant pointer: `const void *const buf`).
        let pointer_type = |t: &str| {
            let mut t = t.trim_end();
            while let Some(rest) = t.strip_suffix("const").or_else(|| t.strip_suffix("volatile")) {
                t = rest.trim_end();
            }
            t.ends_with('*')
        };
        let decl = decl.trim();
        // The name is the last identifier, before any `[N]`.
        let (before_array, array) = match decl.find('[') {
            Some(i) if !decl.starts_with("__data_loc") => (&decl[..i], true),
            _ => (decl, false),
        };
        let before_array = before_array.trim_end();
        let name_start = before_array
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before_array[name_start..];
        if name.is_empty() {
            return None;
        }
        let c_type = if array {
            format!("{}{}", before_array[..name_start].trim_end(), &decl[before_array.len()..].trim())
        } else {
            before_array[..name_start].trim_end().to_string()
        };
        let is_char = |t: &str| {
            let t = t.replace("const", "").replace("unsigned", "").replace("signed", "");
            let t = t.trim().trim_end_matches('*').trim();
            t == "char"
        };
        let kind = if decl.starts_with("__data_loc") {
            FieldKind::DataLoc { chars: c_type.contains("char") }
        } else if array {
            FieldKind::Array { chars: is_char(before_array[..name_start].trim_end()) }
        } else if pointer_type(&c_type) {
            FieldKind::Pointer { to_char: is_char(&c_type) && c_type.matches('*').count() == 1 }
        } else {
            FieldKind::Int
        };
        let signed = match kind {
            FieldKind::Int => c_type_is_signed(&c_type).unwrap_or(signed),
            _ => signed,
        };
        Some(TracepointField { name: name.to_string(), c_type, offset, size, signed, kind })
    }
}

/// Whether an integer field's C type is signed, when its name says so.
/// The format file's `signed:` flag is wrong for syscall arguments: the
/// kernel records every one as an `unsigned long`, so `off_t offset`,
/// `loff_t pos` and `long request` say `signed:0`. bpftrace types fields
/// by their C type, so an lseek offset of -100 is -100. `None` for names
/// this table does not know (enums, subsystem typedefs): the flag decides.
fn c_type_is_signed(c_type: &str) -> Option<bool> {
    let words: Vec<&str> = c_type.split_whitespace().filter(|w| !matches!(*w, "const" | "volatile")).collect();
    match words.as_slice() {
        ["unsigned", ..] => return Some(false),
        ["signed", ..] => return Some(true),
        // Plain `char` is signed on x86 (the C compiler's choice, which
        // bpftrace's clang makes too), unsigned on Arm, PowerPC, s390x
        // and RISC-V.
        ["char"] => return Some(cfg!(any(target_arch = "x86_64", target_arch = "x86"))),
        ["short" | "int" | "long", ..] => return Some(true),
        _ => {}
    }
    let [name] = words.as_slice() else { return None };
    let name = name.strip_prefix("__kernel_").unwrap_or(name);
    const SIGNED: &[&str] = &[
        "s8", "s16", "s32", "s64", "__s8", "__s16", "__s32", "__s64", "int8_t", "int16_t", "int32_t", "int64_t",
        "off_t", "loff_t", "ssize_t", "ptrdiff_t", "intptr_t", "pid_t", "time_t", "old_time_t", "time64_t",
        "clock_t", "clockid_t", "timer_t", "key_t", "key_serial_t", "mqd_t", "rwf_t", "daddr_t", "suseconds_t",
    ];
    const UNSIGNED: &[&str] = &[
        "u8", "u16", "u32", "u64", "__u8", "__u16", "__u32", "__u64", "uint8_t", "uint16_t", "uint32_t", "uint64_t",
        "uint", "size_t", "uintptr_t", "bool", "_Bool", "umode_t", "mode_t", "uid_t", "gid_t", "dev_t", "ino_t",
        "qid_t", "gfp_t", "sector_t", "blkcnt_t", "aio_context_t", "dma_addr_t", "resource_size_t",
    ];
    if SIGNED.contains(&name) {
        Some(true)
    } else if UNSIGNED.contains(&name) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_as_a_record_lays_out_the_named_parameters() {
        use crate::ctypes::AddrSpace;
        let param = |name: Option<&str>, ty: CType, location| UserParam { name: name.map(Into::into), c_type: String::new(), ty, location };
        let function = UserFunction {
            params: vec![
                param(Some("c"), CType::Int { size: 1, signed: true }, ArgLocation::Registers { first: 0, count: 1 }),
                param(None, CType::Int { size: 4, signed: true }, ArgLocation::Registers { first: 1, count: 1 }),
                param(Some("p"), CType::pointer(CType::Void, AddrSpace::User), ArgLocation::Registers { first: 2, count: 1 }),
                param(Some("d"), CType::Float { size: 8 }, ArgLocation::Vector),
            ],
            types: Vec::new(),
        };
        let (record, sources) = function.args_record();
        let members: Vec<(Option<&str>, u64)> = record.members.iter().map(|m| (m.name.as_deref(), m.offset)).collect();
        assert_eq!(members, [(Some("c"), 0), (Some("p"), 8), (Some("d"), 16)]);
        assert_eq!((record.size, record.align), (24, 8));
        assert_eq!(sources, [Some(ArgLocation::Registers { first: 0, count: 1 }), Some(ArgLocation::Registers { first: 2, count: 1 }), None]);
    }

    const EXECVE: &str = "name: sys_enter_execve
ID: 824
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;
\tfield:unsigned long args[6];\toffset:56;\tsize:48;\tsigned:0;
\tfield:off_t offset;\toffset:104;\tsize:8;\tsigned:0;
\tfield:const loff_t pos;\toffset:112;\tsize:8;\tsigned:0;
\tfield:long request;\toffset:120;\tsize:8;\tsigned:0;
\tfield:unsigned int fd;\toffset:128;\tsize:8;\tsigned:0;
\tfield:size_t count;\toffset:136;\tsize:8;\tsigned:0;
\tfield:enum zone_type zone;\toffset:144;\tsize:4;\tsigned:0;
\tfield:xfs_daddr_t daddr;\toffset:152;\tsize:8;\tsigned:1;
\tfield:short s;\toffset:160;\tsize:2;\tsigned:0;
\tfield:__kernel_pid_t p;\toffset:168;\tsize:4;\tsigned:0;
\tfield:char for_kupdate;\toffset:172;\tsize:1;\tsigned:0;
\tfield:const void *const buf;\toffset:176;\tsize:8;\tsigned:0;

print fmt: \"filename: 0x%08lx\", ((unsigned long)(REC->filename))
";

    #[test]
    fn parses_fields_of_every_kind() {
        let f = TracepointFormat::parse(EXECVE);
        let got: Vec<_> = f
            .fields
            .iter()
            .map(|f| format!("{} [{}] @{} {}{} {:?}", f.name, f.c_type, f.offset, f.size, if f.signed { "s" } else { "u" }, f.kind))
            .collect();
        assert_eq!(
            got,
            [
                "__syscall_nr [int] @8 4s Int",
                "filename [const char *] @16 8u Pointer { to_char: true }",
                "argv [const char *const *] @24 8u Pointer { to_char: false }",
                "comm [char[16]] @32 16u Array { chars: true }",
                "name [__data_loc char[]] @48 4u DataLoc { chars: true }",
                "args [unsigned long[6]] @56 48u Array { chars: false }",
                // Typed by the C type, whatever `signed:` says...
                "offset [off_t] @104 8s Int",
                "pos [const loff_t] @112 8s Int",
                "request [long] @120 8s Int",
                "fd [unsigned int] @128 8u Int",
                "count [size_t] @136 8u Int",
                // ...and by `signed:` where the name is not known.
                "zone [enum zone_type] @144 4u Int",
                "daddr [xfs_daddr_t] @152 8s Int",
                "s [short] @160 2s Int",
                "p [__kernel_pid_t] @168 4s Int",
                // The kernel builds with -funsigned-char; bpftrace's C
                // compiler makes a plain char signed (x86).
                "for_kupdate [char] @172 1s Int",
                // A constant pointer is a pointer.
                "buf [const void *const] @176 8u Pointer { to_char: false }",
            ]
        );
    }
}
