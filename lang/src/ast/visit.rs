//! The one traversal of the syntax tree: [`Visitor`], whose default
//! methods walk every node's children, and the `any` queries built on it.

use super::*;

/// A pass over the syntax tree. Each method's default walks the node's
/// children in source order through the `walk_*` function of the same
/// name, so a pass overrides only the nodes it cares about and calls the
/// `walk_*` function from its override to go on below them (or does not, to
/// skip them). A new kind of node is taught to the `walk_*` functions once,
/// and every pass then walks it.
///
/// The lifetime lets a pass keep references into the tree: a pass that
/// must not recurse (see `parse::depth`) stacks the children a `visit_*`
/// call gives it and walks them later.
///
/// ```
/// use rbpf_lang::ast::{self, Visitor};
///
/// /// Counts the calls of a program.
/// struct Calls(usize);
///
/// impl Visitor<'_> for Calls {
///     fn visit_expr(&mut self, e: &ast::Expr) {
///         if let ast::ExprKind::Call { .. } = e.kind {
///             self.0 += 1;
///         }
///         ast::walk_expr(self, e);
///     }
/// }
///
/// let program = rbpf_lang::parse("BEGIN { printf(\"%d\\n\", strlen(str(0))); }").unwrap();
/// let mut calls = Calls(0);
/// calls.visit_program(&program);
/// assert_eq!(calls.0, 3);
/// ```
pub trait Visitor<'a> {
    /// A whole program: its config values, then its probes.
    fn visit_program(&mut self, program: &'a Program) {
        walk_program(self, program)
    }

    /// A probe: its predicate, then its body.
    fn visit_probe(&mut self, probe: &'a Probe) {
        walk_probe(self, probe)
    }

    /// A block: its statements in order.
    fn visit_block(&mut self, block: &'a Block) {
        walk_block(self, block)
    }

    /// A statement: its expressions and blocks in source order.
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        walk_stmt(self, stmt)
    }

    /// An expression: the expressions inside it in source order.
    fn visit_expr(&mut self, expr: &'a Expr) {
        walk_expr(self, expr)
    }
}

/// Visits the value of each config entry, then each probe.
pub fn walk_program<'a, V: Visitor<'a> + ?Sized>(v: &mut V, program: &'a Program) {
    for entry in &program.config {
        v.visit_expr(&entry.value);
    }
    for probe in &program.probes {
        v.visit_probe(probe);
    }
}

/// Visits the predicate, if any, then the body.
pub fn walk_probe<'a, V: Visitor<'a> + ?Sized>(v: &mut V, probe: &'a Probe) {
    if let Some(p) = &probe.predicate {
        v.visit_expr(p);
    }
    v.visit_block(&probe.body);
}

/// Visits each statement of the block.
pub fn walk_block<'a, V: Visitor<'a> + ?Sized>(v: &mut V, block: &'a Block) {
    for s in &block.stmts {
        v.visit_stmt(s);
    }
}

/// Visits the expressions and blocks directly inside `stmt`, in source order.
pub fn walk_stmt<'a, V: Visitor<'a> + ?Sized>(v: &mut V, stmt: &'a Stmt) {
    match &stmt.kind {
        StmtKind::Expr(e) => v.visit_expr(e),
        StmtKind::Assign { target, value, .. } => {
            v.visit_expr(target);
            v.visit_expr(value);
        }
        StmtKind::If { cond, then, else_ } => {
            v.visit_expr(cond);
            v.visit_block(then);
            if let Some(b) = else_ {
                v.visit_block(b);
            }
        }
        StmtKind::While { cond: e, body } | StmtKind::Unroll { count: e, body } => {
            v.visit_expr(e);
            v.visit_block(body);
        }
        StmtKind::For { iter, body, .. } => {
            if let ForIter::Range { start, end } = iter {
                v.visit_expr(start);
                v.visit_expr(end);
            }
            v.visit_block(body);
        }
        StmtKind::Block(b) => v.visit_block(b),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
    }
}

/// Visits the expressions directly inside `expr`, in source order.
pub fn walk_expr<'a, V: Visitor<'a> + ?Sized>(v: &mut V, expr: &'a Expr) {
    match &expr.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Ident(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_)
        | ExprKind::PositionalCount => {}
        ExprKind::Map { keys: items, .. } | ExprKind::Call { args: items, .. } | ExprKind::Tuple(items) => {
            for e in items {
                v.visit_expr(e);
            }
        }
        ExprKind::Unary { expr, .. }
        | ExprKind::Field { expr, .. }
        | ExprKind::TupleIndex { expr, .. }
        | ExprKind::Cast { expr, .. }
        | ExprKind::IncDec { expr, .. } => v.visit_expr(expr),
        ExprKind::Binary { lhs, rhs, .. } | ExprKind::Index { expr: lhs, index: rhs } => {
            v.visit_expr(lhs);
            v.visit_expr(rhs);
        }
        ExprKind::Ternary { cond, then, else_ } => {
            v.visit_expr(cond);
            v.visit_expr(then);
            v.visit_expr(else_);
        }
        ExprKind::Sizeof(arg) | ExprKind::Offsetof { of: arg, .. } => match &**arg {
            SizeofArg::Type(_) => {}
            SizeofArg::Expr(e) => v.visit_expr(e),
        },
    }
}

/// The visitor behind the `any` methods: stops walking at the first node
/// that satisfies a test.
struct Any<'f> {
    stmt: &'f mut dyn FnMut(&Stmt) -> bool,
    expr: &'f mut dyn FnMut(&Expr) -> bool,
    found: bool,
}

impl<'f> Any<'f> {
    fn new(stmt: &'f mut dyn FnMut(&Stmt) -> bool, expr: &'f mut dyn FnMut(&Expr) -> bool) -> Self {
        Any { stmt, expr, found: false }
    }
}

impl Visitor<'_> for Any<'_> {
    fn visit_stmt(&mut self, s: &Stmt) {
        if self.found {
            return;
        }
        self.found = (self.stmt)(s);
        if !self.found {
            walk_stmt(self, s);
        }
    }

    fn visit_expr(&mut self, e: &Expr) {
        if self.found {
            return;
        }
        self.found = (self.expr)(e);
        if !self.found {
            walk_expr(self, e);
        }
    }
}

impl Probe {
    /// Whether any statement or expression of the probe (its predicate
    /// included) satisfies `stmt` or `expr`; for passes that must know
    /// something of a body before checking it.
    pub fn any(&self, stmt: &mut dyn FnMut(&Stmt) -> bool, expr: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let mut any = Any::new(stmt, expr);
        any.visit_probe(self);
        any.found
    }
}

impl Block {
    /// As [`Probe::any`], over this block.
    pub fn any(&self, stmt: &mut dyn FnMut(&Stmt) -> bool, expr: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let mut any = Any::new(stmt, expr);
        any.visit_block(self);
        any.found
    }
}

impl Stmt {
    /// As [`Probe::any`], over this statement and what it contains.
    pub fn any(&self, stmt: &mut dyn FnMut(&Stmt) -> bool, expr: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let mut any = Any::new(stmt, expr);
        any.visit_stmt(self);
        any.found
    }
}

impl Expr {
    /// Whether this expression or one inside it satisfies `f`.
    pub fn any(&self, f: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let mut no_stmt = |_: &Stmt| false;
        let mut any = Any::new(&mut no_stmt, f);
        any.visit_expr(self);
        any.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;

    /// The text of every node the default walk reaches, in order.
    struct Reached<'t> {
        text: &'t str,
        seen: Vec<String>,
    }

    impl Reached<'_> {
        fn saw(&mut self, what: &str, span: Span) {
            let text = self.text[span.start as usize..span.end as usize].trim_end();
            self.seen.push(format!("{what} {text}"));
        }
    }

    impl Visitor<'_> for Reached<'_> {
        fn visit_probe(&mut self, probe: &Probe) {
            self.saw("probe", probe.attach_points[0].span);
            walk_probe(self, probe);
        }

        fn visit_block(&mut self, block: &Block) {
            self.saw("block", block.span);
            walk_block(self, block);
        }

        fn visit_stmt(&mut self, stmt: &Stmt) {
            self.saw("stmt", stmt.span);
            walk_stmt(self, stmt);
        }

        fn visit_expr(&mut self, expr: &Expr) {
            self.saw("expr", expr.span);
            walk_expr(self, expr);
        }
    }

    fn check(text: &str, expect: &[&str]) {
        let program = crate::parse(text).unwrap_or_else(|d| panic!("{d:?}"));
        let mut reached = Reached { text, seen: Vec::new() };
        reached.visit_program(&program);
        assert_eq!(reached.seen, expect);
    }

    #[test]
    fn the_default_walk_reaches_every_node_in_source_order() {
        check(
            "config = { max_map_keys = 8 } BEGIN /$1/ { @m[1] = f(-2, sizeof(3)); $x++; }",
            &[
                "expr 8",
                "probe BEGIN",
                "expr $1",
                "block { @m[1] = f(-2, sizeof(3)); $x++; }",
                "stmt @m[1] = f(-2, sizeof(3))",
                "expr @m[1]",
                "expr 1",
                "expr f(-2, sizeof(3))",
                "expr -2",
                "expr 2",
                "expr sizeof(3)",
                "expr 3",
                "stmt $x++",
                "expr $x++",
                "expr $x",
            ],
        );
    }

    #[test]
    fn every_statement_walks_its_expressions_and_blocks() {
        check(
            "BEGIN { if (1) { 2; } else { 3; } while (4) { 5; } unroll (6) { 7; } for ($kv : @m) { 8; } \
             for ($i : 9..10) { { 11; } } }",
            &[
                "probe BEGIN",
                "block { if (1) { 2; } else { 3; } while (4) { 5; } unroll (6) { 7; } for ($kv : @m) { 8; } \
                 for ($i : 9..10) { { 11; } } }",
                "stmt if (1) { 2; } else { 3; }",
                "expr 1",
                "block { 2; }",
                "stmt 2",
                "expr 2",
                "block { 3; }",
                "stmt 3",
                "expr 3",
                "stmt while (4) { 5; }",
                "expr 4",
                "block { 5; }",
                "stmt 5",
                "expr 5",
                "stmt unroll (6) { 7; }",
                "expr 6",
                "block { 7; }",
                "stmt 7",
                "expr 7",
                "stmt for ($kv : @m) { 8; }",
                "block { 8; }",
                "stmt 8",
                "expr 8",
                "stmt for ($i : 9..10) { { 11; } }",
                "expr 9",
                "expr 10",
                "block { { 11; } }",
                "stmt { 11; }",
                "block { 11; }",
                "stmt 11",
                "expr 11",
            ],
        );
    }

    #[test]
    fn every_expression_walks_its_operands() {
        check(
            "BEGIN { $a = (1 ? $t.0 : args->f[2]) + (uint8)(3, 4).1; }",
            &[
                "probe BEGIN",
                "block { $a = (1 ? $t.0 : args->f[2]) + (uint8)(3, 4).1; }",
                "stmt $a = (1 ? $t.0 : args->f[2]) + (uint8)(3, 4).1",
                "expr $a",
                "expr (1 ? $t.0 : args->f[2]) + (uint8)(3, 4).1",
                "expr (1 ? $t.0 : args->f[2])",
                "expr 1",
                "expr $t.0",
                "expr $t",
                "expr args->f[2]",
                "expr args->f",
                "expr args",
                "expr 2",
                "expr (uint8)(3, 4).1",
                "expr (3, 4).1",
                "expr (3, 4)",
                "expr 3",
                "expr 4",
            ],
        );
    }
}
