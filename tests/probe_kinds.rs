//! End-to-end tests of the probe kinds beyond tracepoint, kprobe and
//! uprobe, on the real kernel: tracepoint wildcards, raw tracepoints,
//! profile, software and hardware events, interval:hz. Each drives the
//! events it counts with a workload of its own.

mod common;

use common::{entries, fails_with, kernel_tests_enabled, run, Tracer};

/// The value of a map without keys, `@name: N`.
fn scalar(output: &str, map: &str) -> Option<i64> {
    let prefix = format!("{map}: ");
    output.lines().find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
}

/// How many CPUs are online, from `/sys/devices/system/cpu/online`
/// (ranges such as `0-3,6`).
fn online_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("online cpus");
    text.trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

/// Starts rbpf and waits until every probe it announces is attached.
fn start_attached(program: &str) -> Tracer {
    let mut tracer = Tracer::start(&["-e", program]);
    let line = tracer.wait_for(|l| l.starts_with("Attaching"));
    let n: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("probe count");
    tracer.wait_attached(n);
    tracer
}

#[test]
fn tracepoint_wildcards_attach_every_match_and_name_it() {
    if !kernel_tests_enabled("tracepoint_wildcards_attach_every_match_and_name_it") {
        return;
    }
    let program = format!("tracepoint:syscalls:sys_enter_get*pid /pid == {}/ {{ @[probe] = count(); }}", std::process::id());
    let tracer = start_attached(&program);
    for _ in 0..5 {
        // SAFETY: getpid and getppid have no preconditions.
        unsafe {
            libc::syscall(libc::SYS_getpid);
            libc::syscall(libc::SYS_getppid);
        }
    }
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    let counts = entries(&out, "@");
    for name in ["tracepoint:syscalls:sys_enter_getpid", "tracepoint:syscalls:sys_enter_getppid"] {
        let n = counts.iter().find(|(k, _)| *k == name).map(|(_, n)| *n);
        assert!(n.is_some_and(|n| n >= 5), "{name} counted {n:?} in\n{out}");
    }
    assert!(counts.iter().all(|(k, _)| k.starts_with("tracepoint:syscalls:sys_enter_get") && k.ends_with("pid")), "{out}");
}

#[test]
fn a_tracepoint_wildcard_matching_nothing_is_a_spanned_error() {
    fails_with(&["-e", "tracepoint:syscalls:sys_enter_nothing_matches_* { }"], &["no tracepoint matches `syscalls:sys_enter_nothing_matches_*`"]);
}

#[test]
fn raw_tracepoints_read_their_arguments() {
    if !kernel_tests_enabled("raw_tracepoints_read_their_arguments") {
        return;
    }
    // raw_syscalls:sys_enter's arguments are (struct pt_regs *, long id).
    let program = format!("rawtracepoint:sys_enter /pid == {}/ {{ @[probe, arg1] = count(); }}", std::process::id());
    let tracer = start_attached(&program);
    for _ in 0..7 {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    let key = format!("rawtracepoint:sys_enter, {}", libc::SYS_getppid);
    let n = entries(&out, "@").into_iter().find(|(k, _)| *k == key).map(|(_, n)| n);
    assert!(n.is_some_and(|n| n >= 7), "{key} counted {n:?} in\n{out}");
}

#[test]
fn unknown_raw_tracepoints_are_refused_before_loading() {
    fails_with(&["-e", "rawtracepoint:no_such_raw_tracepoint { }"], &["raw tracepoint `no_such_raw_tracepoint` does not exist"]);
}

#[test]
fn profile_fires_on_every_cpu() {
    if !kernel_tests_enabled("profile_fires_on_every_cpu") {
        return;
    }
    let tracer = start_attached("profile:hz:99 { @[cpu] = count(); }");
    // An idle CPU takes no cpu-clock samples (bpftrace's profile shows the
    // same), so keep every CPU busy for a while.
    let cpus = online_cpus();
    let spinners: Vec<_> = (0..cpus).map(|cpu| std::thread::spawn(move || spin_on(cpu, 400))).collect();
    for s in spinners {
        s.join().expect("spinner");
    }
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    let counts = entries(&out, "@");
    assert_eq!(counts.len(), cpus, "profile fired on {} of {cpus} CPUs:\n{out}", counts.len());
    // 400 ms at 99 Hz is about 40 samples per CPU.
    assert!(counts.iter().all(|(_, n)| (10..=200).contains(n)), "{out}");
}

/// Busy-loops on one CPU for `ms` milliseconds.
fn spin_on(cpu: usize, ms: u64) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity
    // only touch that local set and the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        std::hint::spin_loop();
    }
}

#[test]
fn software_page_faults_count_a_workload_s_faults() {
    if !kernel_tests_enabled("software_page_faults_count_a_workload_s_faults") {
        return;
    }
    let program = format!("software:page-faults:1 /pid == {}/ {{ @ = count(); }}", std::process::id());
    let tracer = start_attached(&program);
    // Touching each page of fresh anonymous memory faults it in.
    let pages = 512;
    let size = pages * 4096;
    // SAFETY: a private anonymous mapping, written within its length and
    // unmapped before it goes out of scope.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        assert_ne!(p, libc::MAP_FAILED);
        for i in 0..pages {
            std::ptr::write_volatile((p as *mut u8).add(i * 4096), 1);
        }
        libc::munmap(p, size);
    }
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    let n = scalar(&out, "@");
    assert!(n.is_some_and(|n| n >= pages as i64), "counted {n:?} faults for {pages} pages:\n{out}");
}

#[test]
fn software_events_take_bpftrace_s_aliases_and_default_counts() {
    if !kernel_tests_enabled("software_events_take_bpftrace_s_aliases_and_default_counts") {
        return;
    }
    let out = run(&["-e", "s:cs { @[probe] = count(); } software:cpu-clock { @[probe] = count(); } i:ms:300 { exit(); }"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8_lossy(&out.stdout);
    // cpu-clock every 1 ms by default: hundreds in 300 ms on any CPU count.
    let clock = entries(&out, "@").into_iter().find(|(k, _)| *k == "software:cpu-clock").map(|(_, n)| n);
    assert!(clock.is_some_and(|n| n >= 100), "{out}");
}

#[test]
fn interval_hz_fires_that_many_times_a_second() {
    if !kernel_tests_enabled("interval_hz_fires_that_many_times_a_second") {
        return;
    }
    let out = run(&["-e", "interval:hz:20 { @n = count(); } interval:ms:1000 { exit(); }"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8_lossy(&out.stdout);
    let n = scalar(&out, "@n");
    assert!(n.is_some_and(|n| (10..=21).contains(&n)), "{out}");
}

#[test]
fn hardware_events_need_a_pmu_and_say_so() {
    if !kernel_tests_enabled("hardware_events_need_a_pmu_and_say_so") {
        return;
    }
    let out = run(&["-e", "BEGIN { printf(\"begin\\n\"); } hardware:cycles { @ = count(); } i:ms:200 { exit(); }"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // x86's PMU is `cpu`, arm64's `armv8_pmuv3*`: with one the probe runs.
    let has_pmu = std::fs::read_dir("/sys/bus/event_source/devices")
        .map(|d| d.flatten().any(|e| e.file_name().to_str().is_some_and(|n| n == "cpu" || n.starts_with("armv8"))))
        .unwrap_or(false);
    if has_pmu {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stdout.contains("begin"), "{stdout}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr, "ERROR: this machine has no hardware performance counters (PMU) for hardware:cycles\n");
    // Refused before BEGIN ran and before anything was attached.
    assert!(!stdout.contains("begin"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
