//! USDT probes end to end: a small C program with `<sys/sdt.h>` probes
//! (integers of several widths and signs, a string, a global, a constant,
//! and a probe behind a semaphore) traced by the rbpf binary; and the
//! diagnostics for binaries and probes that do not fit.

mod common;

use std::process::Command;

use common::{build_c, fails_with, kernel_tests_enabled, run, App, Built, Tracer};

/// One probe of each kind per line read from stdin, then "enabled" or
/// "disabled": whether the guarded probe's semaphore was raised.
const PROGRAM: &str = r#"
#include <sys/sdt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
void guarded(int i);
static volatile int64_t counter = -7;
int main(void) {
    volatile int8_t a = -3; volatile uint16_t b = 65000; volatile int32_t c = -100000;
    volatile int64_t d = -5000000000LL; volatile uint64_t e = 18000000000000000000ULL;
    const char *s = "hello usdt";
    char line[16];
    /* bpf_probe_read_user cannot fault a page in: touch the string first. */
    if (strlen(s) != 10) return 1;
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        DTRACE_PROBE5(rbpf, ints, a, b, c, d, e);
        DTRACE_PROBE2(rbpf, text, s, i);
        DTRACE_PROBE2(rbpf, global, counter, 42);
        guarded(i);
        DTRACE_PROBE(other, ints);
        fflush(stdout);
    }
    return 0;
}
"#;

/// In a file of its own: with semaphores on, every probe of a file needs one.
const GUARDED: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>
__extension__ unsigned short rbpf_guarded_semaphore __attribute__((unused)) __attribute__((section(".probes")));
void guarded(int i) {
    if (rbpf_guarded_semaphore) {
        DTRACE_PROBE1(rbpf, guarded, i);
        printf("enabled\n");
    } else {
        printf("disabled\n");
    }
}
"#;

/// Builds the test program; `None` (after saying why) where gcc or
/// <sys/sdt.h> is missing, unless RBPF_REQUIRE_KERNEL=1.
fn build(test: &str) -> Option<Built> {
    Built::new(test, "the usdt test program (needs gcc and systemtap-sdt-dev)", "usdt-app", &[("main.c", PROGRAM), ("guarded.c", GUARDED)], &["-O2"])
}

/// As [`build`], for a test that loads programs: `None` also where kernel
/// tests cannot run.
fn build_for_kernel(test: &str) -> Option<Built> {
    if !kernel_tests_enabled(test) {
        return None;
    }
    build(test)
}

/// What `tracer` printed: once it has attached `probes` probes (as its
/// "Attaching" line says), `while_attached` runs, then SIGINT stops it,
/// which must end it with status 0.
fn trace(mut tracer: Tracer, probes: usize, while_attached: impl FnOnce()) -> String {
    assert_eq!(tracer.attaching(), probes);
    tracer.wait_attached(probes);
    while_attached();
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    out
}

#[test]
fn usdt_probes_read_arguments_and_raise_semaphores() {
    const TEST: &str = "usdt_probes_read_arguments_and_raise_semaphores";
    let Some(binary) = build_for_kernel(TEST) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let program = format!(
        "usdt:{path}:rbpf:ints {{ printf(\"%s %d %d %d %ld %lu\\n\", probe, arg0, arg1, arg2, arg3, arg4); }} \
         U:{path}:text {{ printf(\"%s [%s] %d\\n\", probe, str(arg0), arg1); }} \
         usdt:{path}:rbpf:global {{ printf(\"global %d %d\\n\", arg0, arg1); }} \
         usdt:{path}:rbpf:guarded {{ printf(\"guarded %d\\n\", arg0); }} \
         usdt:{path}:*:ints {{ @ints[probe] = count(); }}"
    );
    // Started before rbpf: attaching must raise the semaphore of a process
    // that already runs, and detaching lower it again.
    let mut app = App::start(&binary);
    assert_eq!(app.step(), "disabled");
    let out = trace(Tracer::start(&["-e", &program]), 6, || {
        assert_eq!(app.step(), "enabled");
        assert_eq!(app.step(), "enabled");
    });
    assert_eq!(app.step(), "disabled");
    app.finish();
    let ints = format!("usdt:{path}:rbpf:ints -3 65000 -100000 -5000000000 18000000000000000000");
    for expected in [
        ints.as_str(),
        &format!("usdt:{path}:rbpf:text [hello usdt] 1"),
        &format!("usdt:{path}:rbpf:text [hello usdt] 2"),
        "global -7 42",
        "guarded 1",
        "guarded 2",
        &format!("@ints[usdt:{path}:other:ints]: 2"),
        &format!("@ints[usdt:{path}:rbpf:ints]: 2"),
    ] {
        assert!(out.lines().any(|l| l == expected), "expected {expected:?} in:\n{out}");
    }
    // Only the two steps while attached fired: not the ones before or after.
    assert_eq!(out.lines().filter(|l| l.starts_with(&ints)).count(), 2, "{out}");
    assert!(!out.contains("guarded 0") && !out.contains("guarded 3"), "{out}");
}

#[test]
fn pid_attaches_usdt_probes_and_raises_semaphores_in_that_process_alone() {
    const TEST: &str = "pid_attaches_usdt_probes_and_raises_semaphores_in_that_process_alone";
    let Some(binary) = build_for_kernel(TEST) else { return };
    let (mut traced, mut other) = (App::start(&binary), App::start(&binary));
    let pid = traced.pid();
    // The binary by the name the process maps it under.
    let program = "usdt:usdt-app:rbpf:guarded { @[probe, pid] = count(); } usdt:usdt-app:rbpf:ints { @ints[pid] = count(); }";
    let out = trace(Tracer::start(&["-p", &pid.to_string(), "-e", program]), 2, || {
        assert_eq!(traced.step(), "enabled");
        assert_eq!(other.step(), "disabled");
        assert_eq!(traced.step(), "enabled");
    });
    traced.finish();
    other.finish();
    let path = binary.to_str().expect("utf-8 path");
    // Under -p, bpftrace names the file through the process's root.
    assert!(out.lines().any(|l| l == format!("@[usdt:/proc/{pid}/root{path}:rbpf:guarded, {pid}]: 2")), "{out}");
    assert!(out.lines().any(|l| l == format!("@ints[{pid}]: 2")), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with('@')).count(), 2, "{out}");
}

/// `usdt:*` with -p: every probe of the process's files, as bpftrace
/// takes it.
#[test]
fn a_bare_wildcard_with_a_pid_means_every_probe_of_the_process() {
    const TEST: &str = "a_bare_wildcard_with_a_pid_means_every_probe_of_the_process";
    let Some(binary) = build_for_kernel(TEST) else { return };
    let mut traced = App::start(&binary);
    let pid = traced.pid();
    let mut tracer = Tracer::start(&["-p", &pid.to_string(), "-e", "usdt:* { @[probe] = count(); }"]);
    tracer.wait_attached(1);
    assert_eq!(traced.step(), "enabled");
    traced.finish();
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    let path = binary.to_str().expect("utf-8 path");
    assert!(out.lines().any(|l| l == format!("@[usdt:/proc/{pid}/root{path}:rbpf:guarded]: 1")), "{out}");
}

#[test]
fn a_relative_path_starts_from_the_current_directory() {
    const TEST: &str = "a_relative_path_starts_from_the_current_directory";
    let Some(binary) = build_for_kernel(TEST) else { return };
    let mut app = App::start(&binary);
    let pid = app.pid();
    let program = format!("usdt:./usdt-app:rbpf:ints /pid == {pid}/ {{ @[probe, arg0] = count(); }}");
    let out = trace(Tracer::start_in(binary.dir(), &["-e", &program]), 1, || {
        app.step();
        app.step();
    });
    app.finish();
    // Listed as written, as bpftrace lists it.
    let listed = common::rbpf().current_dir(binary.dir()).args(["-l", "usdt:./usdt-app:rbpf:i*"]).output().expect("run rbpf");
    // Named with the path as written, as bpftrace names it.
    assert!(out.lines().any(|l| l == "@[usdt:./usdt-app:rbpf:ints, -3]: 2"), "{out}");
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "usdt:./usdt-app:rbpf:ints\n");
}

#[test]
fn usdt_errors_name_the_binary_and_the_probe() {
    fails_with(&["-e", "usdt:/nonexistent/app:p:n { }"], &["/nonexistent/app does not exist", "-e:1:1"]);
    fails_with(&["-e", "usdt:/bin/true:p:n { }"], &["`/bin/true` has no USDT probes"]);
    let Some(binary) = build("usdt_errors_name_the_binary_and_the_probe") else { return };
    let path = binary.to_str().expect("utf-8 path");
    fails_with(&["-e", &format!("usdt:{path}:rbpf:nope {{ }}")], &[&format!("`{path}` has no USDT probe `rbpf:nope`"), "rbpf:ints"]);
    fails_with(&["-e", &format!("usdt:{path}:ints {{ }}")], &["the USDT probe name `ints` is ambiguous", "other, rbpf"]);
    fails_with(
        &["-e", &format!("usdt:{path}:rbpf:text {{ print(arg2); }}")],
        &[&format!("`usdt:{path}:rbpf:text` has no `arg2`"), "this probe has 2 arguments: arg0 and arg1"],
    );
}

/// The fact `rbpf -l 'usdt:PATH'` lists: every probe site of the file,
/// with its semaphore where it has one.
#[test]
fn host_target_lists_a_binarys_usdt_probes() {
    use rbpf_lang::target::Target;
    let Some(binary) = build("host_target_lists_a_binarys_usdt_probes") else { return };
    let probes = rbpf_runtime::target::HostTarget::new().usdt_probes(binary.to_str().expect("utf-8 path")).expect("probes");
    let mut names: Vec<String> = probes
        .iter()
        .map(|p| format!("{}:{} {}", p.provider, p.name, if p.semaphore_offset.is_some() { "semaphore" } else { "-" }))
        .collect();
    names.sort();
    assert_eq!(names, ["other:ints -", "rbpf:global -", "rbpf:guarded semaphore", "rbpf:ints -", "rbpf:text -"]);
    let text = probes.iter().find(|p| p.name == "text").expect("rbpf:text");
    assert_eq!(text.args.split_whitespace().count(), 2, "{text:?}");
    assert!(probes.iter().all(|p| p.offset > 0 && p.offset == p.address), "a PIE's text is mapped at its file offset: {probes:?}");
}

/// `rbpf -l 'usdt:PATH'` lists every probe of the binary (bpftrace 0.17
/// refuses that form; the issue asks for it), and `usdt:PATH:PROV:NAME`
/// with wildcards lists what bpftrace lists.
#[test]
fn usdt_probes_are_listed() {
    let Some(binary) = build("usdt_probes_are_listed") else { return };
    let path = binary.to_string_lossy().into_owned();
    let list = |search: &str| {
        let out = run(&["-l", search]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let all: Vec<String> = ["other:ints", "rbpf:global", "rbpf:guarded", "rbpf:ints", "rbpf:text"]
        .iter()
        .map(|p| format!("usdt:{path}:{p}\n"))
        .collect();
    assert_eq!(list(&format!("usdt:{path}")), all.concat());
    assert_eq!(list(&format!("U:{path}:ints")), format!("usdt:{path}:other:ints\nusdt:{path}:rbpf:ints\n"));
    let search = format!("usdt:{path}:rbpf:*");
    let ours = list(&search);
    assert_eq!(ours, all[1..].concat());
    if let Ok(reference) = Command::new("bpftrace").args(["-l", &search]).output() {
        if reference.status.success() {
            assert_eq!(ours, String::from_utf8_lossy(&reference.stdout), "bpftrace -l {search} lists otherwise");
        }
    }
}

/// A library whose probe is behind a semaphore: `fire` answers whether the
/// semaphore was raised.
const LIBRARY: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
__extension__ unsigned short libp_fire_semaphore __attribute__((unused)) __attribute__((section(".probes")));
int fire(int i) {
    if (libp_fire_semaphore) {
        DTRACE_PROBE1(libp, fire, i);
        return 1;
    }
    return 0;
}
"#;

/// A program that links the library: a probe of its own, then the
/// library's, per line read; answers "enabled" or "disabled".
const LINKED: &str = r#"
#include <sys/sdt.h>
#include <stdio.h>
int fire(int i);
int main(void) {
    char line[16];
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        DTRACE_PROBE1(app, tick, i);
        printf("%s\n", fire(i) ? "enabled" : "disabled");
        fflush(stdout);
    }
    return 0;
}
"#;

/// Builds the library and the program that links it, in one directory,
/// for a test that loads programs: `None` also where kernel tests cannot
/// run.
fn build_linked(test: &str) -> Option<Built> {
    if !kernel_tests_enabled(test) {
        return None;
    }
    let what = "the usdt library test program (needs gcc and systemtap-sdt-dev)";
    let library = build_c(test, what, "libprobes.so", &[("probes.c", LIBRARY)], &["-O2", "-shared", "-fPIC"])?;
    // Linked by its path (it has no soname), so that it is found wherever
    // the program runs.
    Built::new(test, what, "usdt-linked", &[("linked.c", LINKED)], &["-O2", "-Wl,--no-as-needed", library.to_str().expect("utf-8 path")])
}

#[test]
fn pid_finds_usdt_probes_in_the_processs_program_and_libraries() {
    const TEST: &str = "pid_finds_usdt_probes_in_the_processs_program_and_libraries";
    let Some(binary) = build_linked(TEST) else { return };
    let (mut traced, mut other) = (App::start(&binary), App::start(&binary));
    let pid = traced.pid();
    // No binary named: the library's probe is found in the process's maps;
    // a wildcard binary matches the program and its libraries.
    let program = "usdt::libp:fire { @fire[probe, arg0] = count(); } usdt:*:app:* { @tick[probe] = count(); }";
    let out = trace(Tracer::start(&["-p", &pid.to_string(), "-e", program]), 2, || {
        // The library's semaphore is raised in the traced process only.
        assert_eq!(traced.step(), "enabled");
        assert_eq!(other.step(), "disabled");
        assert_eq!(traced.step(), "enabled");
    });
    assert_eq!(traced.step(), "disabled");
    traced.finish();
    other.finish();
    // Named through the process's root, as bpftrace 0.17 names them.
    let root = format!("/proc/{pid}/root{}", binary.dir().display());
    for expected in [
        format!("@fire[usdt:{root}/libprobes.so:libp:fire, 0]: 1"),
        format!("@fire[usdt:{root}/libprobes.so:libp:fire, 1]: 1"),
        format!("@tick[usdt:{root}/usdt-linked:app:tick]: 2"),
    ] {
        assert!(out.lines().any(|l| l == expected), "expected {expected:?} in:\n{out}");
    }
    assert_eq!(out.lines().filter(|l| l.starts_with('@')).count(), 3, "{out}");
}

#[test]
fn usdt_file_activation_raises_the_semaphore_in_every_process_that_maps_the_file() {
    const TEST: &str = "usdt_file_activation_raises_the_semaphore_in_every_process_that_maps_the_file";
    let Some(binary) = build_linked(TEST) else { return };
    let (mut traced, mut other) = (App::start(&binary), App::start(&binary));
    let pid = traced.pid();
    let program = "usdt:libprobes:libp:fire { @[pid] = count(); }";
    let out = trace(Tracer::start(&["-p", &pid.to_string(), "--usdt-file-activation", "-e", program]), 1, || {
        assert_eq!(traced.step(), "enabled");
        assert_eq!(other.step(), "enabled");
    });
    assert_eq!(other.step(), "disabled");
    traced.finish();
    other.finish();
    // The events are still the -p process's alone.
    assert_eq!(out.lines().filter(|l| l.starts_with('@')).collect::<Vec<_>>(), [format!("@[{pid}]: 1")], "{out}");
}

/// A process in a mount namespace of its own runs a program that exists
/// only there: rbpf reads and attaches to it through /proc/PID/root.
#[test]
fn pid_traces_a_process_in_another_mount_namespace() {
    const TEST: &str = "pid_traces_a_process_in_another_mount_namespace";
    let Some(binary) = build_linked(TEST) else { return };
    if !Command::new("unshare").args(["-m", "true"]).status().is_ok_and(|s| s.success()) {
        assert_ne!(std::env::var("RBPF_REQUIRE_KERNEL").as_deref(), Ok("1"), "{TEST}: `unshare -m` does not work here");
        eprintln!("skipping {TEST}: `unshare -m` does not work here");
        return;
    }
    let dir = binary.dir();
    let hidden = dir.join("hidden");
    std::fs::create_dir_all(&hidden).expect("mount point");
    // A tmpfs over `hidden` in the new namespace holds a copy of the
    // program; the host sees the directory empty.
    let script = dir.join("in-namespace.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec unshare -m /bin/sh -c 'mount -t tmpfs rbpf \"$0\" && cp \"$1\" \"$0/\" && exec \"$0/usdt-linked\"' \"$(dirname \"$0\")/hidden\" \"$(dirname \"$0\")/usdt-linked\"\n",
    )
    .expect("write the script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("make the script executable");
    let mut app = App::start(&script);
    // Answered by the program itself, in its namespace.
    assert_eq!(app.step(), "disabled");
    let pid = app.pid();
    let inside = hidden.join("usdt-linked");
    assert!(!inside.exists(), "the host must not see the namespace's program");
    let program = format!("usdt:{}:app:tick {{ @tick[probe] = count(); }} usdt::libp:fire {{ @fire = count(); }}", inside.display());
    let mut listed = None;
    let out = trace(Tracer::start(&["-p", &pid.to_string(), "-e", &program]), 2, || {
        assert_eq!(app.step(), "enabled");
        listed = Some(run(&["-l", "usdt:*", "-p", &pid.to_string()]));
    });
    app.finish();
    let listed = listed.expect("listed while attached");
    assert!(out.lines().any(|l| l == format!("@tick[usdt:/proc/{pid}/root{}:app:tick]: 1", inside.display())), "{out}");
    assert!(out.lines().any(|l| l == "@fire: 1"), "{out}");
    let root = format!("/proc/{pid}/root{}", dir.display());
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        format!("usdt:{root}/hidden/usdt-linked:app:tick\nusdt:{root}/libprobes.so:libp:fire\n"),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}
