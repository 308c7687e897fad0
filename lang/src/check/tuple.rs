//! Tuples: `(a, b, ...)` literals, `t.N` element access, and tuples used
//! as map keys, where `@m[(a, b)]` is the same key as `@m[a, b]` (as in
//! bpftrace, whose multi-key maps are keyed by a tuple).

use super::{Checker, ProbeCx};
use crate::ast;
use crate::checked::{Expr, ExprKind};
use crate::types::Type;
use crate::{Diagnostic, Span};

impl Checker {
    /// `(a, b, ...)`: every element must have a value that can be stored.
    pub(super) fn tuple(&mut self, items: &[ast::Expr], cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let items: Vec<Expr> = items.iter().map(|i| self.expr(i, cx)).collect();
        for item in &items {
            if item.ty == Type::Void {
                self.error(
                    Diagnostic::error(item.span, "this has no value to put in a tuple").with_label("no value"),
                );
                return None;
            }
        }
        let ty = Type::Tuple(items.iter().map(|i| i.ty.clone()).collect());
        Some((ExprKind::Tuple(items), ty))
    }

    /// `t.N`: element `N` of the tuple `t`.
    pub(super) fn tuple_index(
        &mut self,
        base: &ast::Expr,
        index: u32,
        index_span: Span,
        span: Span,
        cx: &mut ProbeCx,
    ) -> Option<(ExprKind, Type)> {
        let base = self.expr(base, cx);
        let Type::Tuple(items) = &base.ty else {
            // The `.N` itself, after the expression it applies to.
            let access = Span { start: base.span.end.min(index_span.start), end: span.end };
            self.error(
                Diagnostic::error(access, format!("`.{index}` needs a tuple, but this is {}", base.ty))
                    .with_label("only tuples have numbered elements")
                    .with_secondary(base.span, format!("this is {}", base.ty)),
            );
            return None;
        };
        let Some(ty) = items.get(index as usize).cloned() else {
            let n = items.len();
            self.error(
                Diagnostic::error(index_span, format!("tuple index {index} is out of range"))
                    .with_label(format!("this tuple has {n} elements, indexed 0 to {}", n - 1))
                    .with_secondary(base.span, format!("this is {}", base.ty)),
            );
            return None;
        };
        Some((ExprKind::TupleIndex { expr: Box::new(base), index }, ty))
    }
}

/// `@m[t]` with one tuple key is `@m[t.0, t.1, ...]`.
pub(super) fn flatten_tuple_key(keys: Vec<Expr>) -> Vec<Expr> {
    match <[Expr; 1]>::try_from(keys) {
        Ok([key]) => match (key.kind, key.ty) {
            (ExprKind::Tuple(items), _) => items,
            (kind, Type::Tuple(types)) => {
                let base = Expr { kind, ty: Type::Tuple(types.clone()), span: key.span };
                types
                    .into_iter()
                    .enumerate()
                    .map(|(i, ty)| Expr {
                        kind: ExprKind::TupleIndex { expr: Box::new(base.clone()), index: i as u32 },
                        ty,
                        span: key.span,
                    })
                    .collect()
            }
            (kind, ty) => vec![Expr { kind, ty, span: key.span }],
        },
        Err(keys) => keys,
    }
}
