//! The syntax tree produced by the parser. Every node carries the [`Span`] of
//! the source text it came from; nothing here is resolved or typed yet.

use crate::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// `config = { key = value; ... }` entries, in order.
    pub config: Vec<ConfigEntry>,
    pub probes: Vec<Probe>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigEntry {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `attach, attach /predicate/ { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Block,
    pub span: Span,
}

/// One attach point as written, e.g. `tracepoint:syscalls:sys_enter_execve`,
/// `BEGIN`, `interval:s:1`, `t:sched:*`. Splitting into provider and
/// arguments is done by the probe table in the checker, since each provider
/// has its own rules (uprobe paths contain `:`-free slashes, usdt has up to
/// four parts, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct AttachPoint {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect: a call such as `printf(...)`,
    /// `exit()`, `@x++`.
    Expr(Expr),
    /// `@m = v`, `@m[k] = v`, `$x = v`, and the compound forms (`+=` etc.,
    /// where `op` is the binary operator).
    Assign { target: Expr, op: Option<BinaryOp>, value: Expr },
    /// `if (c) { } else if (d) { } else { }`: `else_` holds a block whose only
    /// statement is the nested `If` for `else if`.
    If { cond: Expr, then: Block, else_: Option<Block> },
    While { cond: Expr, body: Block },
    /// `unroll (N) { }`
    Unroll { count: Expr, body: Block },
    /// `for ($kv : @map) { }` and `for ($i : a..b) { }`
    For { var: Ident, iter: ForIter, body: Block },
    Break,
    Continue,
    Return,
    /// A nested `{ ... }` block.
    Block(Block),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ForIter {
    Map(Ident),
    Range { start: Expr, end: Expr },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal, already converted from decimal, hex (`0x`), octal
    /// (`0` prefix) or with `_` separators. Literals above `i64::MAX` are kept
    /// as their u64 bit pattern, hence `u64`.
    Int(u64),
    /// String literal with escapes (`\n`, `\t`, `\\`, `\"`, `\xNN`, octal)
    /// already decoded.
    Str(String),
    Bool(bool),
    /// A bare identifier: a builtin such as `pid`, `comm`, `args`, `arg0`,
    /// `retval`, or a type-less name the checker will judge.
    Ident(String),
    /// `$name`
    Var(String),
    /// `$1`, `$2`, ...
    Positional(u32),
    /// `$#`
    PositionalCount,
    /// `@name` (name without `@`; empty for the anonymous map `@`), with its
    /// keys `@name[k1, k2]` (empty for a map used without brackets).
    Map { name: String, keys: Vec<Expr> },
    /// `f(a, b)`; `name` as written, e.g. `printf`, `count`, `str`.
    Call { name: Ident, args: Vec<Expr> },
    Unary { op: UnaryOp, expr: Box<Expr> },
    Binary { op: BinaryOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// `c ? a : b`
    Ternary { cond: Box<Expr>, then: Box<Expr>, else_: Box<Expr> },
    /// `e.field` and `e->field`; `arrow` tells which was written.
    Field { expr: Box<Expr>, field: Ident, arrow: bool },
    /// `t.0`
    TupleIndex { expr: Box<Expr>, index: u32, index_span: Span },
    /// `e[i]`, indexing a pointer or array (map keys are part of `Map`).
    Index { expr: Box<Expr>, index: Box<Expr> },
    /// `(type)e`, with the type name as written (`uint8`, `int32`, `struct foo *`).
    Cast { ty: TypeName, expr: Box<Expr> },
    /// `(a, b, c)`
    Tuple(Vec<Expr>),
    /// `$x++`, `@m[k]--`, `++$x`
    IncDec { expr: Box<Expr>, increment: bool, prefix: bool },
    /// `sizeof(type)` or `sizeof(expr)`
    Sizeof(Box<SizeofArg>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SizeofArg {
    Type(TypeName),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    /// e.g. `uint8`, `struct task_struct`, `int32`
    pub name: String,
    /// number of `*` after the name
    pub pointer: u32,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-e`
    Neg,
    /// `!e`
    Not,
    /// `~e`
    BitNot,
    /// `*e`
    Deref,
    /// `&e`
    AddrOf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }

    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
}

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
        ExprKind::Sizeof(arg) => match &**arg {
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
