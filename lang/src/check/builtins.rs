//! Builtins: the variables every probe (or some probes) can read.

use super::*;

impl Checker {
    pub(super) fn builtin(&mut self, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let b = match name {
            "pid" => Builtin::Pid,
            "tid" => Builtin::Tid,
            "uid" => Builtin::Uid,
            "gid" => Builtin::Gid,
            "comm" => Builtin::Comm,
            "nsecs" => Builtin::Nsecs,
            "elapsed" => Builtin::Elapsed,
            "cpu" => Builtin::Cpu,
            "rand" => Builtin::Rand,
            "cgroup" => Builtin::Cgroup,
            "jiffies" => Builtin::Jiffies,
            "numaid" => Builtin::NumaId,
            "ncpus" => return Some((ExprKind::Int(u64::from(self.ncpus)), Type::U64)),
            "cpid" => {
                let Some(cpid) = self.cpid else {
                    self.error(
                        Diagnostic::error(span, "`cpid` is the pid of a child command, and there is none")
                            .with_label("no child command")
                            .with_note("run the command with -c 'CMD'"),
                    );
                    return None;
                };
                return Some((ExprKind::Int(u64::from(cpid)), Type::U32));
            }
            "username" => {
                let uid = Expr { kind: ExprKind::Builtin(Builtin::Uid), ty: Type::U32, span };
                return Some((ExprKind::Retype(Box::new(uid)), Type::Username));
            }
            "probe" => {
                let probe = cx.resolved.name.clone();
                let size = (probe.len() as u32 + 1).max(self.strlen);
                return Some((ExprKind::Str(probe), Type::Str { size }));
            }
            "retval" | "arg0" | "arg1" | "arg2" | "arg3" | "arg4" | "arg5" if cx.map_loops > 0 => {
                // A loop body is a callback without the probe's context.
                self.error(
                    Diagnostic::error(span, format!("`{name}` is not available inside a `for` loop over a map"))
                        .with_label("inside a loop over a map")
                        .with_note("read it into a variable before the loop"),
                );
                return None;
            }
            "retval" if cx.resolved.kind.is_return() && cx.resolved.kind.has_registers() => {
                return Some((ExprKind::Retval, Type::U64));
            }
            "retval" if cx.resolved.kind.is_return() => {
                let ProbeKind::Fentry { function, func, .. } = &cx.resolved.kind else { return None };
                let Some(f) = &function.retval else {
                    self.error(
                        Diagnostic::error(span, format!("`{func}` returns nothing (void)"))
                            .with_label("no return value to read"),
                    );
                    return None;
                };
                let f = f.clone();
                let ty = self.field_type(&f, false, span)?;
                return Some((ExprKind::TracepointField(f), ty));
            }
            "retval" => {
                self.error(
                    Diagnostic::error(span, format!("`retval` is not available in `{}`", cx.resolved.name))
                        .with_label("only return probes have a return value"),
                );
                return None;
            }
            "func" if matches!(cx.resolved.kind, ProbeKind::KprobeMulti { .. }) => {
                return Some((ExprKind::FuncIp, Type::Ksym));
            }
            "func" => {
                let Some(func) = cx.resolved.kind.function() else {
                    self.error(
                        Diagnostic::error(span, format!("`func` is not known in `{}`", cx.resolved.name))
                            .with_label("this probe is not in a named function"),
                    );
                    return None;
                };
                let func = func.to_string();
                let size = (func.len() as u32 + 1).max(self.strlen);
                return Some((ExprKind::Str(func), Type::Str { size }));
            }
            arg if arg.strip_prefix("arg").is_some_and(|n| n.parse::<u8>().is_ok()) => {
                let n: u8 = arg[3..].parse().unwrap_or(0);
                if matches!(cx.resolved.kind, ProbeKind::RawTracepoint { .. }) {
                    return self.raw_tracepoint_arg(n, arg, span);
                }
                if !cx.resolved.kind.has_registers() {
                    self.error(
                        Diagnostic::error(span, format!("`{arg}` is not available in `{}`", cx.resolved.name))
                            .with_label("only kprobes, uprobes and usdt probes have argN")
                            .with_note("tracepoints and fentry name their arguments: `args.NAME`"),
                    );
                    return None;
                }
                if let ProbeKind::Usdt { args, .. } = &cx.resolved.kind {
                    let Some(spec) = args.get(usize::from(n)) else {
                        let has = match args.len() {
                            0 => "no arguments".to_string(),
                            1 => "1 argument: arg0".to_string(),
                            2 => "2 arguments: arg0 and arg1".to_string(),
                            k => format!("{k} arguments: arg0 to arg{}", k - 1),
                        };
                        self.error(
                            Diagnostic::error(span, format!("`{}` has no `{arg}`", cx.resolved.name))
                                .with_label(format!("this probe has {has}")),
                        );
                        return None;
                    };
                    if let crate::probes::UsdtArgLocation::Unsupported(operand) = &spec.location {
                        self.error(
                            Diagnostic::error(span, format!("`{arg}` of `{}` is in a form rbpf cannot read", cx.resolved.name))
                                .with_label(format!("its note says `{operand}`"))
                                .with_note("rbpf reads registers, memory at a register plus an offset, globals (`sym(%rip)`) and constants"),
                        );
                        return None;
                    }
                    return Some((ExprKind::UsdtArg(spec.clone()), Type::U64));
                }
                if n >= 6 {
                    self.error(
                        Diagnostic::error(span, format!("`{arg}` is not in a register"))
                            .with_label("the first six arguments are arg0 to arg5"),
                    );
                    return None;
                }
                return Some((ExprKind::Arg(n), Type::U64));
            }
            "args" => {
                self.error(
                    Diagnostic::error(span, "`args` is a record: use one of its fields")
                        .with_label("write `args.FIELD`"),
                );
                return None;
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("unknown builtin `{name}`"))
                        .with_label("not a builtin variable")
                        .with_note("builtins are: pid, tid, uid, gid, comm, nsecs, elapsed, cpu, rand, cgroup, jiffies, numaid, ncpus, username, probe, func, args, arg0 to arg5, retval"),
                );
                return None;
            }
        };
        let ty = match b {
            Builtin::Comm => Type::Str { size: COMM_LEN },
            Builtin::Nsecs | Builtin::Elapsed => Type::U64,
            Builtin::Pid | Builtin::Tid | Builtin::Uid | Builtin::Gid | Builtin::Cpu | Builtin::Rand | Builtin::NumaId => {
                Type::U32
            }
            Builtin::Cgroup | Builtin::Jiffies => Type::U64,
        };
        if b == Builtin::Elapsed {
            self.uses_elapsed = true;
        }
        Some((ExprKind::Builtin(b), ty))
    }
    /// `argN` of a raw tracepoint: the Nth u64 of its context, which the
    /// kernel lays out as the tracepoint's arguments, one per slot.
    pub(super) fn raw_tracepoint_arg(&mut self, n: u8, arg: &str, span: Span) -> Option<(ExprKind, Type)> {
        // The kernel passes raw tracepoints at most 12 arguments
        // (bpf_trace_run1 to bpf_trace_run12).
        if n >= 12 {
            self.error(
                Diagnostic::error(span, format!("`{arg}` is past a raw tracepoint's arguments"))
                    .with_label("raw tracepoints have at most twelve arguments, arg0 to arg11"),
            );
            return None;
        }
        let field = TracepointField {
            name: arg.to_string(),
            c_type: "u64".into(),
            offset: 8 * u32::from(n),
            size: 8,
            signed: false,
            kind: FieldKind::Int,
        };
        Some((ExprKind::TracepointField(field), Type::U64))
    }
}
