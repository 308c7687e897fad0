//! The one traversal of a checked probe: [`Visitor`], whose default
//! methods walk every statement's and expression's children.

use super::*;

/// A pass over a checked probe, as [`crate::ast::Visitor`] is over the
/// syntax tree: each method's default walks the node's children in order
/// through the `walk_*` function of the same name, so a pass overrides only
/// the nodes it cares about. A new kind of statement or expression is
/// taught to [`walk_stmt`] and [`walk_expr`] once, and every pass (variable
/// use here, what the code generator must know of a body before lowering
/// it) then walks it.
///
/// ```
/// use rbpf_lang::checked::{self, Visitor};
///
/// /// Whether statements print with `printf()`.
/// struct Prints(bool);
///
/// impl Visitor<'_> for Prints {
///     fn visit_stmt(&mut self, s: &checked::Stmt) {
///         self.0 |= matches!(s.kind, checked::StmtKind::Printf { .. });
///         checked::walk_stmt(self, s);
///     }
/// }
///
/// // if (1) { printf("hi\n"); }
/// let span = rbpf_lang::Span::new(0, 0);
/// let printf = checked::Stmt { kind: checked::StmtKind::Printf { id: 0, args: vec![] }, span };
/// let one = checked::Expr { kind: checked::ExprKind::Int(1), ty: rbpf_lang::types::Type::U64, span };
/// let body = [checked::Stmt { kind: checked::StmtKind::If { cond: one, then: vec![printf], else_: vec![] }, span }];
/// let mut prints = Prints(false);
/// checked::walk_stmts(&mut prints, &body);
/// assert!(prints.0);
/// ```
pub trait Visitor<'a> {
    /// A probe: its predicate, then its body.
    fn visit_probe(&mut self, probe: &'a Probe) {
        walk_probe(self, probe)
    }

    /// A statement: its expressions and nested statements in order.
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        walk_stmt(self, stmt)
    }

    /// An expression: the expressions inside it in order.
    fn visit_expr(&mut self, expr: &'a Expr) {
        walk_expr(self, expr)
    }
}

/// Visits the predicate, if any, then each statement of the body.
pub fn walk_probe<'a, V: Visitor<'a> + ?Sized>(v: &mut V, probe: &'a Probe) {
    if let Some(p) = &probe.predicate {
        v.visit_expr(p);
    }
    walk_stmts(v, &probe.body);
}

/// Visits each statement in order.
pub fn walk_stmts<'a, V: Visitor<'a> + ?Sized>(v: &mut V, stmts: &'a [Stmt]) {
    for s in stmts {
        v.visit_stmt(s);
    }
}

/// Visits each expression in order.
fn walk_exprs<'a, V: Visitor<'a> + ?Sized>(v: &mut V, exprs: &'a [Expr]) {
    for e in exprs {
        v.visit_expr(e);
    }
}

/// Visits the expressions and statements directly inside `stmt`, in
/// order. The body of a `for` over a map is visited too, although it runs
/// in a callback of its own: a pass that must stop there overrides
/// [`Visitor::visit_stmt`].
pub fn walk_stmt<'a, V: Visitor<'a> + ?Sized>(v: &mut V, stmt: &'a Stmt) {
    match &stmt.kind {
        StmtKind::MapUpdate { keys, update, .. } => {
            walk_exprs(v, keys);
            match update {
                MapUpdate::Set(e)
                | MapUpdate::Sum(e)
                | MapUpdate::Min(e)
                | MapUpdate::Max(e)
                | MapUpdate::Avg(e)
                | MapUpdate::Stats(e)
                | MapUpdate::Hist(e)
                | MapUpdate::Lhist(e) => v.visit_expr(e),
                MapUpdate::Count => {}
            }
        }
        StmtKind::VarAssign { value, .. } => v.visit_expr(value),
        StmtKind::If { cond, then, else_ } => {
            v.visit_expr(cond);
            walk_stmts(v, then);
            walk_stmts(v, else_);
        }
        StmtKind::While { cond, body, step } => {
            v.visit_expr(cond);
            walk_stmts(v, body);
            walk_stmts(v, step);
        }
        StmtKind::Unroll { body, .. } | StmtKind::ForMap { body, .. } => walk_stmts(v, body),
        StmtKind::Printf { args, .. } | StmtKind::System { args, .. } | StmtKind::Cat { args, .. } => walk_exprs(v, args),
        StmtKind::Delete { keys, .. } => walk_exprs(v, keys),
        StmtKind::PrintValue { value: e, .. } | StmtKind::Signal(e) | StmtKind::Unwatch(e) | StmtKind::Override(e) | StmtKind::Join { argv: e, .. } | StmtKind::Expr(e) => {
            v.visit_expr(e)
        }
        StmtKind::Break
        | StmtKind::Continue
        | StmtKind::Return
        | StmtKind::MapCommand { .. }
        | StmtKind::Time { .. }
        | StmtKind::Exit { .. } => {}
    }
}

/// Visits the expressions directly inside `expr`, in order.
pub fn walk_expr<'a, V: Visitor<'a> + ?Sized>(v: &mut V, expr: &'a Expr) {
    match &expr.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::ProbeByCookie(_)
        | ExprKind::Builtin(_)
        | ExprKind::TracepointField(_)
        | ExprKind::Var(_)
        | ExprKind::VarIncDec { .. }
        | ExprKind::MapLen(_)
        | ExprKind::Arg(_)
        | ExprKind::UsdtArg(_)
        | ExprKind::Retval
        | ExprKind::FuncIp => {}
        ExprKind::MapRead { keys: items, .. }
        | ExprKind::HasKey { keys: items, .. }
        | ExprKind::MapIncDec { keys: items, .. }
        | ExprKind::Tuple(items)
        | ExprKind::Call { args: items, .. } => walk_exprs(v, items),
        ExprKind::Retype(x)
        | ExprKind::Cast(x)
        | ExprKind::Load { addr: x, .. }
        | ExprKind::Member { value: x, .. }
        | ExprKind::Unary { expr: x, .. }
        | ExprKind::TupleIndex { expr: x, .. } => v.visit_expr(x),
        ExprKind::Ntop { af: a, addr: b }
        | ExprKind::StrPrefix { str: a, len: b }
        | ExprKind::Binary { lhs: a, rhs: b, .. }
        | ExprKind::StrEq { lhs: a, rhs: b, .. } => {
            v.visit_expr(a);
            v.visit_expr(b);
        }
        ExprKind::Record(members) => {
            for m in members {
                v.visit_expr(&m.value);
            }
        }
        ExprKind::StrRead { ptr, len } => {
            v.visit_expr(ptr);
            if let Some(l) = len {
                v.visit_expr(l);
            }
        }
        ExprKind::BufRead { source, len } => {
            match source {
                BufSource::Memory(x) | BufSource::Str(x) => v.visit_expr(x),
                BufSource::Field(_) => {}
            }
            if let Some(l) = len {
                v.visit_expr(l);
            }
        }
        ExprKind::Ternary { cond, then, else_ } => {
            v.visit_expr(cond);
            v.visit_expr(then);
            v.visit_expr(else_);
        }
    }
}
