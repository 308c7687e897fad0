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

impl Probe {
    /// Whether any statement or expression of the probe (its predicate
    /// included) satisfies `stmt` or `expr`; for passes that must know
    /// something of a body before checking it.
    pub fn any(
        &self,
        stmt: &mut dyn FnMut(&Stmt) -> bool,
        expr: &mut dyn FnMut(&Expr) -> bool,
    ) -> bool {
        self.predicate.as_ref().is_some_and(|p| p.any(expr)) || self.body.any(stmt, expr)
    }
}

impl Block {
    /// As [`Probe::any`], over this block.
    pub fn any(
        &self,
        stmt: &mut dyn FnMut(&Stmt) -> bool,
        expr: &mut dyn FnMut(&Expr) -> bool,
    ) -> bool {
        self.stmts.iter().any(|s| s.any(stmt, expr))
    }
}

impl Stmt {
    /// As [`Probe::any`], over this statement and what it contains.
    pub fn any(
        &self,
        stmt: &mut dyn FnMut(&Stmt) -> bool,
        expr: &mut dyn FnMut(&Expr) -> bool,
    ) -> bool {
        if stmt(self) {
            return true;
        }
        match &self.kind {
            StmtKind::Expr(e) => e.any(expr),
            StmtKind::Assign { target, value, .. } => target.any(expr) || value.any(expr),
            StmtKind::If { cond, then, else_ } => {
                cond.any(expr)
                    || then.any(stmt, expr)
                    || else_.as_ref().is_some_and(|b| b.any(stmt, expr))
            }
            StmtKind::While { cond: e, body } | StmtKind::Unroll { count: e, body } => {
                e.any(expr) || body.any(stmt, expr)
            }
            StmtKind::For { iter, body, .. } => {
                let in_iter = match iter {
                    ForIter::Map(_) => false,
                    ForIter::Range { start, end } => start.any(expr) || end.any(expr),
                };
                in_iter || body.any(stmt, expr)
            }
            StmtKind::Block(b) => b.any(stmt, expr),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => false,
        }
    }
}

impl Expr {
    /// Whether this expression or one inside it satisfies `f`.
    pub fn any(&self, f: &mut dyn FnMut(&Expr) -> bool) -> bool {
        if f(self) {
            return true;
        }
        match &self.kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Ident(_)
            | ExprKind::Var(_)
            | ExprKind::Positional(_)
            | ExprKind::PositionalCount => false,
            ExprKind::Map { keys: items, .. }
            | ExprKind::Call { args: items, .. }
            | ExprKind::Tuple(items) => items.iter().any(|e| e.any(f)),
            ExprKind::Unary { expr, .. }
            | ExprKind::Field { expr, .. }
            | ExprKind::TupleIndex { expr, .. }
            | ExprKind::Cast { expr, .. }
            | ExprKind::IncDec { expr, .. } => expr.any(f),
            ExprKind::Binary { lhs, rhs, .. }
            | ExprKind::Index {
                expr: lhs,
                index: rhs,
            } => lhs.any(f) || rhs.any(f),
            ExprKind::Ternary { cond, then, else_ } => cond.any(f) || then.any(f) || else_.any(f),
            ExprKind::Sizeof(arg) => match &**arg {
                SizeofArg::Type(_) => false,
                SizeofArg::Expr(e) => e.any(f),
            },
        }
    }
}
