//! How a trace stops: signals win over a blocked output, a flood of
//! `system()` commands and a child command that will not end; SIGUSR1
//! prints the maps and tracing goes on; errors say their cause once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{kernel_tests_enabled, rbpf, Scratch, Tracer};

/// Waits up to `limit` for `child` to exit; its status code, or None.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Ends our own child if a test gave up on it, so none outlives the test.
fn kill_and_reap(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A reader that goes away (`rbpf ... | head -1`): rbpf detaches and ends
/// quietly, killed by SIGPIPE as bpftrace 0.17 is (a shell sees 141).
#[test]
fn a_closed_output_ends_the_trace_quietly() {
    if !kernel_tests_enabled("a_closed_output_ends_the_trace_quietly") {
        return;
    }
    let mut child = rbpf()
        .args(["-e", r#"interval:ms:10 { printf("tick\n"); }"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rbpf");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    drop(stdout);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    if status.is_none() {
        kill_and_reap(&mut child);
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr).expect("read stderr");
    let signal = std::os::unix::process::ExitStatusExt::signal(&child.wait().expect("wait"));
    assert_eq!((status, signal), (Some(-1), Some(libc::SIGPIPE)), "{stderr}");
    assert_eq!(stderr, "");
}

/// A full disk under `-o FILE` (/dev/full answers every write with
/// ENOSPC): one clear error, status 1, and the trace ends.
#[test]
fn a_full_disk_under_o_is_one_clear_error() {
    if !kernel_tests_enabled("a_full_disk_under_o_is_one_clear_error") {
        return;
    }
    let out = common::run(&["-o", "/dev/full", "-e", r#"interval:ms:10 { printf("tick\n"); }"#]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, "ERROR: cannot write the output: No space left on device (os error 28)\n");
}

/// Sends `signal` to our own child rbpf and returns how long it took to
/// exit and its status (None: still running after 10 s, then killed).
fn signal_and_time(child: &mut std::process::Child, signal: i32) -> (Duration, Option<i32>) {
    let started = Instant::now();
    // SAFETY: kill on the pid of a child this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = wait_exit(child, Duration::from_secs(10));
    let took = started.elapsed();
    if status.is_none() {
        kill_and_reap(child);
    }
    (took, status)
}

/// Output to a pipe nobody reads blocks every write: SIGINT and SIGTERM
/// still stop the trace at once (bpftrace: within 2 s).
#[test]
fn a_stop_wins_over_a_blocked_output() {
    if !kernel_tests_enabled("a_stop_wins_over_a_blocked_output") {
        return;
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut child = rbpf()
            .args(["-e", r#"tracepoint:syscalls:sys_enter_getppid { @n = count(); } interval:ms:1 { printf("%0100d\n", 1); }"#])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rbpf");
        // The pipe is held open and never read: 64 KiB fill it in well
        // under a second.
        let _unread = child.stdout.take();
        assert!(common::wait_for_links(child.id(), 1), "not attached");
        std::thread::sleep(Duration::from_millis(1500));
        let (took, status) = signal_and_time(&mut child, signal);
        assert_eq!(status, Some(0), "signal {signal}: not stopped in {took:?}");
        assert!(took < Duration::from_secs(3), "signal {signal}: took {took:?}");
    }
}

/// A `system()` in a probe that every command fires again (a flood that
/// feeds itself): a stop neither waits for the commands queued nor for
/// the one running; what is queued is counted as lost.
#[test]
fn a_stop_wins_over_a_flood_of_commands() {
    if !kernel_tests_enabled("a_stop_wins_over_a_flood_of_commands") {
        return;
    }
    let mut tracer = Tracer::start(&["--unsafe", "-e", r#"tracepoint:sched:sched_process_exec { system("echo foo"); @c = count(); }"#]);
    tracer.wait_attached(1);
    // The first exec starts the flood.
    let _ = std::process::Command::new("/bin/true").status();
    tracer.wait_for(|l| l == "foo");
    std::thread::sleep(Duration::from_millis(1000));
    let stopped = tracer.stop_timed(libc::SIGINT);
    let took = stopped.took;
    assert_eq!(stopped.status.code(), Some(0), "not stopped in {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let seen: Vec<&str> = stopped.stdout.lines().collect();
    assert!(seen.iter().any(|l| l.starts_with("@c: ")), "maps not printed: {:?}", &seen[seen.len().saturating_sub(5)..]);
}

/// SIGUSR1 prints the maps as they are, as at the end but without the
/// two newlines that end tracing, and tracing goes on (bpftrace 0.17).
#[test]
fn sigusr1_prints_the_maps_and_tracing_goes_on() {
    if !kernel_tests_enabled("sigusr1_prints_the_maps_and_tracing_goes_on") {
        return;
    }
    let mut tracer = Tracer::start(&["-e", "BEGIN { @a = 1; @b[1, 2] = 3; } tracepoint:syscalls:sys_enter_getppid { @n = count(); }"]);
    tracer.wait_attached(1);
    for _ in 0..2 {
        tracer.signal(libc::SIGUSR1);
        tracer.wait_for(|l| l.starts_with("@n: "));
    }
    let stopped = tracer.stop_timed(libc::SIGINT);
    assert_eq!(stopped.status.code(), Some(0), "not stopped in {:?}", stopped.took);
    let maps = "@a: 1\n@b[1, 2]: 3\n@n: 0";
    assert_eq!(stopped.stdout, format!("Attaching 2 probes...\n{maps}\n{maps}\n\n\n{maps}\n"));
}

/// The pids of `pid`'s children.
fn children(pid: u32) -> Vec<i32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.filter_map(Result::ok).collect::<Vec<_>>()).unwrap_or_default();
    tasks
        .iter()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<i32>>())
        .collect()
}

/// Whether `pid` is gone or a zombie (dead, waiting for its new parent).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn wait_dead(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    dead(pid)
}

/// rbpf with `-c COMMAND`, attached and its child running; the child's pid.
fn start_with_child(command: &str) -> (Tracer, i32) {
    let mut tracer = Tracer::start(&["-c", command, "-e", "tracepoint:syscalls:sys_enter_getppid { @n = count(); } END { @end = 1; }"]);
    tracer.wait_attached(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let command_pid = loop {
        if let Some(&pid) = children(tracer.pid()).first() {
            break pid;
        }
        if Instant::now() > deadline {
            tracer.signal(libc::SIGKILL);
            panic!("no child command");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (tracer, command_pid)
}

/// A child command that ignores SIGTERM: a stop kills it after a short
/// grace, runs END and prints the maps.
#[test]
fn a_child_that_ignores_sigterm_does_not_keep_the_trace_running() {
    if !kernel_tests_enabled("a_child_that_ignores_sigterm_does_not_keep_the_trace_running") {
        return;
    }
    let dir = Scratch::new("stop");
    let script = dir.join("stubborn");
    std::fs::write(&script, "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let (tracer, command_pid) = start_with_child(script.to_str().expect("path"));
    std::thread::sleep(Duration::from_millis(300));
    let stopped = tracer.stop_timed(libc::SIGINT);
    let (took, status, out) = (stopped.took, stopped.status.code(), stopped.stdout);
    if !wait_dead(command_pid, Duration::from_secs(2)) {
        // Our own grandchild, left behind by the failure: it holds the
        // output pipe open.
        // SAFETY: kill on a pid this test started (through rbpf).
        unsafe { libc::kill(command_pid, libc::SIGKILL) };
        panic!("the child command lives on");
    }
    assert_eq!(status, Some(0), "not stopped in {took:?}: {out}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(out.contains("\n\n\n@end: 1\n@n: "), "{out}");
}

/// However rbpf ends — SIGKILL, or SIGHUP (a closed terminal, handled as a
/// stop) — the child command does not outlive it.
#[test]
fn the_child_command_does_not_outlive_rbpf() {
    if !kernel_tests_enabled("the_child_command_does_not_outlive_rbpf") {
        return;
    }
    let (tracer, command_pid) = start_with_child("/bin/sleep 30");
    let status = Some(tracer.stop_timed(libc::SIGKILL).status.code().unwrap_or(-1));
    assert_eq!(status, Some(-1));
    if !wait_dead(command_pid, Duration::from_secs(3)) {
        // SAFETY: kill on a pid this test started (through rbpf).
        unsafe { libc::kill(command_pid, libc::SIGKILL) };
        panic!("the child command lives on after SIGKILL");
    }

    let (tracer, command_pid) = start_with_child("/bin/sleep 30");
    let stopped = tracer.stop_timed(libc::SIGHUP);
    let (took, status, out) = (stopped.took, stopped.status.code(), stopped.stdout);
    if !wait_dead(command_pid, Duration::from_secs(3)) {
        // SAFETY: kill on a pid this test started (through rbpf).
        unsafe { libc::kill(command_pid, libc::SIGKILL) };
        panic!("the child command lives on after SIGHUP");
    }
    assert_eq!(status, Some(0), "not stopped in {took:?}: {out}");
    assert!(out.contains("\n\n\n@end: 1\n@n: "), "{out}");
}
