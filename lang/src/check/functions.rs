//! Calls: the functions of the language and how a call is checked.

use super::*;

impl Checker {
    /// `system()` and `signal()` can harm the machine: bpftrace asks for
    /// `--unsafe`, and so does rbpf.
    pub(super) fn require_unsafe(&mut self, name: &ast::Ident) -> Option<()> {
        if self.allow_unsafe {
            return Some(());
        }
        self.error(
            Diagnostic::error(name.span, format!("`{}()` is unsafe", name.name))
                .with_label("needs --unsafe")
                .with_note("run rbpf with --unsafe to allow it"),
        );
        None
    }
    pub(super) fn arity(&mut self, name: &ast::Ident, args: &[ast::Expr], min: usize, max: usize) -> Option<()> {
        if (min..=max).contains(&args.len()) {
            return Some(());
        }
        let want = match (min, max) {
            (0, 0) => "no arguments".to_string(),
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, b) => format!("{a} to {b} arguments"),
        };
        let span = args.first().map_or(name.span, |a| a.span.to(args[args.len() - 1].span));
        self.error(
            Diagnostic::error(span, format!("`{}()` takes {want}, but {} {} given", name.name, args.len(), if args.len() == 1 { "was" } else { "were" }))
                .with_label(format!("expected {want}"))
                .with_secondary(name.span, "in this call"),
        );
        None
    }
    pub(super) fn call_expr(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        match name.name.as_str() {
            "str" => {
                self.arity(name, args, 1, 2)?;
                // bpftrace refuses a negative constant length; read at run
                // time, it would be taken as a huge unsigned one.
                if let Some(len) = args.get(1).filter(|a| self.negative_constant(a)) {
                    self.error(
                        Diagnostic::error(len.span, "`str()` cannot take a negative length")
                            .with_label("negative")
                            .with_note("the length is how many bytes to read, at most the string length (64 unless set)"),
                    );
                    return None;
                }
                // After an error, an empty string stands in so that the
                // error does not cascade into "needs a string" ones.
                let literal = self.literal_str_arg(&args[0]).unwrap_or(Some(String::new()));
                if let Some(text) = literal {
                    return self.str_of_literal(text, args.get(1), cx);
                }
                let ptr = self.expr(&args[0], cx);
                let len = match args.get(1) {
                    Some(a) => {
                        let l = self.expr(a, cx);
                        self.expect_int(&l, "the length of `str()`")?;
                        Some(Box::new(l))
                    }
                    None => None,
                };
                if ptr.ty.is_str() {
                    // str() of a string is the string itself, cut to the
                    // length when there is one.
                    let Some(len) = len else {
                        return Some((ptr.kind, ptr.ty));
                    };
                    let size = match len.kind {
                        ExprKind::Int(n) => u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1).min(ptr.ty.stored_size()),
                        _ => ptr.ty.stored_size(),
                    };
                    return Some((ExprKind::StrPrefix { str: Box::new(ptr), len }, Type::Str { size }));
                }
                self.expect_int(&ptr, "`str()`")?;
                // A constant length shrinks the buffer, as in bpftrace.
                let size = match len.as_deref().map(|l| &l.kind) {
                    Some(ExprKind::Int(n)) => (*n as u32).saturating_add(1).min(self.strlen),
                    _ => self.strlen,
                };
                Some((ExprKind::StrRead { ptr: Box::new(ptr), len }, Type::Str { size }))
            }
            "strftime" => {
                self.arity(name, args, 2, 2)?;
                let A::Str(format) = &args[0].kind else {
                    self.error(
                        Diagnostic::error(args[0].span, "`strftime()` takes a format string literal")
                            .with_label("not a string literal"),
                    );
                    return None;
                };
                let nsecs = self.expr(&args[1], cx);
                self.expect_int(&nsecs, "`strftime()`")?;
                let format_id = self.time_formats.len() as u32;
                self.time_formats.push(format.clone());
                Some((ExprKind::Retype(Box::new(nsecs)), Type::Timestamp { format: format_id }))
            }
            "ntop" => {
                self.arity(name, args, 1, 2)?;
                let addr_arg = args.last()?;
                // An address held in a byte array field (`__u8 saddr[4]`,
                // `__u8 saddr_v6[16]`): its bytes, and without a family,
                // the family its size says, as bpftrace does.
                let bytes = self.address_field(addr_arg, cx);
                let (af, addr) = match args {
                    [addr] => {
                        let family = if bytes.as_ref().is_some_and(|b| b.ty == Type::Buf { size: 16 }) { AF_INET6 } else { AF_INET };
                        let addr = bytes.unwrap_or_else(|| self.expr(addr, cx));
                        (Expr { kind: ExprKind::Int(family), ty: Type::U64, span: addr.span }, addr)
                    }
                    [af, addr] => {
                        let af = self.expr(af, cx);
                        self.expect_int(&af, "the address family of `ntop()`")?;
                        (af, bytes.unwrap_or_else(|| self.expr(addr, cx)))
                    }
                    _ => return None,
                };
                if !matches!(addr.ty, Type::Buf { .. }) {
                    self.expect_int(&addr, "`ntop()` of an IPv4 address")?;
                }
                Some((ExprKind::Ntop { af: Box::new(af), addr: Box::new(addr) }, Type::Inet))
            }
            "strlen" => {
                self.arity(name, args, 1, 1)?;
                let s = self.expr(&args[0], cx);
                self.expect_str(&s, "`strlen()`")?;
                Some((ExprKind::StrLen(Box::new(s)), Type::U64))
            }
            "strncmp" => {
                self.arity(name, args, 3, 3)?;
                let a = self.expr(&args[0], cx);
                let b = self.expr(&args[1], cx);
                self.expect_str(&a, "`strncmp()`")?;
                self.expect_str(&b, "`strncmp()`")?;
                let n = self.const_arg(&args[2], 0, i64::from(MAX_STRLEN), "the length of `strncmp()`")? as u32;
                Some((ExprKind::StrNCmp { lhs: Box::new(a), rhs: Box::new(b), n }, Type::U64))
            }
            "strcontains" => {
                self.arity(name, args, 2, 2)?;
                let h = self.expr(&args[0], cx);
                let n = self.expr(&args[1], cx);
                self.expect_str(&h, "`strcontains()`")?;
                self.expect_str(&n, "`strcontains()`")?;
                Some((ExprKind::StrContains { haystack: Box::new(h), needle: Box::new(n) }, Type::U64))
            }
            "bswap" => {
                self.arity(name, args, 1, 1)?;
                let x = self.expr(&args[0], cx);
                self.expect_int(&x, "`bswap()`")?;
                let ty = match x.ty {
                    Type::Int { bits, .. } => Type::Int { bits, signed: false },
                    _ => Type::U64,
                };
                Some((ExprKind::Bswap(Box::new(x)), ty))
            }
            "has_key" => {
                self.arity(name, args, 2, 2)?;
                let A::Map { name: map_name, keys } = &args[0].kind else {
                    self.map_arg(&args[0], "has_key")?;
                    return None;
                };
                if !keys.is_empty() {
                    self.map_arg(&args[0], "has_key")?;
                }
                let map = self.map_id(map_name);
                let key_exprs = match &args[1].kind {
                    A::Tuple(items) => items.clone(),
                    _ => vec![args[1].clone()],
                };
                let keys = self.map_keys(map, &key_exprs, args[0].span.to(args[1].span), cx)?;
                Some((ExprKind::HasKey { map, keys }, Type::U64))
            }
            "buf" => self.buf(name, args, cx),
            "len" => {
                self.arity(name, args, 1, 1)?;
                let map = self.map_arg(&args[0], "len")?;
                self.maps[map.0].element_ops = true;
                Some((ExprKind::MapLen(map), Type::I64))
            }
            "printf" | "exit" | "delete" | "clear" | "zero" | "print" | "signal" | "system" | "cat" | "time" | "join" => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` has no value", name.name))
                        .with_label("use it as a statement"),
                );
                None
            }
            "count" | "sum" | "min" | "max" | "avg" | "stats" | "hist" | "lhist" => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` must be assigned to a map", name.name))
                        .with_label("not directly in an expression")
                        .with_note(format!("write e.g. `@x = {}(...)`", name.name)),
                );
                None
            }
            other => {
                self.error(
                    Diagnostic::error(name.span, format!("unknown function `{other}`"))
                        .with_label("not a function rbpf knows")
                        .with_note(format!("functions are: {}", FUNCTIONS.join(", "))),
                );
                None
            }
        }
    }
}

/// Every function, for the note on an unknown one.
pub(super) const FUNCTIONS: &[&str] = &[
    "printf", "print", "str", "exit", "count", "sum", "min", "max", "avg", "stats", "hist", "lhist", "delete",
    "clear", "zero", "has_key", "len", "strlen", "strncmp", "strcontains", "bswap", "time", "strftime", "ntop", "cat",
    "system", "signal", "buf", "join",
];

/// Address families, as `ntop()` takes them.
pub(super) const AF_INET: u64 = 2;
pub(super) const AF_INET6: u64 = 10;

/// A signal by name (`SIGKILL`, `KILL`) or number.
/// Why a probe has no task `signal()` could mean, as bpftrace 0.17 judges
/// it: BEGIN and END run in rbpf itself (through BPF_PROG_TEST_RUN, so a
/// signal would hit rbpf), and timers, software and hardware counters and
/// watchpoints fire in whatever task the CPU happens to run.
pub(super) fn signal_has_no_task(probe: &ResolvedProbe) -> Option<&'static str> {
    Some(match &probe.kind {
        ProbeKind::Begin => "BEGIN probes: they run in rbpf's own process",
        ProbeKind::End => "END probes: they run in rbpf's own process",
        ProbeKind::Interval { .. } => "interval probes",
        ProbeKind::PerfEvent { counter: PerfCounter::Software { .. }, .. } if !probe.name.starts_with("profile:") => {
            "software probes"
        }
        ProbeKind::PerfEvent { counter: PerfCounter::Hardware { .. }, .. } => "hardware probes",
        ProbeKind::Watchpoint { .. } => "watchpoint probes",
        _ => return None,
    })
}

pub(super) fn signal_number(name: &str) -> Option<u64> {
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
