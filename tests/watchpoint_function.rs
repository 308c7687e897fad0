//! `watchpoint:FUNC+argN` and `asyncwatchpoint` end to end: a small C
//! program passes the address of a cell to a function that writes it
//! three times; rbpf watches the address the function is passed and must
//! see each write after the call began (the uprobe runs the function's
//! first instruction before the process stops, so that instruction is not
//! a write here). And the refusals that need no kernel.

mod common;

use std::process::Command;

use common::{entries, run, run_ok, Built, Ready};

/// `prog CALLS LATER [spread|odd|same] [wait]`: calls `fill` CALLS times
/// on one cell (with `spread`, a different cell each call; with `odd`,
/// first at an address that is not a multiple of 4), then after
/// 200 ms writes that first cell LATER times from `main`; with `wait`, it
/// first prints `ready` and waits for a line on stdin.
const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int cells[16];

__attribute__((noinline)) void fill(volatile int *p, int n) {
    for (int i = 0; i < n; i++)
        *p = i;
}

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 1;
    int later = argc > 2 ? atoi(argv[2]) : 0;
    int spread = argc > 3 && strcmp(argv[3], "spread") == 0;
    if (argc > 4) {
        char line[16];
        puts("ready");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 1;
    }
    int odd = argc > 3 && strcmp(argv[3], "odd") == 0;
    for (int c = 0; c < calls && c < 16; c++)
        fill(odd && c == 0 ? (volatile int *)((volatile char *)cells + 2) : &cells[spread ? c : 0], 3);
    usleep(200000);
    for (int i = 0; i < later; i++)
        cells[0] = i;
    return 0;
}
"#;

/// Writes by `fill` per call.
const WRITES_PER_CALL: i64 = 3;

/// The filler program built for `test`, where kernel tests can run.
fn build(test: &str) -> Option<Built> {
    Built::for_kernel(test, "the watchpoint test program (needs gcc)", "filler", &[("main.c", PROGRAM)], &["-O1"])
}

/// The command `-c` runs: `binary` with `args`.
fn command(binary: &Built, args: &str) -> String {
    format!("{} {args}", binary.display())
}

/// The value of the line `@: N`.
fn count_of(text: &str) -> Option<i64> {
    text.lines().find_map(|l| l.strip_prefix("@: ")?.parse().ok())
}

#[test]
fn a_watchpoint_on_a_functions_argument_sees_every_write_after_the_call() {
    let test = "a_watchpoint_on_a_functions_argument_sees_every_write_after_the_call";
    let Some(binary) = build(test) else { return };
    // Two calls with the same address: one breakpoint, six writes.
    let (text, _) = run_ok(&["-c", &command(&binary, "2 0 same"), "-e", "watchpoint:fill+arg0:4:w { @[probe] = count(); }"]);
    assert!(text.starts_with("Attaching 1 probe...\n"), "{text}");
    // Named as bpftrace 0.17 names it: the program, the function, the
    // argument's number, the length and the mode.
    let name = format!("watchpoint:{}:fill:4:w", binary.display());
    assert_eq!(entries(&text, "@"), [(name.as_str(), 2 * WRITES_PER_CALL)], "{text}");
}

/// The same trace under bpftrace 0.17 prints the same bytes (where it
/// is installed): the probe's name, the count, the blank lines.
#[test]
fn a_watchpoint_prints_what_bpftrace_prints() {
    let test = "a_watchpoint_prints_what_bpftrace_prints";
    let Some(binary) = build(test) else { return };
    if !Command::new("bpftrace").arg("--version").output().is_ok_and(|o| o.status.success()) {
        eprintln!("skipping {test}: bpftrace is not installed");
        return;
    }
    let command = command(&binary, "2 0 same");
    let program = "watchpoint:fill+arg0:4:w { @[probe, comm] = count(); } END { printf(\"end\\n\"); }";
    let (text, _) = run_ok(&["-c", &command, "-e", program]);
    let theirs = Command::new("bpftrace").args(["-c", &command, "-e", program]).output().expect("run bpftrace");
    let name = format!("watchpoint:{}:fill:4:w", binary.display());
    assert!(text.ends_with(&format!("@[{name}, filler]: {}\n", 2 * WRITES_PER_CALL)), "{text}");
    assert_eq!(text, String::from_utf8_lossy(&theirs.stdout), "rbpf (left) and bpftrace (right) differ");
}

#[test]
fn a_watchpoint_in_a_binary_named_prints_from_the_writing_process() {
    let test = "a_watchpoint_in_a_binary_named_prints_from_the_writing_process";
    let Some(binary) = build(test) else { return };
    let program = format!("watchpoint:{}:fill+arg0:4:w {{ printf(\"write by %s\\n\", comm); }}", binary.display());
    let (text, _) = run_ok(&["-c", &command(&binary, "1 0"), "-e", &program]);
    let writes = text.lines().filter(|l| *l == "write by filler").count() as i64;
    assert_eq!(writes, WRITES_PER_CALL, "{text}");
}

#[test]
fn a_watchpoint_reads_the_writers_user_stack() {
    let test = "a_watchpoint_reads_the_writers_user_stack";
    let Some(binary) = build(test) else { return };
    let (text, _) = run_ok(&["-c", &command(&binary, "1 0"), "-e", "watchpoint:fill+arg0:4:w { @[ustack(1)] = count(); }"]);
    // The frame is the writing instruction's, in `fill`.
    let frame = text.lines().skip_while(|l| *l != "@[").nth(1).unwrap_or_default();
    assert!(frame.trim_start().starts_with("fill+"), "{text}");
    assert!(text.contains(&format!("]: {WRITES_PER_CALL}\n")), "{text}");
}

#[test]
fn an_asyncwatchpoint_lets_the_process_run_and_then_sees_its_writes() {
    let test = "an_asyncwatchpoint_lets_the_process_run_and_then_sees_its_writes";
    let Some(binary) = build(test) else { return };
    // The process is not stopped: `fill`'s own writes may come before the
    // breakpoint; the five from `main`, 200 ms later, come after it.
    let (text, _) = run_ok(&["-c", &command(&binary, "1 5"), "-e", "aw:fill+arg0:4:w { @ = count(); }"]);
    let count = count_of(&text);
    assert!(count.is_some_and(|n| (5..=5 + WRITES_PER_CALL).contains(&n)), "{text}");
}

#[test]
fn a_watchpoint_in_a_running_process_is_named_after_its_executable() {
    let test = "a_watchpoint_in_a_running_process_is_named_after_its_executable";
    let Some(binary) = build(test) else { return };
    let app = Ready::start(&binary, &["1", "0", "same", "wait"]);
    let pid = app.pid();
    let text = app.trace("watchpoint:fill+arg0:4:w { printf(\"%s\\n\", probe); }");
    let name = format!("watchpoint:/proc/{pid}/exe:fill:4:w");
    assert_eq!(text.lines().filter(|l| *l == name).count() as i64, WRITES_PER_CALL, "{text}");
}

/// x86 has four debug registers: of six addresses, two find none. Each is
/// said in bpftrace's words, and the process goes on to its end.
#[cfg(target_arch = "x86_64")]
#[test]
fn running_out_of_debug_registers_is_a_warning_and_the_process_goes_on() {
    let test = "running_out_of_debug_registers_is_a_warning_and_the_process_goes_on";
    let Some(binary) = build(test) else { return };
    let (text, stderr) = run_ok(&["-c", &command(&binary, "6 0 spread"), "-e", "watchpoint:fill+arg0:4:w { @ = count(); }"]);
    let refused = stderr.lines().filter(|l| *l == "WARNING: Failed to attach watchpoint probe. You are out of watchpoint registers.").count() as i64;
    assert!(refused >= 2, "{stderr}");
    assert_eq!(count_of(&text), Some((6 - refused) * WRITES_PER_CALL), "{text}{stderr}");
}

/// A worker thread, started before `main` calls `fill` (which writes
/// nothing), writes the cell three times once `main` has called it.
const THREADED: &str = r#"
#include <pthread.h>
#include <unistd.h>

static volatile int cell, go;

__attribute__((noinline)) void fill(volatile int *p, int n) {
    for (int i = 0; i < n; i++)
        *p = i;
}

static void *worker(void *arg) {
    (void)arg;
    while (!go)
        usleep(1000);
    for (int i = 0; i < 3; i++)
        cell = i;
    return 0;
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, 0, worker, 0);
    usleep(20000);
    fill(&cell, 0);
    go = 1;
    pthread_join(thread, 0);
    return 0;
}
"#;

#[test]
fn the_address_is_watched_in_every_thread_of_the_process() {
    let test = "the_address_is_watched_in_every_thread_of_the_process";
    let what = "the threaded watchpoint test program (needs gcc)";
    let Some(binary) = Built::for_kernel(test, what, "threaded", &[("main.c", THREADED)], &["-O1", "-pthread"]) else { return };
    let (text, stderr) = run_ok(&["-c", &binary.display().to_string(), "-e", "watchpoint:fill+arg0:4:w { @[tid == cpid] = count(); }"]);
    // Every write is the worker's.
    assert_eq!(entries(&text, "@"), [("0", WRITES_PER_CALL)], "{text}{stderr}");
}

/// Calls `fill` without end, on each of 16 cells in turn.
const LOOPING: &str = r#"
#include <stdio.h>

static volatile int cells[16];

__attribute__((noinline)) void fill(volatile int *p, int n) {
    for (int i = 0; i < n; i++)
        *p = i;
}

int main(void) {
    puts("ready");
    fflush(stdout);
    for (unsigned i = 0;; i++)
        fill(&cells[i % 16], 3);
}
"#;

/// The state letter of process `pid` (`T` when stopped).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[test]
fn a_process_is_never_left_stopped_when_the_trace_ends() {
    let test = "a_process_is_never_left_stopped_when_the_trace_ends";
    let what = "the looping watchpoint test program (needs gcc)";
    let Some(binary) = Built::for_kernel(test, what, "looping", &[("main.c", LOOPING)], &["-O1"]) else { return };
    let app = Ready::start(&binary, &[]);
    let pid = app.pid();
    // The first write ends the trace while calls with new addresses may
    // have stopped the process, their records unhandled.
    run_ok(&["-p", &pid.to_string(), "-e", "watchpoint:fill+arg0:4:w { exit(); }"]);
    let mut states = Vec::new();
    for _ in 0..5 {
        states.extend(state_of(pid));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // It loops without end: dropping it ends it.
    drop(app);
    assert!(states.len() == 5 && !states.contains(&'T'), "the process was left stopped: {states:?}");
}

#[test]
fn an_address_the_kernel_cannot_watch_is_skipped_with_a_warning() {
    let test = "an_address_the_kernel_cannot_watch_is_skipped_with_a_warning";
    let Some(binary) = build(test) else { return };
    let (text, stderr) = run_ok(&["-c", &command(&binary, "2 0 odd"), "-e", "watchpoint:fill+arg0:4:w { @ = count(); }"]);
    let warning = format!("WARNING: watchpoint:{}:fill:4:w: cannot watch 4 bytes at 0x", binary.display());
    assert!(stderr.lines().any(|l| l.starts_with(&warning) && l.ends_with("the address must be a multiple of the length, skipping")), "{stderr}");
    // The second call's address is watched.
    assert_eq!(count_of(&text), Some(WRITES_PER_CALL), "{text}{stderr}");
}

#[test]
fn bad_function_watchpoints_exit_1_with_a_spanned_message() {
    for (args, message, at) in [
        (&["-e", "watchpoint:fill+arg0:4:w {}"][..], "-p PID or -c CMD required for watchpoint", "-e:1:1"),
        (&["-c", "/bin/true", "-e", "watchpoint:fill+arg0:4:w {}"][..], "`/bin/true` has no function `fill`", "-e:1:12"),
        (&["-c", "/bin/true", "-e", "w:fill+arg6:4:w {}"][..], "doesn't support arg6", "-e:1:3"),
        (&["-c", "/bin/true", "-e", "aw:0x1000:4:w {}"][..], "asyncwatchpoint requires a function name", "-e:1:1"),
        (&["-c", "/bin/true", "-e", "w:libc:malloc+arg0:8:w { @[func] = count(); }"][..], "`func` is not known", "-e:1:"),
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message) && stderr.contains(at), "{args:?}: {stderr}");
    }
}
