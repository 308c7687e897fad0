//! End-to-end tests of probe listing (`rbpf -l`, `-lv`, `-l -e`): on this
//! host against bpftrace 0.17's output where it is installed, and against
//! the formats it was seen to print. Kernel functions are listed in the
//! Linux 6.1 guest (tests/vm.rs), whose kernel lets them be read.

mod common;

use std::process::{Command, Output, Stdio};

use common::kernel_tests_enabled;

/// Runs rbpf to completion, reading its output as it comes (a listing
/// fills a pipe long before it ends).
fn run(args: &[&str]) -> Output {
    common::rbpf().args(args).stdin(Stdio::null()).output().expect("run rbpf")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// rbpf's listing, which must succeed.
fn listed(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "rbpf {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// bpftrace's stdout for the same arguments; None, with a message, when it
/// is not installed (a failure under RBPF_REQUIRE_KERNEL=1, as CI has it).
fn bpftrace(test: &str, args: &[&str]) -> Option<String> {
    match Command::new("bpftrace").args(args).stderr(Stdio::null()).output() {
        Ok(out) => Some(stdout(&out)),
        Err(e) => {
            if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("{test}: bpftrace is not installed ({e}): .ci/run installs it");
            }
            eprintln!("skipping {test}'s comparison with bpftrace: it is not installed");
            None
        }
    }
}

/// The first line where two listings differ, for a readable failure.
fn first_difference(ours: &str, theirs: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    format!("line {}: rbpf {:?}, bpftrace {:?} ({} and {} lines)", at + 1, a.get(at), b.get(at), a.len(), b.len())
}

#[test]
fn tracepoints_are_listed_as_bpftrace_lists_them() {
    if !kernel_tests_enabled("tracepoints_are_listed_as_bpftrace_lists_them") {
        return;
    }
    let ours = listed(&["-l", "tracepoint:syscalls:sys_enter_open*"]);
    assert!(ours.contains("tracepoint:syscalls:sys_enter_openat\n"), "{ours}");
    for search in ["tracepoint:*", "t:syscalls:*nanosleep*", "tracepoint:*sleep*", "*:*sleep*,t:sched:sched_switch,t:syscalls:sys_*_nanosleep"] {
        let ours = listed(&["-l", search]);
        let Some(theirs) = bpftrace("tracepoints_are_listed_as_bpftrace_lists_them", &["-l", search]) else { return };
        // bpftrace 0.17 prints `software:PATTERN:` and `hardware:PATTERN:`
        // lines for a search without a probe type; rbpf lists the events.
        let theirs: String = theirs.lines().filter(|l| !l.starts_with("software:") && !l.starts_with("hardware:")).map(|l| format!("{l}\n")).collect();
        let ours: String = ours.lines().filter(|l| l.starts_with("tracepoint:")).map(|l| format!("{l}\n")).collect();
        assert!(ours == theirs, "rbpf -l {search}: {}", first_difference(&ours, &theirs));
    }
}

#[test]
fn tracepoint_fields_are_listed_as_bpftrace_lists_them() {
    if !kernel_tests_enabled("tracepoint_fields_are_listed_as_bpftrace_lists_them") {
        return;
    }
    // bpftrace -lv tracepoint:syscalls:sys_enter_openat (0.17, Linux 6.18)
    assert_eq!(
        listed(&["-lv", "tracepoint:syscalls:sys_enter_openat"]),
        "tracepoint:syscalls:sys_enter_openat\n    int __syscall_nr\n    int dfd\n    const char * filename\n    int flags\n    umode_t mode\n"
    );
    let ours = listed(&["-l", "-v", "tracepoint:*"]);
    let Some(theirs) = bpftrace("tracepoint_fields_are_listed_as_bpftrace_lists_them", &["-lv", "tracepoint:*"]) else { return };
    assert!(ours == theirs, "rbpf -lv tracepoint:*: {}", first_difference(&ours, &theirs));
}

#[test]
fn software_and_hardware_events() {
    // As bpftrace 0.19 lists them; 0.17 prints `software:*:` here.
    assert_eq!(
        listed(&["-l", "software:*"]),
        "software:alignment-faults:\nsoftware:bpf-output:\nsoftware:context-switches:\nsoftware:cpu-clock:\n\
         software:cpu-migrations:\nsoftware:dummy:\nsoftware:emulation-faults:\nsoftware:major-faults:\n\
         software:minor-faults:\nsoftware:page-faults:\nsoftware:task-clock:\n"
    );
    assert_eq!(
        listed(&["-l", "h:*"]),
        "hardware:backend-stalls:\nhardware:branch-instructions:\nhardware:branch-misses:\nhardware:bus-cycles:\n\
         hardware:cache-misses:\nhardware:cache-references:\nhardware:cpu-cycles:\nhardware:frontend-stalls:\n\
         hardware:instructions:\nhardware:ref-cycles:\n"
    );
    assert_eq!(listed(&["-l", "s:faults,hardware:cycles"]), "software:page-faults:\nhardware:cpu-cycles:\n");
}

#[test]
fn uprobes_are_the_functions_of_a_binary() {
    let ours = listed(&["-l", "uprobe:/bin/bash:*"]);
    assert!(ours.contains("uprobe:/bin/bash:readline\n"), "{ours}");
    assert_eq!(listed(&["-l", "uretprobe:/bin/bash:readline"]), "uretprobe:/bin/bash:readline\n");
    // bpftrace needs root to list anything.
    if !kernel_tests_enabled("uprobes_are_the_functions_of_a_binary") {
        return;
    }
    let Some(theirs) = bpftrace("uprobes_are_the_functions_of_a_binary", &["-l", "uprobe:/bin/bash:*"]) else { return };
    assert!(ours == theirs, "rbpf -l uprobe:/bin/bash:*: {}", first_difference(&ours, &theirs));
}

#[test]
fn quoted_pieces_of_a_search_are_taken_literally_as_bpftrace_takes_them() {
    const TEST: &str = "quoted_pieces_of_a_search_are_taken_literally_as_bpftrace_takes_them";
    // A path with a space and a comma, which only quotes can name.
    let dir = std::env::temp_dir().join(format!("rbpf-{TEST}-{}", std::process::id())).join("my app, v2");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let binary = dir.join("bash");
    std::fs::copy("/bin/bash", &binary).expect("copy /bin/bash");
    let quoted = format!("uprobe:\"{}\":*", binary.display());
    let ours = listed(&["-l", &quoted]);
    let _ = std::fs::remove_dir_all(dir.parent().expect("temp dir"));
    let plain = listed(&["-l", "uprobe:/bin/bash:*"]);
    assert!(!plain.is_empty() && ours == plain.replace("/bin/bash", &binary.display().to_string()), "{ours}");
    // Each piece may be quoted, in a list too; a program's attach points
    // list as they run.
    let search = "tracepoint:\"syscalls\":sys_enter_open*,t:\"sched\":\"sched_switch\"";
    let ours = listed(&["-l", search]);
    assert!(ours.contains("tracepoint:syscalls:sys_enter_openat\n") && ours.ends_with("tracepoint:sched:sched_switch\n"), "{ours}");
    assert_eq!(listed(&["-l", "-e", "t:\"sched\":sched_switch {}"]), "tracepoint:sched:sched_switch\n");
    // bpftrace needs root to list anything.
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let Some(theirs) = bpftrace(TEST, &["-l", search]) else { return };
    assert!(ours == theirs, "rbpf -l {search}: {}", first_difference(&ours, &theirs));
}

#[test]
fn a_missing_binary_is_one_sentence() {
    let out = run(&["-l", "uprobe:/nonexistent/rbpf-test:*"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ERROR: cannot list uprobe probes: /nonexistent/rbpf-test does not exist\n");
    assert!(out.stdout.is_empty());
}

/// Where the kernel refuses available_filter_functions (this development
/// host does, even to root), listing kprobes fails with one sentence and a
/// plain -l lists the rest with a warning; where it can be read (the 6.1
/// guest), kprobes are listed.
#[test]
fn kprobes_or_the_reason_they_cannot_be_listed() {
    if !kernel_tests_enabled("kprobes_or_the_reason_they_cannot_be_listed") {
        return;
    }
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .find(|t| std::path::Path::new(t).join("events").is_dir());
    // rbpf mounts tracefs if needed: let it, then look.
    let _ = run(&["-l", "tracepoint:syscalls:sys_enter_openat"]);
    let tracefs = tracefs.unwrap_or("/sys/kernel/tracing");
    let path = format!("{tracefs}/available_filter_functions");
    let out = run(&["-l", "kprobe:*"]);
    match std::fs::read(&path) {
        Ok(_) => {
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            assert!(stdout(&out).contains("kprobe:vfs_read\n"));
        }
        Err(e) => {
            let reason = e.to_string();
            let reason = reason.split(" (os error").next().unwrap_or_default();
            let sentence = format!("cannot list kprobe probes: cannot read {path}: {reason}");
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(stderr(&out), format!("ERROR: {sentence}\n"));
            assert!(out.stdout.is_empty());
            let all = run(&["-l"]);
            assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
            assert_eq!(stderr(&all), format!("WARNING: {sentence}\n"));
            assert!(stdout(&all).contains("\ntracepoint:syscalls:sys_enter_openat\n"));
        }
    }
}

#[test]
fn kfuncs_are_listed_by_module() {
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("skipping kfuncs_are_listed_by_module: no kernel BTF");
        return;
    }
    // The kernel's own functions are `vmlinux`'s; each loaded module with
    // BTF has its own (`kfunc:MODULE:FUNC`), and a module that is not
    // loaded lists nothing.
    assert_eq!(listed(&["-l", "kfunc:*:do_nanosleep"]), "kfunc:vmlinux:do_nanosleep\n");
    assert_eq!(listed(&["-l", "kretfunc:vmlinux:do_nanosleep"]), "kretfunc:vmlinux:do_nanosleep\n");
    assert_eq!(listed(&["-l", "kfunc:no_such_module:*"]), "");
    let modules: Vec<String> = std::fs::read_dir("/sys/kernel/btf")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|m| m != "vmlinux")
        .collect();
    if let Some(module) = modules.first() {
        let listing = listed(&["-l", &format!("kfunc:{module}:*")]);
        assert!(listing.lines().all(|l| l.starts_with(&format!("kfunc:{module}:"))), "{listing}");
    }
}

#[test]
fn a_programs_probes_are_listed_without_loading_it() {
    if !kernel_tests_enabled("a_programs_probes_are_listed_without_loading_it") {
        return;
    }
    let program = "BEGIN { @n = 0; } tracepoint:syscalls:sys_enter_openat, t:syscalls:sys_enter_execve { @n++; } interval:s:1 { exit(); }";
    assert_eq!(
        listed(&["-l", "-e", program]),
        "BEGIN\ntracepoint:syscalls:sys_enter_openat\ntracepoint:syscalls:sys_enter_execve\ninterval:s:1\n"
    );
    let out = run(&["-l", "-e", "tracepoint:syscalls:no_such_event { }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`tracepoint:syscalls:no_such_event` matches no probe"), "{}", stderr(&out));
}

#[test]
fn listing_stops_quietly_when_the_reader_does() {
    let mut child = common::rbpf().args(["-l", "software:*"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.code().is_some(), "killed by a signal");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Functions whose parameters cover the spellings `-lv` shows: base types,
/// typedefs, pointers to structs and to const, enums, unions, a struct by
/// value, a function pointer, and none.
const PARAMETERS: &str = r#"
struct node { int x; struct node *next; };
union word { int i; char c[4]; };
enum colour { RED, GREEN };
typedef unsigned long ulong_t;
typedef struct { int a; } anon_t;
struct { int z; } global_anon;
__attribute__((noinline)) int visit(int n, struct node *p, const char *name, ulong_t big, short s, char c) { return n + p->x + name[0] + (int)big + s + c; }
__attribute__((noinline)) long more(long long a, unsigned char b, enum colour e, union word w, struct node byval, void *opaque) { return a + b + e + w.i + byval.x + (opaque != 0); }
__attribute__((noinline)) int call(int (*cb)(int), char **argv, const volatile int *flag, double ratio) { return cb(argv[0][0]) + *flag + (int)ratio; }
__attribute__((noinline)) int arr(int m[3], char *const q, anon_t *t, _Bool b, float f, unsigned u, __typeof__(global_anon) *an) { return m[0] + q[0] + t->a + b + (int)f + u + an->z; }
__attribute__((noinline)) void none(void) { }
static int twice(int v) { return v * 2; }
int main(int argc, char **argv) { struct node n = { 1, 0 }; union word w = { 1 }; volatile int flag = 0; none(); return visit(argc, &n, argv[0], 1, 2, 3) + (int)more(1, 2, GREEN, w, n, 0) + call(twice, argv, &flag, 1.5); }
"#;

/// rbpf in `dir`, listing to completion.
fn listed_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = common::rbpf().current_dir(dir).args(args).stdin(Stdio::null()).output().expect("run rbpf");
    assert_eq!(out.status.code(), Some(0), "rbpf {args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn uprobe_parameters_are_listed_from_dwarf_as_bpftrace_lists_them() {
    const TEST: &str = "uprobe_parameters_are_listed_from_dwarf_as_bpftrace_lists_them";
    let Some(binary) = common::build_c(TEST, "a -g test program (needs gcc)", "params", &[("params.c", PARAMETERS)], &["-g", "-O0"]) else { return };
    let dir = binary.parent().expect("its directory").to_path_buf();
    let path = binary.to_str().expect("utf-8 path");
    let ours = listed(&["-lv", &format!("uprobe:{path}:*")]);
    let expected = [
        "visit\n    int n\n    struct node* p\n    const char* name\n    ulong_t big\n    short int s\n    char c\n",
        "more\n    long long int a\n    unsigned char b\n    enum colour e\n    union word w\n    struct node byval\n    void* opaque\n",
        // What bpftrace 0.17 cannot spell, it calls `<unknown type>`.
        "call\n    <unknown type>* cb\n    char** argv\n    const <unknown type>* flag\n    double ratio\n",
        "arr\n    int* m\n    char* const q\n    anon_t* t\n    _Bool b\n    float f\n    unsigned int u\n    struct <anonymous>* an\n",
        "none\n",
        "main\n    int argc\n    char** argv\n",
    ];
    for e in expected {
        assert!(ours.contains(&format!("uprobe:{path}:{e}")), "{e:?} not in:\n{ours}");
    }
    // A relative path, listed as written.
    let relative = listed_in(&dir, &["-lv", "uprobe:./params:visit"]);
    assert_eq!(relative, format!("uprobe:./params:{}", expected[0]));
    assert_eq!(listed_in(&dir, &["-l", "uprobe:./params:vi*"]), "uprobe:./params:visit\n");
    // bpftrace needs root to list anything.
    if kernel_tests_enabled(TEST) {
        if let Some(theirs) = bpftrace(TEST, &["-lv", &format!("uprobe:{path}:*")]) {
            assert!(ours == theirs, "rbpf -lv uprobe:{path}:*: {}", first_difference(&ours, &theirs));
        }
        let theirs = Command::new("bpftrace").current_dir(&dir).args(["-l", "uprobe:./params:*"]).output().map(|o| stdout(&o));
        if let Ok(theirs) = theirs {
            assert_eq!(listed_in(&dir, &["-l", "uprobe:./params:*"]), theirs);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_binary_without_dwarf_is_listed_with_a_warning() {
    const TEST: &str = "a_binary_without_dwarf_is_listed_with_a_warning";
    let Some(binary) = common::build_c(TEST, "a test program (needs gcc)", "plain", &[("plain.c", PARAMETERS)], &["-O0"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let out = run(&["-lv", &format!("uprobe:{path}:visit")]);
    let _ = std::fs::remove_dir_all(binary.parent().expect("its directory"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("uprobe:{path}:visit\n"));
    // bpftrace 0.17's words.
    assert_eq!(stderr(&out), format!("WARNING: No DWARF found for \"{path}\", cannot show parameter info\n"));
}

/// `-l -p PID`: the uprobes of the process's program and the USDT probes
/// of every file it maps, named through /proc/PID/root, byte for byte as
/// bpftrace 0.17 lists them.
#[test]
fn a_processs_probes_are_listed_as_bpftrace_lists_them() {
    const TEST: &str = "a_processs_probes_are_listed_as_bpftrace_lists_them";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    const PROGRAM: &str = r#"
#include <sys/sdt.h>
#include <stdio.h>
int main(void) {
    char line[16];
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        DTRACE_PROBE1(listed, tick, i);
        DTRACE_PROBE(listed, tock);
        printf("%d\n", i);
        fflush(stdout);
    }
    return 0;
}
"#;
    let Some(binary) = common::build_c(TEST, "a program with USDT probes (needs gcc and systemtap-sdt-dev)", "listed-app", &[("app.c", PROGRAM)], &["-O2"])
    else {
        return;
    };
    let app = common::App::start(&binary);
    let pid = app.pid().to_string();
    let root = format!("/proc/{pid}/root{}", binary.display());
    let searches: [&[&str]; 4] = [&["-l", "-p", &pid], &["-l", "usdt:*", "-p", &pid], &["-l", "uprobe:*", "-p", &pid], &["-l", "*", "-p", &pid]];
    let mut compared = Vec::new();
    for args in searches {
        let ours = listed(args);
        assert!(ours.lines().all(|l| l.starts_with("uprobe:/proc/") || l.starts_with("usdt:/proc/")), "{args:?}: {ours}");
        if let Some(theirs) = bpftrace(TEST, args) {
            assert!(ours == theirs, "{args:?}: {}", first_difference(&ours, &theirs));
        }
        compared.push(ours);
    }
    app.finish();
    let _ = std::fs::remove_dir_all(binary.parent().expect("its directory"));
    assert!(compared[0].contains(&format!("uprobe:{root}:main\n")), "{}", compared[0]);
    assert!(compared[1].starts_with(&format!("usdt:{root}:listed:tick\nusdt:{root}:listed:tock\n")), "{}", compared[1]);
    assert!(compared[2].lines().all(|l| l.starts_with(&format!("uprobe:{root}:"))), "{}", compared[2]);
    assert_eq!(compared[0], compared[3]);
}

/// `-l -e PROGRAM -p PID`: the probes the program would attach in that
/// process — a library named alone is the file the process maps, a
/// wildcard binary matches every file it maps — and its other probes as
/// without -p.
#[test]
fn a_programs_probes_are_listed_in_the_process_given() {
    if !kernel_tests_enabled("a_programs_probes_are_listed_in_the_process_given") {
        return;
    }
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("start sleep");
    let pid = sleeper.id().to_string();
    // The process's own name for libc, found in its maps once it is loaded.
    let mut libc = None;
    for _ in 0..100 {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        libc = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with("/libc.so.6")).map(str::to_string);
        if libc.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let libc = libc.expect("sleep maps libc");
    let program = "uprobe:libc:nanosleep { } uretprobe:*:clock_nanosleep@@* { } tracepoint:syscalls:sys_enter_nanosleep { }";
    let out = run(&["-l", "-p", &pid, "-e", program]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "uprobe:{libc}:nanosleep\nuretprobe:{libc}:clock_nanosleep@@GLIBC_2.17\ntracepoint:syscalls:sys_enter_nanosleep\n"
        )
    );
    // A wildcard binary needs the process.
    let out = run(&["-l", "-e", "uprobe:*:nanosleep { }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("uprobe:*:nanosleep"), "{}", stderr(&out));
}
