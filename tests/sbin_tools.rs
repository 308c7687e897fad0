//! The `.bt` tools that Debian's bpftrace package installs in /usr/sbin,
//! run unchanged: each must compile, load and attach under `rbpf
//! --dry-run` wherever bpftrace 0.17 runs it. The files are read where
//! they are installed, never copied.
//!
//! Which tools bpftrace 0.17 cannot run on a machine is decided from facts
//! of that machine (EXCUSES: each reason with its check), so the verdicts
//! follow the kernel the test runs on; tools whose probes need kprobes are
//! run on kernels that have them in the VM lane (tests/vm.rs).

mod common;

use std::path::{Path, PathBuf};

use common::{kernel_tests_enabled, run};

/// Why bpftrace 0.17 cannot run a tool on this machine: a reason, whether
/// it holds here, and what rbpf's refusal must then say.
struct Excuse {
    /// The tools it concerns; `None`: every tool with kprobes.
    tools: Option<&'static [&'static str]>,
    reason: &'static str,
    holds: fn() -> bool,
    /// A needle of rbpf's error for the tool, where it refuses.
    error: &'static str,
}

const EXCUSES: &[Excuse] = &[
    Excuse {
        tools: None,
        reason: "this kernel has no kprobes (the VM lane runs these tools on kernels that do)",
        holds: || !kernel_has_kprobes(),
        error: "kprobes are not available",
    },
    Excuse {
        tools: Some(&["loads"]),
        reason: "/proc/kallsyms names no data symbols (CONFIG_KALLSYMS_ALL is off), so kaddr(\"avenrun\") has nothing to find",
        holds: || !kallsyms_has("avenrun"),
        error: "",
    },
    Excuse {
        tools: Some(&["runqlen"]),
        reason: "this kernel's struct cfs_rq has no nr_running (6.13 renamed it nr_queued)",
        holds: || true,
        error: "`struct cfs_rq` has no member `nr_running`",
    },
    Excuse {
        tools: Some(&["tcpdrop"]),
        reason: "the tool #includes kernel headers (net/sock.h), which bpftrace 0.17 needs installed and are not",
        holds: || !kernel_headers_installed(),
        error: "",
    },
    Excuse {
        tools: Some(&["threadsnoop"]),
        reason: "libpthread has no pthread_create since glibc 2.34 (it is in libc): bpftrace 0.17 attaches nothing for it",
        holds: || true,
        error: "has no function `pthread_create`",
    },
];

/// Tools that bpftrace 0.17 runs here and rbpf does not yet, and rbpf's
/// error: the test checks they still fail that way, so that a fix shows.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[];

fn kernel_has_kprobes() -> bool {
    // rbpf mounts tracefs when it runs; the tools below have run by then.
    Path::new("/sys/kernel/tracing/kprobe_events").exists() || Path::new("/sys/kernel/debug/tracing/kprobe_events").exists()
}

fn kallsyms_has(name: &str) -> bool {
    std::fs::read_to_string("/proc/kallsyms").is_ok_and(|k| k.lines().any(|l| l.split_whitespace().nth(2) == Some(name)))
}

fn kernel_headers_installed() -> bool {
    // SAFETY: uname fills the struct it is given.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        std::ffi::CStr::from_ptr(u.release.as_ptr()).to_string_lossy().into_owned()
    };
    Path::new(&format!("/lib/modules/{release}/build/include/net/sock.h")).exists()
        || Path::new(&format!("/lib/modules/{release}/source/include/net/sock.h")).exists()
}

/// The tools bpftrace's package installed: /usr/sbin/*.bt.
fn installed_tools() -> Vec<PathBuf> {
    let mut tools: Vec<_> = std::fs::read_dir("/usr/sbin")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|e| e == "bt")).collect())
        .unwrap_or_default();
    tools.sort();
    tools
}

/// What bpftrace 0.17 is expected to do with `tool` here: `None` if it
/// runs it, else the excuse.
fn excuse(name: &str, text: &str) -> Option<&'static Excuse> {
    let uses_kprobes = text.lines().any(|l| {
        let l = l.trim_start();
        !l.starts_with("//") && (l.starts_with("kprobe:") || l.starts_with("kretprobe:"))
    });
    EXCUSES.iter().find(|e| {
        let concerns = match e.tools {
            Some(tools) => tools.contains(&name),
            None => uses_kprobes,
        };
        concerns && (e.holds)()
    })
}

#[test]
fn sbin_tools_load_wherever_bpftrace_runs_them() {
    const TEST: &str = "sbin_tools_load_wherever_bpftrace_runs_them";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let tools = installed_tools();
    if tools.is_empty() {
        if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("{TEST}: no /usr/sbin/*.bt: Debian's bpftrace package is not installed");
        }
        eprintln!("skipping {TEST}: no /usr/sbin/*.bt (Debian's bpftrace package installs them)");
        return;
    }
    // Several at a time: each run loads and attaches, mostly waiting on the kernel.
    let results: Vec<(PathBuf, std::process::Output)> = std::thread::scope(|s| {
        let chunks: Vec<_> = tools.chunks(tools.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || chunk.iter().map(|t| (t.clone(), run(&["--dry-run", t.to_str().unwrap()]))).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a runner thread")).collect()
    });

    let mut failures = Vec::new();
    let mut excused = Vec::new();
    for (tool, out) in &results {
        let name = tool.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(tool).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ok = out.status.code() == Some(0);
        if stderr.contains("panicked") {
            failures.push(format!("{name}: rbpf panicked:\n{stderr}"));
            continue;
        }
        if let Some(&(_, needle, why)) = KNOWN_GAPS.iter().find(|(n, _, _)| *n == name) {
            if ok {
                failures.push(format!("{name}: now loads: remove it from KNOWN_GAPS ({why})"));
            } else if !stderr.contains(needle) {
                failures.push(format!("{name}: fails otherwise than KNOWN_GAPS says ({needle:?}):\n{stderr}"));
            } else {
                excused.push(format!("{name}: known gap: {why}"));
            }
            continue;
        }
        match (ok, excuse(&name, &text)) {
            (true, _) => {}
            (false, None) => failures.push(format!("{name}: bpftrace 0.17 runs it here, rbpf does not:\n{stderr}")),
            (false, Some(e)) if !stderr.contains(e.error) => {
                failures.push(format!("{name}: bpftrace 0.17 cannot run it here ({}), but rbpf fails otherwise:\n{stderr}", e.reason))
            }
            (false, Some(e)) => excused.push(format!("{name}: {}", e.reason)),
        }
    }
    eprintln!("{} tools in /usr/sbin; not run here:\n  {}", results.len(), excused.join("\n  "));
    assert!(failures.is_empty(), "{} of {} tools fail:\n\n{}", failures.len(), results.len(), failures.join("\n\n"));
}
