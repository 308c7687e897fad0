//! The embedding API as a Rust program uses it: compile with options,
//! receive typed events, read maps while the program runs, stop it, drop
//! it, run two at once; and the examples in examples/, run as built.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use rbpf::{Compiler, Event, Program, Severity, Value};

/// The kernel tests of this file count the process's BPF objects: one at
/// a time (each test has a runtime of its own; the lock is held across
/// its awaits).
static KERNEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn kernel(test: &str) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if !common::kernel_tests_enabled(test) {
        return None;
    }
    Some(KERNEL.lock().await)
}

/// [`kernel`], for a test that is not async.
fn kernel_blocking(test: &str) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    common::kernel_tests_enabled(test).then(|| KERNEL.blocking_lock())
}

/// Every event up to the end, with a deadline.
async fn all_events(running: &mut rbpf::Running) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(30), running.recv()).await.expect("the program ends") {
        events.push(event);
    }
    events
}

fn map_of<'a>(events: &'a [Event], map: &str) -> &'a [rbpf::MapEntry] {
    events
        .iter()
        .find_map(|e| match e {
            Event::Map { name, entries } if name == map => Some(entries.as_slice()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {map} in {events:?}"))
}

#[tokio::test]
async fn the_issue_program_in_a_few_lines() {
    let Some(_kernel) = kernel("the_issue_program_in_a_few_lines").await else { return };
    let program = Program::compile(r#"BEGIN { printf("hi %d\n", 42); @x[1] = 2; exit(); }"#).unwrap();
    let mut running = program.start().unwrap();
    let events = all_events(&mut running).await;
    assert_eq!(
        events,
        [
            Event::Attached { probes: 1 },
            Event::Printf { text: b"hi 42\n".to_vec(), args: vec![Value::Int(42)] },
            Event::Stopped,
            Event::Map { name: "@x".into(), entries: vec![rbpf::MapEntry { key: vec![Value::Int(1)], value: Value::Int(2) }] },
            Event::Exit(0),
        ]
    );
    assert_eq!(running.wait().await.unwrap(), 0);
}

#[test]
fn diagnostics_are_data_with_spans_and_render() {
    let err = Program::compile("BEGIN { @x = nosuch(1); }").unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(&err.source().text[d.span.start as usize..d.span.end as usize], "nosuch", "{err}");
    let text = err.to_string();
    assert!(text.starts_with("error: ") && text.contains("nosuch(1)") && text.contains('^'), "{text}");
    let mut coloured = rbpf::codespan_reporting::term::termcolor::Buffer::ansi();
    err.render(&mut coloured);
    assert!(String::from_utf8_lossy(coloured.as_slice()).contains("\x1b["), "rendered in colour");
}

#[test]
fn compiler_options_reach_the_checker() {
    // $1 and $# from the parameters.
    assert!(Compiler::new().params(["1", "2"]).compile(r#"BEGIN { printf("%d %d\n", $1, $#); }"#).is_ok());
    let unsafe_call = r#"BEGIN { system("true"); }"#;
    assert!(Program::compile(unsafe_call).is_err(), "system() needs --unsafe");
    assert!(Compiler::new().allow_unsafe(true).compile(unsafe_call).is_ok());
    let err = Compiler::new().string_length(500).compile("BEGIN { }").unwrap_err();
    assert!(err.to_string().contains("the string length must be from 1 to 200, not 500"), "{err}");
    let keys = Compiler::new().max_map_keys(7).compile("BEGIN { @m[1] = 1; }").unwrap();
    assert_eq!(keys.maps().next().map(|m| m.max_entries), Some(7));
    let strings = Compiler::new().string_length(16).compile("BEGIN { @s = str(0); }").unwrap();
    assert_eq!(strings.maps().next().map(|m| m.value_size), Some(16));
}

#[tokio::test]
async fn maps_are_read_cleared_and_zeroed_while_the_program_runs() {
    let Some(_kernel) = kernel("maps_are_read_cleared_and_zeroed_while_the_program_runs").await else { return };
    let pid = std::process::id().to_string();
    let program = Compiler::new()
        .param(&pid)
        .compile("tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @calls[pid] = count(); @hist = hist(5); }")
        .unwrap();
    let mut running = program.start().unwrap();
    assert_eq!(running.recv().await, Some(Event::Attached { probes: 1 }));
    for _ in 0..5 {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    }
    let calls = running.read_map("@calls").unwrap();
    assert_eq!(calls, [rbpf::MapEntry { key: vec![Value::Int(pid.parse().unwrap())], value: Value::Uint(5) }]);
    let Value::Hist(hist) = &running.read_map("hist").unwrap()[0].value else { panic!("a histogram") };
    assert_eq!(hist.buckets.iter().map(|b| (b.lo, b.hi, b.count)).collect::<Vec<_>>(), [(Some(4), Some(8), 5)]);
    running.zero_map("@calls").unwrap();
    assert_eq!(running.read_map("@calls").unwrap()[0].value, Value::Uint(0));
    running.clear_map("@calls").unwrap();
    assert_eq!(running.read_map("@calls").unwrap(), []);
    let missing = running.read_map("@nosuch").unwrap_err();
    assert!(missing.to_string().contains("@nosuch"), "{missing}");

    // Stopped from another task: END, then the maps, then the end.
    let stopper = running.stopper();
    tokio::spawn(async move { stopper.stop() }).await.unwrap();
    let events = all_events(&mut running).await;
    assert!(events.contains(&Event::Stopped), "{events:?}");
    assert_eq!(map_of(&events, "@calls"), []);
    assert_eq!(events.last(), Some(&Event::Exit(0)));
    assert_eq!(running.wait().await.unwrap(), 0);
}

/// The process's fds of BPF programs and links (their fdinfo names a
/// program).
fn bpf_program_fds() -> usize {
    std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|info| info.contains("prog_id:"))
        .count()
}

#[tokio::test]
async fn dropping_the_handle_detaches_every_probe() {
    let Some(_kernel) = kernel("dropping_the_handle_detaches_every_probe").await else { return };
    let before = bpf_program_fds();
    let program = Program::compile("tracepoint:syscalls:sys_enter_getppid { @n = count(); } interval:s:1 { @t = count(); }").unwrap();
    let mut running = program.start().unwrap();
    assert_eq!(running.recv().await, Some(Event::Attached { probes: 2 }));
    // Two programs, each with its link (the interval's perf event counts
    // as its link).
    assert!(bpf_program_fds() >= before + 2, "{} fds of programs and links, {before} before", bpf_program_fds());
    drop(running);
    assert_eq!(bpf_program_fds(), before, "every program and link is closed with the handle");
}

#[tokio::test]
async fn two_programs_side_by_side_each_with_its_handle() {
    let Some(_kernel) = kernel("two_programs_side_by_side_each_with_its_handle").await else { return };
    let pid = std::process::id().to_string();
    let compiler = Compiler::new().param(&pid);
    let first = compiler.compile("tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @a = count(); }").unwrap();
    let second = compiler.compile("tracepoint:syscalls:sys_enter_getpgrp /pid == $1/ { @b = count(); }").unwrap();
    let (mut a, mut b) = (first.start().unwrap(), second.start().unwrap());
    let (ea, eb) = tokio::join!(a.recv(), b.recv());
    assert_eq!((ea, eb), (Some(Event::Attached { probes: 1 }), Some(Event::Attached { probes: 1 })));
    for _ in 0..3 {
        // SAFETY: neither call has preconditions.
        unsafe { libc::getppid() };
        unsafe { libc::getpgrp() };
    }
    unsafe { libc::getppid() };
    assert_eq!(a.read_map("@a").unwrap()[0].value, Value::Uint(4));
    assert_eq!(b.read_map("@b").unwrap()[0].value, Value::Uint(3));
    assert!(a.read_map("@b").is_err(), "each handle has its own maps");
    a.stop();
    b.stop();
    let (ea, eb) = tokio::join!(all_events(&mut a), all_events(&mut b));
    assert_eq!(map_of(&ea, "@a")[0].value, Value::Uint(4));
    assert_eq!(map_of(&eb, "@b")[0].value, Value::Uint(3));
}

/// An example of examples/, as `cargo test` built it.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps.parent().and_then(|d| d.parent()).unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is built by `cargo test` (or `cargo build --examples`)", path.display());
    path
}

/// Runs an example with `arg` (and `file`), starting /bin/true every 50 ms until it
/// exits (within 60 s, or it is killed and the test fails).
fn run_while_execing(name: &str, arg: &str, file: Option<&str>) -> String {
    let mut child = Command::new(example(name)).arg(arg).args(file).stdout(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} did not end: {:?}", child.wait_with_output());
        }
        Command::new("/bin/true").status().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{name}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exec_monitor_prints_a_json_line_per_second_with_the_execs() {
    let Some(_kernel) = kernel_blocking("exec_monitor_prints_a_json_line_per_second_with_the_execs") else { return };
    let text = run_while_execing("exec_monitor", "3", None);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["time"].as_u64()).collect::<Vec<_>>(), [Some(1), Some(2), Some(3)], "{text}");
    // Runs every 50 ms: each second counts many, read from the map and
    // cleared after each line.
    for line in &lines {
        let trues = line["execs"]["true"].as_u64().unwrap_or(0);
        assert!((1..=40).contains(&trues), "each second's runs of /bin/true: {text}");
    }
}

#[test]
fn printf_stream_hands_each_printf_to_the_caller() {
    let Some(_kernel) = kernel_blocking("printf_stream_hands_each_printf_to_the_caller") else { return };
    let text = run_while_execing("printf_stream", "4", Some("/bin/true"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[..4].iter().all(|l| l.starts_with("exec of /bin/true by pid ")), "{text}");
    assert_eq!(lines[4], "seen: 4 execs, 1 distinct files");
}

/// Only printf: every other method of Output has a default.
struct Lines(Vec<String>);

impl rbpf::Output for Lines {
    fn printf(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.0.push(String::from_utf8_lossy(text).into_owned());
        Ok(())
    }
}

#[tokio::test]
async fn an_output_of_ones_own_writes_only_what_it_needs() {
    let Some(_kernel) = kernel("an_output_of_ones_own_writes_only_what_it_needs").await else { return };
    let program = Compiler::new().params(["a", "b"]).compile(r#"BEGIN { printf("%s %s %d\n", str($1), str($2), $#); @m = 1; exit(3); }"#).unwrap();
    let mut lines = Lines(Vec::new());
    let code = program.run(&mut lines, rbpf::StopHandle::default()).await.unwrap();
    assert_eq!((code, lines.0), (3, vec!["a b 2\n".to_string()]));

    // Stopped through the handle it was given.
    let program = Program::compile(r#"interval:ms:10 { printf("tick\n"); }"#).unwrap();
    let stop = rbpf::StopHandle::default();
    let later = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        later.stop();
    });
    let mut lines = Lines(Vec::new());
    let code = tokio::time::timeout(Duration::from_secs(30), program.run(&mut lines, stop)).await.expect("stopped").unwrap();
    assert_eq!(code, 0);
    assert!(!lines.0.is_empty() && lines.0.iter().all(|l| l == "tick\n"), "{:?}", lines.0);
}

/// An output whose maps take 20 ms to show, as on a slow terminal: what
/// `print(@c)` shows of `@c` in all, and the `@all` printed at the end.
#[derive(Default)]
struct SlowMaps {
    printed: u64,
    all: Option<u64>,
}

impl rbpf::Output for SlowMaps {
    fn map(&mut self, map: &rbpf::MapInfo, entries: &[rbpf::MapEntry]) -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(20));
        let count = |value: &Value| match value {
            Value::Int(n) => *n as u64,
            Value::Uint(n) => *n,
            other => panic!("a count, not {other:?}"),
        };
        match map.name.as_str() {
            "@c" => self.printed += entries.iter().map(|e| count(&e.value)).sum::<u64>(),
            "@all" => self.all = entries.first().map(|e| count(&e.value)),
            _ => {}
        }
        Ok(())
    }
}

/// `print(@c); clear(@c);`, as interval tools do: an update made while
/// the map is being printed is shown by the next print, not cleared
/// unseen (the map's elements are taken, each read and deleted at once).
#[tokio::test]
async fn an_update_while_a_map_prints_is_not_cleared_unseen() {
    let Some(_kernel) = kernel("an_update_while_a_map_prints_is_not_cleared_unseen").await else { return };
    let program = Compiler::new()
        .params([std::process::id().to_string()])
        .compile("tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @c[1] = count(); @all = count(); } interval:ms:50 { print(@c); clear(@c); }")
        .unwrap();
    let stop = rbpf::StopHandle::default();
    let later = stop.clone();
    // Started once the program runs (BEGIN-less: give it time to attach);
    // a call every 200 µs for a second, then the stop.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..5000 {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
            std::thread::sleep(Duration::from_micros(200));
        }
        later.stop();
    });
    let mut output = SlowMaps::default();
    let code = tokio::time::timeout(Duration::from_secs(60), program.run(&mut output, stop)).await.expect("stopped").unwrap();
    assert_eq!(code, 0);
    let all = output.all.expect("@all printed at the end");
    assert!(all >= 1000, "{all} calls counted");
    assert_eq!(output.printed, all, "the prints of @c showed {} of the {all} calls", output.printed);
}
