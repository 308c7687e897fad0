//! The functions of the language, each described once by a row of
//! [`FUNCTIONS`], as ply describes each of its functions by one
//! `struct func`: its name, how it is called, what a call is (a statement,
//! a value or an aggregation stored in a map), what of the probe it needs,
//! and the hook that checks what is particular to it. The checker
//! dispatches calls on these rows, and the note on an unknown function,
//! the README's list and the tests' expectations come from them.
//!
//! A pure function (a value computed from its arguments alone, such as
//! `strlen()`) needs no hook: its row gives the kinds of its arguments and
//! the type of its result, the checker makes it an
//! [`crate::checked::ExprKind::Call`] of that name, and
//! code generation lowers the call by the row of the same name in its own
//! table (`codegen/src/lower/functions.rs`). Adding one is those two rows.

use super::{Checker, ProbeCx, MAX_STRLEN};
use crate::ast;
use crate::checked::{Expr, ExprKind, MapUpdate, MapValue, StmtKind};
use crate::types::Type;
use crate::{Diagnostic, Span};

/// One function of the language.
pub struct Function {
    /// The name it is called by.
    pub name: &'static str,
    /// How it is called, for listings: `strncmp(a, b, n)`.
    pub usage: &'static str,
    /// The fewest arguments it takes.
    pub min_args: usize,
    /// The most arguments it takes.
    pub max_args: usize,
    /// Whether it needs `--unsafe`: it can harm the machine.
    pub needs_unsafe: bool,
    /// What of the probe it needs.
    pub reads: Reads,
    /// Whether a probe that calls it must be one program per probe an
    /// attach point matches, not one multi-attached program (it needs BPF
    /// callbacks, which the multi-attach loader does not link).
    pub one_program_per_match: bool,
    /// Whether it can also be written without parentheses, as a builtin
    /// is (`kstack` for `kstack()`).
    pub bare: bool,
    check: Check,
}

/// What a call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A statement, with no value: `printf()`, `exit()`, `delete()`.
    Statement,
    /// A value in an expression: `str()`, `strlen()`, `has_key()`.
    Value,
    /// An aggregation, only assigned to a map: `count()`, `hist()`.
    Aggregation,
}

/// What of the probe a function or builtin needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// Nothing: the same in every probe.
    Nothing,
    /// The task the probe fired in (its pid, its comm; a signal to it).
    Task,
    /// The probe's context: its arguments, registers or record, which a
    /// loop over a map (a BPF callback) cannot read.
    Context,
}

/// The kind of an argument of a pure function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// An integer literal from `lo` to `hi`; `what` names it in messages.
    Const {
        /// The least value.
        lo: i64,
        /// The greatest value.
        hi: i64,
        /// The argument, as a message names it: "the length of `strncmp()`".
        what: &'static str,
    },
}

/// A call being checked.
pub(super) struct Call<'a> {
    pub(super) name: &'a ast::Ident,
    pub(super) args: &'a [ast::Expr],
    /// The whole call.
    pub(super) span: Span,
}

type StatementHook = fn(&mut Checker, &Call, &mut ProbeCx) -> Option<StmtKind>;
type ValueHook = fn(&mut Checker, &Call, &mut ProbeCx) -> Option<(ExprKind, Type)>;
type AggregationHook = fn(&mut Checker, &Call, &mut ProbeCx) -> Option<(MapUpdate, MapValue)>;

/// How a call is checked, once its number of arguments is right.
enum Check {
    Statement(StatementHook),
    Value(ValueHook),
    /// A pure function: arguments of these kinds, and its result's type
    /// from the checked arguments.
    Pure { params: &'static [Param], result: fn(&[Expr]) -> Type },
    Aggregation(AggregationHook),
}

impl Function {
    /// What a call of this function is.
    pub fn role(&self) -> Role {
        match self.check {
            Check::Statement(_) => Role::Statement,
            Check::Value(_) | Check::Pure { .. } => Role::Value,
            Check::Aggregation(_) => Role::Aggregation,
        }
    }

    /// Whether the function is pure: lowered from its arguments alone by
    /// code generation's row of the same name.
    pub fn is_pure(&self) -> bool {
        matches!(self.check, Check::Pure { .. })
    }
}

/// A row, with the defaults most functions share.
const fn row(name: &'static str, usage: &'static str, min_args: usize, max_args: usize, check: Check) -> Function {
    Function {
        name,
        usage,
        min_args,
        max_args,
        needs_unsafe: false,
        reads: Reads::Nothing,
        one_program_per_match: false,
        bare: false,
        check,
    }
}

const fn unsafe_row(f: Function) -> Function {
    Function { needs_unsafe: true, ..f }
}

/// No fixed number of arguments: the hook checks them.
const ANY: usize = usize::MAX;

/// Every function, in the order the note on an unknown one lists them.
pub const FUNCTIONS: &[Function] = &[
    row("printf", "printf(fmt, ...)", 0, ANY, Check::Statement(Checker::printf_call)),
    row("print", "print(@m [, top [, div]]) / print(value)", 1, 3, Check::Statement(Checker::print)),
    row("str", "str(ptr [, len])", 1, 2, Check::Value(Checker::str)),
    row("exit", "exit([code])", 0, 1, Check::Statement(Checker::exit)),
    row("count", "count()", 0, 0, Check::Aggregation(Checker::count)),
    row("sum", "sum(n)", 1, 1, Check::Aggregation(Checker::int_aggregation)),
    row("min", "min(n)", 1, 1, Check::Aggregation(Checker::int_aggregation)),
    row("max", "max(n)", 1, 1, Check::Aggregation(Checker::int_aggregation)),
    row("avg", "avg(n)", 1, 1, Check::Aggregation(Checker::int_aggregation)),
    row("stats", "stats(n)", 1, 1, Check::Aggregation(Checker::int_aggregation)),
    row("hist", "hist(n [, bits])", 1, 2, Check::Aggregation(Checker::hist)),
    row("lhist", "lhist(n, min, max, step)", 4, 4, Check::Aggregation(Checker::lhist)),
    row("delete", "delete(@m[key]) / delete(@m, key)", 1, 2, Check::Statement(Checker::delete)),
    row("clear", "clear(@m)", 1, 1, Check::Statement(Checker::clear_or_zero)),
    row("zero", "zero(@m)", 1, 1, Check::Statement(Checker::clear_or_zero)),
    row("has_key", "has_key(@m, key)", 2, 2, Check::Value(Checker::has_key)),
    Function { one_program_per_match: true, ..row("len", "len(@m)", 1, 1, Check::Value(Checker::len)) },
    row("strlen", "strlen(s)", 1, 1, Check::Pure { params: &[Param::Str], result: |_| Type::U64 }),
    row(
        "strncmp",
        "strncmp(a, b, n)",
        3,
        3,
        Check::Pure {
            params: &[Param::Str, Param::Str, Param::Const { lo: 0, hi: MAX_STRLEN as i64, what: "the length of `strncmp()`" }],
            result: |_| Type::U64,
        },
    ),
    row("strcontains", "strcontains(haystack, needle)", 2, 2, Check::Pure { params: &[Param::Str, Param::Str], result: |_| Type::U64 }),
    row("bswap", "bswap(n)", 1, 1, Check::Pure { params: &[Param::Int], result: unsigned_of_same_width }),
    row("time", "time([fmt])", 0, 1, Check::Statement(Checker::time)),
    row("strftime", "strftime(fmt, nsecs)", 2, 2, Check::Value(Checker::strftime)),
    row("ntop", "ntop([af, ] addr)", 1, 2, Check::Value(Checker::ntop)),
    row("pton", "pton(addr)", 1, 1, Check::Value(Checker::pton)),
    row("macaddr", "macaddr(addr)", 1, 1, Check::Value(Checker::macaddr)),
    row("strerror", "strerror(errno)", 1, 1, Check::Value(Checker::strerror)),
    row("cgroupid", "cgroupid(path)", 1, 1, Check::Value(Checker::cgroupid)),
    row("cgroup_path", "cgroup_path(id [, filter])", 1, 2, Check::Value(Checker::cgroup_path)),
    row("cat", "cat(fmt, ...)", 0, ANY, Check::Statement(Checker::system_or_cat)),
    unsafe_row(row("system", "system(fmt, ...)", 0, ANY, Check::Statement(Checker::system_or_cat))),
    Function { reads: Reads::Task, ..unsafe_row(row("signal", "signal(sig)", 1, 1, Check::Statement(Checker::signal))) },
    Function { reads: Reads::Context, ..unsafe_row(row("override", "override(rc)", 1, 1, Check::Statement(Checker::override_return))) },
    row("unwatch", "unwatch(addr)", 1, 1, Check::Statement(Checker::unwatch)),
    row("path", "path(struct path *)", 1, 1, Check::Value(Checker::path)),
    Function { reads: Reads::Context, ..row("skboutput", "skboutput(path, skb, length, offset)", 4, 4, Check::Value(Checker::skboutput)) },
    row("buf", "buf(ptr [, len]) / buf(array)", 1, 2, Check::Value(Checker::buf)),
    row("join", "join(argv [, sep])", 1, 2, Check::Statement(Checker::join)),
    row("uptr", "uptr(p)", 1, 1, Check::Pure { params: &[Param::Int], result: |args| in_space(args, true) }),
    row("kptr", "kptr(p)", 1, 1, Check::Pure { params: &[Param::Int], result: |args| in_space(args, false) }),
    Function { reads: Reads::Context, bare: true, ..row("kstack", "kstack([mode, ] [limit])", 0, 2, Check::Value(Checker::stack)) },
    row("ksym", "ksym(addr)", 1, 1, Check::Value(Checker::ksym)),
    Function { reads: Reads::Task, ..row("usym", "usym(addr)", 1, 1, Check::Value(Checker::usym)) },
    row("kaddr", "kaddr(name)", 1, 1, Check::Value(Checker::kaddr)),
    Function { reads: Reads::Context, ..row("uaddr", "uaddr(name)", 1, 1, Check::Value(Checker::uaddr)) },
    Function { reads: Reads::Context, ..row("reg", "reg(name)", 1, 1, Check::Value(Checker::reg)) },
    Function { reads: Reads::Context, bare: true, ..row("ustack", "ustack([mode, ] [limit])", 0, 2, Check::Value(Checker::stack)) },
];

/// `uptr()`'s and `kptr()`'s type: the pointer (or an address held in an
/// integer) marked as pointing into user or kernel memory, which decides
/// the helper that reads through it.
fn in_space(args: &[Expr], user: bool) -> Type {
    match args.first().map(|a| &a.ty) {
        Some(Type::Ptr { to_char, pointee, .. }) => Type::Ptr { to_char: *to_char, user, pointee: pointee.clone() },
        _ => Type::Ptr { to_char: false, user, pointee: None },
    }
}

/// `bswap()`'s type: an unsigned integer of its argument's width.
fn unsigned_of_same_width(args: &[Expr]) -> Type {
    match args.first().map(|a| &a.ty) {
        Some(Type::Int { bits, .. }) => Type::Int { bits: *bits, signed: false },
        _ => Type::U64,
    }
}

/// The function called `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

impl Checker {
    /// A call as a statement: a statement function, or a value computed
    /// for nothing (`None` means it is one: check it as an expression).
    pub(super) fn call_stmt_of(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<Option<StmtKind>> {
        let f = function(&name.name)?;
        let call = Call { name, args, span };
        match f.check {
            Check::Statement(hook) => Some(self.enter(f, &call).and_then(|()| hook(self, &call, cx))),
            Check::Aggregation(_) => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` must be assigned to a map", f.name))
                        .with_label("its result is lost here")
                        .with_note(format!("write e.g. `@x = {}(...)`", f.name)),
                );
                Some(None)
            }
            Check::Value(_) | Check::Pure { .. } => None,
        }
    }

    /// A call in an expression.
    pub(super) fn call_expr(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let Some(f) = function(&name.name) else {
            let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
            self.error(
                Diagnostic::error(name.span, format!("unknown function `{}`", name.name))
                    .with_label("not a function rbpf knows")
                    .with_note(format!("functions are: {}", names.join(", "))),
            );
            return None;
        };
        let call = Call { name, args, span };
        match f.check {
            Check::Value(hook) => {
                self.enter(f, &call)?;
                hook(self, &call, cx)
            }
            Check::Pure { params, result } => {
                self.enter(f, &call)?;
                let args = self.pure_args(f, params, args, cx)?;
                let ty = result(&args);
                Some((ExprKind::Call { function: f.name, args }, ty))
            }
            Check::Statement(_) => {
                self.error(Diagnostic::error(span, format!("`{}()` has no value", f.name)).with_label("use it as a statement"));
                None
            }
            Check::Aggregation(_) => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` must be assigned to a map", f.name))
                        .with_label("not directly in an expression")
                        .with_note(format!("write e.g. `@x = {}(...)`", f.name)),
                );
                None
            }
        }
    }

    /// The value assigned to a map, when it is an aggregation (`None`
    /// when it is not: a plain value).
    pub(super) fn aggregation(&mut self, value: &ast::Expr, cx: &mut ProbeCx) -> Option<Option<(MapUpdate, MapValue)>> {
        let ast::ExprKind::Call { name, args } = &value.kind else { return None };
        let f = function(&name.name)?;
        let Check::Aggregation(hook) = f.check else { return None };
        let call = Call { name, args, span: value.span };
        Some(self.enter(f, &call).and_then(|()| hook(self, &call, cx)))
    }

    /// A function that can go without parentheses, named alone: a call
    /// with no arguments.
    pub(super) fn bare_call(&mut self, f: &Function, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let ident = ast::Ident { name: name.to_string(), span };
        let call = Call { name: &ident, args: &[], span };
        match f.check {
            Check::Value(hook) => hook(self, &call, cx),
            _ => None,
        }
    }

    /// What every call of `f` is checked for before its own hook: the
    /// number of its arguments, and `--unsafe`.
    fn enter(&mut self, f: &Function, call: &Call) -> Option<()> {
        self.arity(call.name, call.args, f.min_args, f.max_args)?;
        if f.needs_unsafe {
            self.require_unsafe(call.name)?;
        }
        Some(())
    }

    /// The arguments of a pure function, checked against their kinds: the
    /// expressions first, then their types, then the constants.
    fn pure_args(&mut self, f: &Function, params: &[Param], args: &[ast::Expr], cx: &mut ProbeCx) -> Option<Vec<Expr>> {
        let what = format!("`{}()`", f.name);
        let values: Vec<Option<Expr>> = params
            .iter()
            .zip(args)
            .map(|(p, a)| (!matches!(p, Param::Const { .. })).then(|| self.expr(a, cx)))
            .collect();
        for (p, v) in params.iter().zip(&values) {
            match (p, v) {
                (Param::Str, Some(e)) => self.expect_str(e, &what)?,
                (Param::Int, Some(e)) => self.expect_int(e, &what)?,
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(args.len());
        for ((p, v), a) in params.iter().zip(values).zip(args) {
            match (p, v) {
                (Param::Const { lo, hi, what }, _) => {
                    let n = self.const_arg(a, *lo, *hi, what)?;
                    out.push(Expr { kind: ExprKind::Int(n as u64), ty: Type::I64, span: a.span });
                }
                (_, Some(e)) => out.push(e),
                (_, None) => return None,
            }
        }
        Some(out)
    }

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

    /// Reports a call with fewer or more arguments than its function takes.
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
}
