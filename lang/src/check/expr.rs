//! Expressions: literals, variables, operators, casts, and the helpers
//! that check an operand's type or a constant argument.

use super::{parse_int, Checker, Pass, ProbeCx};
use crate::ast::{self, BinaryOp, ExprKind as A, UnaryOp};
use crate::checked::{Expr, ExprKind, MapValue};
use crate::types::Type;
use crate::{Diagnostic, Span};

impl Checker {
    /// Whether `a` is a constant below zero: `-N`, or a positional
    /// parameter given as a negative number.
    pub(super) fn negative_constant(&self, a: &ast::Expr) -> bool {
        match &a.kind {
            A::Unary { op: UnaryOp::Neg, expr } => matches!(expr.kind, A::Int(n) if n > 0),
            A::Positional(n) => self
                .params
                .get(*n as usize - 1)
                .is_some_and(|p| p.trim().starts_with('-') && parse_int(p).is_some_and(|v| v != 0)),
            _ => false,
        }
    }
    /// An argument that must be an integer literal in `lo..=hi`.
    pub(super) fn const_arg(&mut self, a: &ast::Expr, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let v = match &a.kind {
            A::Int(v) if *v <= i64::MAX as u64 => Some(*v as i64),
            A::Unary { op: UnaryOp::Neg, expr } => match expr.kind {
                A::Int(v) if v <= i64::MAX as u64 => Some(-(v as i64)),
                _ => None,
            },
            A::Positional(n) => self.params.get(*n as usize - 1).and_then(|p| parse_int(p)).map(|v| v as i64),
            _ => None,
        };
        match v {
            Some(v) if (lo..=hi).contains(&v) => Some(v),
            _ => {
                let range = if hi == i64::MAX { format!("of at least {lo}") } else { format!("from {lo} to {hi}") };
                self.error(
                    Diagnostic::error(a.span, format!("{what} must be an integer literal {range}"))
                        .with_label("not a constant in range"),
                );
                None
            }
        }
    }
    pub(super) fn expect_str(&mut self, e: &Expr, what: &str) -> Option<()> {
        self.expect(e, e.ty.is_str(), what, "a string")
    }

    pub(super) fn expect_int(&mut self, e: &Expr, what: &str) -> Option<()> {
        self.expect(e, e.ty.is_int(), what, "an integer")
    }

    /// Reports `what needs WANT, but this is TYPE` unless `fits`.
    pub(super) fn expect(&mut self, e: &Expr, fits: bool, what: &str, want: &str) -> Option<()> {
        if fits {
            return Some(());
        }
        self.error(
            Diagnostic::error(e.span, format!("{what} needs {want}, but this is {}", e.ty))
                .with_label(format!("expected {want}")),
        );
        None
    }
    pub(super) fn expr(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Expr {
        let span = e.span;
        let (kind, ty) = match self.expr_kind(e, cx) {
            Some(kt) => kt,
            // An error was reported; go on with a harmless stand-in so the
            // rest of the program is still checked.
            None => (ExprKind::Int(0), Type::I64),
        };
        Expr { kind, ty, span }
    }

    pub(super) fn expr_kind(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let span = e.span;
        Some(match &e.kind {
            // bpftrace types every integer literal int64: 0xffffffffffffffff is -1.
            A::Int(v) => (ExprKind::Int(*v), Type::I64),
            A::Bool(b) => (ExprKind::Int(u64::from(*b)), Type::U64),
            A::Str(s) => (ExprKind::Str(s.clone()), Type::Str { size: s.len() as u32 + 1 }),
            A::Ident(name) => match self.enum_constant(name) {
                Some(constant) => constant,
                None => return self.builtin(name, span, cx),
            },
            A::Var(name) => {
                let var_name = format!("${name}");
                let Some(&id) = cx.var_ids.get(&var_name) else {
                    self.error(
                        Diagnostic::error(span, format!("unknown variable `{var_name}`"))
                            .with_label("not assigned before this use")
                            .with_note(format!("assign it first in this probe, e.g. `{var_name} = 0;`")),
                    );
                    return None;
                };
                (ExprKind::Var(id), cx.vars[id.0].ty.clone())
            }
            A::Map { name, keys } => {
                let map = self.map_id(name);
                let keys = self.map_keys(map, keys, span, cx)?;
                let value = self.maps[map.0].value.clone();
                let ty = match value {
                    Some(MapValue::Plain(Type::Inet)) => {
                        self.error(
                            Diagnostic::error(span, "an address stored in a map cannot be read back")
                                .with_label("holds an ntop() value")
                                .with_note("keep it in a variable, or print the map"),
                        );
                        return None;
                    }
                    Some(MapValue::Plain(t)) => t,
                    // Not known yet in the first pass (a later write sets
                    // it): an int64 stand-in would fix the type of what
                    // takes this value (`@z = @s` of a string `@s`), so it
                    // is `none`, which no map or variable takes; the second
                    // pass knows.
                    None if self.pass == Pass::Infer => Type::Void,
                    None => Type::I64,
                    Some(MapValue::Count) => Type::U64,
                    Some(
                        MapValue::Sum { signed } | MapValue::Min { signed } | MapValue::Max { signed } | MapValue::Avg { signed },
                    ) => Type::Int { bits: 64, signed },
                    Some(agg) => {
                        self.error(
                            Diagnostic::error(span, format!("the value of {} cannot be read in an expression", agg.describe()))
                                .with_label("a histogram or stats map")
                                .with_note("print it with `print()`, or read a count(), sum(), min(), max() or avg() map"),
                        );
                        return None;
                    }
                };
                (ExprKind::MapRead { map, keys }, ty)
            }
            A::Call { name, args } => return self.call_expr(name, args, span, cx),
            A::Unary { op: UnaryOp::Deref, .. } => return self.memory_read(e, cx),
            A::Unary { op, expr } => {
                let inner = self.expr(expr, cx);
                let ty = match op {
                    UnaryOp::Neg | UnaryOp::BitNot => {
                        self.expect_int(&inner, &format!("`{}`", if *op == UnaryOp::Neg { "-" } else { "~" }))?;
                        if matches!(inner.ty, Type::Ptr { .. }) {
                            self.pointer_unary(*op, &inner, span);
                            return None;
                        }
                        // As in bpftrace, the result has the operand's type:
                        // `~(uint8)254` is 1, `-(uint16)1` is 65535.
                        match inner.ty {
                            Type::Int { bits, signed } => Type::Int { bits, signed },
                            _ => Type::U64,
                        }
                    }
                    UnaryOp::Not => {
                        self.expect_int(&inner, "`!`")?;
                        Type::U64
                    }
                    UnaryOp::Deref | UnaryOp::AddrOf => {
                        self.unavailable(span, "pointer dereference and address-of");
                        return None;
                    }
                };
                (ExprKind::Unary { op: *op, expr: Box::new(inner) }, ty)
            }
            A::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs, cx);
                let r = self.expr(rhs, cx);
                if l.ty.is_str() && r.ty.is_str() && matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                    let ne = *op == BinaryOp::Ne;
                    return Some((ExprKind::StrEq { lhs: Box::new(l), rhs: Box::new(r), ne }, Type::U64));
                }
                if (l.ty.is_tuple() || r.ty.is_tuple()) && matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                    return self.tuple_comparison(*op, l, r, span, cx);
                }
                if l.ty.is_buf() || r.ty.is_buf() {
                    return self.buffer_comparison(*op, l, r);
                }
                if l.ty.is_cvalue() || r.ty.is_cvalue() {
                    return self.value_binary(*op, l, r);
                }
                if l.ty.is_str() || r.ty.is_str() {
                    let which = if l.ty.is_str() { &l } else { &r };
                    self.error(
                        Diagnostic::error(which.span, format!("`{}` needs integers, but this is {}", op.symbol(), which.ty))
                            .with_label("expected an integer"),
                    );
                    return None;
                }
                self.expect_int(&l, &format!("`{}`", op.symbol()))?;
                self.expect_int(&r, &format!("`{}`", op.symbol()))?;
                if matches!(l.ty, Type::Ptr { .. }) || matches!(r.ty, Type::Ptr { .. }) {
                    return self.pointer_binary(*op, l, r, span);
                }
                let ty = if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                    Type::U64
                } else {
                    Type::Int { bits: 64, signed: l.ty.is_signed() && r.ty.is_signed() }
                };
                (ExprKind::Binary { op: *op, lhs: Box::new(l), rhs: Box::new(r) }, ty)
            }
            A::Field { expr, field, .. } if super::fields::is_context_record(expr, &cx.resolved.kind) => return self.field(expr, field, span, cx),
            // `ctx->NAME` outside an iterator probe (`args.NAME` in one):
            // the builtin's own refusal says it all.
            A::Field { expr, .. } if matches!(&expr.kind, A::Ident(n) if n == "ctx" || n == "args") => {
                self.builtin(if expr.kind == A::Ident("ctx".into()) { "ctx" } else { "args" }, expr.span, cx);
                return None;
            }
            A::Field { .. } => return self.memory_read(e, cx),
            A::Positional(n) => {
                let text = self.params.get(*n as usize - 1).cloned().unwrap_or_default();
                match parse_int(&text) {
                    Some(v) => (ExprKind::Int(v), if v > i64::MAX as u64 { Type::U64 } else { Type::I64 }),
                    // A parameter that is not a number is a string; one
                    // not given reads as 0 (and as "" in `str($N)`).
                    None if text.is_empty() => (ExprKind::Int(0), Type::I64),
                    None => (ExprKind::Str(text.clone()), Type::Str { size: text.len() as u32 + 1 }),
                }
            }
            A::PositionalCount => (ExprKind::Int(self.params.len() as u64), Type::I64),
            A::Ternary { cond, then, else_ } => {
                let cond = self.expr(cond, cx);
                self.expect_int(&cond, "a `?:` condition")?;
                let a = self.expr(then, cx);
                let b = self.expr(else_, cx);
                let ty = match (&a.ty, &b.ty) {
                    (x, y) if x.is_int() && y.is_int() => x.unify(y),
                    (Type::Str { .. }, Type::Str { .. }) => a.ty.unify(&b.ty),
                    (Type::CValue(x), Type::CValue(y)) if x == y => a.ty.clone(),
                    (x, y) if x.is_buf() || y.is_buf() => {
                        let which = if x.is_buf() { &a } else { &b };
                        self.error(
                            Diagnostic::error(which.span, "`?:` cannot choose a buffer")
                                .with_label(format!("this is {}", which.ty))
                                .with_note("as in bpftrace, the branches must be integers or strings"),
                        );
                        return None;
                    }
                    _ => {
                        self.error(
                            Diagnostic::error(span, format!("the branches of `?:` have different types: {} and {}", a.ty, b.ty))
                                .with_label("both must be integers or both strings")
                                .with_secondary(a.span, format!("this is {}", a.ty))
                                .with_secondary(b.span, format!("this is {}", b.ty)),
                        );
                        return None;
                    }
                };
                (ExprKind::Ternary { cond: Box::new(cond), then: Box::new(a), else_: Box::new(b) }, ty)
            }
            A::Cast { ty, expr } => {
                if ty.pointer > 0 {
                    if let Some(cast) = self.array_pointer_cast(ty, expr, cx) {
                        return cast;
                    }
                }
                let inner = self.expr(expr, cx);
                if ty.pointer > 0 {
                    return self.pointer_cast(ty, inner, cx);
                }
                let Some(target) = int_type(&ty.name) else {
                    return self.typedef_cast(ty, inner, cx);
                };
                self.expect_int(&inner, "a cast")?;
                (ExprKind::Cast(Box::new(inner)), target)
            }
            A::Sizeof(arg) => {
                let size = match arg.as_ref() {
                    ast::SizeofArg::Type(t) => self.sizeof_type(t)?,
                    ast::SizeofArg::Expr(e) => match self.sizeof_typedef(e).or_else(|| self.sizeof_place(e, cx)) {
                        Some(size) => size?,
                        None => {
                            let e = self.expr(e, cx);
                            crate::types::declared_layout(&e.ty).0
                        }
                    },
                };
                (ExprKind::Int(size), Type::U64)
            }
            A::Offsetof { of, path } => return self.offsetof(of, path),
            A::Tuple(items) => return self.tuple(items, cx),
            A::TupleIndex { expr, index, index_span } => return self.tuple_index(expr, *index, *index_span, span, cx),
            A::Index { expr, index } if super::memory::is_context_array(expr, &cx.resolved.kind) => return self.index(expr, index, span, cx),
            A::Index { .. } => return self.memory_read(e, cx),
            A::IncDec { expr, increment, prefix } => {
                let sign = if *increment { 1 } else { -1 };
                if let A::Map { name, keys } = &expr.kind {
                    let map = self.map_id(name);
                    self.maps[map.0].element_ops = true;
                    let keys = self.map_keys(map, keys, expr.span, cx)?;
                    // A map holding a typed pointer keeps it, moved by
                    // one pointee as `@p + 1` moves it.
                    let ty = match &self.maps[map.0].value {
                        Some(MapValue::Plain(ty @ Type::Ptr { .. })) => ty.clone(),
                        _ => Type::I64,
                    };
                    self.learn_value(map, MapValue::Plain(ty.clone()), span);
                    if !matches!(self.maps[map.0].value, Some(MapValue::Plain(Type::Int { .. } | Type::Ptr { .. }))) {
                        return None;
                    }
                    let delta = sign * self.increment_step(&ty, span)?;
                    return Some((ExprKind::MapIncDec { map, keys, delta, prefix: *prefix }, ty));
                }
                if !matches!(expr.kind, A::Var(_)) {
                    self.error(
                        Diagnostic::error(expr.span, "`++` and `--` need a variable or a map entry")
                            .with_label("not a variable or map entry"),
                    );
                    return None;
                }
                let var = self.expr(expr, cx);
                self.expect_int(&var, if *increment { "`++`" } else { "`--`" })?;
                let ExprKind::Var(id) = var.kind else { return None };
                let delta = sign * self.increment_step(&var.ty, span)?;
                (ExprKind::VarIncDec { var: id, delta, prefix: *prefix }, var.ty)
            }
        })
    }
    pub(super) fn unavailable_expr(&mut self, span: Span, what: &str) -> Option<(ExprKind, Type)> {
        self.unavailable(span, what);
        None
    }
}

/// An integer type by name, as casts and `sizeof` write it.
pub(super) fn int_type(name: &str) -> Option<Type> {
    let (bits, signed) = match name {
        "uint8" | "u8" | "unsigned char" => (8, false),
        "uint16" | "u16" => (16, false),
        "uint32" | "u32" | "unsigned" => (32, false),
        "uint64" | "u64" => (64, false),
        "int8" | "i8" | "s8" | "char" => (8, true),
        "int16" | "i16" | "s16" | "short" => (16, true),
        "int32" | "i32" | "s32" | "int" | "signed" => (32, true),
        "int64" | "i64" | "s64" | "long" => (64, true),
        "bool" => (8, false),
        _ => return None,
    };
    Some(Type::Int { bits, signed })
}
