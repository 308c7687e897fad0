//! The syntax tree produced by the parser. Every node carries the [`Span`] of
//! the source text it came from; nothing here is resolved or typed yet.

use crate::Span;

mod visit;

pub use visit::{walk_block, walk_expr, walk_probe, walk_program, walk_stmt, Visitor};

/// A whole script: its config block and its probes, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The C definitions before the probes (`struct P { ... };`,
    /// `typedef`, `enum`), in order.
    pub definitions: Vec<crate::cdefs::Definition>,
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
    /// `offsetof(struct X, a.b)`: the byte offset of a member (a path
    /// through nested members) in a struct or union type.
    Offsetof {
        /// The type (or an expression of that type).
        of: Box<SizeofArg>,
        /// The member names, outermost first; at least one.
        path: Vec<Ident>,
    },
}

/// What `sizeof` measures (and what `offsetof` looks into).
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

/// The nodes of `program` as bpftrace 0.17 counts them against
/// BPFTRACE_NODE_MAX: the program, each probe, attach point and
/// predicate, each statement and each expression (a block is none). Its
/// tree and rbpf's differ a little (`@x += 1` is one assignment here, an
/// assignment of a sum there), so a count may differ by a few.
pub fn node_count(program: &Program) -> u64 {
    struct Count(u64);
    impl<'a> Visitor<'a> for Count {
        fn visit_probe(&mut self, probe: &'a Probe) {
            self.0 += 1 + probe.attach_points.len() as u64 + u64::from(probe.predicate.is_some());
            walk_probe(self, probe)
        }
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            self.0 += 1;
            walk_stmt(self, stmt)
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            self.0 += 1;
            walk_expr(self, expr)
        }
    }
    let mut count = Count(1);
    for probe in &program.probes {
        count.visit_probe(probe);
    }
    count.0
}
