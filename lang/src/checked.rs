//! The checked program: names resolved, types inferred, probes expanded.
//! This is what code generation consumes; it never sees the AST.

use crate::ast::{BinaryOp, UnaryOp};
use crate::probes::ProbeKind;
use crate::target::TracepointField;
use crate::types::Type;
use crate::Span;

mod visit;

pub use visit::{walk_expr, walk_probe, walk_stmt, walk_stmts, Visitor};

/// A checked program: what code generation compiles.
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
    /// The pcap files `skboutput()` writes, each once; the first argument
    /// of its [`ExprKind::Call`] indexes it.
    pub skb_outputs: Vec<String>,
    /// How many keys each map holds (`max_map_keys`, 4096 by default as in
    /// bpftrace).
    pub max_map_keys: u32,
    /// bpftrace's `-k` (1: report the helper calls that fail, reads
    /// excepted) and `-kk` (2: reads too); 0 reports none.
    pub helper_checks: u8,
    /// bpftrace's BPFTRACE_PERF_RB_PAGES: pages of event buffer per CPU.
    /// rbpf's one ring buffer then holds that many for every CPU; `None`
    /// leaves its size to the compiler.
    pub ringbuf_pages: Option<u32>,
    /// `config = { max_probes = N }`: the most probes the program may
    /// attach (BPFTRACE_MAX_PROBES, which the caller reads, wins).
    pub max_probes: Option<u64>,
    /// `config = { log_size = N }`: bytes of verifier log kept for a
    /// refused program (BPFTRACE_LOG_SIZE wins).
    pub log_size: Option<u64>,
    /// `config = { max_cat_bytes = N }` (or `cat_bytes_max`): the most
    /// bytes of a file `cat()` prints (BPFTRACE_CAT_BYTES_MAX wins).
    pub cat_bytes_max: Option<u64>,
    /// `config = { max_bpf_progs = N }`: the most BPF programs the program
    /// may be compiled to (BPFTRACE_MAX_BPF_PROGS wins).
    pub max_bpf_progs: Option<u64>,
    /// `config = { cpp_demangle = 0 }` (or `no_cpp_demangle = 1`): whether
    /// C++ names of user symbols are demangled (BPFTRACE_NO_CPP_DEMANGLE
    /// wins).
    pub cpp_demangle: Option<bool>,
    /// `config = { cache_user_symbols = NONE }`: whether what was read of
    /// user symbols is kept for the session (BPFTRACE_CACHE_USER_SYMBOLS
    /// wins).
    pub cache_user_symbols: Option<bool>,
    /// `config = { no_user_symbols = 1 }`: user addresses print in hex
    /// (as BPFTRACE_NO_USER_SYMBOLS=1).
    pub no_user_symbols: bool,
    /// The BPF programs bpftrace counts against BPFTRACE_MAX_BPF_PROGS,
    /// one entry per attach point in source order: the probes it matches,
    /// for the attach points of a probe whose body must know which probe
    /// fired (`probe`, `func`: one program each); none for the others,
    /// which share one program per probe and which bpftrace does not count.
    pub expanded_programs: Vec<u64>,
    /// What the program runs without, to be told before it runs in one
    /// `WARNING:` line each: the attach points skipped because their
    /// function is missing.
    pub skipped: Vec<crate::Diagnostic>,
    /// bpftrace's warnings (`--no-warnings` drops them): the program is
    /// fine to run, but likely not what was meant.
    pub warnings: Vec<crate::Diagnostic>,
}

/// One concrete probe and the program it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// What it is attached to.
    pub kind: ProbeKind,
    /// The full probe name, the value of the `probe` builtin.
    pub name: String,
    /// The attach point's span in the source.
    pub span: Span,
    /// Whether it came from a list of attach points or a wildcard: a kprobe
    /// the kernel refuses is then skipped with a warning, as bpftrace does,
    /// instead of stopping the program.
    pub optional: bool,
    /// The `/ predicate /`, with `-p PID`'s filter in front.
    pub predicate: Option<Expr>,
    /// Its statements.
    pub body: Vec<Stmt>,
    /// Scratch variables of this probe; `VarId` indexes it.
    pub vars: Vec<Var>,
}

/// A map: its index in [`Program::maps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapId(pub usize);

/// A variable: its index in its probe's [`Probe::vars`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub usize);

/// A map, its types learnt from every use.
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
    /// A value assigned: `@m = v`.
    Plain(Type),
    /// `count()`.
    Count,
    /// `sum(n)`; `signed` when `n` is.
    Sum {
        /// Whether the values summed are signed.
        signed: bool,
    },
    /// `min(n)`.
    Min {
        /// Whether the values compared are signed.
        signed: bool,
    },
    /// `max(n)`.
    Max {
        /// Whether the values compared are signed.
        signed: bool,
    },
    /// `avg(n)`.
    Avg {
        /// Whether the values averaged are signed.
        signed: bool,
    },
    /// `stats(n)`: count, average and total.
    Stats {
        /// Whether the values are signed.
        signed: bool,
    },
    /// `hist(n, bits)`: power-of-two buckets, each split in `2^bits`.
    Hist {
        /// How many bits of each power of two split its bucket.
        bits: u8,
    },
    /// `lhist(n, min, max, step)`: linear buckets.
    Lhist {
        /// The lowest bucket's start.
        min: i64,
        /// The highest bucket's end.
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

    /// Whether the map holds an aggregation, not an assigned value.
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

/// A variable of a probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    /// With the `$`.
    pub name: String,
    /// Its type: the widest of the values assigned.
    pub ty: Type,
}

/// A `printf()` (or `system()`, `cat()`) format, formatted by the runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct Printf {
    /// The format string.
    pub format: String,
    /// The types of the arguments, in order.
    pub args: Vec<Type>,
    /// The call, for messages.
    pub span: Span,
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What it does.
    pub kind: StmtKind,
    /// Where it stands in the source.
    pub span: Span,
}

/// What a statement does.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `@m[keys] = value` or an aggregation `@m[keys] = count()`.
    MapUpdate {
        /// The map.
        map: MapId,
        /// Its keys, in order.
        keys: Vec<Expr>,
        /// How the element changes.
        update: MapUpdate,
    },
    /// `$x = value`.
    VarAssign {
        /// The variable.
        var: VarId,
        /// The value.
        value: Expr,
    },
    /// `if (cond) { then } else { else_ }`.
    If {
        /// The condition.
        cond: Expr,
        /// What runs when it holds.
        then: Vec<Stmt>,
        /// What runs when it does not.
        else_: Vec<Stmt>,
    },
    /// `while (cond) { body }`; also `for ($i : a..b)`, whose increment is
    /// `step`, run after the body and on `continue`.
    While {
        /// The condition.
        cond: Expr,
        /// The loop's body.
        body: Vec<Stmt>,
        /// What runs after each pass of the body.
        step: Vec<Stmt>,
    },
    /// `unroll (count) { body }`: the body, `count` times in a row.
    Unroll {
        /// How many times.
        count: u32,
        /// The loop's body.
        body: Vec<Stmt>,
    },
    /// `for ($kv : @map) { body }`: the body runs once per element, in the
    /// kernel, with `var` = (key, value). `outer` are the probe's variables
    /// declared before the loop that the body uses; every other variable
    /// of the body lives only inside the loop. `break` stops the
    /// iteration, `continue` goes on to the next element.
    ForMap {
        /// The variable.
        var: VarId,
        /// The map.
        map: MapId,
        /// The loop's body.
        body: Vec<Stmt>,
        /// The probe's variables the body uses.
        outer: Vec<VarId>,
    },
    /// `break`: leave the innermost loop.
    Break,
    /// `continue`: go on to the innermost loop's next pass.
    Continue,
    /// `return`: leave the probe.
    Return,
    /// `printf(fmt, args)`; `id` indexes `Program::printfs`.
    Printf {
        /// Its index in the table the variant's doc names.
        id: usize,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `delete(@m, key)` / `delete(@m[key])`
    Delete {
        /// The map.
        map: MapId,
        /// Its keys, in order.
        keys: Vec<Expr>,
    },
    /// `clear(@m)`, `zero(@m)`, `print(@m)`, `print(@m, top, div)`: done by
    /// the runtime on the map's fd, asked through an event.
    MapCommand {
        /// The map.
        map: MapId,
        /// What to do.
        command: MapCommand,
    },
    /// `print(value)`; `id` indexes `Program::print_values`.
    PrintValue {
        /// Its index in the table the variant's doc names.
        id: usize,
        /// The value.
        value: Expr,
    },
    /// `signal(sig)`: send a signal to the current process (`--unsafe`).
    Signal(Expr),
    /// `unwatch(addr)`: ask the runtime to remove the watchpoints on the
    /// address (asynchronously, when it reads the request).
    Unwatch(Expr),
    /// `override(rc)`: the kprobed function returns `rc` without running
    /// (bpf_override_return).
    Override(Expr),
    /// `system(fmt, ...)` and `cat(fmt, ...)`: the runtime runs the
    /// command or prints the file; `id` indexes `Program::printfs`.
    System {
        /// Its index in the table the variant's doc names.
        id: usize,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `cat(fmt, ...)`: as `System`, the file is printed.
    Cat {
        /// Its index in the table the variant's doc names.
        id: usize,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `time()` / `time(fmt)`; `id` indexes `Program::time_formats`.
    Time {
        /// Its index in the table the variant's doc names.
        id: usize,
    },
    /// `join(argv, sep)`: the strings of a NULL-terminated array of string
    /// pointers, printed on one line; `id` indexes `Program::join_separators`.
    Join {
        /// Its index in the table the variant's doc names.
        id: usize,
        /// The address of the array of string pointers.
        argv: Expr,
    },
    /// `exit()` / `exit(code)`: ask the runtime to stop, and leave this probe.
    Exit {
        /// The exit status.
        code: i32,
    },
    /// An expression evaluated for its side effects (none today but calls).
    Expr(Expr),
}

/// What the runtime does to a whole map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapCommand {
    /// `clear(@m)`: remove every element.
    Clear,
    /// `zero(@m)`: set every value to zero.
    Zero,
    /// `print(@m, top, div)`: print it now.
    Print {
        /// Print only the `top` greatest elements; 0 prints all.
        top: u64,
        /// Divide each value by `div` before printing.
        div: u64,
    },
}

/// How an assignment to a map updates its element.
#[derive(Clone, Debug, PartialEq)]
pub enum MapUpdate {
    /// `@m = v`.
    Set(Expr),
    /// `count()`.
    Count,
    /// `sum(v)`.
    Sum(Expr),
    /// `min(v)`.
    Min(Expr),
    /// `max(v)`.
    Max(Expr),
    /// `avg(v)`.
    Avg(Expr),
    /// `stats(v)`.
    Stats(Expr),
    /// `hist(v)`: the bucket of `v`, as [`MapValue::Hist`] splits them.
    Hist(Expr),
    /// `lhist(v, ...)`: the bucket of `v`, as [`MapValue::Lhist`] says.
    Lhist(Expr),
}

/// An expression, with its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// The type of its value.
    pub ty: Type,
    /// Where it stands in the source.
    pub span: Span,
}

/// What an expression computes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer constant, as its 64-bit pattern.
    Int(u64),
    /// A string constant.
    Str(String),
    /// A builtin read through a helper.
    Builtin(Builtin),
    /// A field of the tracepoint's record (`args.NAME`).
    TracepointField(TracepointField),
    /// A variable's value.
    Var(VarId),
    /// Reading a map's value (a plain value, or an aggregation's value
    /// combined across CPUs); a missing key reads as zero.
    MapRead {
        /// The map.
        map: MapId,
        /// Its keys, in order.
        keys: Vec<Expr>,
    },
    /// An integer value given another type for printing (`strftime`'s
    /// nanoseconds, `username`'s uid); stored as its 8 bytes.
    Retype(Box<Expr>),
    /// `ntop(af, addr)`: an IPv4 address held in an integer (its bytes in
    /// memory order, as the kernel keeps them), or 16 bytes of IPv6.
    Ntop {
        /// The address family.
        af: Box<Expr>,
        /// The address.
        addr: Box<Expr>,
    },
    /// A call of a pure function (`strlen(s)`, `strncmp(a, b, n)`,
    /// `strcontains(h, n)`, `bswap(x)`): `function` names its row in
    /// [`crate::check::functions::FUNCTIONS`], which gives the kinds of its
    /// arguments (a constant argument is an `Int`), and the row of the
    /// same name in code generation's table lowers it.
    Call {
        /// The name of its row in the checker's table of functions.
        function: &'static str,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `has_key(@m, key)`: 1 when the key is in the map.
    HasKey {
        /// The map.
        map: MapId,
        /// Its keys, in order.
        keys: Vec<Expr>,
    },
    /// `len(@m)`: the number of elements in the map.
    MapLen(MapId),
    /// `-x`, `~x`, `!x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a op b` on integers.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `str(ptr)` / `str(ptr, len)`: copy a NUL-terminated string from
    /// memory; the result's size is `Type::Str::size`.
    StrRead {
        /// The address to read from.
        ptr: Box<Expr>,
        /// The most bytes to keep.
        len: Option<Box<Expr>>,
    },
    /// `probe` in a program attached to many functions through one link
    /// (`uprobe:libc:pthread_*`): the name among these of the function
    /// that fired, by the index its link gave it as its attach cookie.
    ProbeByCookie(Vec<String>),
    /// `str(s, len)` of a string `s` (a variable, `comm`, a tracepoint's
    /// char array or `__data_loc` string): its first `len` characters at
    /// most, as `str(ptr, len)` reads at most `len` from memory.
    StrPrefix {
        /// The string.
        str: Box<Expr>,
        /// The most bytes to keep.
        len: Box<Expr>,
    },
    /// `buf(p, n)` / `buf(array)`: `len` bytes (at most the type's size;
    /// all of it without `len`) copied from `source`.
    BufRead {
        /// Where the bytes come from.
        source: BufSource,
        /// The most bytes to keep.
        len: Option<Box<Expr>>,
    },
    /// `$x++`, `++$x`, `$x--`, `--$x` in an expression: adds `delta` to
    /// the variable; the value is the new one with `prefix`, else the old.
    VarIncDec {
        /// The variable.
        var: VarId,
        /// What is added: 1 or -1, or for a typed pointer its pointee's
        /// size, either sign.
        delta: i64,
        /// Whether the new value is the result.
        prefix: bool,
    },
    /// `@m[k]++` and the like in an expression: as `VarIncDec`, on a map
    /// entry (a missing entry counts from zero).
    MapIncDec {
        /// The map.
        map: MapId,
        /// Its keys, in order.
        keys: Vec<Expr>,
        /// What is added: as `VarIncDec`'s.
        delta: i64,
        /// Whether the new value is the result.
        prefix: bool,
    },
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
    Ternary {
        /// The condition.
        cond: Box<Expr>,
        /// What runs when it holds.
        then: Box<Expr>,
        /// What runs when it does not.
        else_: Box<Expr>,
    },
    /// `(uint8)e`: truncated (and sign-extended) to the type's width.
    Cast(Box<Expr>),
    /// `p->field`, `*p`, `p[i]`: `size` bytes read from memory at `addr`
    /// through the probe-read helper of its address space (a failed read
    /// gives zeroes, as in bpftrace). The value is an integer or pointer
    /// of the expression's type, or a string of `size` bytes for a char
    /// array.
    Load {
        /// The address read from.
        addr: Box<Expr>,
        /// Whether it is a user-space address (`bpf_probe_read_user`).
        user: bool,
        /// The bytes read.
        size: u32,
        /// For a bit field: its bits within the bytes read.
        bitfield: Option<LoadBits>,
    },
    /// A member or element of a struct, union or array value held in a
    /// variable, a map or a tuple (`$s.x`, `@s.name`, `$a[1]`): `size`
    /// bytes at `offset` in `value`'s bytes, read as the expression's type
    /// (an integer, a pointer, a string of `size` bytes for a char array,
    /// or a smaller struct or array value).
    Member {
        /// The struct, union or array value.
        value: Box<Expr>,
        /// Bytes from the value's start.
        offset: u32,
        /// The member's bytes (for a bit field, the bytes holding its bits).
        size: u32,
        /// For a bit field: its bits within those bytes.
        bitfield: Option<LoadBits>,
    },
    /// A struct value (the expression's [`Type::CValue`]) built from the
    /// values of its members, each stored at its offset (integers at their
    /// width, strings as char arrays), padding zeroed: `args` as a whole,
    /// or any record a probe makes of its arguments.
    Record(Vec<RecordMember>),
    /// `(a, b, ...)`: a tuple built from its elements.
    Tuple(Vec<Expr>),
    /// `t.N`: element `index` of a tuple (checked to be in range).
    TupleIndex {
        /// The operand.
        expr: Box<Expr>,
        /// Which element.
        index: u32,
    },
    /// `a == b` / `a != b` on strings (`ne` for `!=`), compared up to the
    /// first NUL; on struct, union or array values of one type, and on
    /// buffers (their count, then their bytes), compared byte for byte.
    StrEq {
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
        /// Whether the test is `!=`.
        ne: bool,
    },
}

/// One member of an [`ExprKind::Record`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecordMember {
    /// Bytes from the record's start.
    pub offset: u32,
    /// Its value: an integer, a pointer or a string.
    pub value: Expr,
}

/// Where a bit field's bits are in the bytes a [`ExprKind::Load`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadBits {
    /// Bits below the field's lowest bit.
    pub shift: u32,
    /// The field's width in bits.
    pub width: u32,
}

/// Where `buf()` reads its bytes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BufSource {
    /// Memory at an address: user memory for a user pointer, kernel memory
    /// for a kernel one, either for a plain integer.
    Memory(Box<Expr>),
    /// The bytes of a string value, NUL-padded past its end, or of an
    /// array value.
    Str(Box<Expr>),
    /// An array field of the tracepoint's record.
    Field(TracepointField),
}

/// A builtin whose value a helper gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// The process id (the thread group's id).
    Pid,
    /// The thread id.
    Tid,
    /// The user id.
    Uid,
    /// The group id.
    Gid,
    /// The task's command name.
    Comm,
    /// Nanoseconds since boot.
    Nsecs,
    /// Nanoseconds since the program started.
    Elapsed,
    /// The CPU it runs on.
    Cpu,
    /// A pseudo-random number.
    Rand,
    /// The task's cgroup id.
    Cgroup,
    /// The current task's `struct task_struct` (`curtask`).
    CurTask,
    /// The kernel's jiffies.
    Jiffies,
    /// The NUMA node it runs on.
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
