//! `-c CMD` and `-p PID`: a trace that follows one process, and ends when
//! it exits.

mod common;

use common::{kernel_tests_enabled, run};

/// The child is held until the probes are attached, so even its first
/// system calls are seen; its exit ends the trace, and `cpid` is its pid.
#[test]
fn a_child_command_is_traced_from_its_start_to_its_exit() {
    if !kernel_tests_enabled("a_child_command_is_traced_from_its_start_to_its_exit") {
        return;
    }
    let out = run(&[
        "-c",
        "/bin/cat /etc/hostname",
        "-e",
        r#"tracepoint:syscalls:sys_enter_execve /pid == cpid/ { printf("exec %s\n", str(args.filename)); }
           tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @opens[str(args.filename)] = count(); }"#,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("Attaching 2 probes...\n"), "{stdout}");
    // Held before its exec: the exec itself is traced.
    assert!(stdout.contains("exec /bin/cat\n"), "{stdout}");
    assert!(stdout.contains("@opens[/etc/hostname]: 1\n"), "{stdout}");
}

/// `-p PID`: only that process's events count, and the trace ends when it
/// exits; this test's own system calls are not counted.
#[test]
fn a_pid_filters_every_probe_and_its_exit_ends_the_trace() {
    if !kernel_tests_enabled("a_pid_filters_every_probe_and_its_exit_ends_the_trace") {
        return;
    }
    let mut sleeper = std::process::Command::new("/bin/sleep").arg("1.5").spawn().expect("spawn sleep");
    let pid = sleeper.id().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = {
        let stop = stop.clone();
        // getppid from this process all along: -p must leave it out.
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: getppid has no preconditions.
                unsafe { libc::getppid() };
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let out = run(&[
        "-p",
        &pid,
        "-e",
        "tracepoint:syscalls:sys_exit_clock_nanosleep { @slept[pid] = count(); } tracepoint:syscalls:sys_enter_getppid { @getppid = count(); }",
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noise.join().unwrap();
    let _ = sleeper.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("@slept[{pid}]: 1\n")), "{stdout}");
    assert!(stdout.contains("@getppid: 0\n"), "{stdout}");
}

#[test]
fn cpid_needs_a_child_and_bad_commands_and_pids_are_refused() {
    let out = run(&["-e", "BEGIN { print(cpid); }"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`cpid` is the pid of a child command, and there is none") && stderr.contains("-e:1:15"), "{stderr}");

    let out = run(&["-c", "rbpf-no-such-command --x", "-e", "BEGIN { exit(); }"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: cannot run rbpf-no-such-command: no such executable file, and none of that name in PATH\n"
    );
    // The largest pid bpftrace accepts, one more than Linux ever gives.
    let out = run(&["-p", "4194304", "-e", "BEGIN { exit(); }"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "ERROR: there is no process with pid 4194304\n");
}

/// A file that is there but not executable is said so, with its path.
#[test]
fn a_command_that_is_not_executable_is_said_so() {
    let out = run(&["-c", "/etc/passwd", "-e", "BEGIN { exit(); }"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "ERROR: cannot run /etc/passwd: permission denied (it is not an executable file)\n");
}
