//! Probe listing against a FakeTarget: searches, aliases, the order, -v
//! details and what cannot be listed.

use super::*;
use crate::target::{FakeTarget, KernelSymbol};

const OPENAT: &str = "format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
";

const SWITCH: &str = "format:
\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] name;\toffset:28;\tsize:4;\tsigned:0;
";

fn target() -> FakeTarget {
    let mut t = FakeTarget::default()
        .with_tracepoint("syscalls", "sys_enter_openat", OPENAT)
        .with_tracepoint("syscalls", "sys_enter_nanosleep", OPENAT)
        .with_tracepoint("sched", "sched_switch", SWITCH)
        .with_kernel_function("vfs_read", &[("file", "struct file *", 8, false), ("count", "size_t", 8, false)], Some(("ssize_t", 8, true)))
        .with_kernel_function("do_nanosleep", &[("t", "struct hrtimer_sleeper *", 8, false)], Some(("int", 4, true)))
        .with_kernel_function("kernel_power_off", &[], None)
        .with_kernel_function("seven", &[("a", "int", 4, true); 7], None)
        .with_user_functions("/bin/sh", &["main", "readline", "read_line", "main"])
        .with_user_function_args("/bin/sh", "readline", readline())
        .with_user_functions("/bin/stripped", &["main"]);
    t.no_dwarf.push("/bin/stripped".into());
    t.kernel_function_types.get_mut("kernel_power_off").unwrap().variadic = true;
    // A module's function, a partial function and one without BTF.
    for (name, module) in [("v9fs_read", Some("9p")), ("vfs_read.part.0", None), ("no_btf_sleep", None), ("vfs_read", None)] {
        t.kernel_functions.push(KernelSymbol { name: name.into(), module: module.map(Into::into) });
    }
    t
}

/// `char *readline(const char *prompt)`, as DWARF describes it.
fn readline() -> crate::target::UserFunction {
    use crate::ctypes::{AddrSpace, CType};
    let prompt = crate::target::UserParam {
        name: Some("prompt".into()),
        c_type: "const char*".into(),
        ty: CType::pointer(CType::Int { size: 1, signed: true }, AddrSpace::User),
        location: crate::target::ArgLocation::Registers { first: 0, count: 1 },
    };
    crate::target::UserFunction { params: vec![prompt], types: Vec::new() }
}

/// The lines `rbpf -l [-v] SEARCH` prints, then the warnings.
fn check(search: &str, verbose: bool, expect: &str) {
    let listing = list(search, verbose, &target()).unwrap_or_else(|e| panic!("{search}: {e}"));
    let mut got = String::new();
    for p in &listing.probes {
        got += &format!("{}\n", p.name);
        for d in &p.details {
            got += &format!("    {d}\n");
        }
    }
    for w in &listing.warnings {
        got += &format!("WARNING: {w}\n");
    }
    assert_eq!(got, expect, "rbpf -l {search}");
}

#[test]
fn tracepoints_by_category_and_name() {
    check("tracepoint:syscalls:*", false, "tracepoint:syscalls:sys_enter_nanosleep\ntracepoint:syscalls:sys_enter_openat\n");
    check("t:*:sched_*", false, "tracepoint:sched:sched_switch\n");
    // One part with a wildcard: any category.
    check("tracepoint:*open*", false, "tracepoint:syscalls:sys_enter_openat\n");
    check("tracepoint:syscalls:nonexistent", false, "");
}

#[test]
fn tracepoint_fields_as_declared() {
    check(
        "tracepoint:syscalls:sys_enter_openat,t:sched:sched_switch",
        true,
        "tracepoint:syscalls:sys_enter_openat\n    int __syscall_nr\n    int dfd\n    const char * filename\n\
         tracepoint:sched:sched_switch\n    char prev_comm[16]\n    pid_t prev_pid\n    __data_loc char[] name\n",
    );
}

#[test]
fn a_search_without_a_type_searches_every_listed_type() {
    // As bpftrace: `*sleep*` is `*:*sleep*`; return probes and uprobes are not in it.
    check(
        "*sleep*",
        false,
        "kfunc:vmlinux:do_nanosleep\nkprobe:do_nanosleep\nkprobe:no_btf_sleep\ntracepoint:syscalls:sys_enter_nanosleep\n",
    );
    check("*:vfs_read", false, "kfunc:vmlinux:vfs_read\nkprobe:vfs_read\n");
    check("k*:vfs_read", false, "kfunc:vmlinux:vfs_read\nkprobe:vfs_read\n");
}

#[test]
fn attach_points_in_order_those_of_any_type_last() {
    // As bpftrace 0.17: each sorted, in the order written, but a wildcard
    // type's after the rest, and nothing merged.
    check(
        "*:sched_*,t:syscalls:sys_enter_openat,t:syscalls:*",
        false,
        "tracepoint:syscalls:sys_enter_openat\ntracepoint:syscalls:sys_enter_nanosleep\ntracepoint:syscalls:sys_enter_openat\n\
         tracepoint:sched:sched_switch\n",
    );
}

#[test]
fn everything() {
    let listing = list("", false, &target()).unwrap();
    let names: Vec<&str> = listing.probes.iter().map(|p| p.name.as_str()).collect();
    let kinds: std::collections::BTreeSet<&str> = names.iter().map(|n| n.split(':').next().unwrap()).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["hardware", "kfunc", "kprobe", "software", "tracepoint"]);
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, each once: {names:?}");
    assert!(listing.warnings.is_empty());
}

#[test]
fn kprobes_by_name_alone_without_partial_functions() {
    check(
        "kprobe:*",
        false,
        "kprobe:do_nanosleep\nkprobe:kernel_power_off\nkprobe:no_btf_sleep\nkprobe:seven\nkprobe:v9fs_read\nkprobe:vfs_read\n",
    );
    check("kr:vfs_*", false, "kretprobe:vfs_read\n");
    // An offset names the function's probe, as bpftrace lists it.
    check("k:vfs_read+5", false, "kprobe:vfs_read\n");
    check("kprobe:9p:*", false, "kprobe:9p:v9fs_read\n");
}

#[test]
fn kernel_functions_with_btf_that_ftrace_traces() {
    // `seven` has too many arguments for a trampoline; no_btf_sleep no BTF.
    check("kfunc:*", false, "kfunc:vmlinux:do_nanosleep\nkfunc:vmlinux:kernel_power_off\nkfunc:vmlinux:vfs_read\n");
    check("fentry:vmlinux:vfs_*", false, "kfunc:vmlinux:vfs_read\n");
    check("fexit:9p:*", false, "");
    check(
        "kretfunc:vfs_read,f:kernel_power_off",
        true,
        "kretfunc:vmlinux:vfs_read\n    struct file * file\n    size_t count\n    ssize_t retval\n\
         kfunc:vmlinux:kernel_power_off\n    void \n",
    );
}

#[test]
fn every_btf_function_when_ftrace_cannot_say() {
    let target = FakeTarget { no_kernel_functions: Some("cannot read available_filter_functions".into()), ..target() };
    let names: Vec<String> = list("kfunc:*", false, &target).unwrap().probes.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["kfunc:vmlinux:do_nanosleep", "kfunc:vmlinux:kernel_power_off", "kfunc:vmlinux:vfs_read"]);
}

#[test]
fn software_and_hardware_events() {
    check("software:*fault*", false, "software:alignment-faults:\nsoftware:emulation-faults:\nsoftware:major-faults:\nsoftware:minor-faults:\nsoftware:page-faults:\n");
    // An alias finds its event.
    check("s:cs", false, "software:context-switches:\n");
    check("s:cs,s:context-switches", false, "software:context-switches:\nsoftware:context-switches:\n");
    check("h:*cycles*", false, "hardware:bus-cycles:\nhardware:cpu-cycles:\nhardware:ref-cycles:\n");
    assert_eq!(list("software:*", false, &target()).unwrap().probes.len(), 11);
    assert_eq!(list("hardware:*:100", false, &target()).unwrap().probes.len(), 10);
}

#[test]
fn uprobes_of_a_binary() {
    check("uprobe:/bin/sh:read*", false, "uprobe:/bin/sh:read_line\nuprobe:/bin/sh:readline\n");
    check("ur:/bin/sh:main", false, "uretprobe:/bin/sh:main\n");
    // With -v, the parameters DWARF describes; a binary without it is
    // listed with bpftrace's warning.
    check("uprobe:/bin/sh:read*", true, "uprobe:/bin/sh:read_line\nuprobe:/bin/sh:readline\n    const char* prompt\n");
    check("uprobe:/bin/stripped:*", true, "uprobe:/bin/stripped:main\nWARNING: No DWARF found for \"/bin/stripped\", cannot show parameter info\n");
    // A relative path is listed as written, as bpftrace lists it.
    check("uprobe:bin/sh:read*", false, "uprobe:bin/sh:read_line\nuprobe:bin/sh:readline\n");
    // By name, listed under the file found.
    let mut t = target().with_file("/bin/sh", true).with_shared_library("libc.so.6", "/lib/libc.so.6").with_user_functions("/lib/libc.so.6", &["malloc", "free"]);
    t.program_directories = vec!["/bin".into()];
    let names = |search: &str| list(search, false, &t).unwrap().probes.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names("uprobe:sh:read*"), ["uprobe:/bin/sh:read_line", "uprobe:/bin/sh:readline"]);
    assert_eq!(names("uprobe:libc:*"), ["uprobe:/lib/libc.so.6:free", "uprobe:/lib/libc.so.6:malloc"]);
}

#[test]
fn errors_say_what_could_not_be_listed() {
    let broken = FakeTarget {
        no_kernel_functions: Some("cannot read /sys/kernel/tracing/available_filter_functions: Operation not permitted".into()),
        no_btf: Some("this kernel has no BTF".into()),
        ..target()
    };
    let error = |search: &str| list(search, false, &broken).unwrap_err().to_string();
    assert_eq!(
        error("kprobe:*"),
        "cannot list kprobe probes: cannot read /sys/kernel/tracing/available_filter_functions: Operation not permitted"
    );
    assert_eq!(error("k:vfs_read"), error("kprobe:*"));
    assert_eq!(error("kfunc:*"), "cannot list fentry probes: this kernel has no BTF");
    assert_eq!(error("uprobe:/nonexistent:*"), "cannot list uprobe probes: /nonexistent does not exist");
    assert_eq!(error("uprobe:sh:*"), "cannot find a program or library named `sh`");
    assert_eq!(error("uprobe:bin/nope:*"), "cannot list uprobe probes: /bin/nope does not exist");
    assert_eq!(error("tracepoint:a:b:c"), "a tracepoint is listed as `tracepoint:CATEGORY:NAME`");
    assert!(error("nosuch:*").starts_with("`nosuch` is not a probe type; the types rbpf lists are tracepoint, kprobe,"));
    assert_eq!(error("interval:*"), "interval probes cannot be listed");
    // Under a wildcard type, what cannot be read is a warning and the rest is listed.
    let listing = list("*:*sleep*", false, &broken).unwrap();
    assert_eq!(listing.probes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["tracepoint:syscalls:sys_enter_nanosleep"]);
    assert_eq!(
        listing.warnings,
        [
            "cannot list kprobe probes: cannot read /sys/kernel/tracing/available_filter_functions: Operation not permitted",
            "cannot list fentry probes: this kernel has no BTF",
        ]
    );
}

#[test]
fn a_programs_probes() {
    let program = crate::parse("BEGIN { } t:syscalls:*open*, kprobe:vfs_read { } interval:s:1 { } END { }").unwrap();
    let listing = list_program(&program, true, &target()).unwrap();
    let got: Vec<String> = listing.probes.iter().map(|p| format!("{} {:?}", p.name, p.details)).collect();
    assert_eq!(
        got,
        [
            "BEGIN []",
            "tracepoint:syscalls:sys_enter_openat [\"int __syscall_nr\", \"int dfd\", \"const char * filename\"]",
            "kprobe:vfs_read []",
            "interval:s:1 []",
            "END []",
        ]
    );
    let program = crate::parse("tracepoint:a:b:c { }").unwrap();
    let errors = list_program(&program, false, &target()).unwrap_err();
    assert_eq!(errors[0].message, "cannot list `tracepoint:a:b:c`: a tracepoint is listed as `tracepoint:CATEGORY:NAME`");
    let program = crate::parse("t:syscalls:nosuch* { } t:syscalls:sys_enter_openat { }").unwrap();
    let errors = list_program(&program, false, &target()).unwrap_err();
    assert_eq!(errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["`t:syscalls:nosuch*` matches no probe"]);
}
