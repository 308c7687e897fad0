//! The checked program: names resolved, types inferred, probes expanded.
//! This is what code generation consumes; it never sees the AST.

use crate::ast::{BinaryOp, UnaryOp};
use crate::probes::ProbeKind;
use crate::target::TracepointField;
use crate::types::Type;
use crate::Span;

mod visit;

pub use visit::{walk_expr, walk_probe, walk_stmt, walk_stmts, Visitor};

/// A checked program, ready for code generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// One entry per concrete probe: an attach list `a, b { }` becomes two
    /// probes sharing the same statements, each checked in its own context.
    pub probes: Vec<Probe>,
    /// Every map, sorted by name (bpftrace's printing order); `MapId` indexes it.
    pub maps: Vec<Map>,
    /// printf formats; `Stmt::Printf::id` indexes it.
    pub printfs: Vec<Printf>,
    /// Whether any probe uses `elapsed` (the runtime then records the start time).
    pub uses_elapsed: bool,
    /// The types of the values `print(value)` prints.
    pub print_values: Vec<Type>,
    /// strftime formats of `time()` and `strftime()`.
    pub time_formats: Vec<String>,
    /// The machine's possible CPUs (`Target::possible_cpus`).
    pub ncpus: u32,
    /// `join()` separators; `StmtKind::Join::id` indexes it.
    pub join_separators: Vec<String>,
    /// How many keys each map holds (`max_map_keys`, 4096 by default as in
    /// bpftrace).
    pub max_map_keys: u32,
}

/// One concrete probe: an attach point and the statements it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// What it attaches to, resolved.
    pub kind: ProbeKind,
    /// The full probe name, the value of the `probe` builtin.
    pub name: String,
    /// The attach point's span in the source.
    pub span: Span,
    /// The predicate, if any (with `-p PID`'s filter in front of it).
    pub predicate: Option<Expr>,
    /// The statements it runs.
    pub body: Vec<Stmt>,
    /// Scratch variables of this probe; `VarId` indexes it.
    pub vars: Vec<Var>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
/// A map: its index in [`Program::maps`].
pub struct MapId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
/// A variable: its index in [`Probe::vars`].
pub struct VarId(pub usize);

/// A map as the whole program uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    /// With the `@`: `@c`, or `@` for the anonymous map.
    pub name: String,
    /// Key types in order; empty for a map without keys.
    pub key: Vec<Type>,
    /// What it holds.
    pub value: MapValue,
    /// Where the map is first used, for messages.
    pub span: Span,
    /// Whether `len()`, `delete()` or `++`/`--` work on its elements: the
    /// code generator then keeps it in a hash map, whose elements are the
    /// ones written, rather than in an array.
    pub element_ops: bool,
}

/// What a map holds: a plain value or an aggregation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// A value assigned with `=`, of this type.
    Plain(Type),
    /// `count()`
    Count,
    /// `sum(n)`
    Sum {
        /// Whether `n` is a signed integer.
        signed: bool,
    },
    /// `min(n)`
    Min {
        /// Whether `n` is a signed integer.
        signed: bool,
    },
    /// `max(n)`
    Max {
        /// Whether `n` is a signed integer.
        signed: bool,
    },
    /// `avg(n)`
    Avg {
        /// Whether `n` is a signed integer.
        signed: bool,
    },
    /// `stats(n)`: count, average and total.
    Stats {
        /// Whether `n` is a signed integer.
        signed: bool,
    },
    /// `hist(n, bits)`: power-of-two buckets, each split in `2^bits`.
    Hist {
        /// The `bits` argument, 0 by default.
        bits: u8,
    },
    /// `lhist(n, min, max, step)`
    Lhist {
        /// The lowest bucket's start.
        min: i64,
        /// The end of the last bucket.
        max: i64,
        /// Each bucket's width.
        step: i64,
    },
}

impl MapValue {
    /// Whether the map's value can be read in an expression (histograms
    /// and stats are only printed).
    pub fn is_readable(&self) -> bool {
        !matches!(self, MapValue::Stats { .. } | MapValue::Hist { .. } | MapValue::Lhist { .. })
    }

    /// Whether an aggregation function makes the value (not `=`).
    pub fn is_aggregation(&self) -> bool {
        !matches!(self, MapValue::Plain(_))
    }

    /// The function that makes this aggregation, for messages.
    pub fn describe(&self) -> String {
        match self {
            MapValue::Plain(t) => format!("a {t} value"),
            MapValue::Count => "count()".into(),
            MapValue::Sum { .. } => "sum()".into(),
            MapValue::Min { .. } => "min()".into(),
            MapValue::Max { .. } => "max()".into(),
            MapValue::Avg { .. } => "avg()".into(),
            MapValue::Stats { .. } => "stats()".into(),
            MapValue::Hist { .. } => "hist()".into(),
            MapValue::Lhist { .. } => "lhist()".into(),
        }
    }
}

/// A scratch variable of a probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    /// With the `$`.
    pub name: String,
    /// Its type, wide enough for every value assigned.
    pub ty: Type,
}

/// A format string and its arguments' types, shared by the code that
/// sends a record and the runtime that prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct Printf {
    /// The format as written, escapes decoded.
    pub format: String,
    /// The types of the arguments, in order.
    pub args: Vec<Type>,
    /// The call's span.
    pub span: Span,
}

/// A statement and the span of the source it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What the statement does.
    pub kind: StmtKind,
    /// Where it is written.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `@m[keys] = value` or an aggregation `@m[keys] = count()`.
    MapUpdate { map: MapId, keys: Vec<Expr>, update: MapUpdate },
    VarAssign { var: VarId, value: Expr },
    If { cond: Expr, then: Vec<Stmt>, else_: Vec<Stmt> },
    /// `while (cond) { body }`; also `for ($i : a..b)`, whose increment is
    /// `step`, run after the body and on `continue`.
    While { cond: Expr, body: Vec<Stmt>, step: Vec<Stmt> },
    /// `unroll (count) { body }`: the body, `count` times in a row.
    Unroll { count: u32, body: Vec<Stmt> },
    /// `for ($kv : @map) { body }`: the body runs once per element, in the
    /// kernel, with `var` = (key, value). `outer` are the probe's variables
    /// declared before the loop that the body uses; every other variable
    /// of the body lives only inside the loop. `break` stops the
    /// iteration, `continue` goes on to the next element.
    ForMap { var: VarId, map: MapId, body: Vec<Stmt>, outer: Vec<VarId> },
    Break,
    Continue,
    /// `return`: leave the probe.
    Return,
    Printf { id: usize, args: Vec<Expr> },
    /// `delete(@m, key)` / `delete(@m[key])`
    Delete { map: MapId, keys: Vec<Expr> },
    /// `clear(@m)`, `zero(@m)`, `print(@m)`, `print(@m, top, div)`: done by
    /// the runtime on the map's fd, asked through an event.
    MapCommand { map: MapId, command: MapCommand },
    /// `print(value)`; `id` indexes `Program::print_values`.
    PrintValue { id: usize, value: Expr },
    /// `signal(sig)`: send a signal to the current process (`--unsafe`).
    Signal(Expr),
    /// `system(fmt, ...)` and `cat(fmt, ...)`: the runtime runs the
    /// command or prints the file; `id` indexes `Program::printfs`.
    System { id: usize, args: Vec<Expr> },
    Cat { id: usize, args: Vec<Expr> },
    /// `time()` / `time(fmt)`; `id` indexes `Program::time_formats`.
    Time { id: usize },
    /// `join(argv, sep)`: the strings of a NULL-terminated array of string
    /// pointers, printed on one line; `id` indexes `Program::join_separators`.
    Join { id: usize, argv: Expr },
    /// `exit()` / `exit(code)`: ask the runtime to stop, and leave this probe.
    Exit { code: i32 },
    /// An expression evaluated for its side effects (none today but calls).
    Expr(Expr),
}

/// What the runtime does to a whole map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapCommand {
    /// `clear(@m)`: delete every element.
    Clear,
    /// `zero(@m)`: set every value to zero.
    Zero,
    /// `print(@m, top, div)`: print it now.
    Print {
        /// Print only the `top` largest elements (0: all).
        top: u64,
        /// Divide each value by this before printing (1: as is).
        div: u64,
    },
}

/// How a map element changes: assigned, or fed to its aggregation.
#[derive(Clone, Debug, PartialEq)]
pub enum MapUpdate {
    /// `@m[k] = value`
    Set(Expr),
    /// `count()`
    Count,
    /// `sum(n)`
    Sum(Expr),
    /// `min(n)`
    Min(Expr),
    /// `max(n)`
    Max(Expr),
    /// `avg(n)`
    Avg(Expr),
    /// `stats(n)`
    Stats(Expr),
    /// `hist(n)`: the value counted in its bucket (bits in [`MapValue::Hist`]).
    Hist(Expr),
    /// `lhist(n, ...)`: the value counted in its bucket (bounds in [`MapValue::Lhist`]).
    Lhist(Expr),
}

/// A typed expression and the span of the source it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// The type of its value.
    pub ty: Type,
    /// Where it is written.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer constant, as its 64-bit pattern.
    Int(u64),
    Str(String),
    Builtin(Builtin),
    /// A field of the tracepoint's record (`args.NAME`).
    TracepointField(TracepointField),
    Var(VarId),
    /// Reading a map's value (a plain value, or an aggregation's value
    /// combined across CPUs); a missing key reads as zero.
    MapRead { map: MapId, keys: Vec<Expr> },
    /// An integer value given another type for printing (`strftime`'s
    /// nanoseconds, `username`'s uid); stored as its 8 bytes.
    Retype(Box<Expr>),
    /// `ntop(af, addr)`: an IPv4 address held in an integer (its bytes in
    /// memory order, as the kernel keeps them), or 16 bytes of IPv6.
    Ntop { af: Box<Expr>, addr: Box<Expr> },
    /// `strlen(s)`: the characters before the first NUL.
    StrLen(Box<Expr>),
    /// `strncmp(a, b, n)`: 0 when the first `n` characters are the same.
    StrNCmp { lhs: Box<Expr>, rhs: Box<Expr>, n: u32 },
    /// `strcontains(haystack, needle)`: 1 when `needle` occurs in it.
    StrContains { haystack: Box<Expr>, needle: Box<Expr> },
    /// `bswap(x)`: the bytes of `x` (of its type's width) reversed.
    Bswap(Box<Expr>),
    /// `has_key(@m, key)`: 1 when the key is in the map.
    HasKey { map: MapId, keys: Vec<Expr> },
    /// `len(@m)`: the number of elements in the map.
    MapLen(MapId),
    Unary { op: UnaryOp, expr: Box<Expr> },
    Binary { op: BinaryOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// `str(ptr)` / `str(ptr, len)`: copy a NUL-terminated string from
    /// memory; the result's size is `Type::Str::size`.
    StrRead { ptr: Box<Expr>, len: Option<Box<Expr>> },
    /// `str(s, len)` of a string `s` (a variable, `comm`, a tracepoint's
    /// char array or `__data_loc` string): its first `len` characters at
    /// most, as `str(ptr, len)` reads at most `len` from memory.
    StrPrefix { str: Box<Expr>, len: Box<Expr> },
    /// `buf(p, n)` / `buf(array)`: `len` bytes (at most the type's size;
    /// all of it without `len`) copied from `source`.
    BufRead { source: BufSource, len: Option<Box<Expr>> },
    /// `$x++`, `++$x`, `$x--`, `--$x` in an expression: adds `delta` to
    /// the variable; the value is the new one with `prefix`, else the old.
    VarIncDec { var: VarId, delta: i64, prefix: bool },
    /// `@m[k]++` and the like in an expression: as `VarIncDec`, on a map
    /// entry (a missing entry counts from zero).
    MapIncDec { map: MapId, keys: Vec<Expr>, delta: i64, prefix: bool },
    /// `argN` of a probe whose context is the task's registers: the Nth
    /// integer argument of the calling convention.
    Arg(u8),
    /// `argN` of a USDT probe site: read as its note describes (a
    /// register, memory or a constant), extended to 64 bits by its sign.
    UsdtArg(crate::probes::UsdtArg),
    /// `retval` of a return probe: the return value register.
    Retval,
    /// The traced kernel function's address (`bpf_get_func_ip`), for `func`
    /// in a multi-attached kprobe: printed as the function's name.
    FuncIp,
    /// `c ? a : b`, integers or strings.
    Ternary { cond: Box<Expr>, then: Box<Expr>, else_: Box<Expr> },
    /// `(uint8)e`: truncated (and sign-extended) to the type's width.
    Cast(Box<Expr>),
    /// `(a, b, ...)`: a tuple built from its elements.
    Tuple(Vec<Expr>),
    /// `t.N`: element `index` of a tuple (checked to be in range).
    TupleIndex { expr: Box<Expr>, index: u32 },
    /// `a == b` / `a != b` on strings (`ne` for `!=`), compared up to the
    /// first NUL.
    StrEq { lhs: Box<Expr>, rhs: Box<Expr>, ne: bool },
}

/// Where `buf()` reads its bytes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BufSource {
    /// Memory at an address: user memory for a user pointer, kernel memory
    /// for a kernel one, either for a plain integer.
    Memory(Box<Expr>),
    /// The bytes of a string value, NUL-padded past its end.
    Str(Box<Expr>),
    /// An array field of the tracepoint's record.
    Field(TracepointField),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Pid,
    Tid,
    Uid,
    Gid,
    Comm,
    Nsecs,
    Elapsed,
    Cpu,
    Rand,
    Cgroup,
    Jiffies,
    NumaId,
}

/// The variables statements use (read or assign), and those they assign.
/// A nested `for` over a map counts as using its `outer` variables only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VarUse {
    /// Every variable read or assigned.
    pub used: std::collections::BTreeSet<VarId>,
    /// The variables assigned (`$x = ...`, `$x++`).
    pub assigned: std::collections::BTreeSet<VarId>,
}

impl VarUse {
    /// The variables `stmts` use and assign.
    pub fn of(stmts: &[Stmt]) -> VarUse {
        let mut u = VarUse::default();
        walk_stmts(&mut u, stmts);
        u
    }

    /// The variables `expr` uses and assigns.
    pub fn of_expr(expr: &Expr) -> VarUse {
        let mut u = VarUse::default();
        u.visit_expr(expr);
        u
    }
}

impl Visitor<'_> for VarUse {
    fn visit_stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::VarAssign { var, .. } => {
                self.used.insert(*var);
                self.assigned.insert(*var);
            }
            StmtKind::ForMap { body, outer, .. } => {
                // The body's own variables live in its callback.
                let inner = VarUse::of(body);
                self.used.extend(outer.iter().copied());
                self.assigned.extend(outer.iter().filter(|v| inner.assigned.contains(v)).copied());
                return;
            }
            _ => {}
        }
        walk_stmt(self, s);
    }

    fn visit_expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Var(v) => {
                self.used.insert(*v);
            }
            ExprKind::VarIncDec { var, .. } => {
                self.used.insert(*var);
                self.assigned.insert(*var);
            }
            _ => {}
        }
        walk_expr(self, e);
    }
}
