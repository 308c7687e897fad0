//! Lowering: the checked program becomes BPF programs, map definitions and
//! the manifest that tells the runtime how to run and print them.
//!
//! Values live in callee-saved registers (r6–r9) so helper calls never force
//! a spill; strings and records are built in place on the stack, in the slot
//! where they are finally needed (a map key, an event record), so nothing is
//! copied twice.

mod branch;
mod buffers;
mod callback;
mod copy;
mod expr;
mod frame;
mod iter;
mod functions;
mod pressure;
mod scratch;
mod stacks;
mod stmt;
mod strings;
mod syscalls;
mod tuple;
mod usdt;
mod values;
mod watchpoint;

use rbpf_lang::checked::{self, MapId};
use rbpf_lang::probes::ProbeKind;
use rbpf_lang::types::Type;
use rbpf_lang::Span;

use crate::elf::{map_type, write_object, ElfFunction, ElfMap, ElfProgram, MapDef};
use crate::insn::{Alu, Builder, Code, Cond, Helper, Reg, Size};
use crate::manifest::{event, Attach, Field, Manifest, MapInfo, MapValue, Object, PrintfFormat, ProgramInfo, ValueType};
use crate::CodegenError;
use frame::{Registers, Slot, Stack};

/// The ring buffer carrying printf and exit events. A power of two of pages.
const RINGBUF_SIZE: u32 = 1 << 20;
/// The ring buffer of a program whose only records come from BEGIN and
/// END (and whose tracing probes only update maps): bpftrace's default
/// perf buffer for one CPU (64 pages), which is all either of those runs
/// on. The kernel maps a ring buffer's data twice, all of it resident: a
/// quarter of the size is 1.5 MiB less memory for the common one-liner.
const QUIET_RINGBUF_SIZE: u32 = 1 << 18;
const RINGBUF_MAP: &str = "rbpf_events";
/// One u64: the monotonic time the session started, for `elapsed`.
const START_TIME_MAP: &str = "rbpf_start";
/// A per-CPU u64 counting the ring buffer records that did not fit.
const LOST_EVENTS_MAP: &str = "rbpf_lost";
/// Per-CPU u64s, one per user map in the manifest's order, counting the
/// updates the kernel refused (a full map): the runtime reports them at
/// exit, naming the map. Found by this name, so objects without it run.
pub const FAILED_UPDATES_MAP: &str = "rbpf_failed_updates";

/// Compiles a checked program.
pub fn compile(program: &checked::Program) -> Result<Object, CodegenError> {
    let maps: Vec<MapInfo> = program.maps.iter().enumerate().map(|(i, m)| map_info(i, m, program.max_map_keys)).collect();
    let printfs: Vec<PrintfFormat> = program.printfs.iter().map(printf_format).collect();
    let layout = Layout { maps: &maps, printfs: &printfs, helper_checks: program.helper_checks };

    let mut codes = Vec::with_capacity(program.probes.len());
    let mut infos = Vec::with_capacity(program.probes.len());
    let mut functions = Vec::new();
    let mut shared = std::collections::BTreeSet::new();
    // Whether a probe that fires any number of times sends records.
    let mut streams = false;
    // The largest scratch element a probe needs (0: no probe needs one).
    let mut scratch_size = 0;
    for (index, probe) in program.probes.iter().enumerate() {
        let generated = ProgramGen::generate(probe, &layout, program.ncpus, index)?;
        scratch_size = scratch_size.max(generated.scratch_size);
        streams |= generated.sends_records && !matches!(probe.kind, ProbeKind::Begin | ProbeKind::End);
        let code = generated.code;
        functions.extend(generated.callbacks);
        shared.extend(generated.shared);
        let (section, attach) = match &probe.kind {
            ProbeKind::Begin => (format!("raw_tracepoint/probe{index}"), Attach::Begin),
            ProbeKind::End => (format!("raw_tracepoint/probe{index}"), Attach::End),
            ProbeKind::Tracepoint { category, name, .. } => (
                format!("tracepoint/{category}/{name}"),
                Attach::Tracepoint { category: category.clone(), name: name.clone() },
            ),
            ProbeKind::Interval { period_ns } => {
                (format!("perf_event/probe{index}"), Attach::Interval { period_ns: *period_ns })
            }
            ProbeKind::RawTracepoint { name } => {
                (format!("raw_tracepoint/probe{index}"), Attach::RawTracepoint { name: name.clone() })
            }
            ProbeKind::PerfEvent { counter, sample } => {
                (format!("perf_event/probe{index}"), Attach::PerfEvent { counter: *counter, sample: *sample })
            }
            ProbeKind::Uprobe { path, location, ret, pid, .. } => {
                let location = location.clone();
                let kind = if *ret { "uretprobe" } else { "uprobe" };
                (format!("{kind}/probe{index}"), Attach::Uprobe { path: path.clone(), location, ret: *ret, pid: *pid })
            }
            ProbeKind::UprobeMulti { path, funcs, ret, pid, .. } => {
                let kind = if *ret { "uretprobe" } else { "uprobe" };
                (format!("{kind}/probe{index}"), Attach::UprobeMulti { path: path.clone(), funcs: funcs.clone(), ret: *ret, pid: *pid })
            }
            ProbeKind::Kprobe { func, offset, ret, .. } => {
                let kind = if *ret { "kretprobe" } else { "kprobe" };
                (format!("{kind}/probe{index}"), Attach::Kprobe { func: func.clone(), offset: *offset, ret: *ret })
            }
            ProbeKind::KprobeMulti { funcs, ret } => {
                let kind = if *ret { "kretprobe" } else { "kprobe" };
                (format!("{kind}/probe{index}"), Attach::KprobeMulti { funcs: funcs.clone(), ret: *ret })
            }
            ProbeKind::Fentry { func, module, ret, .. } => {
                let kind = if *ret { "fexit" } else { "fentry" };
                (format!("{kind}/probe{index}"), Attach::Fentry { func: func.clone(), module: module.clone(), ret: *ret })
            }
            // A USDT site is a uprobe at an offset in the file.
            ProbeKind::Usdt { path, offset, semaphore_offset, pid, .. } => (
                format!("uprobe/probe{index}"),
                Attach::Usdt { path: path.clone(), offset: *offset, semaphore_offset: *semaphore_offset, pid: *pid },
            ),
            ProbeKind::Watchpoint { address, length, mode } => {
                let mode = *mode;
                (format!("perf_event/probe{index}"), Attach::Watchpoint { address: *address, length: *length, mode })
            }
            ProbeKind::WatchpointFunction { length, mode, .. } => {
                (format!("perf_event/probe{index}"), Attach::WatchpointFunction { length: *length, mode: *mode })
            }
            ProbeKind::Iter { name, pin, .. } => {
                (format!("iter/probe{index}"), Attach::Iter { name: name.clone(), pin: pin.clone() })
            }
        };
        // Not a multi-attach link: skipping it would drop every match.
        let optional = probe.optional && matches!(attach, Attach::Kprobe { .. });
        infos.push(ProgramInfo {
            name: format!("probe{index}"),
            section,
            attach,
            spans: code.spans.clone(),
            probe_name: probe.name.clone(),
            optional,
        });
        codes.push(code);
        // The function form's uprobe, which places the breakpoint above.
        if let ProbeKind::WatchpointFunction { path, func, arg, asynchronous, .. } = &probe.kind {
            let watch = infos.len() as u32 - 1;
            let code = watchpoint::setup(*arg, watch, *asynchronous, probe.span)?;
            infos.push(ProgramInfo {
                name: format!("probe{index}_setup"),
                section: format!("uprobe/probe{index}_setup"),
                attach: Attach::WatchpointSetup { path: path.clone(), func: func.clone(), watch, asynchronous: *asynchronous },
                spans: code.spans.clone(),
                probe_name: probe.name.clone(),
                optional: false,
            });
            codes.push(code);
        }
    }
    functions.extend(shared.into_iter().map(callback::Shared::callback));
    // The verifier reports instruction numbers of the linked program: its
    // own code, then the callbacks in the order the loader links them.
    for (info, code) in infos.iter_mut().zip(&codes) {
        info.spans = callback::linked_spans(code, &functions);
    }

    let ringbuf_size = match program.ringbuf_pages {
        // BPFTRACE_PERF_RB_PAGES: bpftrace's pages per CPU, in one ring
        // buffer (a power of two of pages; the kernel caps it below 4 GiB).
        Some(pages) => (u64::from(pages) * 4096 * u64::from(program.ncpus.max(1))).next_power_of_two().min(1 << 30) as u32,
        None if streams => RINGBUF_SIZE,
        None => QUIET_RINGBUF_SIZE,
    };
    let mut elf_maps: Vec<ElfMap> = maps
        .iter()
        .map(|m| ElfMap {
            name: &m.bpf_name,
            def: MapDef {
                map_type: m.map_type().0,
                key_size: m.key_size,
                value_size: m.kernel_value_size(),
                max_entries: m.max_entries,
                flags: 0,
            },
        })
        .collect();
    elf_maps.push(ElfMap {
        name: RINGBUF_MAP,
        def: MapDef { map_type: map_type::RINGBUF, key_size: 0, value_size: 0, max_entries: ringbuf_size, flags: 0 },
    });
    if !maps.is_empty() {
        elf_maps.push(ElfMap {
            name: FAILED_UPDATES_MAP,
            def: MapDef { map_type: map_type::PERCPU_ARRAY, key_size: 4, value_size: 8, max_entries: maps.len() as u32, flags: 0 },
        });
    }
    elf_maps.push(ElfMap {
        name: LOST_EVENTS_MAP,
        def: MapDef { map_type: map_type::PERCPU_ARRAY, key_size: 4, value_size: 8, max_entries: 1, flags: 0 },
    });
    if scratch_size > 0 {
        elf_maps.push(ElfMap {
            name: scratch::SCRATCH_MAP,
            def: MapDef {
                map_type: map_type::PERCPU_ARRAY,
                key_size: 4,
                value_size: scratch_size,
                max_entries: program.probes.len() as u32,
                flags: 0,
            },
        });
    }
    if program.probes.iter().any(|p| matches!(p.kind, ProbeKind::WatchpointFunction { .. })) {
        elf_maps.push(ElfMap { name: crate::manifest::WATCHED_MAP, def: watchpoint::WATCHED_MAP_DEF });
    }
    if !program.skb_outputs.is_empty() {
        // max_entries 0: the loader makes one slot per possible CPU.
        let def = MapDef { map_type: map_type::PERF_EVENT_ARRAY, key_size: 4, value_size: 4, max_entries: 0, flags: 0 };
        elf_maps.push(ElfMap { name: crate::manifest::SKB_OUTPUT_MAP, def });
    }
    let stack_maps = stacks::stack_maps(program);
    elf_maps.extend(stack_maps.iter().map(|(name, def)| ElfMap { name, def: *def }));
    if program.uses_elapsed {
        elf_maps.push(ElfMap {
            name: START_TIME_MAP,
            def: MapDef { map_type: map_type::ARRAY, key_size: 4, value_size: 8, max_entries: 1, flags: 0 },
        });
    }
    syscalls::share_raw_syscalls(&program.probes, &mut infos, &mut codes, &mut elf_maps)?;
    let elf_programs: Vec<ElfProgram> = infos
        .iter()
        .zip(&codes)
        .map(|(info, code)| ElfProgram { section: &info.section, name: &info.name, code })
        .collect();
    let elf_functions: Vec<ElfFunction> = functions.iter().map(|f| ElfFunction { name: &f.name, code: &f.code }).collect();
    let elf = write_object(&elf_programs, &elf_functions, &elf_maps, "GPL")?;
    let manifest = Manifest {
        programs: infos,
        maps,
        printfs,
        ringbuf: Some(RINGBUF_MAP.to_string()),
        ringbuf_size,
        start_time_map: program.uses_elapsed.then(|| START_TIME_MAP.to_string()),
        print_values: program.print_values.iter().map(value_type).collect(),
        time_formats: program.time_formats.clone(),
        join_separators: program.join_separators.clone(),
        skb_outputs: program.skb_outputs.clone(),
        skb_output_pages: program.ringbuf_pages.map_or(SKB_OUTPUT_PAGES, |p| p.clamp(1, 1 << 16).next_power_of_two()),
        lost_events_map: Some(LOST_EVENTS_MAP.to_string()),
    };
    Ok(Object { elf, manifest })
}

/// Pages of each CPU's `skboutput()` ring unless BPFTRACE_PERF_RB_PAGES
/// says otherwise: bpftrace's default.
const SKB_OUTPUT_PAGES: u32 = 64;

/// The byte size a type takes in a key, value or record: integers widen to
/// 8 bytes; strings round up to 8 so the fields after them stay aligned.
fn stored_size(ty: &Type) -> u32 {
    ty.stored_size().div_ceil(8) * 8
}

fn value_type(ty: &Type) -> ValueType {
    match ty {
        Type::Str { size } => ValueType::Str { size: *size },
        Type::Timestamp { format } => ValueType::Timestamp { format: *format },
        Type::Username => ValueType::Username,
        Type::Ksym => ValueType::Ksym,
        Type::Errno => ValueType::Errno,
        Type::Macaddr => ValueType::Macaddr,
        Type::CgroupPath { filter } => ValueType::CgroupPath { filter: filter.clone() },
        Type::Usym => ValueType::Usym,
        Type::Stack(stack) => stacks::value_type(stack, 8),
        Type::Inet => ValueType::Inet,
        Type::Buf { size } => ValueType::Buf { size: *size },
        Type::CValue(c) => values::c_layout(&c.0),
        Type::Tuple(items) => {
            let (offsets, size) = rbpf_lang::types::tuple_layout(items);
            let fields = items.iter().zip(offsets).map(|(t, offset)| Field { offset, ty: value_type(t) }).collect();
            ValueType::Tuple { fields, size }
        }
        _ => ValueType::Int { size: 8, signed: ty.is_signed() },
    }
}

/// How a map key's part prints: an integer as a signed 64-bit number
/// whatever its type, as bpftrace 0.17 prints them (`@[(uint64)-1]` is
/// `@[-1]`, `@[(uint32)-1]` is `@[4294967295]`: the 8 stored bytes read as
/// an int64). Keys still sort as unsigned numbers (runtime::maps). A
/// pointer prints in hex there, also as a member of a struct key, as
/// bpftrace 0.17 prints it (and in decimal as a value).
fn key_type(ty: &Type) -> ValueType {
    match ty {
        Type::Int { .. } => ValueType::Int { size: 8, signed: true },
        Type::Ptr { .. } => ValueType::Pointer,
        Type::Stack(stack) => stacks::value_type(stack, 4),
        Type::CValue(c) => values::c_key_layout(&c.0),
        Type::Tuple(items) => {
            let (offsets, size) = rbpf_lang::types::tuple_layout(items);
            let fields = items.iter().zip(offsets).map(|(t, offset)| Field { offset, ty: key_type(t) }).collect();
            ValueType::Tuple { fields, size }
        }
        _ => value_type(ty),
    }
}

/// Lays out types one after another from `start`, each part read as
/// `read` says.
fn fields(types: &[Type], start: u32, read: fn(&Type) -> ValueType) -> (Vec<Field>, u32) {
    let mut offset = start;
    let fields = types
        .iter()
        .map(|t| {
            let f = Field { offset, ty: read(t) };
            offset += stored_size(t);
            f
        })
        .collect();
    (fields, offset)
}

fn map_info(index: usize, map: &checked::Map, max_entries: u32) -> MapInfo {
    let (key, key_size) = fields(&map.key, 0, key_type);
    // A map without keys has one element, under the key u64 0.
    let key_size = key_size.max(8);
    let (value, value_size) = match &map.value {
        checked::MapValue::Plain(t) => (MapValue::Plain(value_type(t)), stored_size(t)),
        checked::MapValue::Count => (MapValue::Count, 8),
        checked::MapValue::Sum { signed } => (MapValue::Sum { signed: *signed }, 8),
        checked::MapValue::Min { signed } => (MapValue::Min { signed: *signed }, 16),
        checked::MapValue::Max { signed } => (MapValue::Max { signed: *signed }, 16),
        checked::MapValue::Avg { signed } => (MapValue::Avg { signed: *signed }, 16),
        checked::MapValue::Stats { signed } => (MapValue::Stats { signed: *signed }, 16),
        checked::MapValue::Hist { bits } => (MapValue::Hist { bits: *bits }, 8),
        checked::MapValue::Lhist { min, max, step } => (MapValue::Lhist { min: *min, max: *max, step: *step }, 8),
    };
    let buckets = match &value {
        MapValue::Hist { bits } => Some(crate::manifest::hist_index(i64::MAX, *bits) + 1),
        MapValue::Lhist { min, max, step } => Some(crate::manifest::lhist_index(*max, *min, *max, *step) + 1),
        _ => None,
    };
    // Maps without keys are arrays where that keeps their meaning: a
    // lookup is then an index (which the verifier inlines), never a hash,
    // and an update a copy, never an allocation. A histogram's bucket is
    // the index, if its buckets fit in max_entries; a plain value is the
    // one element, with a flag saying it was set; a count() is the one
    // element, and reads 0 before counting, as in bpftrace (which keeps it
    // in an array too). len(), delete() and ++ work on written elements,
    // which a hash holds: such a map stays one.
    let keyless = map.key.is_empty() && !map.element_ops;
    let (array, key_size, max_entries) = match (buckets, &value) {
        (Some(n), _) if keyless && n <= u64::from(max_entries) => (true, 4, n as u32),
        // Histograms add the bucket index after the user's key.
        (Some(_), _) => (false, key_size + 8, max_entries),
        (None, MapValue::Plain(_) | MapValue::Count) if keyless => (true, 4, 1),
        (None, _) => (false, key_size, max_entries),
    };
    MapInfo {
        name: map.name.clone(),
        bpf_name: bpf_map_name(index, &map.name),
        percpu: map.value.is_aggregation(),
        array,
        max_entries,
        key,
        key_size,
        value,
        value_size,
    }
}

/// Kernel object names are at most 15 characters of `[A-Za-z0-9_.]`.
fn bpf_map_name(index: usize, name: &str) -> String {
    let clean: String = name
        .trim_start_matches('@')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    let mut out = format!("m{index}_{clean}");
    out.truncate(15);
    out
}

fn printf_format(p: &checked::Printf) -> PrintfFormat {
    let (args, size) = fields(&p.args, event::HEADER_SIZE, value_type);
    PrintfFormat { format: p.format.clone(), args, size }
}

/// Map and record layouts shared by every program.
struct Layout<'a> {
    maps: &'a [MapInfo],
    printfs: &'a [PrintfFormat],
    /// `-k`/`-kk`: see [`checked::Program::helper_checks`].
    helper_checks: u8,
}

impl Layout<'_> {
    fn map(&self, id: MapId) -> &MapInfo {
        &self.maps[id.0]
    }
}

/// Generates one BPF program, or one callback of it.
struct ProgramGen<'a> {
    b: Builder,
    stack: Stack,
    regs: Registers,
    layout: &'a Layout<'a>,
    /// Where each scratch variable lives.
    vars: Vec<Slot>,
    /// How each scratch variable is laid out.
    var_layouts: Vec<ValueType>,
    /// The probe's variables, for their types.
    probe_vars: &'a [checked::Var],
    /// The common exit: `r0 = 0; exit`; in a callback, what `exit()` does:
    /// tell the caller to leave the probe, and stop iterating.
    exit: crate::insn::Label,
    /// The enclosing loops, innermost last: where `continue` and `break` go.
    loops: Vec<Loop>,
    /// The machine's possible CPUs: the slots of a per-CPU value.
    ncpus: u32,
    /// The function's symbol name; callbacks are named after it.
    name: String,
    /// Callbacks generated for this function's `for` loops, nested ones
    /// included.
    callbacks: Vec<callback::Callback>,
    /// The shared callbacks (`len()`'s) this function uses.
    shared: std::collections::BTreeSet<callback::Shared>,
    /// The deepest stack a callback of this function needs (its own and
    /// its callbacks'), and the loop it is for: the kernel counts a
    /// callback's stack with its caller's against the 512 bytes.
    callee_depth: u32,
    callee_span: Span,
    /// Whether the code (or a callback of it) sends ring buffer records.
    sends_records: bool,
    /// Whether the program is an iterator's: printf writes to its
    /// seq_file, and its context's pointers may be NULL.
    iterator: bool,
    /// Where each scratch variable that did not fit the stack is in the
    /// probe's element of the scratch map ([`scratch`]); `None` for those
    /// on the stack.
    scratch_vars: Vec<Option<i16>>,
    /// The stack slot holding the scratch element's address.
    scratch_pointer: Option<Slot>,
    /// The probe's index in the scratch map.
    scratch_key: u32,
}

/// One program's code and the callbacks it references.
struct Generated {
    code: Code,
    /// Whether the code sends ring buffer records.
    sends_records: bool,
    /// The bytes of the probe's element in the scratch map (0: none).
    scratch_size: u32,
    callbacks: Vec<callback::Callback>,
    shared: std::collections::BTreeSet<callback::Shared>,
}

#[derive(Clone, Copy)]
struct Loop {
    next: crate::insn::Label,
    end: crate::insn::Label,
}

impl<'a> ProgramGen<'a> {
    fn new(layout: &'a Layout<'a>, probe_vars: &'a [checked::Var], ncpus: u32, name: String, reserve_ctx: bool) -> Self {
        let mut b = Builder::new();
        let exit = b.new_label();
        let mut stack = Stack::default();
        // -k/-kk: a slot of the frame for the record of a failed call.
        // Without them nothing is reserved and no call is followed by a check.
        if layout.helper_checks > 0 {
            if let Some(record) = stack.alloc(crate::insn::HELPER_ERROR_SIZE) {
                b.check_helpers(crate::insn::HelperCheck {
                    reads: layout.helper_checks > 1,
                    record: record.off,
                    ringbuf: RINGBUF_MAP.to_string(),
                });
            }
        }
        ProgramGen {
            b,
            stack,
            regs: Registers::new(reserve_ctx),
            layout,
            vars: Vec::new(),
            var_layouts: probe_vars.iter().map(|v| value_type(&v.ty)).collect(),
            probe_vars,
            exit,
            loops: Vec::new(),
            ncpus,
            name,
            callbacks: Vec::new(),
            shared: std::collections::BTreeSet::new(),
            callee_depth: 0,
            callee_span: Span::default(),
            sends_records: false,
            iterator: false,
            scratch_vars: Vec::new(),
            scratch_pointer: None,
            scratch_key: 0,
        }
    }

    /// Generates a probe's program with its variables on the stack, or, if
    /// they and the temporaries do not fit there, with fewer and fewer of
    /// them on the stack and the rest in the scratch map.
    fn generate(probe: &'a checked::Probe, layout: &'a Layout<'a>, ncpus: u32, index: usize) -> Result<Generated, CodegenError> {
        let mut result = Err(CodegenError::StackFull { span: probe.span });
        for budget in scratch::STACK_BUDGETS {
            result = Self::generate_with(probe, layout, ncpus, index, budget);
            if !matches!(result, Err(CodegenError::StackFull { .. })) {
                break;
            }
        }
        result
    }

    /// [`Self::generate`] with at most `stack_budget` bytes of variables on
    /// the stack (`None`: all of them).
    fn generate_with(
        probe: &'a checked::Probe,
        layout: &'a Layout<'a>,
        ncpus: u32,
        index: usize,
        stack_budget: Option<u32>,
    ) -> Result<Generated, CodegenError> {
        let name = format!("probe{index}");
        let uses_ctx =
            // A perf event's context begins with the registers `reg()` reads.
            (matches!(
                probe.kind,
                ProbeKind::Tracepoint { .. }
                    | ProbeKind::RawTracepoint { .. }
                    | ProbeKind::Fentry { .. }
                    | ProbeKind::Interval { .. }
                    | ProbeKind::PerfEvent { .. }
                    | ProbeKind::Watchpoint { .. }
                    | ProbeKind::WatchpointFunction { .. }
            ) || probe.kind.has_registers())
                && reads_context(probe)
            || stacks::reads_stack(probe)
            // An iterator's program tests its object and prints through its seq_file.
            || matches!(probe.kind, ProbeKind::Iter { .. });
        let mut gen = ProgramGen::new(layout, &probe.vars, ncpus, name, uses_ctx);
        gen.b.set_span(probe.span);
        if uses_ctx {
            gen.b.mov64(Reg::R6, Reg::R1);
        }
        if let ProbeKind::Iter { object_offset, .. } = probe.kind {
            gen.iterator = true;
            // The kernel calls an iterator's program once more after the
            // last object, with the object NULL (to let it print a
            // footer): the body runs once per object only.
            gen.b.load(Size::DW, Reg::R1, Reg::R6, object_offset as i16);
            let exit = gen.exit;
            gen.b.jump_if(Cond::Eq, Reg::R1, 0, exit);
        }
        gen.scratch_key = index as u32;
        let mut on_stack = 0;
        let mut scratch_size = 0;
        gen.vars = vec![Slot { off: 0, size: 0 }; probe.vars.len()];
        gen.scratch_vars = vec![None; probe.vars.len()];
        let order = match stack_budget {
            None => (0..probe.vars.len()).map(checked::VarId).collect(),
            Some(_) => scratch::stack_order(&probe.vars, &probe.body),
        };
        for id in order {
            let size = stored_size(&probe.vars[id.0].ty);
            if stack_budget.is_some_and(|budget| on_stack + size > budget) {
                if scratch_size + size > scratch::MAX_SCRATCH {
                    return Err(CodegenError::TooManyVariables { span: probe.span });
                }
                gen.vars[id.0] = Slot { off: 0, size };
                gen.scratch_vars[id.0] = Some(scratch_size as i16);
                scratch_size += size;
            } else {
                gen.vars[id.0] = gen.alloc(size, probe.span)?;
                on_stack += size;
            }
        }
        if scratch_size > 0 {
            gen.init_scratch(probe.span)?;
        }
        if let Some(pred) = &probe.predicate {
            gen.b.set_span(pred.span);
            let skip = gen.exit;
            gen.branch_unless(pred, skip)?;
        }
        for stmt in &probe.body {
            gen.stmt(stmt)?;
        }
        gen.b.set_span(probe.span);
        gen.b.bind(gen.exit);
        gen.b.mov64(Reg::R0, 0);
        gen.b.exit();
        gen.check_call_depth()?;
        Ok(Generated {
            code: gen.b.finish()?,
            sends_records: gen.sends_records,
            scratch_size,
            callbacks: gen.callbacks,
            shared: gen.shared,
        })
    }

    fn alloc(&mut self, size: u32, span: Span) -> Result<Slot, CodegenError> {
        self.stack.alloc(size).ok_or(CodegenError::StackFull { span })
    }

    /// r`dst` = the address of a stack slot.
    fn slot_address(&mut self, dst: Reg, slot: Slot) {
        self.b.mov64(dst, Reg::R10);
        self.b.alu64(crate::insn::Alu::Add, dst, i32::from(slot.off));
    }

    /// r1 = the map's file descriptor (relocated by the loader).
    fn map_fd(&mut self, dst: Reg, map: &str) {
        self.b.load_map_fd(dst, map);
    }

    /// Sends a ring buffer record built on the stack. Wake-ups are left to
    /// the kernel's adaptive notification (flags 0), so a busy trace wakes
    /// the reader once per batch, not once per event.
    fn ringbuf_output(&mut self, record: Slot, size: u32) {
        self.sends_records = true;
        self.map_fd(Reg::R1, RINGBUF_MAP);
        self.slot_address(Reg::R2, record);
        self.b.mov64(Reg::R3, size as i32);
        self.b.mov64(Reg::R4, 0);
        self.b.call(Helper::RingbufOutput);
        // A full ring buffer drops the record: count it, so the runtime
        // reports the loss. The record is copied, so its slot holds the key.
        let sent = self.b.new_label();
        self.b.jump_if(Cond::Eq, Reg::R0, 0, sent);
        self.count_lost_event(record);
        self.b.bind(sent);
    }

    /// Adds one to the lost-event count; `key` is a stack slot of at least
    /// 4 bytes it may overwrite.
    fn count_lost_event(&mut self, key: Slot) {
        self.count_in(LOST_EVENTS_MAP, 0, key);
    }

    /// Adds one to the failed-update count of map `map`; `key` is a stack
    /// slot of at least 4 bytes it may overwrite.
    pub(super) fn count_failed_update(&mut self, map: MapId, key: Slot) {
        self.count_in(FAILED_UPDATES_MAP, map.0 as i32, key);
    }

    /// Adds one to slot `index` of the per-CPU counter array `counters`.
    fn count_in(&mut self, counters: &str, index: i32, key: Slot) {
        let done = self.b.new_label();
        self.b.store(Size::W, Reg::R10, key.off, index);
        self.map_fd(Reg::R1, counters);
        self.slot_address(Reg::R2, key);
        self.b.call(Helper::MapLookupElem);
        self.b.jump_if(Cond::Eq, Reg::R0, 0, done);
        self.add_in_place(Reg::R0, 0, 1);
        self.b.bind(done);
    }

    /// `*(u64 *)(ptr + off) += amount`, with r1 as scratch: a map value
    /// this CPU owns (a per-CPU slot) needs no atomic operation.
    fn add_in_place(&mut self, ptr: Reg, off: i16, amount: impl Into<crate::insn::Operand>) {
        self.b.load(Size::DW, Reg::R1, ptr, off);
        self.b.alu64(Alu::Add, Reg::R1, amount);
        self.b.store(Size::DW, ptr, off, Reg::R1);
    }
}

/// Whether any expression of the probe reads its context (`args`).
fn reads_context(probe: &checked::Probe) -> bool {
    use checked::Visitor as _;
    let mut reads = ReadsContext(false);
    reads.visit_probe(probe);
    reads.0
}

/// The walk behind [`reads_context`]; stops at the first read.
struct ReadsContext(bool);

impl checked::Visitor<'_> for ReadsContext {
    fn visit_stmt(&mut self, s: &checked::Stmt) {
        // The body of a `for` over a map is a callback, which cannot read
        // the context.
        if !self.0 && !matches!(s.kind, checked::StmtKind::ForMap { .. }) {
            checked::walk_stmt(self, s);
        }
    }

    fn visit_expr(&mut self, e: &checked::Expr) {
        use checked::ExprKind as E;
        if self.0 {
            return;
        }
        self.0 = matches!(
            e.kind,
            E::TracepointField(_)
                | E::ProbeByCookie(_)
                | E::Arg(_)
                | E::UsdtArg(_)
                | E::Retval
                | E::FuncIp
                | E::Call { function: "reg", .. }
                | E::BufRead { source: checked::BufSource::Field(_), .. }
        );
        checked::walk_expr(self, e);
    }
}

#[cfg(test)]
mod tests;

