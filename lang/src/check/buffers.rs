//! `buf()` and `join()`: the functions that copy raw bytes or arrays of
//! strings out of memory, with bpftrace's limits; and `==`/`!=` on the
//! buffers `buf()` makes.

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::ast::{self, BinaryOp, ExprKind as A, UnaryOp};
use crate::checked::{BufSource, Expr, ExprKind, StmtKind};
use crate::probes::ProbeKind;
use crate::target::{FieldKind, TracepointField};
use crate::types::Type;
use crate::Diagnostic;

impl Checker {
    /// `a == b` and `a != b` with a buffer on one side: equal when both are
    /// buffers holding the same count of the same bytes. bpftrace 0.17
    /// compares them as strings, up to the first zero byte, and finds
    /// `\x01\x00\x01` equal to `\x01\x00\x02`; here every byte counts.
    /// Other operators, and a buffer against anything else, are refused as
    /// bpftrace refuses them.
    pub(super) fn buffer_comparison(&mut self, op: BinaryOp, l: Expr, r: Expr) -> Option<(ExprKind, Type)> {
        let (buffer, other) = if l.ty.is_buf() { (&l, &r) } else { (&r, &l) };
        if !matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
            self.error(
                Diagnostic::error(buffer.span, format!("`{}` cannot compare buffers", op.symbol()))
                    .with_label(format!("this is {}", buffer.ty))
                    .with_note("buffers compare with `==` and `!=` only"),
            );
            return None;
        }
        if !other.ty.is_buf() {
            self.error(
                Diagnostic::error(other.span, format!("cannot compare {} with a buffer", other.ty))
                    .with_label(format!("this is {}", other.ty))
                    .with_secondary(buffer.span, format!("this is {}", buffer.ty))
                    .with_note("a buffer compares only with another buffer"),
            );
            return None;
        }
        let ne = op == BinaryOp::Ne;
        Some((ExprKind::StrEq { lhs: Box::new(l), rhs: Box::new(r), ne }, Type::U64))
    }

    /// `buf(p, n)` and `buf(array)`. As in bpftrace, the buffer holds at
    /// most the string length (`BPFTRACE_STRLEN`, 64) bytes: a constant
    /// length sizes it exactly, an expression gets the whole string length
    /// and is cut to it when the program runs.
    pub(super) fn buf(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let args = call.args;
        let (source, known) = match self.array_field(&args[0], cx) {
            Some(field) => {
                let size = field.size;
                (BufSource::Field(field), Some(size))
            }
            None => {
                let e = self.expr(&args[0], cx);
                if e.ty.is_str() {
                    (BufSource::Str(Box::new(e)), None)
                } else if is_array_value(&e.ty) {
                    // An array value (`buf(pton("::1"))`): its bytes, all
                    // of them unless a length cuts them.
                    let size = e.ty.stored_size();
                    (BufSource::Str(Box::new(e)), Some(size))
                } else if e.ty.is_int() {
                    (BufSource::Memory(Box::new(e)), None)
                } else {
                    self.error(
                        Diagnostic::error(e.span, format!("`buf()` reads from an address, an array or a string, but this is {}", e.ty))
                            .with_label("nothing to read bytes from"),
                    );
                    return None;
                }
            }
        };
        let len = match args.get(1) {
            Some(a) => {
                if let A::Unary { op: UnaryOp::Neg, expr } = &a.kind {
                    if matches!(expr.kind, A::Int(v) if v > 0) {
                        self.error(
                            Diagnostic::error(a.span, "the length of `buf()` cannot be negative")
                                .with_label("a negative length"),
                        );
                        return None;
                    }
                }
                let l = self.expr(a, cx);
                self.expect_int(&l, "the length of `buf()`")?;
                Some(Box::new(l))
            }
            None => None,
        };
        let size = match (len.as_deref().map(|l| &l.kind), known) {
            (Some(ExprKind::Int(n)), _) => (*n).min(u64::from(self.strlen)) as u32,
            (Some(_), _) => self.strlen,
            (None, Some(array)) => array.min(self.strlen),
            (None, None) => {
                let what = match &source {
                    BufSource::Str(e) | BufSource::Memory(e) => e.ty.to_string(),
                    BufSource::Field(f) => f.c_type.clone(),
                };
                self.error(
                    Diagnostic::error(args[0].span, format!("`buf()` needs a length to read from {what}"))
                        .with_label("no length known")
                        .with_note("only arrays have a known length: write `buf(p, n)`"),
                );
                return None;
            }
        };
        Some((ExprKind::BufRead { source, len }, Type::Buf { size }))
    }

    /// `args.NAME` when NAME is an array field of the tracepoint other than
    /// a `char` array (which, as in bpftrace, is a string and needs a
    /// length); `None` for anything else, which is then checked as an
    /// ordinary expression.
    fn array_field(&self, e: &ast::Expr, cx: &ProbeCx) -> Option<TracepointField> {
        let A::Field { expr, field, .. } = &e.kind else { return None };
        if expr.kind != A::Ident("args".into()) {
            return None;
        }
        let ProbeKind::Tracepoint { format, .. } = &cx.resolved.kind else { return None };
        format.field(&field.name).filter(|f| f.kind == FieldKind::Array { chars: false }).cloned()
    }

    /// `join(argv)` / `join(argv, "sep")`: the separator must be a literal,
    /// as in bpftrace, since the runtime prints it.
    pub(super) fn join(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        let args = call.args;
        let argv = self.expr(&args[0], cx);
        self.expect(&argv, argv.ty.is_int(), "`join()`", "a pointer to an array of strings")?;
        let separator = match args.get(1).map(|a| &a.kind) {
            None => " ".to_string(),
            Some(A::Str(s)) => s.clone(),
            Some(_) => {
                self.error(
                    Diagnostic::error(args[1].span, "`join()` takes its separator as a string literal")
                        .with_label("not a string literal"),
                );
                return None;
            }
        };
        let id = self.join_separators.len();
        self.join_separators.push(separator);
        Some(StmtKind::Join { id, argv })
    }
}

/// Whether values of `ty` are arrays held by value (a `uint8[4]` from
/// `pton()`, an array member of a struct value).
fn is_array_value(ty: &Type) -> bool {
    matches!(ty, Type::CValue(c) if matches!(c.0.resolved(), crate::ctypes::CType::Array { .. }))
}
