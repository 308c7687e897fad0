//! Everything that can go wrong between loading an object and printing its
//! maps, each variant naming what failed; missing privileges and missing
//! kernel features are said in one sentence, and a verifier rejection keeps
//! the log and the refused instruction so the caller can point at the source.

use std::io;

use rbpf_codegen::manifest::Manifest;
use rbpf_lang::Span;

use crate::tracefs::TracefsError;

/// Why running an object failed, from loading to printing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A missing privilege, e.g. "loading BPF programs needs root or the
    /// CAP_BPF and CAP_PERFMON capabilities: this process lacks CAP_BPF
    /// (uid 65534), and kernel.unprivileged_bpf_disabled = 2 ...".
    #[error("{action} needs root or {capabilities}{context}")]
    Permission {
        /// What needed it, e.g. "loading BPF programs".
        action: &'static str,
        /// The capabilities that would do instead of root.
        capabilities: &'static str,
        /// Which of them this process lacks and the sysctl that stands
        /// in the way, starting with ": "; empty when unknown.
        context: String,
    },

    /// bpf(2) returned ENOSYS.
    #[error("this kernel has no BPF support (the bpf system call is not implemented)")]
    NoBpf,

    /// The kernel lacks a helper, map type or program type the program
    /// needs: named with the release that brought it.
    #[error("{user} needs {feature}, which this kernel (Linux {running}) lacks: it came in Linux {since}")]
    KernelLacks {
        /// What needs it, e.g. "the program for kprobe:vfs_read".
        user: String,
        /// What is missing, e.g. "the bpf_get_func_ip helper".
        feature: String,
        /// The first release that has it, e.g. "5.15".
        since: &'static str,
        /// The running kernel's release.
        running: String,
    },

    /// The process of `-p` (or `-c`) exited while probes were attached to it.
    #[error("process {pid} exited while its probes were being attached (at {probe}): nothing is left to trace")]
    ProcessExited {
        /// Its id.
        pid: u32,
        /// The probe being attached when its exit was noticed.
        probe: String,
    },

    /// The verifier refused a program. `insn` is the instruction the log
    /// ends on, an index into `ProgramInfo::spans`.
    #[error("the kernel's verifier refused the program for {probe}: {reason}")]
    Verifier {
        /// The program's symbol name.
        program: String,
        /// The probe as the user wrote it.
        probe: String,
        /// The log's last line, the verifier's reason.
        reason: String,
        /// The refused instruction, when the log names one.
        insn: Option<usize>,
        /// The whole verifier log.
        log: String,
    },

    /// The verifier gave up on a program that may well be correct: it walks
    /// every path (every iteration of a loop) and stops after a million
    /// instructions. `insn` is the back edge of the innermost loop it was
    /// in, or the probe's last instruction when it was in none.
    #[error("the program for {probe} is too large or too complex for the kernel's verifier: {reason}")]
    TooComplex {
        /// The program's symbol name.
        program: String,
        /// The probe as the user wrote it.
        probe: String,
        /// The verifier's reason.
        reason: String,
        /// The instruction to point at.
        insn: Option<usize>,
        /// The whole verifier log.
        log: String,
    },

    /// The kernel refused to create a map.
    #[error("cannot create map {map}")]
    CreateMap {
        /// The map's name.
        map: String,
        /// bpf(2)'s error.
        #[source]
        source: io::Error,
    },

    /// The ELF object could not be read.
    #[error("cannot read the BPF object")]
    Object(#[source] rbpf_codegen::CodegenError),

    /// The object and its manifest disagree: a program or map is missing
    /// or of the wrong kind.
    #[error("the object has no {what} named {name}")]
    Missing {
        /// "program" or "map".
        what: &'static str,
        /// The name the manifest uses.
        name: String,
    },

    /// A tracepoint the program names is not on this kernel.
    #[error("tracepoint {category}:{name} does not exist on this kernel")]
    NoSuchTracepoint {
        /// Its category.
        category: String,
        /// Its name.
        name: String,
    },

    /// A raw tracepoint the program names is not on this kernel.
    #[error("raw tracepoint {name} does not exist on this kernel")]
    NoSuchRawTracepoint {
        /// Its name.
        name: String,
    },

    /// The kernel refused a raw tracepoint program that reads past the
    /// tracepoint's arguments (checked only at attach).
    #[error("cannot attach {probe}: the program reads more arguments than the tracepoint has")]
    RawTracepointArgs {
        /// The probe as the user wrote it.
        probe: String,
    },

    /// perf_event_open found no PMU for a hardware counter.
    #[error("this machine has no hardware performance counters (PMU) for {probe}")]
    NoPmu {
        /// The probe as the user wrote it.
        probe: String,
    },

    /// The kernel cannot attach this kind of probe.
    #[error("this kernel cannot run {kind} probes ({probe})")]
    Unsupported {
        /// The probe kind, e.g. "kprobe".
        kind: &'static str,
        /// The probe as the user wrote it.
        probe: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },

    /// perf_event_open refused a hardware breakpoint, for the reason given.
    #[error("cannot attach {probe}: {reason}")]
    Watchpoint {
        /// The probe as the user wrote it.
        probe: String,
        /// Why, in a few words.
        reason: &'static str,
    },

    /// A kprobe offset inside an instruction (the kernel says EILSEQ).
    #[error("cannot attach {probe}: the offset is not at the start of an instruction")]
    KprobeOffset {
        /// The probe as the user wrote it.
        probe: String,
    },

    /// Attaching a probe failed otherwise.
    #[error("cannot attach {probe}")]
    Attach {
        /// The probe as the user wrote it.
        probe: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },

    /// A probe that cannot be attached, for the reason given.
    #[error("cannot attach {probe}: {reason}")]
    Unattachable {
        /// The probe as the user wrote it.
        probe: String,
        /// Why, e.g. "/usr/bin/x has no function f".
        reason: String,
    },

    /// A system call on a named object (program, map, signal) failed.
    #[error("{call} failed for {object}")]
    Syscall {
        /// The call, e.g. "BPF_BTF_LOAD".
        call: &'static str,
        /// What it was called on.
        object: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },

    /// tracefs could not be found or mounted.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),

    /// A printf format of the manifest does not parse.
    #[error("printf format {index} cannot be used: {message}")]
    Format {
        /// Its index in `Manifest::printfs`.
        index: usize,
        /// The parser's message.
        message: String,
    },

    /// A ring buffer record that does not match the manifest.
    #[error("malformed event: {0}")]
    Event(String),

    /// The output could not be written.
    #[error("cannot write the output")]
    Output(#[source] io::Error),
}

/// What was being done when a kernel call failed, for the permission message.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    CreateMaps,
    LoadPrograms,
    AttachTracepoints,
    AttachInterval,
    AttachPerfEvents,
    AttachKprobes,
    AttachUprobes,
    AttachIterator,
    RunPrograms,
    ReadMaps,
    WriteMaps,
}

impl Action {
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Action::CreateMaps => ("creating BPF maps", "the CAP_BPF capability"),
            Action::LoadPrograms => ("loading BPF programs", "the CAP_BPF and CAP_PERFMON capabilities"),
            Action::AttachTracepoints => ("attaching tracepoints", "the CAP_PERFMON capability"),
            Action::AttachInterval => ("attaching interval probes", "the CAP_PERFMON capability"),
            Action::AttachPerfEvents => ("attaching perf events", "the CAP_PERFMON capability"),
            Action::AttachKprobes => ("attaching kprobes", "the CAP_PERFMON capability"),
            Action::AttachUprobes => ("attaching uprobes", "the CAP_PERFMON capability"),
            Action::AttachIterator => ("attaching iterators", "the CAP_BPF and CAP_PERFMON capabilities"),
            Action::RunPrograms => ("running BEGIN and END", "the CAP_BPF capability"),
            Action::ReadMaps => ("reading BPF maps", "the CAP_BPF capability"),
            Action::WriteMaps => ("writing BPF maps", "the CAP_BPF capability"),
        }
    }
}

impl RuntimeError {
    /// The one-sentence error for a privilege or feature the kernel refused,
    /// if `e` is one (EPERM/EACCES, ENOSYS).
    pub(crate) fn from_refusal(action: Action, e: &io::Error) -> Option<RuntimeError> {
        match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => {
                let context = crate::privileges::context(action, &crate::privileges::Privileges::of_this_process());
                let (action, capabilities) = action.describe();
                Some(RuntimeError::Permission { action, capabilities, context })
            }
            Some(libc::ENOSYS) => Some(RuntimeError::NoBpf),
            _ => None,
        }
    }

    /// An attach that failed: the refusal sentence when it is one.
    pub(crate) fn attach(action: Action, probe: &str, source: io::Error) -> RuntimeError {
        RuntimeError::from_refusal(action, &source).unwrap_or_else(|| RuntimeError::Attach { probe: probe.to_string(), source })
    }

    /// A failed syscall on `object`: the refusal sentence when it is one.
    pub(crate) fn syscall(action: Action, call: &'static str, object: &str, source: io::Error) -> RuntimeError {
        RuntimeError::from_refusal(action, &source)
            .unwrap_or_else(|| RuntimeError::Syscall { call, object: object.to_string(), source })
    }

    /// A program the kernel refused to load: the verifier's complaint
    /// when it logged one.
    pub(crate) fn refused(program: &str, probe: &str, failure: crate::sys::LoadFailure) -> RuntimeError {
        if let Some(helper) = crate::features::unknown_helper(&failure.log) {
            return RuntimeError::lacks(format!("the program for {probe}"), format!("the {} helper", helper.name()), crate::features::helper_release(helper));
        }
        if !failure.log.trim().is_empty() {
            return RuntimeError::Verifier {
                program: program.to_string(),
                probe: probe.to_string(),
                reason: verifier_reason(&failure.log).unwrap_or_else(|| failure.error.to_string()),
                insn: verifier_insn(&failure.log),
                log: failure.log,
            };
        }
        RuntimeError::syscall(Action::LoadPrograms, "BPF_PROG_LOAD", probe, failure.error)
    }

    /// [`RuntimeError::KernelLacks`] on the running kernel.
    pub(crate) fn lacks(user: String, feature: String, since: &'static str) -> RuntimeError {
        RuntimeError::KernelLacks { user, feature, since, running: crate::features::running_release() }
    }

    /// A program the kernel refused without a word (EINVAL, no log):
    /// when this kernel cannot load even a trivial program of its type,
    /// the type is what it lacks. fentry/fexit need a function to load
    /// for and have their own message.
    pub(crate) fn or_lacking_program_type(self, prog_type: u32, expected_attach_type: u32, probe: &str) -> RuntimeError {
        let RuntimeError::Syscall { call: "BPF_PROG_LOAD", source, .. } = &self else { return self };
        if source.raw_os_error() != Some(libc::EINVAL) || prog_type == crate::sys::prog_type::TRACING {
            return self;
        }
        match crate::features::program_type_release(prog_type, expected_attach_type) {
            Some((name, since)) if crate::sys::load_trivial_probe(prog_type, expected_attach_type, 0).is_err() => {
                RuntimeError::lacks(format!("the program for {probe}"), format!("{name} programs"), since)
            }
            _ => self,
        }
    }

    /// A verifier refusal for the program's size or complexity becomes
    /// [`RuntimeError::TooComplex`], placed at the loop the verifier was
    /// walking when it gave up (the innermost backward jump of `insns`
    /// around its last instruction), else at the end of the probe's own
    /// code (its first `exit`). Other errors are returned as they are.
    pub(crate) fn locate_complexity(self, insns: &[rbpf_codegen::insn::Insn]) -> RuntimeError {
        let RuntimeError::Verifier { program, probe, reason, insn, log } = self else { return self };
        if !is_complexity_limit(&log) {
            return RuntimeError::Verifier { program, probe, reason, insn, log };
        }
        let at = insn.and_then(|i| innermost_loop(insns, i)).or_else(|| insns.iter().position(is_exit));
        RuntimeError::TooComplex { program, probe, reason, insn: at, log }
    }

    /// Whether this is a refusal for size or complexity, which is a limit
    /// of the kernel's verifier rather than a fault of the code.
    pub fn is_too_complex(&self) -> bool {
        matches!(self, RuntimeError::TooComplex { .. })
    }

    /// The verifier's log, when the verifier refused a program.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            RuntimeError::Verifier { log, .. } | RuntimeError::TooComplex { log, .. } => Some(log),
            _ => None,
        }
    }

    /// The source span of the instruction the verifier refused.
    pub fn verifier_error_span(&self, manifest: &Manifest) -> Option<Span> {
        let (RuntimeError::Verifier { program, insn: Some(insn), .. } | RuntimeError::TooComplex { program, insn: Some(insn), .. }) = self
        else {
            return None;
        };
        manifest.programs.iter().find(|p| p.name == *program)?.spans.get(*insn).copied()
    }

    /// Where in the source this error happened, with the message to show
    /// there; `None` for errors that have no place in the source.
    pub fn source_location(&self, manifest: &Manifest) -> Option<(Span, String)> {
        Some((self.verifier_error_span(manifest)?, self.to_string()))
    }
}

/// The verifier's messages when it stops for a program's size or the
/// number of paths through it, not for anything the code does wrong.
fn is_complexity_limit(log: &str) -> bool {
    ["BPF program is too large", "jumps is too complex", "too many states"].iter().any(|m| log.contains(m))
}

fn is_exit(insn: &rbpf_codegen::insn::Insn) -> bool {
    use rbpf_codegen::insn::class;
    insn.code == class::JMP | class::EXIT
}

/// The backward jump closing the innermost loop around instruction `at`:
/// the shortest range from a jump's target to the jump that holds `at`.
fn innermost_loop(insns: &[rbpf_codegen::insn::Insn], at: usize) -> Option<usize> {
    use rbpf_codegen::insn::class;
    insns
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i.code & 0x07, class::JMP | class::JMP32) && i.off < 0 && !is_exit(i) && i.code & 0xf0 != class::CALL)
        .filter_map(|(j, i)| {
            let target = (j as i64 + 1 + i64::from(i.off)).max(0) as usize;
            (target <= at && at <= j).then_some((j - target, j))
        })
        .min()
        .map(|(_, j)| j)
}

/// An instruction line of the verifier log: `12: (85) call ...`.
fn insn_line(line: &str) -> Option<usize> {
    let (index, rest) = line.split_once(": (")?;
    rest.get(..3).filter(|op| op.ends_with(')') && op[..2].chars().all(|c| c.is_ascii_hexdigit()))?;
    index.parse().ok()
}

/// The index of the last instruction the log shows: the one refused.
pub(crate) fn verifier_insn(log: &str) -> Option<usize> {
    log.lines().rev().find_map(insn_line)
}

/// The verifier's complaint: the last line before its statistics that is
/// not an instruction or a register state dump.
pub(crate) fn verifier_reason(log: &str) -> Option<String> {
    let is_stats = |l: &str| {
        ["processed ", "stack depth ", "verification time ", "max_states_per_insn", "-- END"]
            .iter()
            .any(|p| l.starts_with(p))
    };
    let is_state = |l: &str| {
        l.split_once(':').is_some_and(|(head, _)| head.chars().all(|c| c.is_ascii_digit()) && !head.is_empty())
            || l.starts_with("from ")
            || l.starts_with(';')
    };
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !is_stats(l) && !is_state(l))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_codegen::manifest::{Attach, ProgramInfo};

    const LOG: &str = "func#0 @0
0: R1=ctx() R10=fp0
0: (b7) r0 = 0                        ; R0_w=0
1: (79) r1 = *(u64 *)(r2 +0)
R2 !read_ok
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
";

    #[test]
    fn finds_the_refused_instruction_and_the_reason() {
        assert_eq!(verifier_insn(LOG), Some(1));
        assert_eq!(verifier_reason(LOG).as_deref(), Some("R2 !read_ok"));
        assert_eq!(verifier_insn("unknown opcode 00\n"), None);
        assert_eq!(verifier_reason("unknown opcode 00\nprocessed 0 insns\n").as_deref(), Some("unknown opcode 00"));
    }

    #[test]
    fn maps_the_refused_instruction_to_its_span() {
        let manifest = Manifest {
            programs: vec![ProgramInfo {
                name: "probe0".into(),
                section: "raw_tracepoint/probe0".into(),
                attach: Attach::Begin,
                spans: vec![Span::new(0, 5), Span::new(8, 20)],
                probe_name: "BEGIN".into(),
                optional: false,
            }],
            ..Manifest::default()
        };
        let e = RuntimeError::Verifier {
            program: "probe0".into(),
            probe: "BEGIN".into(),
            reason: "R2 !read_ok".into(),
            insn: Some(1),
            log: LOG.into(),
        };
        assert_eq!(e.verifier_error_span(&manifest), Some(Span::new(8, 20)));
        let (span, message) = e.source_location(&manifest).unwrap();
        assert_eq!(span, Span::new(8, 20));
        assert_eq!(message, "the kernel's verifier refused the program for BEGIN: R2 !read_ok");
        assert_eq!(e.verifier_log(), Some(LOG));
    }

    #[test]
    fn a_complexity_limit_points_at_the_loop_the_verifier_was_in() {
        use rbpf_codegen::insn::{Builder, Cond, Reg};
        // r6 = 0; outer: if r6 > 9 goto end; inner: r6 += 1; if r6 < 5 goto inner;
        // goto outer; end: r0 = 0; exit
        let mut b = Builder::new();
        let (outer, inner, end) = (b.new_label(), b.new_label(), b.new_label());
        b.mov64(Reg::R6, 0);
        b.bind(outer);
        b.jump_if(Cond::Gt, Reg::R6, 9, end);
        b.bind(inner);
        b.alu64(rbpf_codegen::insn::Alu::Add, Reg::R6, 1);
        b.jump_if(Cond::Lt, Reg::R6, 5, inner);
        b.jump(outer);
        b.bind(end);
        b.mov64(Reg::R0, 0);
        b.exit();
        let insns = b.finish().unwrap().insns;
        let refusal = |insn, log: &str| RuntimeError::Verifier {
            program: "probe0".into(),
            probe: "BEGIN".into(),
            reason: "r".into(),
            insn,
            log: log.into(),
        };
        let too_large = "2: (07) r6 += 1\nBPF program is too large. Processed 1000001 insn\nprocessed 1000001 insns (limit 1000000)\n";
        // In the inner loop: its back edge (3); between the loops, the outer one's (4).
        let at = |e: RuntimeError| match e {
            RuntimeError::TooComplex { insn, .. } => insn,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(refusal(Some(2), too_large).locate_complexity(&insns)), Some(3));
        assert_eq!(at(refusal(Some(1), too_large).locate_complexity(&insns)), Some(4));
        // Outside any loop, or nowhere known: the probe's exit.
        assert_eq!(at(refusal(Some(5), too_large).locate_complexity(&insns)), Some(6));
        assert_eq!(at(refusal(None, "The sequence of 8193 jumps is too complex.\n").locate_complexity(&insns)), Some(6));
        let e = refusal(Some(2), too_large).locate_complexity(&insns);
        assert!(e.is_too_complex());
        assert_eq!(e.to_string(), "the program for BEGIN is too large or too complex for the kernel's verifier: r");
        // Any other refusal stays what it was.
        assert!(matches!(refusal(Some(1), LOG).locate_complexity(&insns), RuntimeError::Verifier { insn: Some(1), .. }));
    }

    #[test]
    fn a_helper_the_kernel_lacks_is_named_with_its_release() {
        let failure = crate::sys::LoadFailure {
            error: io::Error::from_raw_os_error(libc::EINVAL),
            log: "0: R1=ctx() R10=fp0\n0: (85) call unknown#173\ninvalid func unknown#173\nprocessed 1 insns\n".into(),
        };
        let RuntimeError::KernelLacks { user, feature, since, running } = RuntimeError::refused("probe0", "kprobe:vfs_read", failure) else {
            panic!("not KernelLacks")
        };
        assert_eq!((user.as_str(), feature.as_str(), since), ("the program for kprobe:vfs_read", "the bpf_get_func_ip helper", "5.15"));
        let e = RuntimeError::KernelLacks { user, feature, since, running: "5.10.0".into() };
        assert_eq!(e.to_string(), "the program for kprobe:vfs_read needs the bpf_get_func_ip helper, which this kernel (Linux 5.10.0) lacks: it came in Linux 5.15");
        assert!(!running.is_empty());
    }

    #[test]
    fn refusals_become_one_sentence() {
        let e = RuntimeError::syscall(Action::LoadPrograms, "bpf", "x", io::Error::from_raw_os_error(libc::EPERM));
        assert!(e.to_string().starts_with("loading BPF programs needs root or the CAP_BPF and CAP_PERFMON capabilities"), "{e}");
        let e = RuntimeError::syscall(Action::ReadMaps, "bpf", "x", io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(matches!(e, RuntimeError::NoBpf));
        let e = RuntimeError::syscall(Action::ReadMaps, "BPF_MAP_LOOKUP_ELEM", "@c", io::Error::from_raw_os_error(libc::EBADF));
        // The cause is the error's source, which the command prints after it.
        assert_eq!(e.to_string(), "BPF_MAP_LOOKUP_ELEM failed for @c");
        assert!(std::error::Error::source(&e).is_some());
    }
}
