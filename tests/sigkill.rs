//! SIGKILL at any stage leaves nothing of rbpf's in the kernel. rbpf is
//! stopped (SIGSTOP) while loading, once attached, and while its probes
//! fire; the programs, maps and links it holds are read from its fds;
//! then it is killed, and every one of them must be gone from the kernel
//! (`bpftool prog/map/link show`), no uprobe's breakpoint may stay in the
//! traced process's code, no USDT semaphore may stay raised, no tracefs
//! probe (`uprobe_events`, `kprobe_events`) or pinned object may be left.
//! The kernel releases what a process held when its fds close: this
//! proves that rbpf keeps nothing outside its fds.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Built, Ready, Tracer};

/// The traced program: prints the addresses of its USDT semaphore, of a
/// watched global and of a function, then every millisecond fires the
/// USDT probe (when its semaphore is raised), calls two functions and
/// writes the global.
const PROGRAM: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>
#include <unistd.h>
__extension__ unsigned short rbpf_kill_tick_semaphore __attribute__((unused)) __attribute__((section(".probes")));
volatile unsigned long watched = 1;
__attribute__((noinline)) int kill_work_a(int x) { return x + 1; }
__attribute__((noinline)) int kill_work_b(int x) { return x * 2; }
int main(void) {
    printf("%p %p %p\n", (void *)&rbpf_kill_tick_semaphore, (void *)&watched, (void *)&kill_work_a);
    fflush(stdout);
    for (unsigned long i = 0;; i++) {
        if (rbpf_kill_tick_semaphore) DTRACE_PROBE1(rbpf_kill, tick, i);
        watched = kill_work_a((int)i) + kill_work_b((int)i);
        usleep(1000);
    }
}
"#;

/// When rbpf is stopped and killed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    /// As soon as it holds its first BPF object.
    Loading,
    /// Once its probes are attached.
    Attached,
    /// After its probes printed a few events.
    UnderEvents,
}

const STAGES: [Stage; 3] = [Stage::Loading, Stage::Attached, Stage::UnderEvents];

/// The traced program, running; killed (by its pid) when dropped.
struct App {
    process: Ready,
    binary: PathBuf,
    semaphore: u64,
    watched: u64,
    function: u64,
}

impl App {
    fn start(binary: &Path) -> App {
        let process = Ready::start(binary, &[]);
        let addresses: Vec<u64> = process.line.split_whitespace().map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).expect("hex")).collect();
        App { process, binary: binary.to_path_buf(), semaphore: addresses[0], watched: addresses[1], function: addresses[2] }
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `len` bytes of its memory at `address`.
    fn memory(&self, address: u64, len: usize) -> Vec<u8> {
        let mem = std::fs::File::open(format!("/proc/{}/mem", self.pid())).expect("open its memory");
        let mut bytes = vec![0; len];
        mem.read_exact_at(&mut bytes, address).expect("read its memory");
        bytes
    }

    fn semaphore_count(&self) -> u16 {
        let bytes = self.memory(self.semaphore, 2);
        u16::from_ne_bytes([bytes[0], bytes[1]])
    }
}

/// What rbpf holds: the ids of its programs, maps and links, read from
/// its fds' fdinfo.
#[derive(Debug, Default)]
struct Held {
    progs: BTreeSet<u32>,
    maps: BTreeSet<u32>,
    links: BTreeSet<u32>,
}

fn held_by(pid: u32) -> Held {
    let mut held = Held::default();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return held };
    for entry in dir.filter_map(Result::ok) {
        let info = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in info.lines() {
            let id = |key: &str| line.strip_prefix(key).and_then(|v| v.trim().parse::<u32>().ok());
            if let Some(id) = id("prog_id:") {
                // A link's fdinfo names its program too: that one is the
                // program's own fd's business.
                if !info.contains("link_id:") {
                    held.progs.insert(id);
                }
            } else if let Some(id) = id("map_id:") {
                held.maps.insert(id);
            } else if let Some(id) = id("link_id:") {
                held.links.insert(id);
            }
        }
    }
    held
}

/// The ids of every object of `kind` (prog, map, link) in the kernel.
fn in_kernel(kind: &str) -> BTreeSet<u32> {
    let out = Command::new("bpftool").args(["-j", kind, "show"]).output().expect("bpftool runs");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    listed.as_array().into_iter().flatten().filter_map(|o| o["id"].as_u64()).map(|id| id as u32).collect()
}

/// tracefs's dynamic probes, and what is pinned in bpffs.
fn tracefs_and_pins() -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for file in ["/sys/kernel/tracing/uprobe_events", "/sys/kernel/tracing/kprobe_events"] {
        lines.extend(std::fs::read_to_string(file).unwrap_or_default().lines().map(|l| format!("{file}: {l}")));
    }
    if let Ok(dir) = std::fs::read_dir("/sys/fs/bpf") {
        lines.extend(dir.filter_map(Result::ok).map(|e| format!("pinned: {}", e.path().display())));
    }
    lines
}

/// Waits until `tracer` reaches `stage`; false if rbpf exited first.
fn reach(tracer: &mut Tracer, stage: Stage) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = 0;
    while Instant::now() < deadline {
        if tracer.has_exited() {
            return false;
        }
        match stage {
            Stage::Loading if bpf_fds(tracer.pid()) > 0 => return true,
            Stage::Loading => std::thread::sleep(Duration::from_micros(200)),
            Stage::Attached if common::wait_for_links(tracer.pid(), 1) => return true,
            Stage::Attached => {}
            Stage::UnderEvents => {
                if let Some(line) = tracer.next_line(Duration::from_millis(50)) {
                    events += usize::from(line == "e");
                    if events >= 3 {
                        return true;
                    }
                }
            }
        }
    }
    panic!("rbpf did not reach {stage:?} in 20 s");
}

/// How many BPF programs and maps process `pid` holds.
fn bpf_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|t| matches!(t.to_string_lossy().as_ref(), "anon_inode:bpf-prog" | "anon_inode:bpf-map"))
                .count()
        })
        .unwrap_or(0)
}

/// Runs `program` (its `APP`, `BIN`, `ADDR` replaced by the traced
/// program's pid, path and watched address), stops rbpf at `stage`,
/// reads what it holds, kills it, and checks that all of it is gone.
fn kill_at(name: &str, template: &str, extra: &[&str], app: &App, stage: Stage) {
    let program = template
        .replace("APP", &app.pid().to_string())
        .replace("BIN", &app.binary.display().to_string())
        .replace("ADDR", &format!("{:#x}", app.watched));
    let original_code = app.memory(app.function, 1);
    let before = tracefs_and_pins();
    let mut args: Vec<String> = extra.iter().map(|a| a.replace("APP", &app.pid().to_string())).collect();
    args.extend(["-e".to_string(), program]);
    let mut tracer = Tracer::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    if !reach(&mut tracer, stage) {
        panic!("{name} ({stage:?}): rbpf exited early: {}", tracer.stderr());
    }
    tracer.signal(libc::SIGSTOP);
    let held = held_by(tracer.pid());
    if stage != Stage::Loading {
        assert!(!held.progs.is_empty() && !held.maps.is_empty(), "{name} ({stage:?}): rbpf holds {held:?}");
        if template.contains("usdt:") {
            assert!(app.semaphore_count() > 0, "{name} ({stage:?}): the semaphore was not raised");
        }
        if template.contains("probe:BIN:kill_work_a") || template.contains("probe:BIN:kill_work_*") {
            assert_eq!(app.memory(app.function, 1), [0xcc], "{name} ({stage:?}): no breakpoint at the probed function");
        }
    }
    // The listing sees what rbpf holds: its absence later means something.
    assert!(held.progs.is_subset(&in_kernel("prog")) && held.maps.is_subset(&in_kernel("map")), "{name} ({stage:?}): bpftool does not list {held:?}");
    // Killed and reaped.
    drop(tracer);
    // The kernel frees programs and maps after a grace period.
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = Held {
            progs: held.progs.intersection(&in_kernel("prog")).copied().collect(),
            maps: held.maps.intersection(&in_kernel("map")).copied().collect(),
            links: held.links.intersection(&in_kernel("link")).copied().collect(),
        };
        if (left.progs.is_empty() && left.maps.is_empty() && left.links.is_empty()) || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(left.progs.is_empty() && left.maps.is_empty() && left.links.is_empty(), "{name} ({stage:?}): left in the kernel: {left:?}");
    assert_eq!(app.semaphore_count(), 0, "{name} ({stage:?}): the USDT semaphore stays raised");
    assert_eq!(app.memory(app.function, 1), original_code, "{name} ({stage:?}): a breakpoint stays in the traced code");
    let after = tracefs_and_pins();
    let new: Vec<&String> = after.difference(&before).filter(|l| l.contains("rbpf") || l.starts_with("pinned")).collect();
    assert!(new.is_empty(), "{name} ({stage:?}): left in tracefs or bpffs: {new:?}");
}

fn build(test: &str) -> Option<Built> {
    Built::new(test, "the traced program (needs gcc and systemtap-sdt-dev)", "killed-app", &[("main.c", PROGRAM)], &["-O1"])
}

/// Every probe kind this machine attaches, at every stage.
#[test]
fn sigkill_leaves_nothing_in_the_kernel() {
    let test = "sigkill_leaves_nothing_in_the_kernel";
    if !common::kernel_tests_enabled(test) {
        return;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        assert!(std::env::var("RBPF_REQUIRE_KERNEL").as_deref() != Ok("1"), "{test}: no bpftool");
        eprintln!("skipping {test}: no bpftool to list the kernel's objects");
        return;
    }
    let Some(binary) = build(test) else { return };
    let app = App::start(&binary);
    let filter = "/pid == APP/ { printf(\"e\\n\"); }";
    let kinds: &[(&str, String, &[&str])] = &[
        ("tracepoint", format!("tracepoint:syscalls:sys_enter_clock_nanosleep {filter}"), &[]),
        ("tracepoint wildcard", format!("tracepoint:syscalls:sys_enter_clock_* {filter}"), &[]),
        ("raw tracepoint", format!("rawtracepoint:sys_enter {filter}"), &[]),
        ("uprobe", format!("uprobe:BIN:kill_work_a {filter}"), &[]),
        ("uprobe wildcard", format!("uprobe:BIN:kill_work_* {filter}"), &[]),
        ("uretprobe", format!("uretprobe:BIN:kill_work_b {filter}"), &[]),
        ("usdt with a semaphore", "usdt:BIN:rbpf_kill:tick { printf(\"e\\n\"); }".into(), &["-p", "APP"]),
        ("profile", "profile:hz:997 { printf(\"e\\n\"); }".into(), &[]),
        ("interval", "interval:ms:5 { printf(\"e\\n\"); }".into(), &[]),
        ("software", format!("software:cpu-clock:100000 {filter}"), &[]),
        ("watchpoint", "watchpoint:ADDR:8:w { printf(\"e\\n\"); }".into(), &["-p", "APP"]),
        ("BEGIN and END", "BEGIN { printf(\"e\\n\"); } interval:ms:5 { printf(\"e\\n\"); } END { printf(\"end\\n\"); }".into(), &[]),
    ];
    for (name, program, extra) in kinds {
        for stage in STAGES {
            kill_at(name, program, extra, &app, stage);
        }
    }
}
