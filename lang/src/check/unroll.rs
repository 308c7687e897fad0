//! The size of a body once `unroll` has repeated it: the code generator
//! copies an unrolled body once per iteration, so nested unrolls multiply
//! (four `unroll(100)` deep is 10^8 copies), and the checker must refuse
//! what cannot fit in one BPF program before anything is copied.

use crate::ast::{self, Block, Expr, Stmt, StmtKind, Visitor};

/// The most statements and expressions a probe may have after unrolling.
/// The kernel takes at most 1,000,000 instructions in a privileged
/// program, and a statement or expression lowers to about two of them (a
/// map update to ten or more), so a probe over this bound could not load;
/// under it, the code generator's memory stays around 100 MiB.
pub(super) const MAX_UNROLLED_NODES: u64 = 500_000;

/// The same for all probes together (an attach point with a wildcard
/// makes one program per match): about what the code generator can hold
/// in a few hundred MiB.
pub(super) const MAX_UNROLLED_NODES_PROGRAM: u64 = 1_000_000;

/// How many statements and expressions `block` holds once every `unroll`
/// inside it is repeated. An invalid count counts once: it is refused on
/// its own.
pub(super) fn unrolled_size(block: &Block, params: &[String]) -> u64 {
    let mut size = UnrolledSize(0, params);
    size.visit_block(block);
    size.0
}

/// The count of an `unroll` as bpftrace takes it: an integer literal, a
/// positional parameter (`unroll($1)`, 0 when not given) or their number
/// (`unroll($#)`). `None` for anything else.
pub(super) fn unroll_value(count: &Expr, params: &[String]) -> Option<u64> {
    match count.kind {
        ast::ExprKind::Int(n) => Some(n),
        ast::ExprKind::Positional(i) => match params.get(i as usize - 1) {
            Some(text) => super::parse_int(text),
            None => Some(0),
        },
        ast::ExprKind::PositionalCount => Some(params.len() as u64),
        // A negative literal: below the minimum, as 0 is.
        ast::ExprKind::Unary { op: ast::UnaryOp::Neg, ref expr } if matches!(expr.kind, ast::ExprKind::Int(_)) => Some(0),
        _ => None,
    }
}

/// Why `count`, which [`unroll_value`] does not take, is no count, in
/// bpftrace 0.17's words: a positional parameter that is not a number, or
/// what its grammar refuses there (it takes an integer, `-` and an
/// integer, `$N` or `$#`, nothing more).
pub(super) fn invalid_count(count: &Expr, params: &[String]) -> crate::Diagnostic {
    use crate::Diagnostic;
    let note = "`unroll` needs an integer from 1 to 100, or a positional parameter that is one";
    let unexpected = match &count.kind {
        ast::ExprKind::Positional(i) => {
            let given = params.get(*i as usize - 1).map(String::as_str).unwrap_or_default();
            return Diagnostic::error(count.span, format!("${i} used numerically but given \"{given}\""))
                .with_label("not a number")
                .with_note(note);
        }
        // The operand was taken; the operator after it was not.
        ast::ExprKind::Binary { op, lhs, .. } if unroll_value(lhs, params).is_some() || matches!(lhs.kind, ast::ExprKind::Positional(_)) => {
            return Diagnostic::error(count.span, format!("syntax error, unexpected {}, expecting )", op.symbol()))
                .with_label("an expression is not taken here")
                .with_note(note);
        }
        ast::ExprKind::Ident(_) => "builtin",
        ast::ExprKind::Var(_) => "variable",
        ast::ExprKind::Map { .. } => "map",
        ast::ExprKind::Str(_) => "string",
        ast::ExprKind::Call { .. } => "identifier",
        _ => "expression",
    };
    Diagnostic::error(count.span, format!("syntax error, unexpected {unexpected}, expecting $# or - or positional parameter or integer"))
        .with_label("not an integer literal or positional parameter")
        .with_note(note)
}

/// The count of an `unroll` as the checker accepts it, or 1.
fn unroll_count(count: &Expr, params: &[String]) -> u64 {
    unroll_value(count, params).filter(|n| (1..=100).contains(n)).unwrap_or(1)
}

/// Counts one per statement and expression; an `unroll`'s body counts
/// `count` times (its count expression not at all).
struct UnrolledSize<'p>(u64, &'p [String]);

impl Visitor<'_> for UnrolledSize<'_> {
    fn visit_stmt(&mut self, stmt: &Stmt) {
        self.0 = self.0.saturating_add(1);
        match &stmt.kind {
            StmtKind::Unroll { count, body } => {
                self.0 = self.0.saturating_add(unroll_count(count, self.1).saturating_mul(unrolled_size(body, self.1)));
            }
            _ => ast::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &Expr) {
        self.0 = self.0.saturating_add(1);
        ast::walk_expr(self, expr);
    }
}
