//! What the runtime must know to run a compiled object and print its results:
//! which programs attach where, the byte layout of every map and event, and
//! where each instruction came from in the source.
//!
//! This and the ELF bytes are the whole contract between the compiler and the
//! runtime; the runtime never sees the AST.

use rbpf_lang::Span;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    /// One entry per BPF program in the ELF, in section order.
    pub programs: Vec<ProgramInfo>,
    /// The user's maps (`@name`), sorted by name: the order they are printed in.
    pub maps: Vec<MapInfo>,
    /// printf formats, indexed by [`EventHeader`] ids of kind printf.
    pub printfs: Vec<PrintfFormat>,
    /// Name of the ring buffer map that carries events, if the program has any.
    pub ringbuf: Option<String>,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ringbuf_size: u32,
    /// An ARRAY map of one u64 (key: u32 0) into which the runtime writes
    /// the monotonic time (CLOCK_MONOTONIC, as bpf_ktime_get_ns) just
    /// before BEGIN runs; `elapsed` is measured from it.
    pub start_time_map: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProgramInfo {
    /// The function symbol name in the ELF (what aya looks programs up by).
    pub name: String,
    /// The ELF section name, e.g. `tracepoint/syscalls/sys_enter_execve`.
    pub section: String,
    pub attach: Attach,
    /// Source span of each instruction, by instruction index (one entry per
    /// 8-byte slot; the second half of an `ld_imm64` repeats the first).
    pub spans: Vec<Span>,
    /// The probe as the user wrote it, for messages.
    pub probe_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attach {
    /// Run once before any other probe is attached.
    Begin,
    /// Run once after every other probe is detached.
    End,
    Tracepoint { category: String, name: String },
    /// A perf software cpu-clock event on one CPU, firing every `period_ns`.
    Interval { period_ns: u64 },
}

impl Attach {
    /// BEGIN and END run once through BPF_PROG_TEST_RUN as raw tracepoint
    /// programs; they attach to nothing.
    pub fn is_special(&self) -> bool {
        matches!(self, Attach::Begin | Attach::End)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapInfo {
    /// As the user wrote it, with the `@`: `@c`, or `@` for the anonymous map.
    pub name: String,
    /// The map's name in the ELF symbol table / kernel (at most 15 bytes).
    pub bpf_name: String,
    /// True when the kernel map is BPF_MAP_TYPE_PERCPU_HASH: the runtime
    /// combines the per-CPU values according to `value`.
    pub percpu: bool,
    pub max_entries: u32,
    /// Key fields in order; empty for a map used without keys (its kernel key
    /// is then one u64 zero).
    pub key: Vec<Field>,
    pub key_size: u32,
    pub value: MapValue,
    pub value_size: u32,
}

/// How a map's value is stored and combined across CPUs.
#[derive(Clone, Debug, PartialEq)]
pub enum MapValue {
    /// A plain value from `@m = expr` (not per-CPU).
    Plain(ValueType),
    /// u64 per CPU, summed.
    Count,
    /// i64 or u64 per CPU, summed.
    Sum { signed: bool },
    /// per CPU `{ value: i64/u64, set: u64 }` (16 bytes): the minimum of the set ones.
    Min { signed: bool },
    /// per CPU `{ value: i64/u64, set: u64 }` (16 bytes): the maximum of the set ones.
    Max { signed: bool },
    /// per CPU `{ sum: i64/u64, count: u64 }` (16 bytes): sum of sums / sum of counts.
    Avg { signed: bool },
}

/// One field of a key, event or printf argument record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u32,
    pub ty: ValueType,
}

/// The byte representation of a value in a map or event record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A little-endian integer of `size` bytes (1, 2, 4 or 8).
    Int { size: u8, signed: bool },
    /// A NUL-padded string buffer of `size` bytes.
    Str { size: u32 },
}

impl ValueType {
    pub fn size(&self) -> u32 {
        match self {
            ValueType::Int { size, .. } => u32::from(*size),
            ValueType::Str { size } => *size,
        }
    }
}

/// Every ring buffer record starts with this 8-byte header: a little-endian
/// u32 kind and a u32 id whose meaning depends on the kind.
pub mod event {
    /// `id` indexes `Manifest::printfs`; the arguments follow the header.
    pub const PRINTF: u32 = 1;
    /// `exit()`: stop tracing. `id` is unused (0).
    pub const EXIT: u32 = 2;
    pub const HEADER_SIZE: u32 = 8;
}

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
    pub elf: Vec<u8>,
    pub manifest: Manifest,
}
