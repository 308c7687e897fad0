//! `a == b` and `a != b` on tuples: equal when their elements are, one by
//! one (strings up to their NUL, so `(1, comm) == (1, "bash")` compares
//! `comm` with "bash" whatever their sizes), as later bpftrace compares
//! them; bpftrace 0.17 compares their padded bytes and finds equal
//! tuples unequal.

use super::{Checker, ProbeCx};
use crate::ast::BinaryOp;
use crate::checked::{Expr, ExprKind};
use crate::types::Type;
use crate::{Diagnostic, Span};

impl Checker {
    /// The comparison of two values of which one at least is a tuple: the
    /// conjunction (`==`) or disjunction (`!=`) of their elements'.
    pub(super) fn tuple_comparison(&mut self, op: BinaryOp, l: Expr, r: Expr, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if !matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
            let which = if l.ty.is_tuple() { &l } else { &r };
            self.error(
                Diagnostic::error(which.span, format!("`{}` cannot compare tuples", op.symbol()))
                    .with_label(format!("this is {}", which.ty))
                    .with_note("tuples compare with `==` and `!=` only"),
            );
            return None;
        }
        let (Type::Tuple(lt), Type::Tuple(rt)) = (&l.ty, &r.ty) else {
            let (tuple, other) = if l.ty.is_tuple() { (&l, &r) } else { (&r, &l) };
            self.error(
                Diagnostic::error(other.span, format!("cannot compare {} with a tuple", other.ty))
                    .with_label(format!("this is {}", other.ty))
                    .with_secondary(tuple.span, format!("this is {}", tuple.ty)),
            );
            return None;
        };
        if lt.len() != rt.len() {
            self.error(
                Diagnostic::error(span, format!("cannot compare tuples of {} and {} elements", lt.len(), rt.len()))
                    .with_label(format!("{} and {}", l.ty, r.ty)),
            );
            return None;
        }
        let join = if op == BinaryOp::Eq { BinaryOp::And } else { BinaryOp::Or };
        let mut out: Option<Expr> = None;
        for i in 0..lt.len() {
            let (a, b) = (element(&l, i), element(&r, i));
            let (kind, ty) = self.element_comparison(op, a, b, span, cx)?;
            let e = Expr { kind, ty, span };
            out = Some(match out {
                None => e,
                Some(prev) => Expr { kind: ExprKind::Binary { op: join, lhs: Box::new(prev), rhs: Box::new(e) }, ty: Type::U64, span },
            });
        }
        // `() == ()`: nothing differs.
        let e = out.unwrap_or(Expr { kind: ExprKind::Int(u64::from(op == BinaryOp::Eq)), ty: Type::U64, span });
        Some((e.kind, e.ty))
    }

    /// Two elements compared as `==` or `!=` compares values of their types.
    fn element_comparison(&mut self, op: BinaryOp, a: Expr, b: Expr, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let ne = op == BinaryOp::Ne;
        match (&a.ty, &b.ty) {
            (x, y) if x.is_tuple() || y.is_tuple() => self.tuple_comparison(op, a, b, span, cx),
            (x, y) if x.is_str() && y.is_str() => Some((ExprKind::StrEq { lhs: Box::new(a), rhs: Box::new(b), ne }, Type::U64)),
            (x, y) if x.is_int() && y.is_int() => Some((ExprKind::Binary { op, lhs: Box::new(a), rhs: Box::new(b) }, Type::U64)),
            (x, y) if x.is_buf() || y.is_buf() => self.buffer_comparison(op, a, b),
            (x, y) if x.is_cvalue() && x == y => Some((ExprKind::StrEq { lhs: Box::new(a), rhs: Box::new(b), ne }, Type::U64)),
            (x, y) => {
                self.error(
                    Diagnostic::error(span, format!("cannot compare tuple elements of types {x} and {y}"))
                        .with_label("in this comparison")
                        .with_secondary(a.span, format!("this element is {x}"))
                        .with_secondary(b.span, format!("this element is {y}")),
                );
                None
            }
        }
    }
}

/// Element `i` of a tuple: the expression itself when the tuple is
/// written out, `t.i` otherwise.
fn element(tuple: &Expr, i: usize) -> Expr {
    match (&tuple.kind, &tuple.ty) {
        (ExprKind::Tuple(items), _) => items[i].clone(),
        (_, Type::Tuple(types)) => Expr {
            kind: ExprKind::TupleIndex { expr: Box::new(tuple.clone()), index: i as u32 },
            ty: types[i].clone(),
            span: tuple.span,
        },
        _ => tuple.clone(),
    }
}
