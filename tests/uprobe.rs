//! uprobes end to end: a small C program linked against libc, started by
//! the tests, traced by the rbpf binary through a library named alone
//! (`uprobe:libc:div`), through wildcards over its own functions, and with
//! `-p` for one of two identical processes, with arguments by name from
//! the program's DWARF (`args.NAME`, `args.p[i]`, `args` as a whole) and
//! by a path relative to the current directory; wildcards through one
//! multi-attach link, with a function the kernel refuses to probe left out
//! with a warning; GNU indirect functions of libc; and the diagnostics for
//! names that resolve to nothing, offsets and addresses outside every
//! function, and arguments that cannot be read.

mod common;

use std::path::Path;

use common::{fails_with, kernel_tests_enabled, run, run_ok, App, Built, Tracer};

/// Per line read from stdin: one call of libc's `div` (a function nothing
/// else here is likely to call, and that gcc does not inline), of
/// `rbpf_step_b`, which calls `rbpf_step_a`, and of libc's `syscall` with
/// a number no kernel has (it returns -1).
const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int rbpf_step_a(int i) { return i * 3 + 1; }
__attribute__((noinline)) int rbpf_step_b(int i) { return rbpf_step_a(i) - 2; }
int main(void) {
    char line[64];
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        printf("%d %d %ld\n", div(i, 3).quot, rbpf_step_b(i), syscall(-1));
        fflush(stdout);
    }
    return 0;
}
"#;

/// Builds the test program; `None` (after saying why) where kernel tests
/// cannot run or gcc is missing, unless RBPF_REQUIRE_KERNEL=1.
fn build(test: &str) -> Option<Built> {
    Built::for_kernel(test, "the uprobe test program (needs gcc)", "uprobe-app", &[("main.c", PROGRAM)], &["-O1"])
}

/// Starts rbpf on `args`, waits for `probes` attached probes, lets `drive`
/// run the test programs, then stops it with SIGINT; its output.
fn trace(args: &[&str], probes: usize, drive: impl FnOnce()) -> String {
    let mut tracer = Tracer::start(args);
    tracer.wait_for(|l| l.starts_with("Attaching") || l.contains(r#""type": "attached_probes""#));
    tracer.wait_attached(probes);
    drive();
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    out
}

/// The value of the map line that starts with `key`, if printed.
fn count(out: &str, key: &str) -> Option<u64> {
    out.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(": ")?.parse().ok())
}

#[test]
fn a_library_named_alone_is_the_one_the_dynamic_loader_finds() {
    const TEST: &str = "a_library_named_alone_is_the_one_the_dynamic_loader_finds";
    let Some(binary) = build(TEST) else { return };
    let mut app = App::start(&binary);
    let pid = app.pid();
    let program = format!(
        "uprobe:libc:div /pid == {pid}/ {{ @calls[probe] = count(); }} \
         uretprobe:libc.so.6:div /pid == {pid}/ {{ @returns[probe] = count(); }}"
    );
    let out = trace(&["-e", &program], 2, || (0..3).for_each(|_| drop(app.step())));
    app.finish();
    // Named after the file found, as bpftrace names it: the loader's path.
    let libc = out.lines().find_map(|l| l.strip_prefix("@calls[uprobe:")?.strip_suffix(":div]: 3")).unwrap_or_else(|| panic!("{out}"));
    assert!(libc.starts_with('/') && libc.ends_with("/libc.so.6"), "{out}");
    assert_eq!(count(&out, &format!("@returns[uretprobe:{libc}:div]")), Some(3), "{out}");
}

#[test]
fn wildcards_attach_every_matching_function() {
    const TEST: &str = "wildcards_attach_every_matching_function";
    let Some(binary) = build(TEST) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let mut app = App::start(&binary);
    let pid = app.pid();
    let program = format!(
        "uprobe:{path}:rbpf_step_* /pid == {pid}/ {{ @calls[probe, func] = count(); }} \
         uretprobe:{path}:rbpf_step_? /pid == {pid}/ {{ @returns[func, retval] = count(); }}"
    );
    // Two multi-attach links: each function's cookie names its `probe`.
    let out = trace(&["-e", &program], 2, || (0..2).for_each(|_| drop(app.step())));
    app.finish();
    assert!(out.starts_with("Attaching 4 probes...\n"), "{out}");
    for f in ["rbpf_step_a", "rbpf_step_b"] {
        assert_eq!(count(&out, &format!("@calls[uprobe:{path}:{f}, {f}]")), Some(2), "{out}");
    }
    // i = 0, 1: rbpf_step_a returns 1 and 4, rbpf_step_b 2 less; retval
    // is the whole register, and an int's -1 leaves its upper half clear.
    for (f, ret) in [("rbpf_step_a", 1u64), ("rbpf_step_a", 4), ("rbpf_step_b", 4294967295), ("rbpf_step_b", 2)] {
        assert_eq!(count(&out, &format!("@returns[{f}, {ret}]")), Some(1), "{out}");
    }
}

#[test]
fn an_unsigned_retval_of_minus_one_prints_as_a_signed_key() {
    const TEST: &str = "an_unsigned_retval_of_minus_one_prints_as_a_signed_key";
    let Some(binary) = build(TEST) else { return };
    let mut app = App::start(&binary);
    let pid = app.pid();
    // bpftrace 0.17 prints every integer key as an int64, whatever its type.
    let program = format!("uretprobe:libc:syscall /pid == {pid}/ {{ @[retval] = count(); @u[(uint64)retval, (uint32)retval] = count(); }}");
    let text = trace(&["-e", &program], 1, || (0..2).for_each(|_| drop(app.step())));
    let json = trace(&["-f", "json", "-e", &program], 1, || (0..2).for_each(|_| drop(app.step())));
    app.finish();
    assert_eq!(count(&text, "@[-1]"), Some(2), "{text}");
    assert_eq!(count(&text, "@u[-1, 4294967295]"), Some(2), "{text}");
    assert!(json.contains(r#"{"@": {"-1": 2}}"#), "{json}");
}

#[test]
fn pid_traces_one_of_two_identical_processes() {
    const TEST: &str = "pid_traces_one_of_two_identical_processes";
    let Some(binary) = build(TEST) else { return };
    let (mut traced, mut other) = (App::start(&binary), App::start(&binary));
    let (pid, other_pid) = (traced.pid(), other.pid());
    // No predicate: the attach alone keeps the other process out.
    let program = "uprobe:libc:div { @calls[probe, pid] = count(); } uprobe:uprobe-app:rbpf_step_* { @steps[pid] = count(); }";
    // Two links: the wildcard's functions share one multi-attach link.
    let out = trace(&["-p", &pid.to_string(), "-e", program], 2, || {
        for _ in 0..3 {
            traced.step();
            other.step();
            other.step();
        }
    });
    traced.finish();
    other.finish();
    // The library as the process maps it, as bpftrace names it under -p.
    let maps_libc = out.lines().find_map(|l| l.strip_prefix("@calls[uprobe:")?.strip_suffix(&format!(":div, {pid}]: 3"))).unwrap_or_else(|| panic!("{out}"));
    assert!(maps_libc.ends_with("/libc.so.6"), "{out}");
    assert_eq!(count(&out, &format!("@steps[{pid}]")), Some(6), "{out}");
    assert!(!out.contains(&other_pid.to_string()), "the other process was traced:\n{out}");
}

#[test]
fn a_wildcard_binary_matches_the_files_of_the_process_given() {
    const TEST: &str = "a_wildcard_binary_matches_the_files_of_the_process_given";
    let Some(binary) = build(TEST) else { return };
    let mut app = App::start(&binary);
    let pid = app.pid().to_string();
    // `*`: the program and every library it maps; only libc has `div`.
    // `*uprobe-app`: the program alone, whose functions share one link.
    let program = "uprobe:*:div { @calls[probe] = count(); } uprobe:*uprobe-app:rbpf_step_? { @steps[func] = count(); }";
    let out = trace(&["-p", &pid, "-e", program], 2, || (0..2).for_each(|_| drop(app.step())));
    app.finish();
    let libc = out.lines().find_map(|l| l.strip_prefix("@calls[uprobe:")?.strip_suffix(":div]: 2")).unwrap_or_else(|| panic!("{out}"));
    assert!(libc.ends_with("/libc.so.6"), "{out}");
    assert_eq!(count(&out, "@steps[rbpf_step_a]"), Some(2), "{out}");
    assert_eq!(count(&out, "@steps[rbpf_step_b]"), Some(2), "{out}");
    // Without a process there are no files to match; with one, a pattern
    // that matches nothing is named.
    fails_with(&["-e", "uprobe:*:div { }"], &["error: a uprobe wildcard in the binary matches the files of one process", "-p PID"]);
    fails_with(&["-e", "uprobe::div { }"], &["error: the uprobe's binary and function must not be empty", "`uprobe:*:div`"]);
    let app = App::start(&binary);
    let pid = app.pid().to_string();
    fails_with(&["-p", &pid, "-e", "uprobe:*:rbpf_no_such_function { }"], &["files process", "has `rbpf_no_such_function`"]);
    fails_with(&["-p", &pid, "-e", "uprobe:/no/such/dir/*:div { }"], &[&format!("no file process {pid} maps matches `/no/such/dir/*`")]);
    app.finish();
}

/// Per line read from stdin: one call of `rbpf_visit` with an int, a
/// linked struct, a string, a typedef'd unsigned long and a short, then of
/// `rbpf_seven`, whose seventh argument is on the stack.
const DWARF_PROGRAM: &str = r#"
#include <stdio.h>
struct node { int x; char name[8]; struct node *next; };
typedef unsigned long ulong_t;
__attribute__((noinline)) int rbpf_visit(int n, struct node *p, const char *label, ulong_t big, short s) {
    return n + p->x + label[0] + (int)big + s;
}
__attribute__((noinline)) long rbpf_seven(long a, long b, long c, long d, long e, long f, long g) { return a + b + c + d + e + f + g; }
int main(void) {
    char line[64];
    struct node tail = { 7, "tail", 0 };
    struct node head = { 42, "head", &tail };
    // On the stack, so that its page is in memory when the probe reads it.
    char label[] = "abc";
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        printf("%d %ld\n", rbpf_visit(-i - 1, &head, label, 1234567890123ul, -3), rbpf_seven(1, 2, 3, 4, 5, 6, 7));
        fflush(stdout);
    }
    return 0;
}
"#;

/// The DWARF test program built with `flags` (`-g` or not).
fn build_dwarf(test: &str, flags: &[&str]) -> Option<Built> {
    Built::new(test, "the DWARF test program (needs gcc)", "dwarf-app", &[("main.c", DWARF_PROGRAM)], flags)
}

#[test]
fn arguments_are_read_by_name_from_dwarf_through_a_relative_path() {
    const TEST: &str = "arguments_are_read_by_name_from_dwarf_through_a_relative_path";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let Some(binary) = build_dwarf(TEST, &["-g", "-O0"]) else { return };
    let dir = binary.dir();
    let mut app = App::start(&binary);
    let pid = app.pid();
    // bpftrace 0.17's `args->NAME` and the later `args.NAME`; a pointer's
    // struct, the struct its member points to, and a string by str().
    let program = format!(
        r#"uprobe:./dwarf-app:rbpf_visit /pid == {pid}/ {{
            $n = args.n;
            printf("%s %d %d %s %s %s %lu %d %d\n", probe, args->n, args.p->x, args.p->name, str(args.label), args.p->next->name, args.big, args.s, args.n < 0);
            @[$n] = count();
        }}"#
    );
    let mut tracer = Tracer::start_in(dir, &["-e", &program]);
    tracer.wait_for(|l| l.starts_with("Attaching"));
    tracer.wait_attached(1);
    (0..2).for_each(|_| drop(app.step()));
    let (out, status) = tracer.stop(libc::SIGINT);
    // bpftrace 0.17 reads the same values through `args->NAME`.
    let reference = format!(
        r#"uprobe:./dwarf-app:rbpf_visit /pid == {pid}/ {{
            printf("%s %d %s %s %s %lu %d\n", probe, args->p->x, args->p->name, str(args->label), args->p->next->name, args->big, args->s); exit();
        }}"#
    );
    let theirs = bpftrace_line(dir, &reference, &mut app);
    app.finish();
    assert_eq!(status, 0, "{out}");
    // Named with the path as written, as bpftrace names it.
    // An int is signed at its width: in a comparison and a map key too.
    for expected in ["uprobe:./dwarf-app:rbpf_visit -1 42 head abc tail 1234567890123 -3 1", "uprobe:./dwarf-app:rbpf_visit -2 42 head abc tail 1234567890123 -3 1"] {
        assert!(out.lines().any(|l| l == expected), "expected {expected:?} in:\n{out}");
    }
    assert_eq!(count(&out, "@[-1]"), Some(1), "{out}");
    if let Some(theirs) = theirs {
        assert_eq!(theirs, "uprobe:./dwarf-app:rbpf_visit 42 head abc tail 1234567890123 -3");
    }
}

#[test]
fn args_whole_is_a_struct_of_the_parameters() {
    const TEST: &str = "args_whole_is_a_struct_of_the_parameters";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let Some(binary) = build_dwarf(TEST, &["-g", "-O0"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let mut app = App::start(&binary);
    let pid = app.pid();
    // `args` printed, as a map key, a map value and in a variable whose
    // pointer member is followed; `args.p[0]` reads through the pointer.
    let program = format!(
        r#"uprobe:{path}:rbpf_visit /pid == {pid}/ {{
            print(args);
            printf("%lu %lu %d %s %d\n", (uint64)args.p, (uint64)args.label, args.p[0].x, args.p[0].next[0].name, args.label[1]);
            @[args] = count();
            $a = args;
            @m = args;
            @next = $a.p->next->x;
        }}"#
    );
    let text = trace(&["-e", &program], 1, || (0..2).for_each(|_| drop(app.step())));
    let json = trace(&["-f", "json", "-e", &program], 1, || drop(app.step()));
    app.finish();
    // The addresses the program passes, as printf prints them.
    let line = text.lines().find(|l| l.ends_with(" 42 tail 98")).unwrap_or_else(|| panic!("{text}"));
    let (p, label) = line.split_once(' ').map(|(p, rest)| (p, rest.split(' ').next().unwrap_or_default())).expect("two addresses");
    // Pointers print in hex in a map key, as bpftrace prints them there.
    let hex = |decimal: &str| format!("{:#x}", decimal.parse::<u64>().expect("an address"));
    let (p_key, label_key) = (hex(p), hex(label));
    for n in [-1, -2] {
        let value = format!("{{ .n = {n}, .p = {p}, .label = {label}, .big = 1234567890123, .s = -3 }}");
        assert!(text.lines().any(|l| l == value), "expected {value:?} in:\n{text}");
        assert_eq!(count(&text, &format!("@[{{.n={n},.p={p_key},.label={label_key},.big=1234567890123,.s=-3}}]")), Some(1), "{text}");
    }
    assert!(text.contains(&format!("\n@m: {{ .n = -2, .p = {p}, .label = {label}, .big = 1234567890123, .s = -3 }}\n")), "{text}");
    assert_eq!(count(&text, "@next"), Some(7), "{text}");
    let value = format!(r#"{{"type": "value", "data": {{ "n": -3, "p": {p}, "label": {label}, "big": 1234567890123, "s": -3 }}}}"#);
    assert!(json.lines().any(|l| l == value), "expected {value:?} in:\n{json}");
    let key = format!(r#"{{"type": "map", "data": {{"@": {{"{{.n=-3,.p={p_key},.label={label_key},.big=1234567890123,.s=-3}}": 1}}}}}}"#);
    assert!(json.lines().any(|l| l == key), "expected {key:?} in:\n{json}");
}

/// The first line bpftrace prints for `program`, run in `dir` while `app`
/// takes steps; `None` where bpftrace is not installed.
fn bpftrace_line(dir: &Path, program: &str, app: &mut App) -> Option<String> {
    use std::io::BufRead;
    let mut child = std::process::Command::new("bpftrace")
        .current_dir(dir)
        .args(["-e", program])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || std::io::BufReader::new(stdout).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
    // bpftrace says "Attaching" before it attaches: step until it fires.
    let mut found = None;
    for _ in 0..100 {
        app.step();
        if let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(100)) {
            if line.starts_with("uprobe:") {
                found = Some(line);
                break;
            }
        }
    }
    // It exits by itself after the first event (exit()); kill it only if not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Some(found.expect("bpftrace printed nothing"))
}

#[test]
fn arguments_that_cannot_be_read_are_errors() {
    const TEST: &str = "arguments_that_cannot_be_read_are_errors";
    let Some(binary) = build_dwarf(TEST, &["-g", "-O0"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    fails_with(
        &["-e", &format!("uprobe:{path}:rbpf_visit {{ print(args.lable); }}")],
        &["error: function `rbpf_visit` has no parameter `lable`", "did you mean `label`?", &format!("-e:1:{}", path.len() + 33)],
    );
    fails_with(&["-e", &format!("uprobe:{path}:rbpf_visit {{ print(args.p->nmae); }}")], &["`struct node` has no member `nmae`", "did you mean `name`?"]);
    fails_with(&["-e", &format!("uprobe:{path}:rbpf_seven {{ print(args.g); }}")], &["`args.g` cannot be read: it is passed on the stack"]);
    fails_with(&["-e", &format!("uretprobe:{path}:rbpf_visit {{ print(args.n); }}")], &[&format!("`args` is not available in `uretprobe:{path}:rbpf_visit`")]);
    fails_with(&["-e", &format!("uretprobe:{path}:rbpf_visit {{ print(args); }}")], &[&format!("`args` is not available in `uretprobe:{path}:rbpf_visit`")]);
    fails_with(
        &["-e", &format!("uprobe:{path}:rbpf_seven {{ @[args] = count(); }}")],
        &["`args` of `rbpf_seven` cannot be read whole", "`args.g` cannot be read: it is passed on the stack", &format!("-e:1:{}", path.len() + 24)],
    );
    // Built again in the same directory, without -g.
    drop(binary);
    let Some(stripped) = build_dwarf(TEST, &["-O0"]) else { return };
    let path = stripped.to_str().expect("utf-8 path");
    fails_with(
        &["-e", &format!("uprobe:{path}:rbpf_visit {{ print(args.n); }}")],
        &[&format!("cannot read the arguments of `rbpf_visit`: {path} has no DWARF debug information: build it with -g or install its debug package"), "-e:1:1"],
    );
}

#[test]
fn names_and_patterns_that_match_nothing_are_errors() {
    fails_with(&["-e", "uprobe:libnosuchlib:f {}"], &["cannot find a program or library named `libnosuchlib`", "-e:1:1"]);
    fails_with(&["-e", "uprobe:/bin/sh:rbpf_no_such_function_* {}"], &["no function of `/bin/sh` matches `rbpf_no_such_function_*`"]);
    fails_with(&["-e", "uretprobe:/etc/passwd:f* {}"], &["is not an ELF binary or library"]);
    // -p: the library must be one that process maps.
    let pid = std::process::id().to_string();
    fails_with(&["-p", &pid, "-e", "uprobe:libnosuchlib:f {}"], &[&format!("process {pid} has no `libnosuchlib` mapped")]);
}

/// Per line read from stdin: one call of each `rbpf_multi_*` function. On
/// x86-64, `rbpf_multi_locked` starts with a LOCK-prefixed instruction,
/// which uprobes cannot single-step: the kernel refuses to probe it.
const MULTI_PROGRAM: &str = r#"
#include <stdio.h>
#if defined(__x86_64__)
__asm__(".text\n.globl rbpf_multi_locked\n.type rbpf_multi_locked, @function\n"
        "rbpf_multi_locked:\n\tlock incl (%rdi)\n\tret\n.size rbpf_multi_locked, .-rbpf_multi_locked\n");
void rbpf_multi_locked(int *p);
#else
__attribute__((noinline)) void rbpf_multi_locked(int *p) { __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST); }
#endif
__attribute__((noinline)) int rbpf_multi_one(int i) { return i + 1; }
__attribute__((noinline)) int rbpf_multi_two(int i) { return rbpf_multi_one(i) * 2; }
__attribute__((noinline)) int rbpf_multi_three(int i) { return rbpf_multi_two(i) - 3; }
int main(void) {
    char line[64];
    int counter = 0;
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        rbpf_multi_locked(&counter);
        printf("%d %d\n", rbpf_multi_three(i), counter);
        fflush(stdout);
    }
    return 0;
}
"#;

#[test]
fn a_wildcard_attaches_through_one_link_and_leaves_out_what_the_kernel_refuses() {
    const TEST: &str = "a_wildcard_attaches_through_one_link_and_leaves_out_what_the_kernel_refuses";
    let Some(binary) = Built::for_kernel(TEST, "the uprobe test program (needs gcc)", "multi-app", &[("main.c", MULTI_PROGRAM)], &["-O1"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let mut app = App::start(&binary);
    let pid = app.pid();
    let program = format!(
        "uprobe:{path}:rbpf_multi_* /pid == {pid}/ {{ @calls[func] = count(); }} \
         uretprobe:{path}:rbpf_multi_t* /pid == {pid}/ {{ @returns[func] = count(); }}"
    );
    // Both wildcards through one link each, whatever the refusal adds.
    let out = trace(&["-e", &program], 2, || (0..3).for_each(|_| drop(app.step())));
    // The warning, on stderr, from a dry run that attaches the same way
    // while the program runs: the kernel reads the instruction it would
    // replace in a process that maps it.
    let (_, stderr) = run_ok(&["--dry-run", "-e", &program]);
    app.finish();
    // bpftrace 0.17 attaches them one by one and counts every function.
    assert!(out.starts_with("Attaching 6 probes...\n"), "{out}");
    for f in ["rbpf_multi_one", "rbpf_multi_two", "rbpf_multi_three"] {
        assert_eq!(count(&out, &format!("@calls[{f}]")), Some(3), "{out}");
    }
    for f in ["rbpf_multi_two", "rbpf_multi_three"] {
        assert_eq!(count(&out, &format!("@returns[{f}]")), Some(3), "{out}");
    }
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("WARNING:")).collect();
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            warnings,
            [format!("WARNING: uprobe:{path}:rbpf_multi_*: the kernel refuses to probe 1 function of 4: rbpf_multi_locked (uprobes cannot handle the instruction there, error 524); attached the others")],
            "{stderr}"
        );
        assert_eq!(count(&out, "@calls[rbpf_multi_locked]"), None, "{out}");
    }
}

#[test]
fn gnu_indirect_functions_of_libc_attach_alone_and_under_a_wildcard() {
    const TEST: &str = "gnu_indirect_functions_of_libc_attach_alone_and_under_a_wildcard";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    // strcasecmp and strlen are STT_GNU_IFUNC symbols in glibc's libc.
    for program in ["uprobe:libc:strcasecmp { @ = count(); }", "uprobe:libc:str* { @[func] = count(); }", "uretprobe:libc:strlen { @ = count(); }"] {
        let out = run(&["--dry-run", "-e", program]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{program}: {stderr}");
        assert!(!stderr.contains("has no function"), "{program}: {stderr}");
    }
}

#[test]
fn a_missing_function_among_several_attach_points_is_skipped_with_a_warning() {
    const TEST: &str = "a_missing_function_among_several_attach_points_is_skipped_with_a_warning";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let program = "uprobe:libc:rbpf_no_such_function, uprobe:libc:div, uretprobe:libc:rbpf_no_such_either { @ = count(); }";
    let out = run(&["--dry-run", "-e", program]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("WARNING:")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(warnings[0].contains("has no function `rbpf_no_such_function`: skipping `uprobe:libc:rbpf_no_such_function`"), "{stderr}");
    assert!(warnings[1].contains("has no function `rbpf_no_such_either`"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Attaching 1 probe...\n"));
}

#[test]
fn offsets_and_addresses_outside_every_function_are_errors() {
    // Every attach point of a probe missing: nothing is left to skip to.
    fails_with(&["-e", "uprobe:libc:rbpf_no_such_function, uprobe:libc:rbpf_no_such_either {}"], &["has no function `rbpf_no_such_function`", "has no function `rbpf_no_such_either`"]);
    // bpftrace 0.17's words, with the function's size from its symbol.
    fails_with(&["-e", "uprobe:libc:div+100000 {}"], &["Offset outside the function bounds ('div' size is ", "-e:1:1"]);
    fails_with(&["-e", "uprobe:/bin/sh:0xfffffff0 {}"], &["Could not resolve address: /bin/sh:0xfffffff0", "--unsafe"]);
}

/// Per line read from stdin: one call of `rbpf_insn`, whose first
/// instruction (`mov $7,%eax`) is five bytes long; `rbpf_counter` is a
/// variable, not a function.
const INSN_PROGRAM: &str = r#"
#include <stdio.h>
#if defined(__x86_64__)
__asm__(".text\n.globl rbpf_insn\n.type rbpf_insn, @function\n"
        "rbpf_insn:\n\tmovl $7, %eax\n\tnop\n\tret\n.size rbpf_insn, .-rbpf_insn\n");
int rbpf_insn(void);
#else
__attribute__((noinline)) int rbpf_insn(void) { return 7; }
#endif
int rbpf_counter = 1;
int main(void) {
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        rbpf_counter += rbpf_insn();
        printf("%d\n", rbpf_counter);
        fflush(stdout);
    }
    return 0;
}
"#;

/// The address of `symbol` in `binary`, from `nm`.
fn nm_address(binary: &Path, symbol: &str) -> u64 {
    let out = std::process::Command::new("nm").arg(binary).output().expect("nm runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.ends_with(&format!(" {symbol}"))).unwrap_or_else(|| panic!("{symbol} not in:\n{text}"));
    u64::from_str_radix(line.split(' ').next().unwrap_or_default(), 16).expect("hex address")
}

#[test]
fn an_offset_inside_an_instruction_is_refused_and_one_on_a_boundary_attaches() {
    const TEST: &str = "an_offset_inside_an_instruction_is_refused_and_one_on_a_boundary_attaches";
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let Some(binary) = Built::for_kernel(TEST, "the uprobe test program (needs gcc)", "insn-app", &[("main.c", INSN_PROGRAM)], &["-O1"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    // The kernel would put its breakpoint inside `mov $7,%eax` and the
    // traced process would crash: refused, at the offset and the address.
    fails_with(
        &["-e", &format!("uprobe:{path}:rbpf_insn+2 {{ @ = count(); }}")],
        &[&format!("error: Could not add uprobe into middle of instruction: {path}:rbpf_insn+2"), "--unsafe", "-e:1:1"],
    );
    let inside = nm_address(&binary, "rbpf_insn") + 3;
    fails_with(&["-e", &format!("uprobe:{path}:{inside:#x} {{ @ = count(); }}")], &[&format!("Could not add uprobe into middle of instruction: {path}:{inside:#x}")]);
    // The `nop` after it: attaches and fires, the program unharmed.
    let mut app = App::start(&binary);
    let pid = app.pid();
    let program = format!("uprobe:{path}:rbpf_insn+5 /pid == {pid}/ {{ @[probe] = count(); }}");
    let out = trace(&["-e", &program], 1, || {
        for expected in ["8", "15"] {
            assert_eq!(app.step(), expected);
        }
    });
    app.finish();
    assert_eq!(count(&out, &format!("@[uprobe:{path}:rbpf_insn+5]")), Some(2), "{out}");
}

#[test]
fn a_variable_is_no_function_to_probe() {
    const TEST: &str = "a_variable_is_no_function_to_probe";
    let Some(binary) = Built::new(TEST, "the uprobe test program (needs gcc)", "insn-app", &[("main.c", INSN_PROGRAM)], &["-O1"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    // bpftrace's words: a uprobe on a variable would never fire.
    fails_with(&["-e", &format!("uprobe:{path}:rbpf_counter {{ @ = count(); }}")], &[&format!("error: Could not resolve symbol: {path}:rbpf_counter"), "-e:1:1"]);
    fails_with(&["-e", &format!("uprobe:{path}:rbpf_counter+4 {{ @ = count(); }}")], &[&format!("error: Could not resolve symbol: {path}:rbpf_counter")]);
}

#[test]
fn probe_under_a_wildcard_names_each_function_through_one_link() {
    const TEST: &str = "probe_under_a_wildcard_names_each_function_through_one_link";
    let Some(binary) = Built::for_kernel(TEST, "the uprobe test program (needs gcc)", "multi-app", &[("main.c", MULTI_PROGRAM)], &["-O1"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let mut app = App::start(&binary);
    let pid = app.pid();
    // `probe` from each function's attach cookie: the function the kernel
    // refuses is left out with a warning, as under `func`, where one
    // program per function stopped at it.
    let program = format!("uprobe:{path}:rbpf_multi_* /pid == {pid}/ {{ @[probe] = count(); }}");
    let out = trace(&["-e", &program], 1, || (0..3).for_each(|_| drop(app.step())));
    let (_, stderr) = run_ok(&["--dry-run", "-e", &program]);
    app.finish();
    assert!(out.starts_with("Attaching 4 probes...\n"), "{out}");
    for f in ["rbpf_multi_one", "rbpf_multi_two", "rbpf_multi_three"] {
        assert_eq!(count(&out, &format!("@[uprobe:{path}:{f}]")), Some(3), "{out}");
    }
    if cfg!(target_arch = "x86_64") {
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("WARNING:")).collect();
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(warnings[0].contains("refuses to probe 1 function of 4: rbpf_multi_locked"), "{stderr}");
    }
}

#[test]
fn max_probes_counts_each_function_of_a_multi_attach_link() {
    const TEST: &str = "max_probes_counts_each_function_of_a_multi_attach_link";
    let Some(binary) = Built::for_kernel(TEST, "the uprobe test program (needs gcc)", "multi-app", &[("main.c", MULTI_PROGRAM)], &["-O1"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    let out = common::rbpf()
        .env("BPFTRACE_MAX_PROBES", "3")
        .args(["--dry-run", "-e", &format!("uprobe:{path}:rbpf_multi_* {{ @ = count(); }}")])
        .output()
        .expect("rbpf runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Can't attach to 4 probes because it exceeds the current limit of 3 probes."), "{stderr}");
}

/// Per line read from stdin: one call of the C++ function `ns::foo(int)`
/// (the symbol `_ZN2ns3fooEi`).
const CPP_PROGRAM: &str = r#"
#include <stdio.h>
namespace ns { __attribute__((noinline)) int foo(int x) { return x + 1; } }
int main() {
    char line[64];
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        printf("%d\n", ns::foo(i));
        fflush(stdout);
    }
    return 0;
}
"#;

#[test]
fn a_quoted_cpp_name_attaches_by_its_demangled_name() {
    const TEST: &str = "a_quoted_cpp_name_attaches_by_its_demangled_name";
    let Some(binary) = Built::for_kernel(TEST, "the C++ test program (needs gcc)", "cpp-app", &[("main.cc", CPP_PROGRAM)], &["-O1"]) else { return };
    let path = binary.to_str().expect("utf-8 path");
    // As bpftrace 0.17: matched by the demangled name, exactly or by a
    // wildcard, and named by the symbol.
    for function in [r#""ns::foo(int)""#, r#""ns::foo*""#] {
        let mut app = App::start(&binary);
        let pid = app.pid();
        let program = format!("uprobe:{path}:{function} /pid == {pid}/ {{ @[probe, func] = count(); }}");
        let out = trace(&["-e", &program], 1, || (0..2).for_each(|_| drop(app.step())));
        app.finish();
        assert_eq!(count(&out, &format!("@[uprobe:{path}:_ZN2ns3fooEi, ns::foo(int)]")), Some(2), "{program}: {out}");
    }
    fails_with(&["-e", &format!(r#"uprobe:{path}:"ns::bar(int)" {{ }}"#)], &["has no function `ns::bar(int)`"]);
}
