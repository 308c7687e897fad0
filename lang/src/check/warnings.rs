//! bpftrace's warnings: code that checks and runs, but likely not as
//! meant. They come after every error is gone, over the checked program
//! (where every operand's type is known), and `--no-warnings` drops them.

use std::collections::BTreeSet;

use crate::ast::BinaryOp;
use crate::checked::{self, Expr, ExprKind, Visitor};
use crate::types::Type;
use crate::Diagnostic;

/// The warnings of a checked program, each once (a block shared by several
/// attach points is checked once per probe).
pub(super) fn warnings(probes: &[checked::Probe]) -> Vec<Diagnostic> {
    let mut walk = Warnings::default();
    for probe in probes {
        walk.visit_probe(probe);
    }
    walk.found
}

#[derive(Default)]
struct Warnings {
    found: Vec<Diagnostic>,
    seen: BTreeSet<(u32, u32, String)>,
}

impl Warnings {
    fn warn(&mut self, d: Diagnostic) {
        if self.seen.insert((d.span.start, d.span.end, d.message.clone())) {
            self.found.push(d);
        }
    }
}

impl Visitor<'_> for Warnings {
    fn visit_expr(&mut self, e: &Expr) {
        if let ExprKind::Binary { op, lhs, rhs } = &e.kind {
            self.binary(*op, lhs, rhs, e);
        }
        checked::walk_expr(self, e);
    }
}

impl Warnings {
    /// bpftrace 0.17's two warnings on integer operators: operands of
    /// different signedness compared or combined arithmetically, and a
    /// signed operand of `/` or `%` (which BPF computes unsigned). A
    /// literal that is not negative is taken for either signedness, as
    /// bpftrace takes it.
    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, e: &Expr) {
        use BinaryOp as B;
        let (Some(l), Some(r)) = (signedness(lhs), signedness(rhs)) else { return };
        let what = match op {
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => "comparison",
            B::Add | B::Sub | B::Mul | B::Div | B::Mod => "arithmetic",
            _ => return,
        };
        let mixed = matches!((l, r), (Some(a), Some(b)) if a != b);
        if mixed {
            self.warn(
                Diagnostic::warning(
                    e.span,
                    format!("{what} of integers of different signs: '{}' and '{}' can lead to undefined behavior", lhs.ty.bpftrace_name(), rhs.ty.bpftrace_name())
                        .replace("arithmetic of", "arithmetic on"),
                )
                .with_label("one operand is signed, the other unsigned")
                .with_note("cast one of them, e.g. `(uint64)x`, to say which comparison or arithmetic is meant"),
            );
        }
        if matches!(op, B::Div | B::Mod) && (l == Some(true) || r == Some(true)) {
            let symbol = if op == B::Div { "/" } else { "%" };
            self.warn(
                Diagnostic::warning(e.span, format!("signed operands for '{symbol}' can lead to undefined behavior (cast to unsigned to silence warning)"))
                    .with_label("a signed operand")
                    .with_note("BPF divides unsigned: a negative operand gives a large quotient"),
            );
        }
    }
}

/// An integer operand's signedness: `None` outside integers, `Some(None)`
/// for a literal that is not negative (fits either).
fn signedness(e: &Expr) -> Option<Option<bool>> {
    match (&e.kind, &e.ty) {
        (ExprKind::Int(v), _) if (*v as i64) >= 0 => Some(None),
        (_, Type::Int { signed, .. }) => Some(Some(*signed)),
        _ => None,
    }
}
