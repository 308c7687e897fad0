//! End-to-end tests of the rbpf binary that load real programs into the
//! kernel, cause real events and check what is printed.

mod common;

use common::{entries, kernel_tests_enabled, run, spawn_n, Scratch, Tracer};

/// What rbpf printed on stdout running `program` until it calls exit(),
/// where kernel tests can run: its exit status must be 0.
fn printed_until_exit(test: &str, program: &str) -> Option<String> {
    if !kernel_tests_enabled(test) {
        return None;
    }
    let out = run(&["-e", program]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What rbpf printed running the program `with_port` makes of a port on
/// the loopback, one that a TCP connection is made to once the probe is
/// attached; the program must end by itself, with exit status 0.
fn traced_loopback_connection(test: &str, with_port: impl FnOnce(u16) -> String) -> Option<String> {
    if !kernel_tests_enabled(test) {
        return None;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let port = listener.local_addr().expect("local address").port();
    let mut tracer = Tracer::start(&["-e", &with_port(port)]);
    tracer.wait_attached(1);
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect over loopback");
    let (out, status) = tracer.finish();
    drop(client);
    assert_eq!(status, 0, "{out}");
    Some(out)
}

fn canonical(program: &str, test: &str) {
    if !kernel_tests_enabled(test) {
        return;
    }
    let mut tracer = Tracer::start(&["-e", program]);
    tracer.wait_for(|l| l == "Attaching 1 probe...");
    tracer.wait_attached(1);
    // At sys_enter_execve, comm is still the caller's: our thread's name.
    spawn_n("rbpf-spawner", "/bin/true", 3);
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    let counts = entries(&out, "@c");
    let n = counts.iter().find(|(k, _)| *k == "rbpf-spawner").map(|e| e.1);
    assert!(n.is_some_and(|n| n >= 3), "expected @c[rbpf-spawner] >= 3 in:\n{out}");
    // bpftrace prints the entries sorted by value, ascending.
    let values: Vec<i64> = counts.iter().map(|e| e.1).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "not sorted by value:\n{out}");
    assert!(out.starts_with("Attaching 1 probe...\n"), "{out}");
}

#[test]
fn canonical_one_liner_counts_execs_by_command() {
    canonical("tracepoint:syscalls:sys_enter_execve { @c[comm] = count(); }", "canonical_one_liner");
}

#[test]
fn angle_bracket_block_runs_the_same() {
    canonical("tracepoint:syscalls:sys_enter_execve < @c[comm] = count() >", "angle_bracket_block");
}

#[test]
fn begin_printf_exit() {
    let program = r#"BEGIN { printf("hello %d %5s|%-4x|%c\n", 42, "ab", 255, 65); exit(); }"#;
    let Some(out) = printed_until_exit("begin_printf_exit", program) else { return };
    assert_eq!(out, "Attaching 1 probe...\nhello 42    ab|ff  |A\n\n\n");
}

#[test]
fn maps_print_in_bpftrace_format_and_order() {
    let program = r#"BEGIN { @x = 5; @c["z"] = count(); @c["a"] = count(); @c["a"] = count(); @s = sum(-3); @a = avg(7); @a = avg(2); @mn = min(4); @mn = min(-2); @mx = max(4); @mx = max(9); @t[1, "k"] = 3; @str = "hi"; exit(); }"#;
    let Some(out) = printed_until_exit("maps_print_in_bpftrace_format_and_order", program) else { return };
    assert_eq!(
        out,
        "Attaching 1 probe...\n\n\n@a: 4\n\n@c[z]: 1\n@c[a]: 2\n@mn: -2\n@mx: 9\n@s: -3\n@str: hi\n@t[1, k]: 3\n@x: 5\n"
    );
}

#[test]
fn end_runs_after_the_probes_on_sigterm() {
    if !kernel_tests_enabled("end_runs_after_the_probes_on_sigterm") {
        return;
    }
    let mut tracer = Tracer::start(&[
        "-e",
        "BEGIN { printf(\"begin\\n\"); } tracepoint:syscalls:sys_enter_execve { @n = count(); } END { printf(\"end\\n\"); }",
    ]);
    tracer.wait_for(|l| l == "begin");
    tracer.wait_attached(1);
    spawn_n("rbpf-spawner", "/bin/true", 2);
    let (out, status) = tracer.stop(libc::SIGTERM);
    assert_eq!(status, 0, "{out}");
    assert!(out.starts_with("Attaching 3 probes...\nbegin\nend\n\n\n@n: "), "{out}");
}

#[test]
fn interval_fires_and_exit_stops() {
    let start = std::time::Instant::now();
    let program = "interval:ms:100 { printf(\"tick %d\\n\", elapsed > 50000000); exit(); }";
    let Some(out) = printed_until_exit("interval_fires_and_exit_stops", program) else { return };
    assert_eq!(out, "Attaching 1 probe...\ntick 1\n\n\n");
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn tracepoint_args_and_predicates() {
    if !kernel_tests_enabled("tracepoint_args_and_predicates") {
        return;
    }
    let dir = Scratch::new("args");
    let marker = dir.join("marker-file");
    let program = format!(
        "tracepoint:syscalls:sys_enter_openat /pid == {}/ {{ printf(\"open %s %d\\n\", str(args->filename), args.flags >= 0); }}",
        std::process::id()
    );
    let mut tracer = Tracer::start(&["-e", &program]);
    tracer.wait_for(|l| l.starts_with("Attaching"));
    tracer.wait_attached(1);
    let _ = std::fs::File::open(&marker);
    let line = tracer.wait_for(|l| l.contains("marker-file"));
    assert_eq!(line, format!("open {} 1", marker.display()));
    let (_, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
}

#[test]
fn script_from_stdin_and_shebang_file() {
    if !kernel_tests_enabled("script_from_stdin_and_shebang_file") {
        return;
    }
    use std::io::Write;
    let mut child = common::rbpf()
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"BEGIN { printf(\"from stdin\\n\"); exit(); }").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Attaching 1 probe...\nfrom stdin\n\n\n");

    let dir = Scratch::new("script");
    let path = dir.path(&dir.write("hello.bt", b"#!/usr/bin/env rbpf\n// a comment\nBEGIN\n{\n  printf(\"from file\\n\");\n  exit();\n}\n"));
    let out = run(&[&path]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Attaching 1 probe...\nfrom file\n\n\n");
}

#[test]
fn debug_prints_every_stage() {
    let out = run(&["-d", "--dry-run", "-e", "BEGIN { @c[pid] = count(); }"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["AST", "Checked program", "Maps", "@c (m0_c): percpu_hash", "call bpf_get_current_pid_tgid#14", "exit"] {
        assert!(text.contains(needle), "missing {needle:?} in -d output:\n{text}");
    }
}

#[test]
fn uprobe_and_uretprobe_see_arguments_and_return_values() {
    if !kernel_tests_enabled("uprobe_and_uretprobe_see_arguments_and_return_values") {
        return;
    }
    let program = "uprobe:/bin/bash:read_builtin /comm == \"rbpf-uprobe\"/ { @calls[func, probe] = count(); } \
                   uretprobe:/bin/bash:read_builtin /comm == \"rbpf-uprobe\"/ { @ret[retval] = count(); }";
    let mut tracer = Tracer::start(&["-e", program]);
    tracer.wait_for(|l| l == "Attaching 2 probes...");
    tracer.wait_attached(2);
    // bash run through a symlink has the link's name as its comm, and the
    // same inode as /bin/bash. `read` at end of input returns 1: four calls,
    // four returns.
    let dir = Scratch::new("uprobe");
    let bash = dir.join("rbpf-uprobe");
    let _ = std::fs::remove_file(&bash);
    std::os::unix::fs::symlink("/bin/bash", &bash).expect("symlink");
    let status = std::process::Command::new(&bash)
        .args(["-c", "for i in 1 2 3 4; do read v < /dev/null; done; true"])
        .status()
        .expect("run bash");
    assert!(status.success());
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("@calls[read_builtin, uprobe:/bin/bash:read_builtin]: 4\n"), "{out}");
    assert!(out.contains("@ret[1]: 4\n"), "{out}");
}

/// `sys_enter_*` (some 360 tracepoints) runs as tail calls from one program
/// on raw_syscalls, by syscall number: each call must reach its own probe.
#[test]
fn many_syscall_tracepoints_count_each_syscall_under_its_name() {
    if !kernel_tests_enabled("many_syscall_tracepoints_count_each_syscall_under_its_name") {
        return;
    }
    let program = r#"tracepoint:syscalls:sys_enter_* /comm == "rbpf-syscalls"/ { @[probe] = count(); if (@[probe] == 200) { exit(); } }
                     tracepoint:syscalls:sys_exit_* /comm == "rbpf-syscalls"/ { @exit[probe] = count(); }"#;
    // The thread starts first (its own start-up makes syscalls too) and
    // waits, without a syscall, until both dispatchers (raw_syscalls
    // sys_enter and sys_exit) are attached: every call is then seen both at
    // entry and at exit.
    let go = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let caller = {
        let (go, stop) = (go.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rbpf-syscalls".into())
            .spawn(move || {
                while !go.load(std::sync::atomic::Ordering::Relaxed) && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // SAFETY: neither has preconditions.
                    unsafe {
                        libc::getpid();
                        libc::getppid();
                    }
                }
            })
            .expect("spawn thread")
    };
    let mut tracer = Tracer::start(&["-e", program]);
    tracer.wait_for(|l| l.starts_with("Attaching ") && l.ends_with(" probes..."));
    tracer.wait_attached(2);
    go.store(true, std::sync::atomic::Ordering::Relaxed);
    let (out, status) = tracer.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    caller.join().expect("caller thread");
    assert_eq!(status, 0, "{out}");
    let enters = entries(&out, "@");
    let names: Vec<&str> = enters.iter().map(|(k, _)| *k).collect();
    assert_eq!(names.len(), 2, "only getpid and getppid were called:\n{out}");
    assert!(names.contains(&"tracepoint:syscalls:sys_enter_getpid") && names.contains(&"tracepoint:syscalls:sys_enter_getppid"), "{out}");
    // The thread calls both in turn from after the attach, so getppid is at
    // least 199 when getpid reaches 200 and exit() is called.
    assert!(enters.iter().all(|(_, n)| *n >= 199) && enters.iter().any(|(_, n)| *n >= 200), "{out}");
    let exits = entries(&out, "@exit");
    assert!(exits.iter().any(|(k, n)| *k == "tracepoint:syscalls:sys_exit_getppid" && *n >= 198), "{out}");
}

/// Maps hold 4096 keys, as in bpftrace; `max_map_keys` in the config block
/// or BPFTRACE_MAP_KEYS_MAX (which wins, as bpftrace's environment does)
/// sets another number.
#[test]
fn maps_hold_max_map_keys_keys() {
    if !kernel_tests_enabled("maps_hold_max_map_keys_keys") {
        return;
    }
    let program = "BEGIN { $i = 0; while ($i < 5000) { @[$i] = $i; $i++; } exit(); }";
    // Read as it prints (`run` would fill the pipe and block it).
    let keys = |env: Option<&str>, program: &str| {
        let mut rbpf = common::rbpf();
        if let Some(n) = env {
            rbpf.env("BPFTRACE_MAP_KEYS_MAX", n);
        }
        let out = rbpf.args(["-q", "-e", program]).output().expect("run rbpf");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("@[")).count()
    };
    assert_eq!(keys(None, program), 4096);
    let configured = format!("config = {{ max_map_keys = 6000 }} {program}");
    assert_eq!(keys(None, &configured), 5000);
    assert_eq!(keys(Some("100"), &configured), 100);
}

#[test]
fn a_variable_holds_values_at_its_type_s_width() {
    const TEST: &str = "a_variable_holds_values_at_its_type_s_width";
    // A variable's type is the widest assigned to it; a narrower signed
    // value stored where another assignment made it unsigned keeps its
    // bits, as in a map (bpftrace 0.17 ignores the second assignment of
    // another type altogether, so it is not the reference here).
    let program = r#"BEGIN { $a = (int8)-1; if (pid == 0) { $a = (uint8)5; } $b = (int16)-2; if (pid == 0) { $b = (uint32)5; } printf("%d %lu\n", $a, $b); @a = $a; @b = $b; $c = (uint8)255; $c++; @c = $c; exit(); }"#;
    let Some(out) = printed_until_exit(TEST, program) else { return };
    assert_eq!(out, "Attaching 1 probe...\n255 65534\n\n\n@a: 255\n@b: 65534\n@c: 0\n");
}

/// `ntop()` of a tracepoint's byte array fields (`__u8 saddr[4]`,
/// `__u8 saddr_v6[16]`), as bpftrace prints them: a TCP connection over
/// loopback goes through inet_sock_set_state.
#[test]
fn ntop_of_address_array_fields() {
    const TEST: &str = "ntop_of_address_array_fields";
    let program = |port: u16| {
        format!(
            "tracepoint:sock:inet_sock_set_state /args->dport == {port} && args->newstate == 1/ {{ printf(\"%s %s %s %s\\n\", ntop(args->saddr), ntop(2, args->daddr), ntop(args->saddr_v6), ntop(10, args->daddr_v6)); exit(); }}"
        )
    };
    let Some(out) = traced_loopback_connection(TEST, program) else { return };
    assert!(out.contains("127.0.0.1 127.0.0.1 ::ffff:127.0.0.1 ::ffff:127.0.0.1\n"), "{out}");
}

/// `ntop()` of a byte array read through a pointer from the kernel's BTF
/// types (`u6_addr8` of a socket's IPv6 address, as the classic TCP tools
/// read it), with and without the family.
#[test]
fn ntop_of_a_byte_array_read_through_a_pointer() {
    const TEST: &str = "ntop_of_a_byte_array_read_through_a_pointer";
    let program = |port: u16| {
        format!(
            "tracepoint:sock:inet_sock_set_state /args->dport == {port} && args->newstate == 1/ {{ $sk = (struct sock *)args->skaddr; printf(\"%s %s %s\\n\", ntop($sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8), ntop(10, $sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8), ntop(2, $sk->__sk_common.skc_daddr)); exit(); }}"
        )
    };
    let Some(out) = traced_loopback_connection(TEST, program) else { return };
    assert!(out.contains("::ffff:127.0.0.1 ::ffff:127.0.0.1 127.0.0.1\n"), "{out}");
}
