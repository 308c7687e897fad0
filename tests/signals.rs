//! SIGINT, SIGTERM and SIGHUP at every stage of a trace — compiling and
//! loading, attaching a hundred probes, running, under an event flood,
//! while printing a large map — end rbpf in a bounded time. Once the
//! program has started, END runs and the maps are printed, and the status
//! is 0, as bpftrace 0.17's for SIGINT and SIGTERM (0.17 dies at once on
//! SIGHUP; rbpf treats a closed terminal as a stop). Before that, the
//! signal ends rbpf at once, as it ends any program that has not started.
//!
//! The bounds here are generous (a loaded two-core machine); the measured
//! figures are in the README's "Guarantees".

mod common;

use std::time::Duration;

use common::{kernel_tests_enabled, Stopped, Tracer};

/// One test at a time: a flood or a hundred probes of one would slow the
/// others down, and their getppid calls would land in each other's maps.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const STOPS: [(i32, &str); 3] = [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")];

/// The bound on the time from a signal to the exit, the kernel's detach
/// included.
const BOUND: Duration = Duration::from_secs(5);

/// Checks a stop after the program started: in time, status 0, END's
/// line and the map `map` printed after it.
fn stopped_cleanly(stopped: &Stopped, name: &str, stage: &str, map: &str) {
    let Stopped { stdout, stderr, status, took } = stopped;
    let tail = &stdout[stdout.len().saturating_sub(300)..];
    assert!(*took < BOUND, "{stage}, {name}: exit took {took:?}");
    assert_eq!(status.code(), Some(0), "{stage}, {name}: {status:?}; stderr: {stderr}; stdout ends: {tail}");
    let end = stdout.find("\nend\n").unwrap_or_else(|| panic!("{stage}, {name}: END did not run; stdout ends: {tail}"));
    assert!(stdout[end..].contains(&format!("\n{map}")), "{stage}, {name}: {map} not printed after END; stdout ends: {tail}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Busy loops calling getppid, one process per CPU, until dropped: other
/// processes, as a traced workload is (threads of the test itself would
/// compete with its reading of rbpf's output).
struct Flood(Vec<std::process::Child>);

impl Flood {
    fn start() -> Flood {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let loops = (0..cpus)
            .map(|_| {
                std::process::Command::new("python3")
                    .args(["-c", "import os\nwhile True: os.getppid()"])
                    .spawn()
                    .expect("start a busy loop (python3)")
            })
            .collect();
        Flood(loops)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // Our own children, ended by pid.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A large program: one probe of 3 000 map updates over 50 maps, which
/// takes the compiler and the verifier a while.
fn large_program() -> String {
    let updates: Vec<String> = (0..3000).map(|i| format!("@a{}[{i}] = {i};", i % 50)).collect();
    format!("tracepoint:syscalls:sys_enter_getppid {{ {} }} END {{ printf(\"end\\n\"); }}", updates.join(" "))
}

#[test]
fn a_signal_while_compiling_or_loading_ends_rbpf_at_once() {
    if !kernel_tests_enabled("a_signal_while_compiling_or_loading_ends_rbpf_at_once") {
        return;
    }
    let _serial = serial();
    let program = large_program();
    for (signal, name) in STOPS {
        for delay in [5, 60] {
            let tracer = Tracer::start(&["-e", &program]);
            std::thread::sleep(Duration::from_millis(delay));
            let stopped = tracer.stop_timed(signal);
            let stage = format!("{delay} ms after the start");
            if stopped.stdout.starts_with("Attaching") {
                // It had started by then: a stop as any other.
                stopped_cleanly(&stopped, name, &stage, "@a0[");
            } else {
                assert!(stopped.took < BOUND, "{stage}, {name}: exit took {:?}", stopped.took);
                let by = std::os::unix::process::ExitStatusExt::signal(&stopped.status);
                assert_eq!(by, Some(signal), "{stage}, {name}: {:?}; stderr: {}", stopped.status, stopped.stderr);
                assert_eq!(stopped.stdout.trim(), "", "{stage}, {name}");
            }
        }
    }
}

#[test]
fn a_signal_while_attaching_a_hundred_probes_stops_the_trace() {
    if !kernel_tests_enabled("a_signal_while_attaching_a_hundred_probes_stops_the_trace") {
        return;
    }
    let _serial = serial();
    // About a hundred tracepoints, each a perf event and a link of its own.
    let program = r#"tracepoint:sched:*,tracepoint:irq:*,tracepoint:block:*,tracepoint:writeback:*,tracepoint:kmem:* { @n = count(); } END { printf("end\n"); }"#;
    for (signal, name) in STOPS {
        let mut tracer = Tracer::start(&["-e", program]);
        tracer.wait_for(|l| l.starts_with("Attaching"));
        let stopped = tracer.stop_timed(signal);
        eprintln!("attaching, {name}: exit in {:?}", stopped.took);
        let Stopped { stdout, status, .. } = &stopped;
        assert_eq!(status.code(), Some(0), "{name}: {stdout}");
        assert!(stdout.contains("\nend\n"), "{name}: END did not run: {stdout}");
        // A hundred perf events: the kernel's detach (a grace period each)
        // takes seconds here, after END and the maps are printed.
        assert!(stopped.took < 2 * BOUND, "{name}: exit took {:?}", stopped.took);
    }
}

#[test]
fn a_signal_while_running_stops_the_trace() {
    if !kernel_tests_enabled("a_signal_while_running_stops_the_trace") {
        return;
    }
    let _serial = serial();
    let program = r#"tracepoint:syscalls:sys_enter_getppid { @n = count(); } interval:ms:50 { @ticks = count(); } END { printf("end\n"); }"#;
    for (signal, name) in STOPS {
        let mut tracer = Tracer::start(&["-e", program]);
        tracer.wait_attached(2);
        std::thread::sleep(Duration::from_millis(200));
        let stopped = tracer.stop_timed(signal);
        eprintln!("running, {name}: exit in {:?}", stopped.took);
        stopped_cleanly(&stopped, name, "running", "@ticks: ");
    }
}

#[test]
fn a_signal_under_an_event_flood_stops_the_trace() {
    if !kernel_tests_enabled("a_signal_under_an_event_flood_stops_the_trace") {
        return;
    }
    let _serial = serial();
    let program = r#"tracepoint:syscalls:sys_enter_getppid { printf("%d %d\n", pid, tid); @n = count(); } END { printf("end\n"); }"#;
    for (signal, name) in STOPS {
        let mut tracer = Tracer::start(&["-e", program]);
        tracer.wait_attached(1);
        let flood = Flood::start();
        tracer.wait_for(|l| !l.starts_with("Attaching"));
        std::thread::sleep(Duration::from_millis(500));
        let stopped = tracer.stop_timed(signal);
        drop(flood);
        eprintln!("flood, {name}: exit in {:?}", stopped.took);
        stopped_cleanly(&stopped, name, "flood", "@n: ");
    }
}

#[test]
fn a_second_signal_while_printing_a_large_map_ends_rbpf_with_the_map_printed() {
    if !kernel_tests_enabled("a_second_signal_while_printing_a_large_map_ends_rbpf_with_the_map_printed") {
        return;
    }
    let _serial = serial();
    const KEYS: usize = 100_000;
    let program = format!(r#"tracepoint:syscalls:sys_enter_getppid /pid == {}/ {{ @m[nsecs] = 1; }} END {{ printf("end\n"); }}"#, std::process::id());
    for (signal, name) in STOPS {
        let mut tracer = Tracer::start_with_env(&[("BPFTRACE_MAP_KEYS_MAX", "200000")], &["-e", &program]);
        tracer.wait_attached(1);
        for _ in 0..KEYS {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
        tracer.signal(signal);
        // The first stop prints the map; the second arrives while it does.
        std::thread::sleep(Duration::from_millis(30));
        let stopped = tracer.stop_timed(signal);
        eprintln!("printing {KEYS} keys, {name}: exit in {:?} after the second signal", stopped.took);
        stopped_cleanly(&stopped, name, "printing", "@m[");
        let printed = stopped.stdout.lines().filter(|l| l.starts_with("@m[")).count();
        assert_eq!(printed, KEYS, "{name}: every key printed once");
    }
}
