//! The builtins, each described once by a row of [`BUILTINS`]: its name,
//! what of the probe it reads, and its value — a helper's result of a
//! fixed type, or a hook for what is particular to it. What `argN`,
//! `retval`, `func` and `args` mean in a probe comes from its kind's
//! provider ([`ProbeKind::arg`](crate::probes::ProbeKind::arg) and its
//! peers), not from cases here.

use super::functions::Reads;
use super::{Checker, ProbeCx};
use crate::checked::{self, Expr, ExprKind};
use crate::probes::{ContextValue, ProbeKind, UprobeLocation};
use crate::types::{Type, COMM_LEN};
use crate::{Diagnostic, Span};

/// One builtin variable of the language.
pub struct Builtin {
    /// The name it is read by; `argN` stands for `arg0`, `arg1`, ...
    pub name: &'static str,
    /// How listings name it: `arg0 to arg5`.
    pub usage: &'static str,
    /// What of the probe it reads.
    pub reads: Reads,
    /// Whether the note on an unknown builtin names it (`cpid` exists
    /// only with `-c`, and bpftrace's note leaves it out too).
    pub listed: bool,
    /// Whether a probe that reads it must be one program per probe an
    /// attach point matches, not one multi-attached program (`probe` is a
    /// constant of each program, as in bpftrace).
    pub one_program_per_match: bool,
    value: Value,
}

type Hook = fn(&mut Checker, &str, Span, &mut ProbeCx) -> Option<(ExprKind, Type)>;

/// How a builtin's value is found.
enum Value {
    /// A helper's result, of this type.
    Helper(checked::Builtin, Type),
    /// A check of its own.
    Hook(Hook),
}

const fn helper(name: &'static str, reads: Reads, builtin: checked::Builtin, ty: Type) -> Builtin {
    Builtin { name, usage: name, reads, listed: true, one_program_per_match: false, value: Value::Helper(builtin, ty) }
}

const fn hook(name: &'static str, reads: Reads, hook: Hook) -> Builtin {
    Builtin { name, usage: name, reads, listed: true, one_program_per_match: false, value: Value::Hook(hook) }
}

/// Every builtin, in the order the note on an unknown one lists them.
pub const BUILTINS: &[Builtin] = &[
    helper("pid", Reads::Task, checked::Builtin::Pid, Type::U32),
    helper("tid", Reads::Task, checked::Builtin::Tid, Type::U32),
    helper("uid", Reads::Task, checked::Builtin::Uid, Type::U32),
    helper("gid", Reads::Task, checked::Builtin::Gid, Type::U32),
    helper("comm", Reads::Task, checked::Builtin::Comm, Type::Str { size: COMM_LEN }),
    helper("nsecs", Reads::Nothing, checked::Builtin::Nsecs, Type::U64),
    hook("elapsed", Reads::Nothing, Checker::elapsed),
    helper("cpu", Reads::Nothing, checked::Builtin::Cpu, Type::U32),
    helper("rand", Reads::Nothing, checked::Builtin::Rand, Type::U32),
    helper("cgroup", Reads::Task, checked::Builtin::Cgroup, Type::U64),
    hook("curtask", Reads::Task, Checker::curtask),
    helper("jiffies", Reads::Nothing, checked::Builtin::Jiffies, Type::U64),
    helper("numaid", Reads::Nothing, checked::Builtin::NumaId, Type::U32),
    hook("ncpus", Reads::Nothing, Checker::ncpus),
    hook("username", Reads::Task, Checker::username),
    Builtin {
        name: "probe",
        usage: "probe",
        reads: Reads::Nothing,
        listed: true,
        one_program_per_match: true,
        value: Value::Hook(Checker::probe_name),
    },
    hook("func", Reads::Context, Checker::func),
    hook("args", Reads::Context, Checker::args_record),
    hook("ctx", Reads::Context, Checker::ctx),
    Builtin {
        name: "argN",
        usage: "arg0 to arg5",
        reads: Reads::Context,
        listed: true,
        one_program_per_match: false,
        value: Value::Hook(Checker::arg),
    },
    hook("retval", Reads::Context, Checker::retval),
    Builtin {
        name: "cpid",
        usage: "cpid",
        reads: Reads::Nothing,
        listed: false,
        one_program_per_match: false,
        value: Value::Hook(Checker::cpid),
    },
];

/// The builtin called `name` (`arg3` is the row `argN`).
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    let is_arg = name.strip_prefix("arg").is_some_and(|n| n.parse::<u8>().is_ok());
    let name = if is_arg { "argN" } else { name };
    BUILTINS.iter().find(|b| b.name == name)
}

impl Checker {
    /// A builtin read in an expression.
    pub(super) fn builtin(&mut self, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let Some(b) = builtin(name) else {
            if let Some(f) = super::functions::function(name).filter(|f| f.bare) {
                return self.bare_call(f, name, span, cx);
            }
            let names: Vec<&str> = BUILTINS.iter().filter(|b| b.listed).map(|b| b.usage).collect();
            self.error(
                Diagnostic::error(span, format!("unknown builtin `{name}`"))
                    .with_label("not a builtin variable")
                    .with_note(format!("builtins are: {}", names.join(", "))),
            );
            return None;
        };
        match &b.value {
            Value::Helper(b, ty) => Some((ExprKind::Builtin(*b), ty.clone())),
            Value::Hook(hook) => hook(self, name, span, cx),
        }
    }

    /// `elapsed`: the runtime then records the start time.
    fn elapsed(&mut self, _: &str, _: Span, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        self.uses_elapsed = true;
        Some((ExprKind::Builtin(checked::Builtin::Elapsed), Type::U64))
    }

    /// `ncpus`: the machine's possible CPUs, a constant.
    /// `curtask`: the current task (`bpf_get_current_task`), a pointer
    /// to the kernel's `struct task_struct`, so `curtask->real_parent->tgid`
    /// reads through it.
    fn curtask(&mut self, _: &str, _: Span, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        Some((ExprKind::Builtin(checked::Builtin::CurTask), self.task_struct_pointer()))
    }

    fn ncpus(&mut self, _: &str, _: Span, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        Some((ExprKind::Int(u64::from(self.ncpus)), Type::U64))
    }

    /// `cpid`: the pid of the `-c` command, a constant.
    fn cpid(&mut self, _: &str, span: Span, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let Some(cpid) = self.cpid else {
            self.error(
                Diagnostic::error(span, "`cpid` is the pid of a child command, and there is none")
                    .with_label("no child command")
                    .with_note("run the command with -c 'CMD'"),
            );
            return None;
        };
        Some((ExprKind::Int(u64::from(cpid)), Type::U32))
    }

    /// `username`: the uid, printed as the user's name.
    fn username(&mut self, _: &str, span: Span, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let uid = Expr { kind: ExprKind::Builtin(checked::Builtin::Uid), ty: Type::U32, span };
        Some((ExprKind::Retype(Box::new(uid)), Type::Username))
    }

    /// `probe`: the probe's full name, a constant of each program.
    fn probe_name(&mut self, _: &str, _: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if let ProbeKind::UprobeMulti { names, .. } = &cx.resolved.kind {
            let longest = names.iter().map(String::len).max().unwrap_or(0);
            let size = (longest as u32 + 1).max(self.strlen);
            return Some((ExprKind::ProbeByCookie(names.clone()), Type::Str { size }));
        }
        let probe = cx.resolved.name.clone();
        let size = (probe.len() as u32 + 1).max(self.strlen);
        Some((ExprKind::Str(probe), Type::Str { size }))
    }

    /// `func`, as the probe's kind gives it.
    fn func(&mut self, _: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let value = cx.resolved.kind.func(&cx.resolved.name, span);
        // A uprobe's function is named as bpftrace names it: demangled
        // (unless BPFTRACE_NO_CPP_DEMANGLE or `cpp_demangle = 0` says
        // otherwise), here once rather than per event.
        let at_entry = matches!(cx.resolved.kind, ProbeKind::Uprobe { location: UprobeLocation::Symbol(_), ret: false, .. });
        let value = match value {
            // Where the probe fires, the instruction pointer is the
            // function's address: printed in hex as `usym()` then prints.
            Ok(ContextValue::Name(_)) if self.no_user_symbols && at_entry => Ok(ContextValue::UserIp),
            Ok(ContextValue::Name(name)) if self.demangle => Ok(ContextValue::Name(crate::probes::demangle(&name))),
            other => other,
        };
        self.context_value(value, span)
    }

    /// `retval`, as the probe's kind gives it.
    fn retval(&mut self, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        self.outside_map_loop(name, span, cx)?;
        let value = cx.resolved.kind.retval(&cx.resolved.name, span);
        self.context_value(value, span)
    }

    /// `argN`, as the probe's kind gives it.
    fn arg(&mut self, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if matches!(name, "arg0" | "arg1" | "arg2" | "arg3" | "arg4" | "arg5") {
            self.outside_map_loop(name, span, cx)?;
        }
        let n: u8 = name[3..].parse().unwrap_or(0);
        let value = cx.resolved.kind.arg(n, name, &cx.resolved.name, span);
        self.context_value(value, span)
    }

    /// `args` alone, without a field: the record of all of them.
    fn args_record(&mut self, _: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if matches!(cx.resolved.kind, ProbeKind::Iter { .. }) {
            self.error(
                Diagnostic::error(span, "Use ctx instead of args in iter probes")
                    .with_label(format!("in {}", cx.resolved.name))
                    .with_note("an iterator's context is read as `ctx->NAME`, e.g. `ctx->task->pid`"),
            );
            return None;
        }
        self.args_whole(span, cx)
    }

    /// `ctx` alone: an iterator probe's context as a whole (`ctx->NAME`
    /// reads one member, see `fields`). bpftrace's `ctx` in other probes
    /// (an opaque pointer to their registers) has no use rbpf offers.
    fn ctx(&mut self, _: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        match cx.resolved.kind {
            ProbeKind::Iter { .. } => self.args_whole(span, cx),
            // bpftrace 0.17's words.
            ProbeKind::Tracepoint { .. } => {
                self.error(
                    Diagnostic::error(span, "Use args instead of ctx in tracepoint")
                        .with_label(format!("in {}", cx.resolved.name))
                        .with_note("a tracepoint's record is read as `args.NAME`"),
                );
                None
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("`ctx` is not available in `{}`", cx.resolved.name))
                        .with_label("only iterator probes have `ctx`")
                        .with_note("an iterator probe reads its context as `ctx->NAME`, e.g. `iter:task { print(ctx->task->pid); }`"),
                );
                None
            }
        }
    }

    /// A loop body is a callback without the probe's context.
    pub(super) fn outside_map_loop(&mut self, name: &str, span: Span, cx: &ProbeCx) -> Option<()> {
        if cx.map_loops == 0 {
            return Some(());
        }
        self.error(
            Diagnostic::error(span, format!("`{name}` is not available inside a `for` loop over a map"))
                .with_label("inside a loop over a map")
                .with_note("read it into a variable before the loop"),
        );
        None
    }

    /// The checked expression of what the probe's provider says a builtin is.
    fn context_value(&mut self, value: Result<ContextValue, Diagnostic>, span: Span) -> Option<(ExprKind, Type)> {
        let value = match value {
            Ok(value) => value,
            Err(d) => {
                self.error(d);
                return None;
            }
        };
        Some(match value {
            ContextValue::Register(n) => (ExprKind::Arg(n), Type::U64),
            ContextValue::ReturnRegister => (ExprKind::Retval, Type::U64),
            ContextValue::Usdt(arg) => (ExprKind::UsdtArg(arg), Type::U64),
            ContextValue::FuncIp => (ExprKind::FuncIp, Type::Ksym),
            ContextValue::UserIp => {
                let ip = Expr { kind: ExprKind::Call { function: "reg", args: vec![super::symbols::register("ip", span)] }, ty: Type::U64, span };
                (ExprKind::Call { function: "usym", args: vec![ip] }, Type::Usym)
            }
            ContextValue::UserFuncIp => {
                let ip = Expr { kind: ExprKind::FuncIp, ty: Type::U64, span };
                (ExprKind::Call { function: "usym", args: vec![ip] }, Type::Usym)
            }
            ContextValue::Field(f) => {
                let ty = self.field_type(&f, false, span)?;
                (ExprKind::TracepointField(f), ty)
            }
            ContextValue::Name(name) => {
                let size = (name.len() as u32 + 1).max(self.strlen);
                (ExprKind::Str(name), Type::Str { size })
            }
        })
    }
}
