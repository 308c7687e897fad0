//! The hooks of the statement functions that need no file of their own:
//! `exit()`, `clear()`, `zero()`, `signal()`, `time()`, `system()`, `cat()`.

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::ast::{ExprKind as A, UnaryOp};
use crate::checked::{Expr, ExprKind, MapCommand, StmtKind};
use crate::types::Type;
use crate::Diagnostic;

impl Checker {
    /// `exit()` / `exit(code)`: the status is a literal, as in bpftrace.
    pub(super) fn exit(&mut self, call: &Call, _: &mut ProbeCx) -> Option<StmtKind> {
        let code = match call.args.first() {
            None => 0,
            Some(a) => match a.kind {
                A::Int(v) if v <= 255 => v as i32,
                _ => {
                    self.error(
                        Diagnostic::error(a.span, "`exit()` takes an exit status from 0 to 255")
                            .with_label("not an integer literal from 0 to 255"),
                    );
                    return None;
                }
            },
        };
        Some(StmtKind::Exit { code })
    }

    /// `clear(@m)` and `zero(@m)`.
    pub(super) fn clear_or_zero(&mut self, call: &Call, _: &mut ProbeCx) -> Option<StmtKind> {
        let map = self.map_arg(&call.args[0], &call.name.name)?;
        let command = if call.name.name == "clear" { MapCommand::Clear } else { MapCommand::Zero };
        Some(StmtKind::MapCommand { map, command })
    }

    /// `signal(sig)`: a number from 1 to 64 or a name, sent to the task
    /// the probe fired in.
    pub(super) fn signal(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        let args = call.args;
        if let Some(why) = cx.resolved.no_task_to_signal() {
            self.error(
                Diagnostic::error(call.span, format!("`signal()` cannot be used in {why}"))
                    .with_label("no task to signal here")
                    .with_note("signal() sends to the task the probe fired in: use it in tracepoint, uprobe, usdt, kprobe or profile probes"),
            );
            return None;
        }
        let literal = match &args[0].kind {
            A::Int(n) => Some(i128::from(*n)),
            A::Unary { op: UnaryOp::Neg, expr } => match expr.kind {
                A::Int(n) => Some(-i128::from(n)),
                _ => None,
            },
            _ => None,
        };
        if let Some(n) = literal.filter(|n| !(1..=64).contains(n)) {
            self.error(
                Diagnostic::error(args[0].span, format!("{n} is not a valid signal"))
                    .with_label("not from 1 to 64")
                    .with_note("signal numbers are 1 to 64; names are written e.g. \"SIGKILL\" or \"KILL\""),
            );
            return None;
        }
        let sig = match &args[0].kind {
            A::Str(s) => match signal_number(s) {
                Some(n) => Expr { kind: ExprKind::Int(n), ty: Type::U64, span: args[0].span },
                None => {
                    self.error(
                        Diagnostic::error(args[0].span, format!("unknown signal `{s}`"))
                            .with_label("not a signal name")
                            .with_note("write e.g. \"SIGKILL\", \"KILL\" or a number"),
                    );
                    return None;
                }
            },
            _ => {
                let e = self.expr(&args[0], cx);
                self.expect_int(&e, "`signal()`")?;
                e
            }
        };
        Some(StmtKind::Signal(sig))
    }

    /// `unwatch(addr)`: an integer (or pointer) address whose watchpoints
    /// the runtime removes when the request arrives, as bpftrace does.
    pub(super) fn unwatch(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        let address = self.expr(&call.args[0], cx);
        self.expect_int(&address, "`unwatch()`")?;
        Some(StmtKind::Unwatch(address))
    }

    /// `system(fmt, ...)` and `cat(fmt, ...)`: a printf format the runtime
    /// formats, then runs or prints.
    pub(super) fn system_or_cat(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        let StmtKind::Printf { id, args } = self.printf(call.span, call.args, cx)? else { return None };
        Some(if call.name.name == "system" { StmtKind::System { id, args } } else { StmtKind::Cat { id, args } })
    }

    /// `time()` / `time(fmt)`: the format is a literal the runtime uses.
    pub(super) fn time(&mut self, call: &Call, _: &mut ProbeCx) -> Option<StmtKind> {
        let format = match call.args.first().map(|a| &a.kind) {
            None => "%H:%M:%S\n".to_string(),
            Some(A::Str(f)) => f.clone(),
            Some(_) => {
                self.error(
                    Diagnostic::error(call.args[0].span, "`time()` takes a strftime format string literal")
                        .with_label("not a string literal"),
                );
                return None;
            }
        };
        let id = self.time_formats.len();
        self.time_formats.push(format);
        Some(StmtKind::Time { id })
    }
}

/// A signal by name (`SIGKILL`, `KILL`) or number.
fn signal_number(name: &str) -> Option<u64> {
    const SIGNALS: &[(&str, u64)] = &[
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("BUS", 7), ("FPE", 8),
        ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14), ("TERM", 15),
        ("STKFLT", 16), ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22),
        ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28), ("IO", 29),
        ("PWR", 30), ("SYS", 31),
    ];
    if let Ok(n) = name.parse::<u64>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let short = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(n, _)| *n == short).map(|(_, v)| *v)
}
