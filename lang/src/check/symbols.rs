//! Symbols and registers: `kaddr("name")` (a kernel symbol's address,
//! from kallsyms when the program is compiled), `uaddr("name")` (a global
//! of the traced binary, typed by its size as bpftrace types it),
//! `usym(addr)` (a user address printed as its symbol, with the pid it
//! belongs to), `reg("name")` (a register of the probe's `pt_regs`) and
//! `cgroupid("path")` (a cgroup's id, known when the program is compiled).
//!
//! The addresses are asked of the [`Target`] before the probes are
//! checked, once per name (and per binary for `uaddr`), so the checker's
//! passes only read the answers.

use std::collections::HashMap;
use std::rc::Rc;

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::ast::{walk_expr, Visitor};
use crate::ast::{self, ExprKind as A};
use crate::checked::{Expr, ExprKind};
use crate::ctypes::CType;
use crate::probes::{ProbeKind, ResolvedProbe};
use crate::target::{Target, TargetError, UserSymbol};
use crate::types::{Pointee, Type};
use crate::{Diagnostic, Span};

/// x86-64's `struct pt_regs`, in order: a register's offset is 8 times
/// its index. These are bpftrace's names for `reg()`.
pub const REGISTERS: [&str; 21] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs",
    "flags", "sp", "ss",
];

/// The answers to the symbol questions a program asks.
#[derive(Debug, Default)]
pub(super) struct Symbols {
    kernel: HashMap<String, Result<u64, TargetError>>,
    /// By (binary, name).
    user: HashMap<(String, String), Result<UserSymbol, TargetError>>,
    /// Cgroup ids by the path `cgroupid()` names.
    cgroups: HashMap<String, Result<u64, TargetError>>,
}

impl Symbols {
    /// Looks up every name a `kaddr()` or `uaddr()` of the program names
    /// with a string literal: kernel symbols once each, user symbols in
    /// the binary of each probe that names them.
    pub(super) fn resolve(expanded: &[(&ast::Probe, ResolvedProbe, Span, bool)], target: &dyn Target) -> Symbols {
        let mut symbols = Symbols::default();
        for (probe, resolved, _, _) in expanded {
            let mut names = Names::default();
            names.visit_probe(probe);
            for name in names.kernel {
                if let std::collections::hash_map::Entry::Vacant(slot) = symbols.kernel.entry(name) {
                    let address = target.kernel_symbol_address(slot.key());
                    slot.insert(address);
                }
            }
            for path in names.cgroups {
                if let std::collections::hash_map::Entry::Vacant(slot) = symbols.cgroups.entry(path) {
                    let id = target.cgroup_id(slot.key());
                    slot.insert(id);
                }
            }
            let Some(path) = binary(&resolved.kind) else { continue };
            for name in names.user {
                if let std::collections::hash_map::Entry::Vacant(slot) = symbols.user.entry((path.to_string(), name)) {
                    let symbol = target.user_symbol(&slot.key().0, &slot.key().1);
                    slot.insert(symbol);
                }
            }
        }
        symbols
    }
}

/// The names `kaddr()` and `uaddr()`, and the paths `cgroupid()`, are
/// called with in one probe.
#[derive(Default)]
struct Names {
    kernel: Vec<String>,
    user: Vec<String>,
    cgroups: Vec<String>,
}

impl<'a> Visitor<'a> for Names {
    fn visit_expr(&mut self, e: &'a ast::Expr) {
        if let A::Call { name, args } = &e.kind {
            if let [ast::Expr { kind: A::Str(text), .. }] = args.as_slice() {
                match name.name.as_str() {
                    "kaddr" => self.kernel.push(text.clone()),
                    "uaddr" => self.user.push(text.clone()),
                    "cgroupid" => self.cgroups.push(text.clone()),
                    _ => {}
                }
            }
        }
        walk_expr(self, e);
    }
}

/// The binary a uprobe or USDT probe is in: where `uaddr()` looks.
fn binary(kind: &ProbeKind) -> Option<&str> {
    match kind {
        ProbeKind::Uprobe { path, .. } | ProbeKind::UprobeMulti { path, .. } | ProbeKind::Usdt { path, .. } => Some(path),
        _ => None,
    }
}

/// Whether the probe's context starts with the task's `pt_regs`: probes
/// on functions, and perf events (whose `bpf_perf_event_data` begins with
/// them), as bpftrace allows `reg()` in them.
fn has_pt_regs(kind: &ProbeKind) -> bool {
    kind.has_registers() || matches!(kind, ProbeKind::Interval { .. } | ProbeKind::PerfEvent { .. } | ProbeKind::Watchpoint { .. } | ProbeKind::WatchpointFunction { .. })
}

impl Checker {
    /// The string literal a symbol function is called with.
    fn literal_name(&mut self, call: &Call) -> Option<String> {
        if let A::Str(text) = &call.args[0].kind {
            return Some(text.clone());
        }
        let f = &call.name.name;
        self.error(
            Diagnostic::error(call.args[0].span, format!("`{f}()` takes a name as a string literal"))
                .with_label("not a string literal")
                .with_note(format!("write e.g. `{f}(\"{}\")`", if f == "reg" { "ip" } else { "name" })),
        );
        None
    }

    /// `kaddr("name")`: the address of the kernel symbol `name`, known
    /// when the program is compiled.
    pub(super) fn kaddr(&mut self, call: &Call, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let name = self.literal_name(call)?;
        let span = call.args[0].span;
        match self.symbols.kernel.get(&name) {
            Some(Ok(address)) => Some((ExprKind::Int(*address), Type::U64)),
            Some(Err(TargetError::Unavailable(why))) => {
                let why = why.clone();
                self.error(
                    Diagnostic::error(span, format!("the address of kernel symbol `{name}` is not known here"))
                        .with_label("not resolved")
                        .with_note(why),
                );
                None
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("unknown kernel symbol `{name}`"))
                        .with_label("not in /proc/kallsyms"),
                );
                None
            }
        }
    }

    /// `cgroupid("path")`: the cgroup v2 id of the cgroup at `path`, known
    /// when the program is compiled, as bpftrace resolves it (and in its
    /// words when there is none).
    pub(super) fn cgroupid(&mut self, call: &Call, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let A::Str(path) = &call.args[0].kind else {
            self.error(
                Diagnostic::error(call.args[0].span, "`cgroupid()` takes a path as a string literal")
                    .with_label("not a string literal")
                    .with_note("write e.g. `cgroupid(\"/sys/fs/cgroup/unified/user.slice\")`"),
            );
            return None;
        };
        match self.symbols.cgroups.get(path) {
            Some(Ok(id)) => Some((ExprKind::Int(*id), Type::U64)),
            other => {
                let why = match other {
                    Some(Err(TargetError::Unavailable(why))) => why.clone(),
                    _ => "No such file or directory".to_string(),
                };
                self.error(
                    Diagnostic::error(call.args[0].span, format!("Failed to get `cgroupid` for path: \"{path}\": {why}"))
                        .with_label("not a cgroup v2 directory")
                        .with_note("cgroupid() takes the path of a directory in a mounted cgroup2 file system"),
                );
                None
            }
        }
    }

    /// `uaddr("name")`: the address of the global `name` in the probe's
    /// binary, as a user pointer to a signed integer of the symbol's size (1, 2,
    /// 4 or 8 bytes; 8 for another size), as bpftrace types it.
    pub(super) fn uaddr(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let Some(path) = binary(&cx.resolved.kind) else {
            self.error(
                Diagnostic::error(call.span, format!("`uaddr()` is not available in `{}`", cx.resolved.name))
                    .with_label("not in a uprobe")
                    .with_note("uaddr() names a global of the traced binary: use it in uprobes, uretprobes and usdt probes"),
            );
            return None;
        };
        let name = self.literal_name(call)?;
        let span = call.args[0].span;
        match self.symbols.user.get(&(path.to_string(), name.clone())) {
            Some(Ok(symbol)) => {
                let size = match symbol.size {
                    1 | 2 | 4 | 8 => symbol.size as u32,
                    _ => 8,
                };
                let pointee = Pointee(Rc::new(CType::Int { size, signed: true }));
                Some((ExprKind::Int(symbol.address), Type::Ptr { to_char: false, user: true, pointee: Some(pointee) }))
            }
            Some(Err(TargetError::Unavailable(why))) => {
                let why = why.clone();
                self.error(Diagnostic::error(span, format!("the symbols of {path} cannot be read")).with_label("not resolved").with_note(why));
                None
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("unknown symbol `{name}`"))
                        .with_label(format!("not defined in {path}")),
                );
                None
            }
        }
    }

    /// `usym(addr)`: the address, printed as the symbol it is in, in the
    /// process the probe fired in (whose pid the value keeps).
    pub(super) fn usym(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let addr = self.expr(&call.args[0], cx);
        self.expect_int(&addr, "`usym()`")?;
        Some((ExprKind::Call { function: "usym", args: vec![addr] }, Type::Usym))
    }

    /// `reg("name")`: the register `name` of the probe's `pt_regs`.
    pub(super) fn reg(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if !has_pt_regs(&cx.resolved.kind) {
            self.error(
                Diagnostic::error(call.span, format!("`reg()` is not available in `{}`", cx.resolved.name))
                    .with_label("this probe has no registers")
                    .with_note("reg() reads the registers of kprobes, uprobes, usdt probes and perf events (profile, interval, software)"),
            );
            return None;
        }
        self.outside_map_loop("reg()", call.span, cx)?;
        let name = self.literal_name(call)?;
        if !REGISTERS.contains(&name.as_str()) {
            self.error(
                Diagnostic::error(call.args[0].span, format!("unknown register `{name}`"))
                    .with_label("not a register of x86-64")
                    .with_note(format!("registers are: {}", REGISTERS.join(", "))),
            );
            return None;
        }
        Some((ExprKind::Call { function: "reg", args: vec![register(&name, call.args[0].span)] }, Type::U64))
    }
}

/// The argument of a checked `reg()` call reading the register `name` (one
/// of [`REGISTERS`]): its offset in `pt_regs`.
pub(super) fn register(name: &str, span: Span) -> Expr {
    let index = REGISTERS.iter().position(|r| *r == name).unwrap_or_default();
    Expr { kind: ExprKind::Int(8 * index as u64), ty: Type::U64, span }
}
