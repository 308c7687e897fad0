//! The syntax tree produced by the parser. Every node carries the [`Span`] of
//! the source text it came from; nothing here is resolved or typed yet.

use crate::Span;

/// A whole script: its config block and its probes, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// `config = { key = value; ... }` entries, in order.
    pub config: Vec<ConfigEntry>,
    /// The probes in source order.
    pub probes: Vec<Probe>,
    /// The whole text.
    pub span: Span,
}

/// One `key = value` of the config block.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigEntry {
    /// The setting's name, e.g. `max_map_keys`.
    pub key: Ident,
    /// Its value, a constant.
    pub value: Expr,
    /// The whole entry.
    pub span: Span,
}

/// `attach, attach /predicate/ { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// The attach points, at least one.
    pub attach_points: Vec<AttachPoint>,
    /// The `/predicate/`, if any: the body runs when it is nonzero.
    pub predicate: Option<Expr>,
    /// The statements run when the probe fires.
    pub body: Block,
    /// The whole probe, attach points to closing brace.
    pub span: Span,
}

/// One attach point as written, e.g. `tracepoint:syscalls:sys_enter_execve`,
/// `BEGIN`, `interval:s:1`, `t:sched:*`. Splitting into provider and
/// arguments is done by the probe table in the checker, since each provider
/// has its own rules (uprobe paths contain `:`-free slashes, usdt has up to
/// four parts, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct AttachPoint {
    /// The text as written.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// `{ stmt; stmt; ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// The statements in order.
    pub stmts: Vec<Stmt>,
    /// Braces included.
    pub span: Span,
}

/// A name as written: a config key, a field, a function, a map iterated by `for`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name, without sigil.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A statement and where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What the statement is.
    pub kind: StmtKind,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect: a call such as `printf(...)`,
    /// `exit()`, `@x++`.
    Expr(Expr),
    /// `@m = v`, `@m[k] = v`, `$x = v`, and the compound forms (`+=` etc.,
    /// where `op` is the binary operator).
    Assign {
        /// The map element or variable assigned.
        target: Expr,
        /// The operator of a compound assignment (`+` for `+=`); `None` for `=`.
        op: Option<BinaryOp>,
        /// The value on the right.
        value: Expr,
    },
    /// `if (c) { } else if (d) { } else { }`: `else_` holds a block whose only
    /// statement is the nested `If` for `else if`.
    If {
        /// The condition.
        cond: Expr,
        /// Run when the condition is nonzero.
        then: Block,
        /// Run otherwise, if written.
        else_: Option<Block>,
    },
    /// `while (cond) { body }`
    While {
        /// Tested before each iteration.
        cond: Expr,
        /// The loop's body.
        body: Block,
    },
    /// `unroll (N) { }`
    Unroll {
        /// How many times, a constant (checked by the checker).
        count: Expr,
        /// The body to repeat.
        body: Block,
    },
    /// `for ($kv : @map) { }` and `for ($i : a..b) { }`
    For {
        /// The loop variable, without its `$`.
        var: Ident,
        /// What it iterates over.
        iter: ForIter,
        /// The loop's body.
        body: Block,
    },
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// `return`
    Return,
    /// A nested `{ ... }` block.
    Block(Block),
}

/// What a `for` loop iterates over.
#[derive(Clone, Debug, PartialEq)]
pub enum ForIter {
    /// The elements of a map (its name without `@`), each a (key, value) tuple.
    Map(Ident),
    /// The integers from `start` up to `end`, `end` excluded.
    Range {
        /// The first value.
        start: Expr,
        /// One past the last value.
        end: Expr,
    },
}

/// An expression and where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal, already converted from decimal, hex (`0x`), octal
    /// (`0` prefix) or with `_` separators. Literals above `i64::MAX` are kept
    /// as their u64 bit pattern, hence `u64`.
    Int(u64),
    /// String literal with escapes (`\n`, `\t`, `\\`, `\"`, `\xNN`, octal)
    /// already decoded.
    Str(String),
    /// `true` or `false`.
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
    Map {
        /// The map's name, without `@`.
        name: String,
        /// The keys in brackets, in order.
        keys: Vec<Expr>,
    },
    /// `f(a, b)`; `name` as written, e.g. `printf`, `count`, `str`.
    Call {
        /// The function's name.
        name: Ident,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// `op expr`
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        expr: Box<Expr>,
    },
    /// `lhs op rhs`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `c ? a : b`
    Ternary {
        /// The condition.
        cond: Box<Expr>,
        /// The value when it is nonzero.
        then: Box<Expr>,
        /// The value otherwise.
        else_: Box<Expr>,
    },
    /// `e.field` and `e->field`; `arrow` tells which was written.
    Field {
        /// The value whose field is read.
        expr: Box<Expr>,
        /// The field's name.
        field: Ident,
        /// Whether `->` was written rather than `.`.
        arrow: bool,
    },
    /// `t.0`
    TupleIndex {
        /// The tuple.
        expr: Box<Expr>,
        /// The element's index.
        index: u32,
        /// Where the index is written.
        index_span: Span,
    },
    /// `e[i]`, indexing a pointer or array (map keys are part of `Map`).
    Index {
        /// The pointer or array.
        expr: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
    /// `(type)e`, with the type name as written (`uint8`, `int32`, `struct foo *`).
    Cast {
        /// The type converted to.
        ty: TypeName,
        /// The value converted.
        expr: Box<Expr>,
    },
    /// `(a, b, c)`
    Tuple(Vec<Expr>),
    /// `$x++`, `@m[k]--`, `++$x`
    IncDec {
        /// The variable or map element changed.
        expr: Box<Expr>,
        /// `++` rather than `--`.
        increment: bool,
        /// Written before the operand (`++$x`): the value is the new one.
        prefix: bool,
    },
    /// `sizeof(type)` or `sizeof(expr)`
    Sizeof(Box<SizeofArg>),
}

/// What `sizeof` measures.
#[derive(Clone, Debug, PartialEq)]
pub enum SizeofArg {
    /// A type named as written.
    Type(TypeName),
    /// The type of an expression (not evaluated).
    Expr(Expr),
}

/// A type named in a cast or `sizeof`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    /// e.g. `uint8`, `struct task_struct`, `int32`
    pub name: String,
    /// number of `*` after the name
    pub pointer: u32,
    /// Where it is written.
    pub span: Span,
}

/// The prefix operators.
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

/// The infix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinaryOp {
    /// The operator as written, for messages.
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

    /// Whether it compares (`==`, `<`, ...), making 0 or 1.
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
