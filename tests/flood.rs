//! An event flood — a printf on every getppid of a busy loop on every CPU,
//! through a small ring buffer — never grows rbpf's memory without bound,
//! and the events it cannot take are counted and reported as bpftrace
//! reports them: `Lost N events` in text, a `lost_events` record in JSON.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{kernel_tests_enabled, Tracer};

/// One test at a time: two floods at once would starve each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PROGRAM: &str = r#"tracepoint:syscalls:sys_enter_getppid { printf("%d %d %s\n", pid, tid, comm); @n = count(); }"#;

/// rbpf's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix(" kB")?.trim().parse().ok()).unwrap_or(0)
}

/// Floods getppid from one thread per CPU for `how_long`, sampling
/// `pid`'s RSS every 100 ms; the samples.
fn flood(pid: u32, how_long: Duration) -> Vec<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads: Vec<_> = (0..cpus)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: getppid has no preconditions.
                    unsafe { libc::getppid() };
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        samples.push(rss_kib(pid));
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    samples
}

/// Runs the flood under rbpf with `args`; what rbpf printed and the RSS
/// samples taken during the flood.
fn flooded(args: &[&str]) -> (String, Vec<u64>) {
    let mut full = vec!["-e", PROGRAM];
    full.extend_from_slice(args);
    let mut tracer = Tracer::start_with_env(&[("BPFTRACE_PERF_RB_PAGES", "1")], &full);
    tracer.wait_attached(1);
    let samples = flood(tracer.pid(), Duration::from_secs(3));
    let stopped = tracer.stop_timed(libc::SIGINT);
    assert_eq!(stopped.status.code(), Some(0), "{}", stopped.stderr);
    assert!(!stopped.stderr.contains("panicked"), "{}", stopped.stderr);
    (stopped.stdout, samples)
}

/// Memory grows by no more than a few MiB over the flood, whatever its
/// length: nothing is queued without bound.
fn bounded(samples: &[u64]) {
    let first = samples.first().copied().unwrap_or(0);
    let peak = samples.iter().copied().max().unwrap_or(0);
    eprintln!("RSS during the flood: {first} KiB first, {peak} KiB at most");
    assert!(peak < first + 16 * 1024, "RSS grew from {first} to {peak} KiB: {samples:?}");
}

#[test]
fn a_flood_reports_lost_events_as_bpftrace_does() {
    if !kernel_tests_enabled("a_flood_reports_lost_events_as_bpftrace_does") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (out, samples) = flooded(&[]);
    bounded(&samples);
    let lost: Vec<u64> = out.lines().filter_map(|l| l.strip_prefix("Lost ")?.strip_suffix(" events")?.parse().ok()).collect();
    assert!(!lost.is_empty() && lost.iter().all(|&n| n > 0), "no `Lost N events` line: {}", &out[out.len().saturating_sub(300)..]);
    eprintln!("lost {} events in {} reports", lost.iter().sum::<u64>(), lost.len());
    let ours = format!("{} ", std::process::id());
    let printed = out.lines().filter(|l| l.starts_with(&ours)).count();
    assert!(printed > 0, "no event printed");
    assert!(out.contains("\n\n\n@n: "), "maps not printed");
}

#[test]
fn a_flood_reports_lost_events_in_json_as_bpftrace_does() {
    if !kernel_tests_enabled("a_flood_reports_lost_events_in_json_as_bpftrace_does") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (out, samples) = flooded(&["-f", "json"]);
    bounded(&samples);
    let records: Vec<serde_json::Value> =
        out.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON record ({e}): {l}"))).collect();
    let lost: Vec<u64> = records.iter().filter(|r| r["type"] == "lost_events").filter_map(|r| r["data"]["events"].as_u64()).collect();
    assert!(!lost.is_empty() && lost.iter().all(|&n| n > 0), "no lost_events record");
    assert!(records.iter().any(|r| r["type"] == "printf"), "no event printed");
    assert!(records.iter().any(|r| r["type"] == "map" && r["data"]["@n"].is_u64()), "maps not printed");
}

/// A map at its maximum size: the updates the kernel refuses are counted
/// and reported at exit, naming the map, in text and JSON runs alike
/// (bpftrace reports them only under -k, one warning per failed call).
#[test]
fn updates_of_a_full_map_are_counted_and_reported_naming_the_map() {
    if !kernel_tests_enabled("updates_of_a_full_map_are_counted_and_reported_naming_the_map") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let program = format!("tracepoint:syscalls:sys_enter_getppid /pid == {}/ {{ @full[nsecs] = 1; @fits[1] = count(); }}", std::process::id());
    for format in ["text", "json"] {
        let mut tracer = Tracer::start_with_env(&[("BPFTRACE_MAP_KEYS_MAX", "10")], &["-f", format, "-e", &program]);
        tracer.wait_attached(1);
        for _ in 0..25 {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
        let stopped = tracer.stop_timed(libc::SIGINT);
        assert_eq!(stopped.status.code(), Some(0), "{}", stopped.stderr);
        if format == "text" {
            let warning = "WARNING: 15 update(s) of map @full failed: the map is full (10 keys; BPFTRACE_MAP_KEYS_MAX sets the limit)\n";
            assert_eq!(stopped.stderr, warning);
        } else {
            // A record of its own on the output, nothing on stderr.
            assert_eq!(stopped.stderr, "");
            let record = r#"{"type": "failed_updates", "data": {"map": "@full", "failed": 15, "max_entries": 10}}"#;
            assert_eq!(stopped.stdout.lines().filter(|l| l.contains("failed_updates")).collect::<Vec<_>>(), [record], "{}", stopped.stdout);
        }
        assert!(!stopped.stderr.contains("@fits") && !stopped.stdout.contains("\"@fits\", \"failed"), "{format}: a map with room is not named");
    }
}

/// Every event of a flood is either printed or reported lost, over the
/// whole run, not only at its start: the printed lines and the `Lost N
/// events` reports add up to the count the program kept (a counter read
/// wrongly, a report that stops firing or a wrap would break the sum).
#[test]
fn every_event_of_a_flood_is_printed_or_reported_lost() {
    if !kernel_tests_enabled("every_event_of_a_flood_is_printed_or_reported_lost") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (out, _) = flooded(&[]);
    let (events, maps) = out.split_once("\n\n\n").unwrap_or_else(|| panic!("maps not printed: {}", &out[out.len().saturating_sub(300)..]));
    let lost: u64 = events.lines().filter_map(|l| l.strip_prefix("Lost ")?.strip_suffix(" events")?.parse::<u64>().ok()).sum();
    let printed = events
        .lines()
        .filter(|l| {
            let mut words = l.split(' ');
            words.next().is_some_and(|w| w.parse::<u32>().is_ok()) && words.next().is_some_and(|w| w.parse::<u32>().is_ok())
        })
        .count() as u64;
    let counted: u64 = maps.lines().find_map(|l| l.strip_prefix("@n: ")?.parse().ok()).unwrap_or_else(|| panic!("no @n in {maps}"));
    eprintln!("{counted} events: {printed} printed, {lost} reported lost");
    assert!(lost > 0, "the flood lost nothing: the test proves nothing here");
    assert_eq!(printed + lost, counted, "{printed} printed + {lost} reported lost");
}
