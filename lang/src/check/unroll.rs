//! The size of a body once `unroll` has repeated it: the code generator
//! copies an unrolled body once per iteration, so nested unrolls multiply
//! (four `unroll(100)` deep is 10^8 copies), and the checker must refuse
//! what cannot fit in one BPF program before anything is copied.

use crate::ast::{Block, Expr, ForIter, Stmt, StmtKind};

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
pub(super) fn unrolled_size(block: &Block) -> u64 {
    block.stmts.iter().fold(0, |sum, s| sum.saturating_add(stmt_size(s)))
}

/// The count of an `unroll` as the checker accepts it, or 1.
pub(super) fn unroll_count(count: &Expr) -> u64 {
    match count.kind {
        crate::ast::ExprKind::Int(n) if (1..=100).contains(&n) => n,
        _ => 1,
    }
}

fn stmt_size(stmt: &Stmt) -> u64 {
    let inner = match &stmt.kind {
        StmtKind::Unroll { count, body } => unroll_count(count).saturating_mul(unrolled_size(body)),
        StmtKind::Expr(e) => nodes(e),
        StmtKind::Assign { target, value, .. } => nodes(target) + nodes(value),
        StmtKind::If { cond, then, else_ } => nodes(cond)
            .saturating_add(unrolled_size(then))
            .saturating_add(else_.as_ref().map_or(0, unrolled_size)),
        StmtKind::While { cond, body } => nodes(cond).saturating_add(unrolled_size(body)),
        StmtKind::For { iter, body, .. } => {
            let bounds = match iter {
                ForIter::Range { start, end } => nodes(start) + nodes(end),
                ForIter::Map(_) => 0,
            };
            bounds.saturating_add(unrolled_size(body))
        }
        StmtKind::Block(b) => unrolled_size(b),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => 0,
    };
    inner.saturating_add(1)
}

fn nodes(e: &Expr) -> u64 {
    let mut n = 0u64;
    e.any(&mut |_| {
        n += 1;
        false
    });
    n
}
