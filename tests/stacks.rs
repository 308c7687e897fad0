//! Stacks and symbols end to end: `kstack` under a busy workload, and
//! `ustack` of a C program with frame pointers calling main → a → b →
//! leaf, printed as bpftrace 0.17 prints them (map keys, perf mode, frame
//! limits, `printf("%s")`, JSON), also after the traced process exited,
//! and for 50 processes that exit the moment their event is sent;
//! `usym()`, `uaddr()` and `reg()` on the same program, and C++ names
//! demangled (also by `func`).

mod common;

use std::path::Path;

use common::{kernel_tests_enabled, run, App, Built, Tracer};

/// Per line read from stdin: one call chain main → a → b → leaf.
const PROGRAM: &str = r#"
#include <stdio.h>
volatile int sink;
__attribute__((noinline)) void leaf(int i) { sink += i; }
__attribute__((noinline)) void b(int i) { leaf(i); }
__attribute__((noinline)) void a(int i) { b(i); }
int main(void) {
    char line[64];
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        a(i);
        printf("%d\n", i);
        fflush(stdout);
    }
    return 0;
}
"#;

/// The chain program built for `test` with `flags` (`what` names it in a
/// skip message), where kernel tests can run.
fn chain(test: &str, what: &str, flags: &[&str]) -> Option<Built> {
    Built::for_kernel(test, what, "chain", &[("chain.c", PROGRAM)], flags)
}

/// What rbpf printed running with `args`, a program of one probe, while
/// `workload` ran: rbpf is started and its probe attached first, and
/// stopped with SIGINT after, which must end it with status 0.
fn trace(args: &[&str], workload: impl FnOnce()) -> String {
    let mut tracer = Tracer::start(args);
    // "Attaching 1 probe..." in text, `attached_probes` in JSON.
    tracer.wait_for(|l| l.starts_with("Attaching") || l.contains("attached_probes"));
    tracer.wait_attached(1);
    workload();
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    out
}

/// As [`trace`], the workload a run of `binary` doing `steps` rounds and
/// exiting: the process is gone before the maps print. Started once the
/// probe is attached: its mappings are recorded as they are made, and it
/// need not outlive its last event.
fn trace_steps(binary: &Path, args: &[&str], steps: usize) -> String {
    trace(args, || {
        let mut app = App::start(binary);
        for _ in 0..steps {
            app.step();
        }
        app.finish();
    })
}

/// Whether `line` is a bpftrace-mode frame: four spaces, `name+offset`.
fn is_frame(line: &str, name: Option<&str>) -> bool {
    let Some((sym, offset)) = line.strip_prefix("    ").and_then(|l| l.rsplit_once('+')) else { return false };
    let named = name.map_or(!sym.is_empty() && !sym.contains(' '), |n| sym == n);
    named && !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_digit())
}

/// The keys of map `map` in text output: the lines between `@map[` and `]: N`.
fn stack_keys<'a>(out: &'a str, map: &str) -> Vec<Vec<&'a str>> {
    let mut keys = Vec::new();
    let mut lines = out.lines();
    let open = format!("{map}[");
    while let Some(line) = lines.next() {
        if line == open {
            keys.push(lines.by_ref().take_while(|l| !l.starts_with("]: ")).collect());
        }
    }
    keys
}

/// One call chain main → a → b → leaf, then an immediate exit.
const SHORT_LIVED: &str = r#"
volatile int sink;
__attribute__((noinline)) void leaf(int i) { sink += i; }
__attribute__((noinline)) void b(int i) { leaf(i); }
__attribute__((noinline)) void a(int i) { b(i); }
int main(int argc, char **argv) {
    (void)argv;
    a(argc);
    return 0;
}
"#;

#[test]
fn processes_that_exit_at_once_after_their_event_are_still_named() {
    const TEST: &str = "processes_that_exit_at_once_after_their_event_are_still_named";
    let flags = ["-O0", "-fno-omit-frame-pointer"];
    let Some(binary) = Built::for_kernel(TEST, "the short-lived test program (needs gcc)", "brief", &[("brief.c", SHORT_LIVED)], &flags) else {
        return;
    };
    let program = format!("uprobe:{}:leaf {{ @[ustack] = count(); @s[usym(reg(\"ip\"))] = count(); }}", binary.display());
    // 50 processes, ten at a time, each gone within a millisecond of its
    // event: long before rbpf could read its /proc/PID/maps.
    const RUNS: usize = 50;
    let out = trace(&["-e", &program], || {
        for _ in 0..RUNS / 10 {
            let children: Vec<_> = (0..10).map(|_| std::process::Command::new(&*binary).spawn().expect("start the program")).collect();
            for mut child in children {
                assert!(child.wait().expect("wait").success());
            }
        }
    });
    // One key per process (its address), each named.
    let named: usize = out.lines().filter_map(|l| l.strip_prefix("@s[leaf]: ")).map(|n| n.parse::<usize>().expect("a count")).sum();
    assert_eq!(named, RUNS, "{out}");
    assert!(!out.contains("@s[0x"), "{out}");
    let keys = stack_keys(&out, "@");
    let counted: usize = out
        .lines()
        .filter_map(|l| l.strip_prefix("]: "))
        .map(|n| n.parse::<usize>().expect("a count"))
        .sum();
    assert_eq!(counted, RUNS, "{out}");
    for key in &keys {
        assert!(key.len() >= 4 && key.iter().all(|l| is_frame(l, None)), "{key:?} in\n{out}");
        let names: Vec<&str> = key[..4].iter().filter_map(|l| l.trim().rsplit_once('+')).map(|(n, _)| n).collect();
        assert_eq!(names, ["leaf", "b", "a", "main"], "{out}");
    }
}

#[test]
fn kernel_stacks_name_kernel_functions_as_bpftrace_does() {
    const TEST: &str = "kernel_stacks_name_kernel_functions_as_bpftrace_does";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let busy = std::thread::spawn(|| {
        let end = std::time::Instant::now() + std::time::Duration::from_millis(1500);
        while std::time::Instant::now() < end {
            let _ = std::fs::read("/proc/self/stat");
        }
    });
    let out = run(&[
        "-e",
        "profile:hz:999 { @[kstack(4)] = count(); @p[kstack(perf, 2)] = count(); } interval:ms:500 { exit(); } \
         END { print(@, 20); print(@p, 20); clear(@); clear(@p); }",
    ]);
    busy.join().expect("the workload");
    let text = String::from_utf8_lossy(&out.stdout);
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("kallsyms");
    let keys = stack_keys(&text, "@");
    assert!(!keys.is_empty(), "{text}");
    for key in &keys {
        // A key starts with a newline (the empty line after `@[`) only in
        // the text of the stack: bpftrace prints `@[` then the frames.
        assert!(key.len() <= 4 && key.iter().all(|l| is_frame(l, None)), "{key:?} in\n{text}");
    }
    let name = keys[0][0].trim().rsplit_once('+').map(|(n, _)| n).unwrap_or_default();
    assert!(kallsyms.lines().any(|l| l.split_whitespace().nth(2) == Some(name)), "{name} is no kernel symbol");
    for key in stack_keys(&text, "@p") {
        assert!(key.len() <= 2, "{key:?}");
        for line in key {
            let (addr, sym) = line.strip_prefix('\t').and_then(|l| l.split_once(' ')).unwrap_or_else(|| panic!("{line:?}"));
            assert!(addr.len() == 16 && u64::from_str_radix(addr, 16).is_ok(), "{line:?}");
            assert!(is_frame(&format!("    {sym}"), None), "{line:?}");
        }
    }
}

#[test]
fn kernel_stacks_are_json_strings() {
    const TEST: &str = "kernel_stacks_are_json_strings";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let out = run(&["-f", "json", "-e", "profile:hz:999 { @[kstack(2)] = count(); } interval:ms:300 { exit(); } END { print(@, 20); clear(@); }"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let map = text.lines().find(|l| l.starts_with(r#"{"type": "map""#)).unwrap_or_else(|| panic!("{text}"));
    let json: serde_json::Value = serde_json::from_str(map).expect("JSON");
    let keys = json["data"]["@"].as_object().unwrap_or_else(|| panic!("{map}"));
    assert!(!keys.is_empty(), "{map}");
    for key in keys.keys() {
        // An idle CPU's interrupt may have no stack to read: bpftrace's "".
        assert!(key.is_empty() || key.starts_with("\n    ") && key.ends_with('\n'), "{key:?}");
    }
}

#[test]
fn user_stacks_name_the_call_chain_also_after_the_process_exits() {
    const TEST: &str = "user_stacks_name_the_call_chain_also_after_the_process_exits";
    let Some(binary) = chain(TEST, "the stack test program (needs gcc)", &["-O0", "-fno-omit-frame-pointer"]) else { return };
    let program = format!(
        "uprobe:{}:leaf {{ @[ustack(4)] = count(); @p[ustack(perf, 1)] = count(); printf(\"[%s]\\n\", ustack(2)); }}",
        binary.display()
    );
    let out = trace_steps(&binary, &["-e", &program], 3);
    let keys = stack_keys(&out, "@");
    assert_eq!(keys.len(), 1, "{out}");
    let key = &keys[0];
    assert!(is_frame(key[0], Some("leaf")) && key[0].ends_with("+0"), "{out}");
    assert!(is_frame(key[1], Some("b")) && is_frame(key[2], Some("a")) && is_frame(key[3], Some("main")), "{out}");
    assert!(out.contains(&format!("\n@[\n{}\n]: 3\n", key.join("\n"))), "{out}");
    let perf = stack_keys(&out, "@p");
    let line = perf[0][0];
    assert!(line.starts_with('\t') && line.ends_with(&format!(" leaf+0 ({})", binary.display())), "{line:?}");
    // printf's `%s`: a newline, then the frames, indented by 8 as
    // bpftrace 0.17 indents stacks outside map keys.
    assert_eq!(out.matches(&format!("[\n    {}\n    {}\n]\n", key[0], key[1])).count(), 3, "{out}");
}

/// A function whose symbol was stripped from the table but whose DWARF
/// was kept is named from its DWARF.
#[test]
fn user_frames_without_a_symbol_are_named_from_dwarf() {
    const TEST: &str = "user_frames_without_a_symbol_are_named_from_dwarf";
    let Some(binary) = chain(TEST, "the stack test program (needs gcc)", &["-g", "-O0", "-fno-omit-frame-pointer"]) else { return };
    let stripped = std::process::Command::new("objcopy").arg("--strip-symbol=b").arg(&*binary).status();
    assert!(stripped.is_ok_and(|s| s.success()), "objcopy --strip-symbol=b {}", binary.display());
    let program = format!("uprobe:{}:leaf {{ @[ustack(3)] = count(); }}", binary.display());
    let out = trace_steps(&binary, &["-e", &program], 1);
    let keys = stack_keys(&out, "@");
    assert_eq!(keys.len(), 1, "{out}");
    assert!(is_frame(keys[0][0], Some("leaf")) && is_frame(keys[0][1], Some("b")) && is_frame(keys[0][2], Some("a")), "{out}");
}

/// The output of `tracer` (rbpf or bpftrace) running `program` on a fresh
/// process of `binary` stepped 5 times then stopped with SIGINT, its
/// perf-mode addresses blanked
/// (they move with address-space randomisation).
fn traced_chain(tracer: &str, binary: &Path, program: &str) -> String {
    let mut app = App::start(binary);
    let mut child = Tracer::start_other(tracer, &["-e", program]);
    child.attaching();
    // bpftrace prints `Attaching` before it attaches: give it time.
    std::thread::sleep(std::time::Duration::from_millis(2000));
    for _ in 0..5 {
        app.step();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (text, _) = child.stop(libc::SIGINT);
    app.finish();
    text.lines()
        .map(|l| match l.strip_prefix('\t').and_then(|l| l.split_once(' ')) {
            Some((_, rest)) => format!("\tADDR {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn user_stacks_print_byte_for_byte_as_bpftrace_0_17_prints_them() {
    const TEST: &str = "user_stacks_print_byte_for_byte_as_bpftrace_0_17_prints_them";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    if std::process::Command::new("bpftrace").arg("--version").output().is_err() {
        eprintln!("skipping {TEST}: bpftrace is not installed");
        return;
    }
    let Some(binary) = Built::new(TEST, "the stack test program (needs gcc)", "chain", &[("chain.c", PROGRAM)], &["-O0", "-fno-omit-frame-pointer"])
    else {
        return;
    };
    let program = format!(
        "uprobe:{}:leaf {{ @[ustack] = count(); @p[ustack(perf)] = count(); @x = ustack(2); @t = (ustack(1), 2); \
         printf(\"<%s>\\n\", ustack(1)); }}",
        binary.display()
    );
    let rbpf = traced_chain(env!("CARGO_BIN_EXE_rbpf"), &binary, &program);
    let bpftrace = traced_chain("bpftrace", &binary, &program);
    assert!(rbpf.contains("    main+"), "{rbpf}");
    assert_eq!(rbpf, bpftrace);
}

#[test]
fn usym_names_the_function_also_after_the_process_exits() {
    const TEST: &str = "usym_names_the_function_also_after_the_process_exits";
    // Not position-independent: uaddr() gives the symbol table's address,
    // as bpftrace's does.
    let Some(binary) = chain(TEST, "the symbol test program (needs gcc)", &["-O0", "-no-pie"]) else { return };
    let program = format!(
        // Nothing prints while the process lives: no symbol is looked up
        // before it exits.
        "uprobe:{}:leaf {{ @s[usym(reg(\"ip\"))] = count(); @k = usym(reg(\"ip\")); @n = *uaddr(\"sink\"); \
         @t = (usym(reg(\"ip\")), 1); }}",
        binary.display()
    );
    // The process is gone before the maps print: its symbols are still named.
    let out = trace_steps(&binary, &["-e", &program], 3);
    // leaf(i) adds i to sink: it holds 1 when leaf is entered the third time.
    for line in ["@k: leaf\n", "@n: 1\n", "@s[leaf]: 3\n", "@t: (leaf, 1)\n"] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
}

#[test]
fn usym_is_a_json_string() {
    const TEST: &str = "usym_is_a_json_string";
    let Some(binary) = chain(TEST, "the symbol test program (needs gcc)", &["-O0"]) else { return };
    let program = format!("uprobe:{}:b {{ @[usym(reg(\"ip\"))] = count(); printf(\"<%s>\\n\", usym(arg0)); }}", binary.display());
    let out = trace_steps(&binary, &["-f", "json", "-e", &program], 2);
    assert!(out.contains(r#"{"type": "map", "data": {"@": {"b": 2}}}"#), "{out}");
    // arg0 is i, 0 then 1: no symbol there, so its address in hex (0 as
    // `0`, as bpftrace prints it).
    assert!(out.contains(r#"{"type": "printf", "data": "<0>\n"}"#) && out.contains(r#""data": "<0x1>\n"}"#), "{out}");
}

/// A C++ program whose leaf is a member of a namespace, taking an int.
const CPP_PROGRAM: &str = r#"
#include <stdio.h>
volatile int sink;
namespace shapes { __attribute__((noinline)) void leaf(int i) { sink += i; } }
int main() {
    char line[64];
    for (int i = 0; fgets(line, sizeof line, stdin); i++) {
        shapes::leaf(i);
        printf("%d\n", i);
        fflush(stdout);
    }
    return 0;
}
"#;

#[test]
fn cpp_names_are_demangled_as_bpftrace_demangles_them() {
    const TEST: &str = "cpp_names_are_demangled_as_bpftrace_demangles_them";
    let flags = ["-O0", "-fno-omit-frame-pointer", "-fno-exceptions"];
    let Some(binary) = Built::for_kernel(TEST, "the C++ test program (needs g++)", "shapes", &[("shapes.cpp", CPP_PROGRAM)], &flags) else {
        return;
    };
    // The probe names the mangled symbol, as bpftrace 0.17 needs it.
    let program = format!(
        "uprobe:{}:_ZN6shapes4leafEi {{ @[usym(reg(\"ip\"))] = count(); @s[ustack(2)] = count(); }}",
        binary.display()
    );
    let out = trace_steps(&binary, &["-e", &program], 1);
    assert!(out.contains("@[shapes::leaf(int)]: 1\n"), "{out}");
    let keys = stack_keys(&out, "@s");
    assert!(keys.len() == 1 && keys[0][0] == "    shapes::leaf(int)+0" && is_frame(keys[0][1], Some("main")), "{out}");
}

/// Calls a C++ function three times and exits.
const CPP_CALLS: &str = r#"
volatile int sink;
namespace shapes { __attribute__((noinline)) int leaf(int i) { sink += i; return i; } }
int main() { for (int i = 0; i < 3; i++) shapes::leaf(i); return 0; }
"#;

/// rbpf's output tracing `binary` (run by `-c`) with `program`, under the
/// environment variables `env`.
fn traced_run(binary: &Path, program: &str, env: &[(&str, &str)]) -> String {
    let out = common::rbpf()
        .envs(env.iter().copied())
        .args(["-c", binary.to_str().expect("a UTF-8 path"), "-e", program])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rbpf");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn func_names_a_cpp_function_demangled_as_bpftrace_does() {
    const TEST: &str = "func_names_a_cpp_function_demangled_as_bpftrace_does";
    let Some(binary) = Built::for_kernel(TEST, "the C++ test program (needs g++)", "calls", &[("calls.cpp", CPP_CALLS)], &["-O0"]) else {
        return;
    };
    let symbol = "_ZN6shapes4leafEi";
    let program = format!(
        "uprobe:{0}:{symbol} {{ printf(\"<%s> <%s>\\n\", func, probe); @[func] = count(); }} \
         uretprobe:{0}:{symbol} {{ @r[func] = count(); }}",
        binary.display()
    );
    // As bpftrace: demangled in printf() and as a map key, also on return
    // (0.17 names the caller there; later bpftrace the function), and
    // `probe` as written.
    let out = traced_run(&binary, &program, &[]);
    let line = format!("<shapes::leaf(int)> <uprobe:{}:{symbol}>\n", binary.display());
    assert_eq!(out.matches(&line).count(), 3, "{out}");
    assert!(out.contains("@[shapes::leaf(int)]: 3\n") && out.contains("@r[shapes::leaf(int)]: 3\n"), "{out}");
    // BPFTRACE_NO_CPP_DEMANGLE, and the config block's key, keep it mangled.
    let out = traced_run(&binary, &program, &[("BPFTRACE_NO_CPP_DEMANGLE", "1")]);
    assert!(out.contains(&format!("@[{symbol}]: 3\n")) && out.contains(&format!("@r[{symbol}]: 3\n")), "{out}");
    let out = traced_run(&binary, &format!("config = {{ cpp_demangle = 0 }} {program}"), &[]);
    assert!(out.contains(&format!("@[{symbol}]: 3\n")), "{out}");
    // BPFTRACE_NO_USER_SYMBOLS: the function's address, as 0.17 prints it.
    let out = traced_run(&binary, &program, &[("BPFTRACE_NO_USER_SYMBOLS", "1")]);
    let hex = out.lines().filter(|l| l.starts_with("<0x") && l.contains("> <uprobe:")).count();
    assert_eq!(hex, 3, "{out}");
}

#[test]
fn func_at_an_address_names_the_function_hit() {
    const TEST: &str = "func_at_an_address_names_the_function_hit";
    let Some(binary) = chain(TEST, "the symbol test program (needs gcc)", &["-O0"]) else { return };
    let nm = std::process::Command::new("nm").arg(&*binary).output().expect("nm");
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let leaf = symbols.lines().find(|l| l.ends_with(" T leaf")).and_then(|l| l.split(' ').next()).expect("leaf in nm's list");
    let program = format!("uprobe:{}:0x{leaf} {{ @[func] = count(); printf(\"<%s>\\n\", func); }}", binary.display());
    let out = trace_steps(&binary, &["-e", &program], 2);
    assert!(out.contains("<leaf>\n<leaf>\n") && out.contains("@[leaf]: 2\n"), "{out}");
}

/// Globals of each width, negative, and an array (which uaddr() reads as
/// its first u64-sized element).
const GLOBALS: &str = r#"
#include <stdio.h>
volatile int neg = -5;
volatile short sneg = -3;
volatile char cneg = -2;
volatile long lneg = -7;
volatile long arr[3] = {1, 2, 3};
__attribute__((noinline)) void leaf(void) { neg += 0; }
int main(void) {
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        leaf();
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
"#;

/// 256 different call chains to one function: 8 levels, each a choice
/// between two functions by one bit of the round's number.
const CHAINS: &str = r#"
#include <time.h>
#define NOINLINE __attribute__((noinline))
volatile unsigned long sink;
NOINLINE void leaf(unsigned i) { sink += i; }
NOINLINE void to_leaf(unsigned i) { leaf(i); sink++; }
#define LEVEL(K, A, B) \
    NOINLINE void l##K##a(unsigned i) { if (i >> ((K) + 1) & 1) B(i); else A(i); sink += 1; } \
    NOINLINE void l##K##b(unsigned i) { if (i >> ((K) + 1) & 1) B(i); else A(i); sink += 2; }
LEVEL(7, to_leaf, to_leaf)
LEVEL(6, l7a, l7b)
LEVEL(5, l6a, l6b)
LEVEL(4, l5a, l5b)
LEVEL(3, l4a, l4b)
LEVEL(2, l3a, l3b)
LEVEL(1, l2a, l2b)
LEVEL(0, l1a, l1b)
int main(void) {
    for (unsigned i = 0; i < 256; i++) {
        if (i & 1) l0b(i); else l0a(i);
    }
    /* Alive while the tracer reads its mappings. */
    nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, 0);
    return 0;
}
"#;

#[test]
fn uaddr_reads_globals_as_signed_integers_of_their_size() {
    const TEST: &str = "uaddr_reads_globals_as_signed_integers_of_their_size";
    let Some(binary) = Built::for_kernel(TEST, "the globals test program (needs gcc)", "globals", &[("globals.c", GLOBALS)], &["-O0", "-no-pie"]) else {
        return;
    };
    let program = format!(
        "uprobe:{}:leaf {{ printf(\"<%d %d %d %d %d>\\n\", *uaddr(\"neg\"), *uaddr(\"sneg\"), *uaddr(\"cneg\"), *uaddr(\"lneg\"), \
         *uaddr(\"arr\")); @a = *uaddr(\"sneg\"); }}",
        binary.display()
    );
    let out = trace_steps(&binary, &["-e", &program], 1);
    // As bpftrace 0.17 prints them.
    assert!(out.contains("<-5 -3 -2 -7 1>\n") && out.contains("@a: -3\n"), "{out}");
}

#[test]
fn stacks_whose_slots_collide_in_the_stack_map_are_all_kept() {
    const TEST: &str = "stacks_whose_slots_collide_in_the_stack_map_are_all_kept";
    let flags = ["-O1", "-fno-omit-frame-pointer"];
    let Some(binary) = Built::for_kernel(TEST, "the chains test program (needs gcc)", "chains", &[("chains.c", CHAINS)], &flags) else {
        return;
    };
    // A stack-trace map of 256 slots keeps about 162 of 256 stacks (the
    // kernel refuses one whose slot is taken); rbpf keeps the others too.
    let program = format!("config = {{ max_map_keys = 256 }} uprobe:{}:leaf {{ @[ustack] = count(); }}", binary.display());
    let out = run(&["-e", &program, "-c", binary.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let chains: std::collections::BTreeSet<Vec<&str>> = stack_keys(&text, "@")
        .into_iter()
        .map(|key| key.iter().filter_map(|l| l.trim().split_once('+')).map(|(f, _)| f).filter(|f| f.starts_with('l') && f.len() == 3).collect())
        .collect();
    assert_eq!(chains.len(), 256, "{text}");
    assert!(chains.iter().all(|c| c.len() == 8), "{text}");
}
