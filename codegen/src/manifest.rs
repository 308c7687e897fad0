//! What the runtime must know to run a compiled object and print its results:
//! which programs attach where, the byte layout of every map and event, and
//! where each instruction came from in the source.
//!
//! This and the ELF bytes are the whole contract between the compiler and the
//! runtime; the runtime never sees the AST.

use rbpf_lang::Span;

/// How an [`Attach`] names a watchpoint's accesses, a perf counter and its
/// sampling, and a place in a binary: as the checker resolved them.
pub use rbpf_lang::probes::{PerfCounter, PerfSample, UprobeLocation, WatchMode};

/// Everything about an object that is not BPF code: see the module doc.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    /// One entry per BPF program in the ELF, in section order.
    pub programs: Vec<ProgramInfo>,
    /// The user's maps (`@name`), sorted by name: the order they are printed in.
    pub maps: Vec<MapInfo>,
    /// printf formats, indexed by the id of [`event::PRINTF`] records (and
    /// of `event::SYSTEM` and `event::CAT`).
    pub printfs: Vec<PrintfFormat>,
    /// Name of the ring buffer map that carries events, if the program has any.
    pub ringbuf: Option<String>,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ringbuf_size: u32,
    /// An ARRAY map of one u64 (key: u32 0) into which the runtime writes
    /// the monotonic time (CLOCK_MONOTONIC, as bpf_ktime_get_ns) just
    /// before BEGIN runs; `elapsed` is measured from it.
    pub start_time_map: Option<String>,
    /// strftime formats (as the user wrote them, escapes decoded), indexed
    /// by the id of `event::TIME` records and by `ValueType::Timestamp`.
    pub time_formats: Vec<String>,
    /// Values printed by `print(value)`, indexed by the id of
    /// `event::PRINT_VALUE` records: the value's layout after the header.
    pub print_values: Vec<ValueType>,
    /// `join()` separators, indexed by the id of `event::JOIN` records.
    pub join_separators: Vec<String>,
    /// The pcap files `skboutput()` writes, indexed by the id in the
    /// header of the [`SKB_OUTPUT_MAP`]'s records ([`skb_output`]).
    pub skb_outputs: Vec<String>,
    /// Pages of each CPU's ring of the [`SKB_OUTPUT_MAP`] (a power of
    /// two): BPFTRACE_PERF_RB_PAGES, as bpftrace sizes its perf buffers.
    pub skb_output_pages: u32,
    /// A per-CPU ARRAY map of one u64 (key: u32 0) counting the ring buffer
    /// records the kernel could not reserve; the runtime reports increases
    /// as lost events, as bpftrace does.
    pub lost_events_map: Option<String>,
}

/// One BPF program of the object and what it attaches to.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramInfo {
    /// The function symbol name in the ELF (what the loader looks programs up by).
    pub name: String,
    /// The ELF section name, e.g. `tracepoint/syscalls/sys_enter_execve`.
    pub section: String,
    /// Where the runtime attaches it.
    pub attach: Attach,
    /// Source span of each instruction, by instruction index (one entry per
    /// 8-byte slot; the second half of an `ld_imm64` repeats the first).
    pub spans: Vec<Span>,
    /// The probe as the user wrote it, for messages.
    pub probe_name: String,
    /// Whether the runtime skips it, with a warning, when the kernel
    /// refuses to attach it instead of stopping: a single kprobe of a list
    /// or a wildcard, as bpftrace does.
    pub optional: bool,
}

/// Where a program attaches, as the runtime needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attach {
    /// Run once before any other probe is attached.
    Begin,
    /// Run once after every other probe is detached.
    End,
    /// `tracepoint:CATEGORY:NAME`.
    Tracepoint {
        /// The tracepoint's category (its tracefs events directory).
        category: String,
        /// The tracepoint's name within the category.
        name: String,
    },
    /// The program of `tracepoint:CATEGORY:NAME` run as a tail call at
    /// `index` of the program array `table`, from a [`Attach::Dispatcher`]
    /// (many syscall tracepoints sharing raw_syscalls). Its place in the
    /// table is its attachment.
    TailCall {
        /// The program array map's name.
        table: String,
        /// The slot of the program array.
        index: u32,
        /// The tracepoint's category.
        category: String,
        /// The tracepoint's name.
        name: String,
    },
    /// Attached to `tracepoint:CATEGORY:NAME`, it runs the tail calls of
    /// `table`; not a probe of the user's (not counted as one).
    Dispatcher {
        /// The category of the tracepoint it attaches to.
        category: String,
        /// The name of the tracepoint it attaches to.
        name: String,
        /// The program array map whose programs it tail-calls.
        table: String,
    },
    /// A perf software cpu-clock event on one CPU, firing every `period_ns`.
    Interval {
        /// Nanoseconds between two runs.
        period_ns: u64,
    },
    /// A raw tracepoint (BPF_PROG_TYPE_RAW_TRACEPOINT) by its name.
    RawTracepoint {
        /// The raw tracepoint's name (`sched_switch`).
        name: String,
    },
    /// A perf counter opened on every online CPU, the same program attached
    /// to each (`profile`, `software`, `hardware`).
    PerfEvent {
        /// Which counter.
        counter: PerfCounter,
        /// How often it runs the program.
        sample: PerfSample,
    },
    /// A user-space function's entry, or its return with `ret`; with
    /// `pid`, in that process alone (perf_event_open's pid).
    Uprobe {
        /// The binary or library, as a path.
        path: String,
        /// Where in it.
        location: UprobeLocation,
        /// A uretprobe: on return.
        ret: bool,
        /// The only process to trace, if one.
        pid: Option<u32>,
    },
    /// The entries or returns of many functions of one binary through one
    /// multi-attach link (BPF_TRACE_UPROBE_MULTI); the runtime loads the
    /// program with that attach type itself, finds the functions' offsets
    /// and skips, with a warning, those the kernel cannot probe.
    UprobeMulti {
        /// The binary or library, as a path.
        path: String,
        /// The functions, by their symbols.
        funcs: Vec<String>,
        /// On their returns rather than entries.
        ret: bool,
        /// The only process to trace, if one.
        pid: Option<u32>,
    },
    /// A kernel function's entry (`offset` bytes in), or its return.
    Kprobe {
        /// The kernel function.
        func: String,
        /// Bytes into the function (0: its entry).
        offset: u64,
        /// A kretprobe: on return.
        ret: bool,
    },
    /// The entries or returns of many kernel functions through one
    /// multi-attach link (BPF_TRACE_KPROBE_MULTI); the runtime loads the
    /// program with that attach type itself.
    KprobeMulti {
        /// The kernel functions.
        funcs: Vec<String>,
        /// On their returns rather than entries.
        ret: bool,
    },
    /// A kernel function's entry or return through a BPF trampoline; the
    /// program is loaded against the function's BTF.
    Fentry {
        /// The kernel function.
        func: String,
        /// The module whose BTF describes it (its BTF object is the
        /// program's attach target); `None` for vmlinux's.
        module: Option<String>,
        /// fexit: on return.
        ret: bool,
    },
    /// A BPF iterator (BPF_TRACE_ITER), loaded against the BTF function
    /// `bpf_iter_NAME`: the runtime reads it once to its end and writes
    /// what the program printed, or pins its link at `pin` in bpffs.
    Iter {
        /// The iterator: `task` or `task_file`.
        name: String,
        /// Where to pin the link (relative to /sys/fs/bpf unless absolute).
        pin: Option<String>,
    },
    /// A USDT probe site: a uprobe at file `offset` in `path` that, while
    /// attached, raises the probe's semaphore at file offset
    /// `semaphore_offset` in every process that maps the file (the
    /// kernel's uprobe reference counter); with `pid`, in that process
    /// alone.
    Usdt {
        /// The binary or library holding the probe.
        path: String,
        /// The probe site's file offset.
        offset: u64,
        /// The semaphore's file offset, if the probe has one.
        semaphore_offset: Option<u64>,
        /// The only process to trace, if one.
        pid: Option<u32>,
    },
    /// A hardware breakpoint (PERF_TYPE_BREAKPOINT) on `length` bytes at
    /// `address`. The runtime opens it for the followed process (`-p`,
    /// `-c`) when there is one, else on every online CPU for the kernel.
    Watchpoint {
        /// The watched address.
        address: u64,
        /// How many bytes from it (1, 2, 4 or 8).
        length: u8,
        /// Which accesses fire it.
        mode: WatchMode,
    },
    /// The hardware breakpoint of `watchpoint:FUNC+argN`: attached at run
    /// time, in the followed process, at each address its
    /// [`Attach::WatchpointSetup`] program reports in an
    /// [`event::WATCHPOINT`] record.
    WatchpointFunction {
        /// How many bytes from the address (1, 2, 4 or 8).
        length: u8,
        /// Which accesses fire it.
        mode: WatchMode,
    },
    /// The uprobe on `func` in `path` (in the followed process alone) that
    /// sends the address a [`Attach::WatchpointFunction`] program is to
    /// watch. Unless `asynchronous` it stops the process (SIGSTOP), and
    /// the runtime lets it go on (SIGCONT) once the breakpoint is in place.
    WatchpointSetup {
        /// The binary the function is in.
        path: String,
        /// The function.
        func: String,
        /// The program whose breakpoint it places: an index into
        /// [`Manifest::programs`].
        watch: u32,
        /// `asyncwatchpoint`: the process is not stopped.
        asynchronous: bool,
    },
}

impl Attach {
    /// BEGIN and END run once through BPF_PROG_TEST_RUN as raw tracepoint
    /// programs; they attach to nothing.
    pub fn is_special(&self) -> bool {
        matches!(self, Attach::Begin | Attach::End)
    }
}

/// One of the user's maps: its kernel map and how to decode and print it.
#[derive(Clone, Debug, PartialEq)]
pub struct MapInfo {
    /// As the user wrote it, with the `@`: `@c`, or `@` for the anonymous map.
    pub name: String,
    /// The map's name in the ELF symbol table / kernel (at most 15 bytes).
    pub bpf_name: String,
    /// True when the kernel map is per-CPU (BPF_MAP_TYPE_PERCPU_HASH or
    /// _ARRAY): the runtime combines the per-CPU values according to `value`.
    pub percpu: bool,
    /// True when the kernel map is an array indexed by a u32 rather than a
    /// hash (`key_size` 4), for a map without keys: a `hist()` or `lhist()`
    /// whose key is the bucket index (`max_entries` the number of buckets;
    /// every bucket exists, one that counted nothing holds zero), a
    /// `count()` in the one element, or a plain value in the one element,
    /// followed by a u64 that is 1 once the value was set
    /// ([`MapInfo::kernel_value_size`]).
    pub array: bool,
    /// The kernel map's capacity.
    pub max_entries: u32,
    /// Key fields in order; empty for a map used without keys (its kernel key
    /// is then one u64 zero).
    pub key: Vec<Field>,
    /// The kernel key's size in bytes.
    pub key_size: u32,
    /// The value's kind and layout.
    pub value: MapValue,
    /// The value's size in bytes, per CPU for a per-CPU map.
    pub value_size: u32,
}

impl MapInfo {
    /// The size of the kernel map's value: `value_size`, and the set flag
    /// of a plain value in an array ([`MapInfo::array`]) at offset
    /// `value_size`.
    pub fn kernel_value_size(&self) -> u32 {
        if self.has_set_flag() {
            self.value_size + 8
        } else {
            self.value_size
        }
    }

    /// The kernel map type (`crate::elf::map_type`) and its name as
    /// bpftool prints it: from [`MapInfo::array`] and [`MapInfo::percpu`].
    pub fn map_type(&self) -> (u32, &'static str) {
        use crate::elf::map_type;
        match (self.array, self.percpu) {
            (true, true) => (map_type::PERCPU_ARRAY, "percpu_array"),
            (true, false) => (map_type::ARRAY, "array"),
            (false, true) => (map_type::PERCPU_HASH, "percpu_hash"),
            (false, false) => (map_type::HASH, "hash"),
        }
    }

    /// Whether the value is followed by a set flag ([`MapInfo::array`]).
    pub fn has_set_flag(&self) -> bool {
        self.array && matches!(self.value, MapValue::Plain(_))
    }
}

/// How a map's value is stored and combined across CPUs.
#[derive(Clone, Debug, PartialEq)]
pub enum MapValue {
    /// A plain value from `@m = expr` (not per-CPU).
    Plain(ValueType),
    /// u64 per CPU, summed.
    Count,
    /// i64 or u64 per CPU, summed.
    Sum {
        /// Whether the values are i64.
        signed: bool,
    },
    /// per CPU `{ value: i64/u64, set: u64 }` (16 bytes): the minimum of the set ones.
    Min {
        /// Whether the values are i64.
        signed: bool,
    },
    /// per CPU `{ value: i64/u64, set: u64 }` (16 bytes): the maximum of the set ones.
    Max {
        /// Whether the values are i64.
        signed: bool,
    },
    /// per CPU `{ sum: i64/u64, count: u64 }` (16 bytes): sum of sums / sum of counts.
    Avg {
        /// Whether the values are i64.
        signed: bool,
    },
    /// Same layout as `Avg`; printed as `count N, average A, total T`.
    Stats {
        /// Whether the values are i64.
        signed: bool,
    },
    /// `hist(n, bits)`: the kernel key is the user's key followed by a u64
    /// bucket index ([`hist_index`]) at offset `key_size - 8`; the value is a
    /// u64 count per CPU, summed. `key` lists the user's key fields only.
    Hist {
        /// Sub-buckets per power of two, as a power of two (0..=5).
        bits: u8,
    },
    /// `lhist(n, min, max, step)`: keyed like `Hist`, by [`lhist_index`].
    Lhist {
        /// The first bucket's low bound.
        min: i64,
        /// Where the last bucket starts.
        max: i64,
        /// Each bucket's width.
        step: i64,
    },
}

/// The bucket of `value` in a `hist(n, bits)` (bits 0..=5), the same
/// layout bpftrace prints: index 0 holds the negative values; values below
/// `2^(bits+1)` get a bucket each (index `1 + v`); above, each power of two
/// `[2^n, 2^(n+1))` is split into `2^bits` equal buckets. Codegen computes
/// the same index in BPF; the runtime turns an index back into its range
/// with [`hist_bounds`].
pub fn hist_index(value: i64, bits: u8) -> u64 {
    if value < 0 {
        return 0;
    }
    let v = value as u64;
    let k = u32::from(bits);
    if v < 1 << (k + 1) {
        return 1 + v;
    }
    let n = 63 - v.leading_zeros();
    let sub = (v >> (n - k)) & ((1 << k) - 1);
    1 + (1 << (k + 1)) + u64::from(n - k - 1) * (1 << k) + sub
}

/// The values of bucket `index` of a `hist(n, bits)`: `None` for the
/// negative bucket, else the half-open range `[lo, hi)` (`hi` is `None`
/// past `u64::MAX`).
pub fn hist_bounds(index: u64, bits: u8) -> Option<(u64, Option<u64>)> {
    let k = u32::from(bits);
    if index == 0 {
        return None;
    }
    let exact = 1u64 << (k + 1);
    if index <= exact {
        return Some((index - 1, Some(index)));
    }
    let rest = index - 1 - exact;
    let n = k + 1 + (rest >> k) as u32;
    let sub = rest & ((1 << k) - 1);
    let width = 1u64 << (n - k);
    let lo = (1u64 << n) + sub * width;
    Some((lo, lo.checked_add(width)))
}

/// The bucket of `value` in an `lhist(n, min, max, step)`: 0 below `min`,
/// `1 + (value - min) / step` inside, `(max - min) / step + 1` at or above
/// `max` (the last bucket).
pub fn lhist_index(value: i64, min: i64, max: i64, step: i64) -> u64 {
    if value < min {
        0
    } else if value >= max {
        ((max - min) / step + 1) as u64
    } else {
        1 + ((value - min) / step) as u64
    }
}

/// One field of a key, event or printf argument record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Bytes from the start of the record (or key, or tuple).
    pub offset: u32,
    /// Its layout.
    pub ty: ValueType,
}

/// The byte representation of a value in a map or event record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A little-endian integer of `size` bytes (1, 2, 4 or 8).
    Int {
        /// Bytes: 1, 2, 4 or 8.
        size: u8,
        /// Whether it is read as two's complement.
        signed: bool,
    },
    /// A NUL-padded string buffer of `size` bytes.
    Str {
        /// The buffer's bytes, NUL padding included.
        size: u32,
    },
    /// A u8 0 or 1: printed `true`/`false` (`%d` prints 1/0).
    Bool,
    /// `buf(p, n)`: a u8 length then `size` bytes; printed as bpftrace
    /// prints buffers (printable ASCII as is, other bytes as `\xNN`).
    Buf {
        /// The bytes after the length.
        size: u32,
    },
    /// A tuple: its fields, offsets relative to the tuple's start; `size`
    /// is the whole, padding included. Printed `(a, b)`.
    Tuple {
        /// The items, in order.
        fields: Vec<Field>,
        /// The whole tuple's bytes.
        size: u32,
    },
    /// `strftime(fmt, nsecs)`: a u64 of nanoseconds since boot
    /// (bpf_ktime_get_boot_ns), printed in local time with
    /// `Manifest::time_formats[format]` (strftime conversions plus `%f`,
    /// microseconds).
    Timestamp {
        /// Index into `Manifest::time_formats`.
        format: u32,
    },
    /// `username`: a u64 uid, printed as the user's name from /etc/passwd
    /// (the number if there is none).
    Username,
    /// `macaddr(p)`: 6 bytes, printed as `00:1A:2B:3C:4D:5E`.
    Macaddr,
    /// `strerror(n)`: a u64 errno, printed as strerror(3) text.
    Errno,
    /// `cgroup_path(id [, filter])`: a u64 cgroup id, printed as its path
    /// in each mounted cgroup hierarchy whose name matches `filter`
    /// (`name:path`, joined by commas; cgroup2 is named `unified`).
    CgroupPath {
        /// The glob the hierarchy names must match; `None` takes all.
        filter: Option<String>,
    },
    /// A u64 kernel address, printed as the name of the kernel symbol that
    /// contains it (from /proc/kallsyms).
    Ksym,
    /// `usym(addr)`: a u64 user address, then the u64 pid of the process
    /// it is in; printed as the name of the symbol that contains it.
    Usym,
    /// `kstack` / `ustack`: a u64 whose low 32 bits are a stack id in the
    /// stack-trace map `map` (negative: the capture failed; with
    /// [`HASHED_STACK_ID`] set: in the hash map [`hashed_stack_map`]) and
    /// whose high 32 bits are the pid whose user stack it is; printed as
    /// the frames' symbols, as bpftrace prints stacks in `mode`.
    Stack {
        /// The stack-trace map holding the frames.
        map: String,
        /// A user stack: symbols of the process, not of the kernel.
        user: bool,
        /// How the frames print.
        mode: rbpf_lang::types::StackMode,
        /// The most frames the map keeps.
        limit: u8,
        /// The spaces before each frame in bpftrace's mode: 4 in a map
        /// key, 8 elsewhere (values, printf, tuples), as bpftrace 0.17.
        indent: u8,
    },
    /// `ntop(af, addr)`: a u64 address family (AF_INET 2, AF_INET6 10)
    /// then 16 address bytes; printed as inet_ntop does.
    Inet,
    /// A C struct or union value: its members, in declaration order (a
    /// union's all at offset 0). Printed `{ .x = 1, .name = abc }`, or
    /// `{.x=1,.name=abc}` in a map key, as bpftrace prints records.
    Record {
        /// The members that print, offsets from the record's start.
        members: Vec<NamedField>,
        /// The record's bytes, padding included.
        size: u32,
    },
    /// A C array value (other than a char array, which is a `Str`):
    /// `len` elements one after the other, printed `[1,2,3]`.
    Array {
        /// The element's layout.
        element: Box<ValueType>,
        /// The number of elements.
        len: u32,
    },
    /// A C `float` (4 bytes) or `double` (8) member of a record,
    /// printed as a decimal number.
    Float {
        /// Bytes: 4 or 8.
        size: u8,
    },
    /// A u64 address held in a typed pointer, in a map key (alone, or a
    /// member of a record or tuple there): printed `0x7fffffffe6d0`, as
    /// bpftrace 0.17 prints pointers in keys. Elsewhere a pointer is an
    /// unsigned [`ValueType::Int`], printed in decimal as bpftrace does.
    Pointer,
    /// A bit field of a record: `width` bits, `shift` bits up from the
    /// lowest of its `size` little-endian bytes; read as unsigned, as
    /// bpftrace reads bit fields.
    BitField {
        /// Bytes holding its bits: 1, 2, 4 or 8.
        size: u8,
        /// Bits below its lowest bit.
        shift: u8,
        /// Its bits.
        width: u8,
    },
}

/// A named member of a [`ValueType::Record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedField {
    /// The member's name.
    pub name: String,
    /// Where it is and its layout.
    pub field: Field,
}

impl ValueType {
    /// The bytes the value takes in a record or map slot.
    pub fn size(&self) -> u32 {
        match self {
            ValueType::Int { size, .. } => u32::from(*size),
            ValueType::Str { size } => *size,
            ValueType::Bool => 1,
            ValueType::Buf { size } => 1 + *size,
            ValueType::Tuple { size, .. } => *size,
            ValueType::Timestamp { .. }
            | ValueType::Username
            | ValueType::Errno
            | ValueType::CgroupPath { .. }
            | ValueType::Ksym
            | ValueType::Pointer
            | ValueType::Stack { .. } => 8,
            ValueType::Usym => 16,
            ValueType::Macaddr => 6,
            ValueType::Inet => 24,
            ValueType::Record { size, .. } => *size,
            ValueType::Array { element, len } => element.size().saturating_mul(*len),
            ValueType::BitField { size, .. } | ValueType::Float { size } => u32::from(*size),
        }
    }
}

/// Every ring buffer record starts with this 8-byte header: a little-endian
/// u32 kind and a u32 id whose meaning depends on the kind.
pub mod event {
    /// `id` indexes `Manifest::printfs`; the arguments follow the header.
    pub const PRINTF: u32 = 1;
    /// `exit()` / `exit(code)`: stop tracing; `id` is the process exit
    /// status (an i32; 0 for `exit()`).
    pub const EXIT: u32 = 2;
    /// `print(@m)` / `print(@m, top, div)`: `id` indexes `Manifest::maps`;
    /// a u64 `top` (0: all entries) and a u64 `div` (1: as is) follow.
    pub const PRINT_MAP: u32 = 3;
    /// `clear(@m)`: delete every entry; `id` indexes `Manifest::maps`.
    pub const CLEAR_MAP: u32 = 4;
    /// `zero(@m)`: set every value to zero, keeping the keys.
    pub const ZERO_MAP: u32 = 5;
    /// `print(value)`: `id` indexes `Manifest::print_values`; the value
    /// follows the header.
    pub const PRINT_VALUE: u32 = 6;
    /// `time()` / `time(fmt)`: print the wall-clock time with
    /// `Manifest::time_formats[id]`.
    pub const TIME: u32 = 7;
    /// `system(fmt, ...)`: `id` indexes `Manifest::printfs`; the command is
    /// formatted like a printf and run with `sh -c`, its output passed on.
    pub const SYSTEM: u32 = 8;
    /// `cat(fmt, ...)`: `id` indexes `Manifest::printfs`; the formatted
    /// path's contents are printed.
    pub const CAT: u32 = 9;
    /// `join(argv, sep)`: `id` indexes `Manifest::join_separators`; a u32
    /// slot count and a u32 slot size follow, then the slots (NUL-padded
    /// strings); the first empty slot ends the list.
    pub const JOIN: u32 = 10;
    /// A user stack of process `id` was captured for the first time: the
    /// runtime reads its mappings and symbols now, while it lives, so that
    /// its stacks are still named after it exits.
    pub const STACK_PID: u32 = 11;
    /// A helper call failed (`-k`, `-kk`); the id is the helper's number,
    /// then the error (i64) and the call's source span (start and end,
    /// u32 each, in the checked program's text).
    pub const HELPER_ERROR: u32 = 12;
    /// `watchpoint:FUNC+argN`: watch the address (a u64 after the header)
    /// with the program at index `id` of `Manifest::programs`, in the
    /// followed process; its setup uprobe stopped the process unless it
    /// is an `asyncwatchpoint`.
    pub const WATCHPOINT: u32 = 13;
    /// `unwatch(addr)`: remove the watchpoints on the address (a u64
    /// after the header; `id` is 0), and forget it in
    /// [`WATCHED_MAP`](super::WATCHED_MAP) so that a later call can watch
    /// it again.
    pub const UNWATCH: u32 = 14;
    /// The header's size: the kind and the id, two u32s.
    pub const HEADER_SIZE: u32 = 8;
}

/// A printf-like format (printf, system, cat) and where its arguments lie
/// in the record.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintfFormat {
    /// The format string with escapes decoded, as the user wrote it.
    pub format: String,
    /// Where each argument lies in the record, offsets counted from the start
    /// of the record (so the first one is at least `event::HEADER_SIZE`).
    pub args: Vec<Field>,
    /// Total record size in bytes.
    pub size: u32,
}

/// A compiled program: the BPF ELF relocatable and what the runtime needs to
/// run it. Either half alone is useless; they travel together.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The BPF ELF relocatable ([`crate::elf`]).
    pub elf: Vec<u8>,
    /// What the runtime needs besides the code.
    pub manifest: Manifest,
}

/// The hash map of the (program, address) pairs `watchpoint:FUNC+argN`
/// placed or gave up on: key a u32 index into `Manifest::programs` and a
/// u64 address (12 bytes), value one byte. The runtime fills it; the
/// setup uprobes send an address found there no more (and stop no
/// process for it).
pub const WATCHED_MAP: &str = "rbpf_watched";

/// The perf event array `skboutput()` sends packets through (one slot per
/// CPU, which the runtime fills with a `PERF_COUNT_SW_BPF_OUTPUT` event):
/// bpf_skb_output writes to no other kind of map.
pub const SKB_OUTPUT_MAP: &str = "rbpf_skb_output";

/// The records of the [`SKB_OUTPUT_MAP`]: a header, then the packet's
/// first `offset + length` bytes, of which the pcap file gets those from
/// `offset` on.
pub mod skb_output {
    /// The header's size: the capture time (u64, bpf_ktime_get_ns), the
    /// file's index in `Manifest::skb_outputs` (u32), the offset (u32).
    pub const HEADER_SIZE: u32 = 16;
}

/// The bit of a stack id that says its frames are in the hash map of
/// [`hashed_stack_map`], not in the stack-trace map: a stack whose slot in
/// the stack-trace map another stack held already (the kernel hashes
/// stacks into as many slots as the map has entries, and refuses the
/// second one) is kept there, under a hash of its frames.
pub const HASHED_STACK_ID: u32 = 0x4000_0000;

/// The hash map holding the `limit`-frame stacks whose ids have
/// [`HASHED_STACK_ID`]: key the id, value the frames.
pub fn hashed_stack_map(limit: u8) -> String {
    format!("rbpf_stackx_{limit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_buckets_are_bpftraces() {
        // hist(n): [0], [1], [2, 4), [4, 8), ...
        assert_eq!(hist_index(-5, 0), 0);
        assert_eq!(hist_bounds(0, 0), None);
        let k0: Vec<_> = [0, 1, 2, 3, 4, 7, 8].iter().map(|&v| hist_index(v, 0)).collect();
        assert_eq!(k0, [1, 2, 3, 3, 4, 4, 5]);
        assert_eq!(hist_bounds(3, 0), Some((2, Some(4))));
        // hist(n, 2): [0]..[7] exact, then [8, 10), [10, 12), ..., [16, 20)
        assert_eq!(hist_index(7, 2), 8);
        assert_eq!(hist_bounds(9, 2), Some((8, Some(10))));
        assert_eq!(hist_bounds(hist_index(17, 2), 2), Some((16, Some(20))));
        assert_eq!(hist_bounds(hist_index(i64::MAX, 0), 0), Some((1 << 62, Some(1 << 63))));
        for bits in 0..=5u8 {
            let mut last = 0;
            for v in (0..5000).chain([i64::MAX / 3, i64::MAX]) {
                let i = hist_index(v, bits);
                let (lo, hi) = hist_bounds(i, bits).unwrap();
                assert!(lo <= v as u64 && hi.is_none_or(|hi| (v as u64) < hi), "{v} in bucket {i} of hist(n, {bits})");
                assert!(i >= last);
                last = i;
            }
        }
    }

    #[test]
    fn lhist_buckets() {
        let b: Vec<_> = [-1, 0, 9, 10, 99, 100, 1000].iter().map(|&v| lhist_index(v, 0, 100, 10)).collect();
        assert_eq!(b, [0, 1, 1, 2, 10, 11, 11]);
    }
}

