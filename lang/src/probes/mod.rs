//! The probe table: every probe type bpftrace has, its aliases, and how an
//! attach point of that type is parsed and expanded. Adding a probe type
//! adds a file here and a row in [`PROVIDERS`], never a case in the passes.

mod interval;
mod special;
mod tracepoint;
mod uprobe;

use crate::target::Target;
use crate::{Diagnostic, Span};

/// What a probe is attached to once its attach point is understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Begin,
    End,
    Tracepoint { category: String, name: String, format: crate::target::TracepointFormat },
    Interval { period_ns: u64 },
    /// A user-space function's entry, or its return with `ret`.
    Uprobe { path: String, location: UprobeLocation, ret: bool },
}

/// Where in a binary a uprobe attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UprobeLocation {
    Symbol(String),
    SymbolOffset(String, u64),
    /// An address in the file, as `uprobe:/bin/x:0x1234` gives it.
    Address(u64),
}

impl ProbeKind {
    /// Whether the program's context is the probed task's registers
    /// (`struct pt_regs`), which `argN` and `retval` read.
    pub fn has_registers(&self) -> bool {
        matches!(self, ProbeKind::Uprobe { .. })
    }

    /// The function a probe is in, for the `func` builtin.
    pub fn function(&self) -> Option<&str> {
        match self {
            ProbeKind::Uprobe { location: UprobeLocation::Symbol(f) | UprobeLocation::SymbolOffset(f, _), .. } => Some(f),
            _ => None,
        }
    }
}

/// One concrete probe after expansion: an attach point such as
/// `tracepoint:syscalls:sys_*` expands to one of these per match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedProbe {
    pub kind: ProbeKind,
    /// The full name, as bpftrace's `probe` builtin gives it, e.g.
    /// `tracepoint:syscalls:sys_enter_execve`, `BEGIN`, `interval:s:1`.
    pub name: String,
}

/// One row of the probe table.
pub struct Provider {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Parses the parts after `name:` (already split on `:`) into probes.
    /// `None` for probe types this build cannot attach yet.
    pub resolve: Option<fn(&[&str], Span, &dyn Target) -> Result<Vec<ResolvedProbe>, Diagnostic>>,
}

pub const PROVIDERS: &[Provider] = &[
    Provider { name: "BEGIN", aliases: &[], resolve: Some(special::resolve_begin) },
    Provider { name: "END", aliases: &[], resolve: Some(special::resolve_end) },
    Provider { name: "tracepoint", aliases: &["t"], resolve: Some(tracepoint::resolve) },
    Provider { name: "interval", aliases: &["i"], resolve: Some(interval::resolve) },
    Provider { name: "rawtracepoint", aliases: &["rt"], resolve: None },
    Provider { name: "kprobe", aliases: &["k"], resolve: None },
    Provider { name: "kretprobe", aliases: &["kr"], resolve: None },
    Provider { name: "fentry", aliases: &["f", "kfunc"], resolve: None },
    Provider { name: "fexit", aliases: &["fr", "kretfunc"], resolve: None },
    Provider { name: "uprobe", aliases: &["u"], resolve: Some(uprobe::resolve_entry) },
    Provider { name: "uretprobe", aliases: &["ur"], resolve: Some(uprobe::resolve_return) },
    Provider { name: "usdt", aliases: &["U"], resolve: None },
    Provider { name: "profile", aliases: &["p"], resolve: None },
    Provider { name: "software", aliases: &["s"], resolve: None },
    Provider { name: "hardware", aliases: &["h"], resolve: None },
    Provider { name: "watchpoint", aliases: &["w"], resolve: None },
];

pub fn provider(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name == name || p.aliases.contains(&name))
}

/// Parses and expands one attach point as written.
pub fn resolve(text: &str, span: Span, target: &dyn Target) -> Result<Vec<ResolvedProbe>, Diagnostic> {
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
    resolve(&parts, span, target)
}
