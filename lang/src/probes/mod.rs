//! The probe table: every probe type bpftrace has, its aliases, and how an
//! attach point of that type is parsed and expanded; and what a probe of
//! each kind offers the builtins that read its context (`argN`, `retval`,
//! `func`, `args`: [`ProbeKind::arg`] and its peers), so that the checker
//! asks the probe rather than testing its kind. Adding a probe type adds a
//! file here and a row in [`PROVIDERS`], never a case in the passes.

mod binary;
mod fentry;
mod hardware;
mod interval;
mod iter;
pub(crate) mod kprobe;
pub mod list;
mod list_process;
mod perf_counter;
mod profile;
mod rawtracepoint;
mod software;
mod special;
mod tracepoint;
pub(crate) mod uprobe;
pub mod uprobe_args;
pub use uprobe::demangle;
mod usdt;
pub(crate) mod watchpoint;

pub use usdt::{decode_args as decode_usdt_args, UsdtArg, UsdtArgLocation};

pub use list::{list, list_program, list_program_in_process, ListError, ListedProbe, Listing};
pub use list_process::list_in_process;

use crate::target::Target;
use crate::{Diagnostic, Span};

/// What a probe is attached to once its attach point is understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// `BEGIN`: runs once, before the other probes are attached.
    Begin,
    /// `END`: runs once, after they are detached.
    End,
    /// `syscall` for the syscalls category's tracepoints whose record is
    /// laid out as raw_syscalls' (so their program can run there too).
    Tracepoint {
        /// The tracepoint's category (its directory in tracefs).
        category: String,
        /// Its name.
        name: String,
        /// Its record's fields.
        format: crate::target::TracepointFormat,
        /// The raw_syscalls layout it shares, when it does.
        syscall: Option<Syscall>,
    },
    /// `interval:UNIT:N`: once every period, on one CPU.
    Interval {
        /// The period, in nanoseconds.
        period_ns: u64,
    },
    /// A raw tracepoint: the context is the tracepoint's arguments as an
    /// array of u64, which `argN` reads.
    RawTracepoint {
        /// Its name.
        name: String,
    },
    /// A perf counter on every online CPU (`profile`, `software`,
    /// `hardware`), one perf event per CPU running the same program.
    PerfEvent {
        /// What the perf event counts.
        counter: PerfCounter,
        /// How often it fires.
        sample: PerfSample,
    },
    /// A user-space function's entry, or its return with `ret`; in the
    /// process `pid` alone, when there is one (`-p PID`).
    Uprobe {
        /// The binary's path.
        path: String,
        /// Where in it.
        location: UprobeLocation,
        /// Whether it fires on return rather than on entry.
        ret: bool,
        /// The only process it is attached in, when there is one.
        pid: Option<u32>,
        /// The function's parameters from the binary's DWARF, looked up
        /// for a probe on a function's entry that reads `args`.
        args: Option<std::rc::Rc<crate::target::UserFunction>>,
    },
    /// The entries (or returns) of many functions of one binary, through
    /// one program and one multi-attach link (a wildcard such as
    /// `uprobe:libc:str*`). `func` is then read at run time, as the traced
    /// function's address, named as `usym()` names it.
    UprobeMulti {
        /// The binary's path.
        path: String,
        /// The functions' names.
        funcs: Vec<String>,
        /// Each function's probe name (`uprobe:PATH:FUNC`), by the index
        /// the link gives it as its attach cookie: what `probe` reads.
        names: Vec<String>,
        /// Whether it fires on return rather than on entry.
        ret: bool,
        /// The only process it is attached in, when there is one.
        pid: Option<u32>,
    },
    /// A kernel function's entry (at `offset` into it), or its return.
    Kprobe {
        /// The function's name.
        func: String,
        /// The kernel module the function is in, when not vmlinux.
        module: Option<String>,
        /// The offset into the function.
        offset: u64,
        /// Whether it fires on return rather than on entry.
        ret: bool,
    },
    /// The entries (or returns) of many kernel functions, through one
    /// program and one multi-attach link (a wildcard such as `kprobe:vfs_*`).
    /// `func` is then read at run time, as the traced function's address.
    KprobeMulti {
        /// The functions' names.
        funcs: Vec<String>,
        /// Whether it fires on return rather than on entry.
        ret: bool,
    },
    /// A kernel function's entry or return through a BPF trampoline, with
    /// its BTF-typed arguments.
    Fentry {
        /// The function's name.
        func: String,
        /// The kernel module the function is in, when not vmlinux.
        module: Option<String>,
        /// The function's BTF-typed arguments and return value.
        function: crate::target::KernelFunction,
        /// Whether it fires on return rather than on entry.
        ret: bool,
    },
    /// One site of a USDT probe: a uprobe at `offset` in the file at
    /// `path` that raises the probe's semaphore (at `semaphore_offset`, a
    /// file offset) while attached; `argN` reads `args[N]`. With `pid`,
    /// in that process alone (and only its semaphore is raised).
    Usdt {
        /// The binary's path.
        path: String,
        /// The probe's provider.
        provider: String,
        /// The probe's name.
        name: String,
        /// The site's file offset.
        offset: u64,
        /// The semaphore's file offset, when the probe has one.
        semaphore_offset: Option<u64>,
        /// How its note says each argument is read.
        args: Vec<UsdtArg>,
        /// The only process it is attached in, when there is one.
        pid: Option<u32>,
    },
    /// A hardware breakpoint on `length` bytes at `address`: in the
    /// process of `-p` / `-c` when there is one, else in the kernel on
    /// every CPU.
    Watchpoint {
        /// The address watched.
        address: u64,
        /// How many bytes are watched.
        length: u8,
        /// Which accesses fire it.
        mode: WatchMode,
    },
    /// `iter:NAME[:PIN]`: a BPF iterator over kernel objects, run by the
    /// kernel once per object when the iterator is read (or, pinned, when
    /// its file in bpffs is read); `ctx->NAME` reads its context.
    Iter {
        /// The iterator: `task` or `task_file`.
        name: String,
        /// Where in bpffs to pin it (relative to /sys/fs/bpf unless
        /// absolute), instead of reading it once.
        pin: Option<String>,
        /// The BTF function `bpf_iter_NAME`, whose parameters are the
        /// context's members (and whose id the program is loaded against).
        function: crate::target::KernelFunction,
        /// The offset in the context of the object pointer (`task`,
        /// `file`) that is NULL on the kernel's last, extra call.
        object_offset: u32,
    },
    /// `watchpoint:FUNC+argN:LENGTH:MODE` (and `asyncwatchpoint`): a
    /// uprobe on `func` in the followed process's binary (or the binary
    /// named) reads argument `arg`, and the runtime then puts a hardware
    /// breakpoint on `length` bytes at that address, in that process. The
    /// probe's program is the breakpoint's; the uprobe's is generated.
    /// Unless `asynchronous`, the uprobe stops the process (SIGSTOP) until
    /// the breakpoint is in place, so that no access is missed.
    WatchpointFunction {
        /// The binary the function is in.
        path: String,
        /// The function whose argument is the address.
        func: String,
        /// Which argument (0 to 5) holds the address.
        arg: u8,
        /// How many bytes are watched.
        length: u8,
        /// Which accesses fire it.
        mode: WatchMode,
        /// `asyncwatchpoint`: the process runs on while the breakpoint is
        /// being attached.
        asynchronous: bool,
    },
}

/// Which accesses a watchpoint fires on (perf's HW_BREAKPOINT_R, _W, _RW
/// and _X; execution cannot be combined with the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    /// Reads (`r`).
    Read,
    /// Writes (`w`).
    Write,
    /// Reads and writes (`rw`).
    ReadWrite,
    /// Execution (`x`).
    Execute,
}

/// A perf counter as perf_event_open names it: the event type and its
/// config number (PERF_COUNT_SW_* or PERF_COUNT_HW_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfCounter {
    /// PERF_TYPE_SOFTWARE.
    Software {
        /// The PERF_COUNT_SW_* number.
        config: u64,
    },
    /// PERF_TYPE_HARDWARE.
    Hardware {
        /// The PERF_COUNT_HW_* number.
        config: u64,
    },
}

/// How often a perf counter runs the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfSample {
    /// Once every N events (nanoseconds, for the clock events).
    Period(u64),
    /// N times a second; the kernel adjusts the period to keep the rate.
    Frequency(u64),
}

/// A syscall tracepoint (`syscalls:sys_enter_NAME` or `sys_exit_NAME`):
/// the syscall's number, and whether it is the exit. Its record has the
/// layout of `raw_syscalls:sys_enter` (`id` at 8, the six arguments from
/// 16) or `raw_syscalls:sys_exit` (`id`, then `ret` at 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// The syscall's number.
    pub nr: u32,
    /// Whether it is the `sys_exit_` tracepoint.
    pub exit: bool,
}

/// Where in a binary a uprobe attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UprobeLocation {
    /// A function's entry, by its symbol.
    Symbol(String),
    /// An offset into a function.
    SymbolOffset(String, u64),
    /// An address in the file, as `uprobe:/bin/x:0x1234` gives it.
    Address(u64),
}

impl ProbeKind {
    /// Whether the program's context is the probed task's registers
    /// (`struct pt_regs`), which `argN` and `retval` read.
    pub fn has_registers(&self) -> bool {
        matches!(
            self,
            ProbeKind::Uprobe { .. }
                | ProbeKind::UprobeMulti { .. }
                | ProbeKind::Kprobe { .. }
                | ProbeKind::KprobeMulti { .. }
                | ProbeKind::Usdt { .. }
        )
    }

    /// Whether the probe fires in the context of the task that made it
    /// fire (so `pid` is that task's): all but BEGIN, END and timers.
    pub fn runs_in_a_task(&self) -> bool {
        !matches!(self, ProbeKind::Begin | ProbeKind::End | ProbeKind::Interval { .. })
    }

    /// Whether the probe is attached for one process alone (uprobes and
    /// usdt probes under `-p`), so the kernel itself filters by pid.
    pub fn attached_to_process(&self) -> bool {
        matches!(
            self,
            ProbeKind::Uprobe { pid: Some(_), .. } | ProbeKind::UprobeMulti { pid: Some(_), .. } | ProbeKind::Usdt { pid: Some(_), .. }
        )
    }

    /// Whether `retval` is the probed function's return value.
    pub fn is_return(&self) -> bool {
        matches!(
            self,
            ProbeKind::Uprobe { ret: true, .. }
                | ProbeKind::UprobeMulti { ret: true, .. }
                | ProbeKind::Kprobe { ret: true, .. }
                | ProbeKind::KprobeMulti { ret: true, .. }
                | ProbeKind::Fentry { ret: true, .. }
        )
    }

    /// The function a probe is in, for the `func` builtin, when it is one
    /// function known at compile time.
    pub fn function(&self) -> Option<&str> {
        match self {
            ProbeKind::Uprobe { location: UprobeLocation::Symbol(f) | UprobeLocation::SymbolOffset(f, _), .. } => Some(f),
            ProbeKind::Kprobe { func, .. } | ProbeKind::Fentry { func, .. } => Some(func),
            _ => None,
        }
    }

    /// What `argN` (written `name`) is in the probe called `probe`.
    pub fn arg(&self, n: u8, name: &str, probe: &str, span: Span) -> Result<ContextValue, Diagnostic> {
        match self {
            ProbeKind::RawTracepoint { .. } => rawtracepoint::arg(n, name, span),
            ProbeKind::Usdt { args, .. } => usdt::arg(args, n, name, probe, span),
            kind if kind.has_registers() && n < 6 => Ok(ContextValue::Register(n)),
            kind if kind.has_registers() => Err(Diagnostic::error(span, format!("`{name}` is not in a register"))
                .with_label("the first six arguments are arg0 to arg5")),
            _ => Err(Diagnostic::error(span, format!("`{name}` is not available in `{probe}`"))
                .with_label("only kprobes, uprobes and usdt probes have argN")
                .with_note("tracepoints and fentry name their arguments: `args.NAME`")),
        }
    }

    /// What `retval` is in the probe called `probe`.
    pub fn retval(&self, probe: &str, span: Span) -> Result<ContextValue, Diagnostic> {
        match self {
            kind if kind.is_return() && kind.has_registers() => Ok(ContextValue::ReturnRegister),
            ProbeKind::Fentry { function, func, ret: true, .. } => fentry::retval(function, func, span),
            _ => Err(Diagnostic::error(span, format!("`retval` is not available in `{probe}`"))
                .with_label("only return probes have a return value")),
        }
    }

    /// What `func` is in the probe called `probe`.
    pub fn func(&self, probe: &str, span: Span) -> Result<ContextValue, Diagnostic> {
        match self {
            ProbeKind::KprobeMulti { .. } => return Ok(ContextValue::FuncIp),
            ProbeKind::UprobeMulti { .. } => return Ok(ContextValue::UserFuncIp),
            _ => {}
        }
        // At an address of a binary, the function is the symbol the
        // probed instruction is in, named when it prints (as `usym()`).
        if let ProbeKind::Uprobe { location: UprobeLocation::Address(_), ret: false, .. } = self {
            return Ok(ContextValue::UserIp);
        }
        match self.function() {
            Some(func) => Ok(ContextValue::Name(func.to_string())),
            None => Err(Diagnostic::error(span, format!("`func` is not known in `{probe}`"))
                .with_label("this probe is not in a named function")),
        }
    }

    /// The record `args.NAME` reads, when the probe has one.
    pub fn args_record(&self) -> Option<ArgsRecord<'_>> {
        match self {
            ProbeKind::Tracepoint { category, name, format, .. } => Some(ArgsRecord {
                what: format!("tracepoint `{category}:{name}`"),
                format,
                user: category == "syscalls",
            }),
            ProbeKind::Fentry { func, function, .. } => {
                Some(ArgsRecord { what: format!("function `{func}`"), format: &function.args, user: false })
            }
            ProbeKind::Iter { name, function, .. } => {
                Some(ArgsRecord { what: format!("iterator `{name}`"), format: &function.args, user: false })
            }
            _ => None,
        }
    }
}

/// What a builtin that reads the probe's context (`argN`, `retval`,
/// `func`) is in a probe of some kind, as its provider says.
#[derive(Clone, Debug, PartialEq)]
pub enum ContextValue {
    /// The Nth integer argument register of the calling convention.
    Register(u8),
    /// The return value register.
    ReturnRegister,
    /// An argument of a USDT probe site, read as its note describes.
    Usdt(UsdtArg),
    /// A field of the context, read as its type says: a raw tracepoint's
    /// u64 slot, a BTF-typed function's return value.
    Field(crate::target::TracepointField),
    /// The traced function's address, read when the probe fires.
    FuncIp,
    /// The user address the probe fired at (its instruction pointer),
    /// printed as the user symbol it is in.
    UserIp,
    /// The traced user function's address, read when the probe fires
    /// (also on return), printed as the user symbol it is.
    UserFuncIp,
    /// A name known when the program is compiled.
    Name(String),
}

/// The record `args` names in a probe: a tracepoint's fields or a
/// BTF-typed function's arguments.
pub struct ArgsRecord<'a> {
    /// The record, as messages name it: "tracepoint `sched:sched_switch`".
    pub what: String,
    /// Its fields.
    pub format: &'a crate::target::TracepointFormat,
    /// Whether its pointers point to user memory (a syscall's arguments).
    pub user: bool,
}

/// One concrete probe after expansion: an attach point such as
/// `tracepoint:syscalls:sys_*` expands to one of these per match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedProbe {
    /// What it is attached to.
    pub kind: ProbeKind,
    /// The full name, as bpftrace's `probe` builtin gives it, e.g.
    /// `tracepoint:syscalls:sys_enter_execve`, `BEGIN`, `interval:s:1`.
    pub name: String,
}

impl ResolvedProbe {
    /// Why the probe has no task `signal()` could mean, as bpftrace 0.17
    /// judges it (`None` when it has one): BEGIN and END run in rbpf
    /// itself (through BPF_PROG_TEST_RUN, so a signal would hit rbpf), and
    /// timers, software and hardware counters and watchpoints fire in
    /// whatever task the CPU happens to run.
    pub fn no_task_to_signal(&self) -> Option<&'static str> {
        Some(match &self.kind {
            ProbeKind::Begin => "BEGIN probes: they run in rbpf's own process",
            ProbeKind::End => "END probes: they run in rbpf's own process",
            ProbeKind::Interval { .. } => "interval probes",
            ProbeKind::PerfEvent { counter: PerfCounter::Software { .. }, .. } if !self.name.starts_with("profile:") => {
                "software probes"
            }
            ProbeKind::PerfEvent { counter: PerfCounter::Hardware { .. }, .. } => "hardware probes",
            ProbeKind::Watchpoint { .. } | ProbeKind::WatchpointFunction { .. } => "watchpoint probes",
            _ => return None,
        })
    }
}

/// What the command line tells the expansion of attach points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    /// `-p PID`: a binary named without a path is the file of that name
    /// the process has mapped, and uprobes and usdt probes fire in that
    /// process alone.
    pub pid: Option<u32>,
    /// Whether the probe reads `args`: a uprobe then reads its function's
    /// parameters from the binary's debug information.
    pub args: bool,
    /// `--unsafe`: a uprobe may attach at an address no symbol holds.
    pub allow_unsafe: bool,
    /// `--usdt-file-activation`: a USDT probe's semaphore is raised in
    /// every process that maps its file, not only in the `-p` process.
    pub usdt_file_activation: bool,
    /// `-c CMD`: the command's program as written (its first word), whose
    /// functions `watchpoint:FUNC+argN` watches the arguments of.
    pub command: Option<&'a str>,
}

/// Parses the parts after `name:` (already split on `:`) into probes.
pub type ResolveFn = fn(&[&str], Span, &dyn Target, &Scope<'_>) -> Result<Vec<ResolvedProbe>, Diagnostic>;

/// Lists the probes that the parts after `name:` (split on `:`, with
/// wildcards) match; `true` asks for the details `-v` shows.
pub type ListFn = fn(&[&str], bool, &dyn Target) -> Result<Vec<ListedProbe>, ListError>;

/// One row of the probe table.
pub struct Provider {
    /// The probe type's name: `tracepoint`.
    pub name: &'static str,
    /// Its short names: `t`.
    pub aliases: &'static [&'static str],
    /// Parses the parts after `name:` (already split on `:`) into probes.
    /// `None` for probe types this build cannot attach yet.
    pub resolve: Option<ResolveFn>,
    /// Lists this type's probes; `None` for types that are not listed.
    pub list: Option<ListFn>,
    /// Whether a plain `-l` (and a search without a probe type) lists this
    /// type, as bpftrace 0.17 does for its entry probes but not the
    /// return probes or uprobes.
    pub in_full_list: bool,
}

/// Every probe type, in the order messages list them.
pub const PROVIDERS: &[Provider] = &[
    Provider { name: "BEGIN", aliases: &[], resolve: Some(special::resolve_begin), list: None, in_full_list: false },
    Provider { name: "END", aliases: &[], resolve: Some(special::resolve_end), list: None, in_full_list: false },
    Provider { name: "tracepoint", aliases: &["t"], resolve: Some(tracepoint::resolve), list: Some(tracepoint::list), in_full_list: true },
    Provider { name: "interval", aliases: &["i"], resolve: Some(interval::resolve), list: None, in_full_list: false },
    Provider { name: "rawtracepoint", aliases: &["rt"], resolve: Some(rawtracepoint::resolve), list: None, in_full_list: false },
    Provider { name: "kprobe", aliases: &["k"], resolve: Some(kprobe::resolve_entry), list: Some(kprobe::list_entry), in_full_list: true },
    Provider { name: "kretprobe", aliases: &["kr"], resolve: Some(kprobe::resolve_return), list: Some(kprobe::list_return), in_full_list: false },
    Provider { name: "fentry", aliases: &["f", "kfunc"], resolve: Some(fentry::resolve_entry), list: Some(fentry::list_entry), in_full_list: true },
    Provider { name: "fexit", aliases: &["fr", "kretfunc"], resolve: Some(fentry::resolve_return), list: Some(fentry::list_return), in_full_list: false },
    Provider { name: "uprobe", aliases: &["u"], resolve: Some(uprobe::resolve_entry), list: Some(uprobe::list_entry), in_full_list: false },
    Provider { name: "uretprobe", aliases: &["ur"], resolve: Some(uprobe::resolve_return), list: Some(uprobe::list_return), in_full_list: false },
    Provider { name: "usdt", aliases: &["U"], resolve: Some(usdt::resolve), list: Some(usdt::list), in_full_list: false },
    Provider { name: "profile", aliases: &["p"], resolve: Some(profile::resolve), list: None, in_full_list: false },
    Provider { name: "software", aliases: &["s"], resolve: Some(software::resolve), list: Some(software::list), in_full_list: true },
    Provider { name: "hardware", aliases: &["h"], resolve: Some(hardware::resolve), list: Some(hardware::list), in_full_list: true },
    Provider { name: "iter", aliases: &["it"], resolve: Some(iter::resolve), list: Some(iter::list), in_full_list: true },
    Provider { name: "watchpoint", aliases: &["w"], resolve: Some(watchpoint::resolve), list: None, in_full_list: false },
    Provider { name: "asyncwatchpoint", aliases: &["aw"], resolve: Some(watchpoint::resolve_async), list: None, in_full_list: false },
];

/// The probe type called `name` or one of its aliases.
pub fn provider(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name == name || p.aliases.contains(&name))
}

/// Parses and expands one attach point as written.
pub fn resolve(text: &str, span: Span, target: &dyn Target, scope: &Scope<'_>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let mut parts: Vec<&str> = text.split(':').collect();
    let kind = parts.remove(0);
    let Some(provider) = provider(kind) else {
        let known: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
        return Err(Diagnostic::error(span, format!("unknown probe type `{kind}`"))
            .with_label("not a probe type")
            .with_note(format!("the probe types are: {}", known.join(", "))));
    };
    let Some(resolve) = provider.resolve else {
        return Err(Diagnostic::error(span, format!("{} probes are not available in this build of rbpf", provider.name))
            .with_label("this probe type cannot be attached"));
    };
    resolve(&parts, span, target, scope)
}

/// The kernel functions `func` (and `module`, when given) match, as globs.
pub(crate) fn matching_kernel_functions(
    target: &dyn Target,
    module: Option<&str>,
    func: &str,
    span: Span,
) -> Result<Vec<crate::target::KernelSymbol>, Diagnostic> {
    let functions = target.kernel_functions().map_err(|e| {
        let why = match e {
            crate::target::TargetError::Unavailable(why) => why,
            crate::target::TargetError::NotFound => "the kernel lists no traceable functions".into(),
        };
        Diagnostic::error(span, format!("cannot expand the wildcard: {why}")).with_label("needs the list of kernel functions")
    })?;
    Ok(functions
        .into_iter()
        .filter(|f| glob_match(func, &f.name))
        .filter(|f| module.is_none_or(|m| f.module.as_deref().is_some_and(|fm| glob_match(m, fm))))
        .collect())
}

/// Whether `d` says that a wildcard matched nothing (the kprobe, fentry,
/// tracepoint and uprobe kinds label it so).
pub(crate) fn matches_nothing(d: &Diagnostic) -> bool {
    d.label == "matches nothing"
}

/// A decimal or `0x` hexadecimal number in an attach point (an offset or
/// an address).
pub(crate) fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Whether an attach point part has wildcards.
pub(crate) fn is_glob(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// Shell-style matching of `*` (any run of characters) and `?` (one).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy matching with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("vfs_*", "vfs_read", true),
            ("vfs_*", "vfs_", true),
            ("vfs_*", "do_vfs_read", false),
            ("*read*", "vfs_readv", true),
            ("do_?ano*", "do_nanosleep", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob_match(p, t), m, "{p} vs {t}");
        }
    }
}
