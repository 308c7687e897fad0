//! Everything that can go wrong between loading an object and printing its
//! maps, each variant naming what failed; missing privileges and missing
//! kernel features are said in one sentence, and a verifier rejection keeps
//! the log and the refused instruction so the caller can point at the source.

use std::io;

use rbpf_codegen::manifest::Manifest;
use rbpf_lang::Span;

use crate::tracefs::TracefsError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A missing privilege, e.g. "loading BPF programs needs root or the
    /// CAP_BPF and CAP_PERFMON capabilities".
    #[error("{action} needs root or {capabilities}")]
    Permission { action: &'static str, capabilities: &'static str },

    #[error("this kernel has no BPF support (the bpf system call is not implemented)")]
    NoBpf,

    /// The verifier refused a program. `insn` is the instruction the log
    /// ends on, an index into `ProgramInfo::spans`.
    #[error("the kernel's verifier refused the program for {probe}: {reason}")]
    Verifier { program: String, probe: String, reason: String, insn: Option<usize>, log: String },

    #[error("cannot create map {map}")]
    CreateMap {
        map: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot read the BPF object")]
    Object(#[source] rbpf_codegen::CodegenError),

    /// The object and its manifest disagree: a program or map is missing
    /// or of the wrong kind.
    #[error("the object has no {what} named {name}")]
    Missing { what: &'static str, name: String },

    #[error("tracepoint {category}:{name} does not exist on this kernel")]
    NoSuchTracepoint { category: String, name: String },

    #[error("raw tracepoint {name} does not exist on this kernel")]
    NoSuchRawTracepoint { name: String },

    /// The kernel refused a raw tracepoint program that reads past the
    /// tracepoint's arguments (checked only at attach).
    #[error("cannot attach {probe}: the program reads more arguments than the tracepoint has")]
    RawTracepointArgs { probe: String },

    /// perf_event_open found no PMU for a hardware counter.
    #[error("this machine has no hardware performance counters (PMU) for {probe}")]
    NoPmu { probe: String },

    /// The kernel cannot attach this kind of probe.
    #[error("this kernel cannot run {kind} probes ({probe})")]
    Unsupported {
        kind: &'static str,
        probe: String,
        #[source]
        source: io::Error,
    },

    /// perf_event_open refused a hardware breakpoint, for the reason given.
    #[error("cannot attach {probe}: {reason}")]
    Watchpoint { probe: String, reason: &'static str },

    /// A kprobe offset inside an instruction (the kernel says EILSEQ).
    #[error("cannot attach {probe}: the offset is not at the start of an instruction")]
    KprobeOffset { probe: String },

    #[error("cannot attach {probe}")]
    Attach {
        probe: String,
        #[source]
        source: io::Error,
    },

    /// A system call on a named object (program, map, signal) failed.
    #[error("{call} failed for {object}")]
    Syscall {
        call: &'static str,
        object: String,
        #[source]
        source: io::Error,
    },

    #[error(transparent)]
    Tracefs(#[from] TracefsError),

    #[error("printf format {index} cannot be used: {message}")]
    Format { index: usize, message: String },

    /// A ring buffer record that does not match the manifest.
    #[error("malformed event: {0}")]
    Event(String),

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
                let (action, capabilities) = action.describe();
                Some(RuntimeError::Permission { action, capabilities })
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

    /// The verifier's log, when the verifier refused a program.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            RuntimeError::Verifier { log, .. } => Some(log),
            _ => None,
        }
    }

    /// The source span of the instruction the verifier refused.
    pub fn verifier_error_span(&self, manifest: &Manifest) -> Option<Span> {
        let RuntimeError::Verifier { program, insn: Some(insn), .. } = self else { return None };
        manifest.programs.iter().find(|p| p.name == *program)?.spans.get(*insn).copied()
    }

    /// Where in the source this error happened, with the message to show
    /// there; `None` for errors that have no place in the source.
    pub fn source_location(&self, manifest: &Manifest) -> Option<(Span, String)> {
        Some((self.verifier_error_span(manifest)?, self.to_string()))
    }
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
    fn refusals_become_one_sentence() {
        let e = RuntimeError::syscall(Action::LoadPrograms, "bpf", "x", io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.to_string(), "loading BPF programs needs root or the CAP_BPF and CAP_PERFMON capabilities");
        let e = RuntimeError::syscall(Action::ReadMaps, "bpf", "x", io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(matches!(e, RuntimeError::NoBpf));
        let e = RuntimeError::syscall(Action::ReadMaps, "BPF_MAP_LOOKUP_ELEM", "@c", io::Error::from_raw_os_error(libc::EBADF));
        // The cause is the error's source, which the command prints after it.
        assert_eq!(e.to_string(), "BPF_MAP_LOOKUP_ELEM failed for @c");
        assert!(std::error::Error::source(&e).is_some());
    }
}
