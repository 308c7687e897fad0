//! Checker tests of the probe kinds beyond tracepoint, kprobe and uprobe:
//! tracepoint wildcards, raw tracepoints, profile, software and hardware
//! events — how each attach point expands, and each mistake's message.

use super::{check_error, run_on, target};
use crate::checked::{ExprKind, StmtKind};
use crate::probes::{PerfCounter, PerfSample, ProbeKind};
use crate::target::FakeTarget;

const OPEN_FORMAT: &str = "format:\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n";
const OPENAT_FORMAT: &str = "format:\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n";

fn open_target() -> FakeTarget {
    target()
        .with_tracepoint("syscalls", "sys_enter_open", OPEN_FORMAT)
        .with_tracepoint("syscalls", "sys_enter_openat", OPENAT_FORMAT)
        .with_tracepoint("compat", "sys_enter_openat", OPEN_FORMAT)
        .with_tracepoint("sched", "sched_wakeup", "format:\n\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n")
}

fn names(p: &crate::checked::Program) -> Vec<&str> {
    p.probes.iter().map(|p| p.name.as_str()).collect()
}

/// The `args.filename` read of each probe's first statement `@[..] = args.filename`.
fn field_offsets(p: &crate::checked::Program) -> Vec<u32> {
    p.probes
        .iter()
        .filter_map(|probe| match &probe.body.first()?.kind {
            StmtKind::MapUpdate { keys, .. } => match &keys.first()?.kind {
                ExprKind::TracepointField(f) => Some(f.offset),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn tracepoint_wildcards_expand_to_one_probe_per_match_each_typed() {
    let t = open_target();
    let p = run_on(&t, "tracepoint:syscalls:sys_enter_open* { @[args.filename] = count(); }").unwrap();
    assert_eq!(names(&p), ["tracepoint:syscalls:sys_enter_open", "tracepoint:syscalls:sys_enter_openat"]);
    // `args` is typed per match: filename is at 16 in one and 24 in the other.
    assert_eq!(field_offsets(&p), [16, 24]);
    let p = run_on(&t, "t:*:sys_enter_openat { @[probe] = count(); }").unwrap();
    assert_eq!(names(&p), ["tracepoint:compat:sys_enter_openat", "tracepoint:syscalls:sys_enter_openat"]);
    let p = run_on(&t, "tracepoint:sched:* { @ = count(); }").unwrap();
    assert_eq!(names(&p), ["tracepoint:sched:sched_switch", "tracepoint:sched:sched_wakeup"]);
    // The same field must exist in every match.
    let e = run_on(&t, "tracepoint:sched:* { @ = args.pid; }").unwrap_err();
    assert!(e.contains("tracepoint `sched:sched_switch` has no field `pid`"), "{e}");
}

#[test]
fn a_tracepoint_wildcard_matching_nothing_is_an_error() {
    let e = run_on(&open_target(), "tracepoint:syscalls:sys_enter_nothing* { }").unwrap_err();
    assert_eq!(
        e.trim(),
        "error: no tracepoint matches `syscalls:sys_enter_nothing*`
  ┌─ -e:1:1
  │
1 │ tracepoint:syscalls:sys_enter_nothing* { }
  │ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ matches nothing
  │
  = the tracepoints are listed in /sys/kernel/tracing/available_events"
    );
}

/// As in bpftrace, a wildcard of a list that matches nothing is left out
/// while another attach point matches; alone, or with only such others, it
/// is an error.
#[test]
fn a_wildcard_of_a_list_matching_nothing_is_left_out() {
    let t = open_target();
    let p = run_on(&t, "tracepoint:syscalls:sys_enter_open, tracepoint:syscalls:sys_enter_nothing* { @ = count(); }").unwrap();
    assert_eq!(names(&p), ["tracepoint:syscalls:sys_enter_open"]);
    // Probes of a list or a wildcard may fail to attach; one alone may not.
    assert!(p.probes[0].optional);
    let p = run_on(&t, "tracepoint:syscalls:sys_enter_open* { } tracepoint:syscalls:sys_enter_open { }").unwrap();
    assert_eq!(p.probes.iter().map(|p| p.optional).collect::<Vec<_>>(), [true, true, false]);
    let e = run_on(&t, "tracepoint:syscalls:sys_enter_nothing*, tracepoint:syscalls:sys_enter_none* { @ = count(); }").unwrap_err();
    assert!(e.contains("no tracepoint matches `syscalls:sys_enter_nothing*`"), "{e}");
    assert!(e.contains("no tracepoint matches `syscalls:sys_enter_none*`"), "{e}");
    // A name that is not there is no wildcard: still an error.
    let e = run_on(&t, "tracepoint:syscalls:sys_enter_open, tracepoint:syscalls:sys_enter_nothing { @ = count(); }").unwrap_err();
    assert!(e.contains("error:"), "{e}");
}

#[test]
fn raw_tracepoints_read_their_arguments_as_u64s() {
    let p = run_on(&open_target(), "rawtracepoint:sched_switch { @[arg0] = count(); } rt:sched_wakeup { @w[arg11] = count(); }")
        .unwrap();
    assert_eq!(names(&p), ["rawtracepoint:sched_switch", "rawtracepoint:sched_wakeup"]);
    assert_eq!(p.probes[0].kind, ProbeKind::RawTracepoint { name: "sched_switch".into() });
    assert_eq!(field_offsets(&p), [0, 88]);
    let e = run_on(&open_target(), "rawtracepoint:sched_switch { @ = arg12; }").unwrap_err();
    assert!(e.contains("`arg12` is past a raw tracepoint's arguments"), "{e}");
    let e = run_on(&open_target(), "rawtracepoint:sched_switch { @ = args.prev_pid; }").unwrap_err();
    assert!(e.contains("error:"), "{e}");
}

#[test]
fn unknown_raw_tracepoints_are_named() {
    check_error(
        "rawtracepoint:sched_swtch { }",
        "
error: raw tracepoint `sched_swtch` does not exist
  ┌─ -e:1:1
  │
1 │ rawtracepoint:sched_swtch { }
  │ ^^^^^^^^^^^^^^^^^^^^^^^^^ no such tracepoint on this kernel
  │
  = the tracepoints are listed in /sys/kernel/tracing/available_events, as CATEGORY:NAME",
    );
    let e = run_on(&open_target(), "rawtracepoint:sched:sched_switch { }").unwrap_err();
    assert!(e.contains("a raw tracepoint is written `rawtracepoint:NAME`"), "{e}");
}

#[test]
fn profile_samples_every_cpu_by_frequency_or_period() {
    let p = run_on(&target(), "profile:hz:99 { } p:ms:10 { } profile:s:1 { } profile:us:500 { }").unwrap();
    assert_eq!(names(&p), ["profile:hz:99", "profile:ms:10", "profile:s:1", "profile:us:500"]);
    let samples: Vec<ProbeKind> = p.probes.iter().map(|p| p.kind.clone()).collect();
    let clock = PerfCounter::Software { config: 0 };
    assert_eq!(
        samples,
        [
            ProbeKind::PerfEvent { counter: clock, sample: PerfSample::Frequency(99) },
            ProbeKind::PerfEvent { counter: clock, sample: PerfSample::Period(10_000_000) },
            ProbeKind::PerfEvent { counter: clock, sample: PerfSample::Period(1_000_000_000) },
            ProbeKind::PerfEvent { counter: clock, sample: PerfSample::Period(500_000) },
        ]
    );
}

#[test]
fn bad_profiles_are_refused() {
    check_error(
        "profile:hz:0 { }",
        "
error: a profile rate of zero never fires
  ┌─ -e:1:1
  │
1 │ profile:hz:0 { }
  │ ^^^^^^^^^^^^ the count must be at least 1",
    );
    for (src, message) in [
        ("profile:hz { }", "a profile probe is written `profile:UNIT:COUNT`"),
        ("profile:min:1 { }", "a profile probe is written `profile:UNIT:COUNT`"),
        ("profile:ms:ten { }", "`ten` is not a whole number"),
        ("profile:s:99999999999999 { }", "this profile period is out of range"),
    ] {
        let e = run_on(&target(), src).unwrap_err();
        assert!(e.contains(message), "{src}: {e}");
    }
}

#[test]
fn interval_takes_hz_and_us() {
    let p = run_on(&target(), "interval:hz:4 { } interval:us:250 { }").unwrap();
    let kinds: Vec<ProbeKind> = p.probes.iter().map(|p| p.kind.clone()).collect();
    assert_eq!(kinds, [ProbeKind::Interval { period_ns: 250_000_000 }, ProbeKind::Interval { period_ns: 250_000 }]);
}

#[test]
fn software_events_have_names_aliases_and_default_counts() {
    let p = run_on(
        &target(),
        "software:page-faults:50 { } s:faults { } s:cs { } software:cpu-migrations { } s:cpu:2000 { } s:bpf-output { }",
    )
    .unwrap();
    assert_eq!(
        names(&p),
        ["software:page-faults:50", "software:faults", "software:cs", "software:cpu-migrations", "software:cpu:2000", "software:bpf-output"]
    );
    let kinds: Vec<(u64, PerfSample)> = p
        .probes
        .iter()
        .filter_map(|p| match p.kind {
            ProbeKind::PerfEvent { counter: PerfCounter::Software { config }, sample } => Some((config, sample)),
            _ => None,
        })
        .collect();
    use PerfSample::Period;
    assert_eq!(kinds, [(2, Period(50)), (2, Period(100)), (3, Period(1000)), (4, Period(1)), (0, Period(2000)), (10, Period(1))]);
}

#[test]
fn hardware_events_have_names_aliases_and_default_counts() {
    let p = run_on(&target(), "hardware:cycles { } h:branches:7 { } hardware:ref-cycles { } h:cache-misses:1000 { }").unwrap();
    let kinds: Vec<(u64, PerfSample)> = p
        .probes
        .iter()
        .filter_map(|p| match p.kind {
            ProbeKind::PerfEvent { counter: PerfCounter::Hardware { config }, sample } => Some((config, sample)),
            _ => None,
        })
        .collect();
    use PerfSample::Period;
    assert_eq!(kinds, [(0, Period(1_000_000)), (4, Period(7)), (9, Period(1_000_000)), (3, Period(1000))]);
    assert_eq!(names(&p)[0], "hardware:cycles");
}

#[test]
fn bad_software_and_hardware_events_are_refused() {
    check_error(
        "software:bogus { }",
        "
error: `bogus` is not a software event
  ┌─ -e:1:1
  │
1 │ software:bogus { }
  │ ^^^^^^^^^^^^^^ unknown software event
  │
  = the software events are: cpu-clock, task-clock, page-faults, context-switches, cpu-migrations, minor-faults, major-faults, alignment-faults, emulation-faults, dummy, bpf-output",
    );
    for (src, message) in [
        ("hardware:cyc { }", "`cyc` is not a hardware event"),
        ("software:faults:0 { }", "a software probe's count must be at least 1"),
        ("hardware:cycles:x { }", "`x` is not a whole number"),
        ("software { }", "a software probe is written `software:EVENT` or `software:EVENT:COUNT`"),
        ("h:cycles:1:2 { }", "a hardware probe is written `hardware:EVENT` or `hardware:EVENT:COUNT`"),
    ] {
        let e = run_on(&target(), src).unwrap_err();
        assert!(e.contains(message), "{src}: {e}");
    }
}
