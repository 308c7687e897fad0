//! What this kernel supports, found by asking it (`--info`): tiny programs
//! loaded to see whether the verifier knows a helper or a program type,
//! maps created, files of sysfs and tracefs looked at. Nothing is guessed
//! from the kernel's version.

use std::fmt::Write as _;
use std::os::fd::AsFd;

use rbpf_codegen::insn::{Builder, Cond, Helper, Reg};

use crate::btf::KernelBtf;
use crate::sys::{self, attach_type, prog_type, ProgramLoad};

/// One `name: yes|no` line of a section.
pub type Feature = (&'static str, bool);

/// The kernel's answers, in bpftrace's sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// `uname -srv` and the machine.
    pub os: String,
    /// `uname -m`.
    pub arch: String,
    /// Whether each helper bpftrace reports is known to the verifier.
    pub helpers: Vec<Feature>,
    /// The most instructions the verifier walks in one program.
    pub instruction_limit: u32,
    /// Bounded loops, BTF, batched map reads, uprobe reference counters.
    pub kernel: Vec<Feature>,
    /// Whether each map type can be created.
    pub maps: Vec<Feature>,
    /// Whether each probe type can be loaded (and its event source exists).
    pub probes: Vec<Feature>,
}

/// `enum bpf_map_type` values of the maps `--info` reports.
mod map_kind {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const RINGBUF: u32 = 27;
}

use sys::attach_type::TRACE_ITER;

impl Features {
    /// Asks the kernel (needs root, as loading any program does).
    pub fn detect() -> Features {
        let btf = KernelBtf::at("/sys/kernel/btf");
        let vmlinux = btf.vmlinux().ok();
        let function_id = |name: &str| vmlinux.as_ref().and_then(|b| b.function_id(name)).unwrap_or(0);
        let tracing = |attach: u32, func: &str| sys::load_trivial_probe(prog_type::TRACING, attach, function_id(func)).is_ok();
        let kfunc = tracing(attach_type::TRACE_FENTRY, "vfs_read");
        let helper = |ty: u32, h: Helper| knows_helper(ty, 0, 0, h);
        let helpers = vec![
            ("probe_read", helper(prog_type::TRACEPOINT, Helper::ProbeRead)),
            ("probe_read_str", helper(prog_type::TRACEPOINT, Helper::ProbeReadStr)),
            ("probe_read_user", helper(prog_type::TRACEPOINT, Helper::ProbeReadUser)),
            ("probe_read_user_str", helper(prog_type::TRACEPOINT, Helper::ProbeReadUserStr)),
            ("probe_read_kernel", helper(prog_type::TRACEPOINT, Helper::ProbeReadKernel)),
            ("probe_read_kernel_str", helper(prog_type::TRACEPOINT, Helper::ProbeReadKernelStr)),
            ("get_current_cgroup_id", helper(prog_type::TRACEPOINT, Helper::GetCurrentCgroupId)),
            ("send_signal", helper(prog_type::TRACEPOINT, Helper::SendSignal)),
            ("override_return", helper(prog_type::KPROBE, Helper::OverrideReturn)),
            ("get_boot_ns", helper(prog_type::TRACEPOINT, Helper::KtimeGetBootNs)),
            // Only tracing programs may call these, on the functions the
            // kernel allows: without fentry they cannot be used.
            // Iterators may call bpf_d_path whatever fentry can do.
            (
                "dpath",
                (kfunc && knows_helper(prog_type::TRACING, attach_type::TRACE_FENTRY, function_id("vfs_truncate"), Helper::DPath))
                    || knows_helper(prog_type::TRACING, TRACE_ITER, function_id("bpf_iter_task_file"), Helper::DPath),
            ),
            ("skboutput", kfunc && knows_helper(prog_type::TRACING, attach_type::TRACE_FENTRY, function_id("vfs_read"), Helper::PerfEventOutput)),
        ];
        let instruction_limit = if loads(prog_type::TRACEPOINT, 0, 0, &long_program(4096)) { 1_000_000 } else { 4096 };
        let kernel = vec![
            ("Loop support", loads(prog_type::TRACEPOINT, 0, 0, &bounded_loop())),
            ("btf", vmlinux.is_some()),
            ("map batch", map_batch()),
            ("uprobe refcount", std::path::Path::new("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset").exists()),
        ];
        let map = |kind: u32, key: u32, value: u32| sys::map_create("rbpf_info", kind, key, value, 4, 0).is_ok();
        let maps = vec![
            ("hash", map(map_kind::HASH, 8, 8)),
            ("percpu hash", map(map_kind::PERCPU_HASH, 8, 8)),
            ("array", map(map_kind::ARRAY, 4, 8)),
            ("percpu array", map(map_kind::PERCPU_ARRAY, 4, 8)),
            ("stack_trace", map(map_kind::STACK_TRACE, 4, 8 * 127)),
            ("perf_event_array", map(map_kind::PERF_EVENT_ARRAY, 4, 4)),
            ("ringbuf", sys::map_create("rbpf_info", map_kind::RINGBUF, 0, 0, 4096, 0).is_ok()),
        ];
        let pmu = |name: &str| std::path::Path::new("/sys/bus/event_source/devices").join(name).join("type").exists();
        let tracefs = ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"].iter().any(|p| std::path::Path::new(p).exists());
        let probes = vec![
            ("kprobe", pmu("kprobe") && sys::load_trivial_probe(prog_type::KPROBE, 0, 0).is_ok()),
            ("tracepoint", tracefs && sys::load_trivial_probe(prog_type::TRACEPOINT, 0, 0).is_ok()),
            ("perf_event", sys::load_trivial_probe(prog_type::PERF_EVENT, 0, 0).is_ok()),
            ("kfunc", kfunc),
            ("iter:task", tracing(TRACE_ITER, "bpf_iter_task")),
            ("iter:task_file", tracing(TRACE_ITER, "bpf_iter_task_file")),
            ("kprobe_multi", sys::has_kprobe_multi()),
            ("raw_tp_special", raw_tp_special()),
        ];
        let uts = uname();
        Features {
            os: format!("{} {} {}", uts[0], uts[2], uts[3]),
            arch: uts[4].clone(),
            helpers,
            instruction_limit,
            kernel,
            maps,
            probes,
        }
    }

    /// bpftrace's `--info` layout; the Build section is rbpf's.
    pub fn render(&self, version: &str) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut out = String::new();
        let _ = write!(out, "System\n  OS: {}\n  Arch: {}\n\n", self.os, self.arch);
        let _ = write!(out, "Build\n  version: v{version}\n  LLVM: none (rbpf emits BPF itself)\n  unsafe uprobe: no\n  bfd: no\n  DWARF support: yes (built in)\n\n");
        let section = |out: &mut String, title: &str, lines: &[Feature]| {
            let _ = writeln!(out, "{title}");
            for (name, ok) in lines {
                let _ = writeln!(out, "  {name}: {}", yes(*ok));
            }
            out.push('\n');
        };
        section(&mut out, "Kernel helpers", &self.helpers);
        let _ = writeln!(out, "Kernel features\n  Instruction limit: {}", self.instruction_limit);
        for (name, ok) in &self.kernel {
            let _ = writeln!(out, "  {name}: {}", yes(*ok));
        }
        out.push('\n');
        section(&mut out, "Map types", &self.maps);
        section(&mut out, "Probe types", &self.probes);
        out
    }
}

/// `count` moves, then `r0 = 0; exit`: more than 4096 instructions load
/// only where the verifier's limit is a million.
fn long_program(count: usize) -> Vec<u8> {
    let mut b = Builder::new();
    for _ in 0..count {
        b.mov64(Reg::R1, 0);
    }
    b.mov64(Reg::R0, 0);
    b.exit();
    b.finish().map(|c| c.to_bytes()).unwrap_or_default()
}

/// `for (r0 = 0; r0 < 4; r0++)`: a backward jump, which only verifiers
/// with bounded loops accept.
fn bounded_loop() -> Vec<u8> {
    let mut b = Builder::new();
    let top = b.new_label();
    b.mov64(Reg::R0, 0);
    b.bind(top);
    b.alu64(rbpf_codegen::insn::Alu::Add, Reg::R0, 1);
    b.jump_if(Cond::Lt, Reg::R0, 4, top);
    b.mov64(Reg::R0, 0);
    b.exit();
    b.finish().map(|c| c.to_bytes()).unwrap_or_default()
}

fn loads(prog_type: u32, expected_attach_type: u32, attach_btf_id: u32, insns: &[u8]) -> bool {
    !insns.is_empty() && sys::load_program(&program(prog_type, expected_attach_type, attach_btf_id, insns)).is_ok()
}

fn program(prog_type: u32, expected_attach_type: u32, attach_btf_id: u32, insns: &[u8]) -> ProgramLoad<'_> {
    ProgramLoad {
        name: "rbpf_info",
        prog_type,
        expected_attach_type,
        attach_btf_id,
        attach_btf_obj: None,
        insns,
        license: c"GPL",
        btf: None,
        func_info: &[],
    }
}

/// Whether a program of `prog_type` may call `helper`: a program calling
/// it with zeroed arguments may well be refused, but for another reason
/// than an unknown or forbidden function, as libbpf probes helpers.
fn knows_helper(prog_type: u32, expected_attach_type: u32, attach_btf_id: u32, helper: Helper) -> bool {
    let mut b = Builder::new();
    for r in [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5] {
        b.mov64(r, 0);
    }
    b.call(helper);
    b.mov64(Reg::R0, 0);
    b.exit();
    let Ok(code) = b.finish() else { return false };
    let insns = code.to_bytes();
    match sys::load_program(&program(prog_type, expected_attach_type, attach_btf_id, &insns)) {
        Ok(_) => true,
        Err(failure) => {
            let log = failure.log;
            !log.is_empty() && !["invalid func", "unknown func", "cannot use helper", "must provide btf_id"].iter().any(|m| log.contains(m))
        }
    }
}

/// Whether a hash map can be read in batches (BPF_MAP_LOOKUP_BATCH): an
/// empty one answers ENOENT where the command exists, EINVAL where not.
fn map_batch() -> bool {
    let Ok(map) = sys::map_create("rbpf_info", map_kind::HASH, 8, 8, 4, 0) else { return false };
    sys::map_entries_batch(map.as_fd(), 8, 8, 4, 4, |_, _| {}).is_ok()
}

/// Whether BEGIN and END can run as rbpf runs them: a raw tracepoint
/// program run once with BPF_PROG_TEST_RUN.
fn raw_tp_special() -> bool {
    let Ok(prog) = sys::load_trivial_probe(prog_type::RAW_TRACEPOINT, 0, 0) else { return false };
    sys::prog_test_run(prog.as_fd()).is_ok()
}

/// uname(2): sysname, nodename, release, version, machine.
fn uname() -> [String; 5] {
    // SAFETY: utsname is plain bytes; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Default::default();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    [field(&uts.sysname), field(&uts.nodename), field(&uts.release), field(&uts.version), field(&uts.machine)]
}

/// The Linux release that brought `helper`, as the kernel's uapi
/// `bpf.h` history has it (helpers are numbered in the order they came).
pub fn helper_release(helper: Helper) -> &'static str {
    use Helper::*;
    match helper {
        MapLookupElem | MapUpdateElem | MapDeleteElem => "3.19",
        ProbeRead | KtimeGetNs | TracePrintk | GetPrandomU32 | GetSmpProcessorId => "4.1",
        TailCall | GetCurrentPidTgid | GetCurrentUidGid | GetCurrentComm => "4.2",
        PerfEventRead => "4.3",
        PerfEventOutput => "4.4",
        GetStackid => "4.6",
        GetCurrentTask | ProbeWriteUser => "4.8",
        GetNumaNodeId => "4.10",
        ProbeReadStr => "4.11",
        PerfEventReadValue => "4.15",
        OverrideReturn => "4.16",
        GetStack | GetCurrentCgroupId => "4.18",
        MapPushElem | MapPopElem | MapPeekElem => "4.20",
        SendSignal => "5.3",
        SkbOutput | ProbeReadUser | ProbeReadKernel | ProbeReadUserStr | ProbeReadKernelStr | SendSignalThread | Jiffies64 => "5.5",
        GetNsCurrentPidTgid | GetCurrentAncestorCgroupId => "5.7",
        KtimeGetBootNs | SeqPrintf | RingbufOutput | RingbufReserve | RingbufSubmit | RingbufDiscard | RingbufQuery => "5.8",
        GetTaskStack => "5.9",
        DPath | CopyFromUser => "5.10",
        GetCurrentTaskBtf | KtimeGetCoarseNs => "5.11",
        ForEachMapElem | Snprintf => "5.13",
        GetFuncIp | GetAttachCookie | TaskPtRegs => "5.15",
        Loop | Strncmp | GetFuncArg | GetFuncRet => "5.17",
        CopyFromUserTask => "5.18",
        MapLookupPercpuElem => "5.19",
        KtimeGetTaiNs => "6.1",
    }
}

/// A map type rbpf creates, its name and the Linux release that brought
/// it; `None` for a type rbpf does not create.
pub fn map_type_release(map_type: u32) -> Option<(&'static str, &'static str)> {
    use rbpf_codegen::elf::map_type::*;
    Some(match map_type {
        HASH | ARRAY => return None,
        PROG_ARRAY => ("program array", "4.2"),
        PERF_EVENT_ARRAY => ("perf event array", "4.3"),
        PERCPU_HASH => ("per-CPU hash", "4.6"),
        PERCPU_ARRAY => ("per-CPU array", "4.6"),
        STACK_TRACE => ("stack trace", "4.6"),
        LRU_HASH => ("LRU hash", "4.10"),
        LRU_PERCPU_HASH => ("per-CPU LRU hash", "4.10"),
        QUEUE => ("queue", "4.20"),
        STACK => ("stack", "4.20"),
        RINGBUF => ("ring buffer", "5.8"),
        _ => return None,
    })
}

/// A program type (with its expected attach type) rbpf loads, its name
/// and the Linux release that brought it.
pub fn program_type_release(prog_type: u32, expected_attach_type: u32) -> Option<(&'static str, &'static str)> {
    Some(match (prog_type, expected_attach_type) {
        (prog_type::KPROBE, attach_type::TRACE_KPROBE_MULTI) => ("kprobe multi-attach", "5.18"),
        (prog_type::KPROBE, attach_type::TRACE_UPROBE_MULTI) => ("uprobe multi-attach", "6.6"),
        (prog_type::KPROBE, _) => ("kprobe", "4.1"),
        (prog_type::TRACEPOINT, _) => ("tracepoint", "4.7"),
        (prog_type::PERF_EVENT, _) => ("perf event", "4.9"),
        (prog_type::RAW_TRACEPOINT, _) => ("raw tracepoint", "4.17"),
        (prog_type::TRACING, TRACE_ITER) => ("iterator", "5.8"),
        (prog_type::TRACING, _) => ("fentry/fexit", "5.5"),
        _ => return None,
    })
}

/// Whether a map of `map_type` can be created here at all: the smallest
/// one of its kind.
pub fn has_map_type(map_type: u32) -> bool {
    use rbpf_codegen::elf::map_type::*;
    let (key, value, entries) = match map_type {
        RINGBUF => (0, 0, 4096),
        QUEUE | STACK => (0, 8, 1),
        STACK_TRACE => (4, 8, 1),
        PROG_ARRAY | PERF_EVENT_ARRAY => (4, 4, 1),
        _ => (4, 8, 1),
    };
    sys::map_create("rbpf_probe", map_type, key, value, entries, 0).is_ok()
}

/// The helper a verifier log says this kernel does not have: "invalid
/// func unknown#N" names a number past the kernel's last helper.
pub fn unknown_helper(log: &str) -> Option<Helper> {
    let (_, rest) = log.split_once("invalid func unknown#")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Helper::from_id(digits.parse().ok()?)
}

/// The running kernel's release, e.g. "6.1.0-26-amd64".
pub fn running_release() -> String {
    uname()[2].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_release_of_what_a_kernel_lacks() {
        assert_eq!(unknown_helper("0: (85) call unknown#173\ninvalid func unknown#173\nprocessed 1 insns"), Some(Helper::GetFuncIp));
        assert_eq!(helper_release(Helper::GetFuncIp), "5.15");
        assert_eq!(unknown_helper("R1 type=ctx expected=fp"), None);
        assert_eq!(unknown_helper("invalid func unknown#9999"), None);
        assert_eq!(map_type_release(rbpf_codegen::elf::map_type::RINGBUF), Some(("ring buffer", "5.8")));
        assert_eq!(map_type_release(rbpf_codegen::elf::map_type::HASH), None);
        assert_eq!(program_type_release(prog_type::KPROBE, attach_type::TRACE_UPROBE_MULTI), Some(("uprobe multi-attach", "6.6")));
        assert_eq!(program_type_release(prog_type::RAW_TRACEPOINT, 0), Some(("raw tracepoint", "4.17")));
    }

    #[test]
    fn every_helper_has_a_release_in_number_order() {
        // Helpers are numbered as they came: a later number never came earlier.
        let release = |h: Helper| -> (u32, u32) {
            let (major, minor) = helper_release(h).split_once('.').expect("major.minor");
            (major.parse().expect("major"), minor.parse().expect("minor"))
        };
        for pair in Helper::ALL.windows(2) {
            assert!(release(pair[0]) <= release(pair[1]), "{:?} after {:?}", pair[1], pair[0]);
        }
    }
}
