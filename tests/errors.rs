//! Bad input of every kind: a diagnostic that points at the cause, exit
//! status 1, never a panic.

mod common;

use common::{fails_with, run, Scratch};

#[test]
fn syntax_error_points_at_the_token() {
    fails_with(&["-e", "BEGIN { @x = ; }"], &["error: expected an expression, found `;`", "-e:1:14", "^ unexpected `;`"]);
}

#[test]
fn unknown_probe_type() {
    fails_with(&["-e", "kprobez:foo { }"], &["unknown probe type `kprobez`", "-e:1:1"]);
}

#[test]
fn unknown_tracepoint() {
    if !common::kernel_tests_enabled("unknown_tracepoint") {
        return;
    }
    fails_with(&["-e", "tracepoint:syscalls:sys_enter_nonexistent { }"], &["tracepoint `syscalls:sys_enter_nonexistent` does not exist"]);
}

#[test]
fn unknown_args_field() {
    if !common::kernel_tests_enabled("unknown_args_field") {
        return;
    }
    fails_with(
        &["-e", "tracepoint:syscalls:sys_enter_execve { printf(\"%s\\n\", str(args.filenam)); }"],
        &["has no field `filenam`", "its fields are:", "filename"],
    );
}

#[test]
fn unknown_builtin_and_function() {
    fails_with(&["-e", "BEGIN { @x = pidd; }"], &["unknown builtin `pidd`"]);
    fails_with(&["-e", "BEGIN { prinft(\"x\"); }"], &["unknown function `prinft`"]);
}

#[test]
fn map_with_two_key_types() {
    fails_with(&["-e", "BEGIN { @m[1] = 1; @m[\"a\"] = 2; }"], &["map `@m` is used with key [string[2]] here, but with key [int64] before", "first used here"]);
}

#[test]
fn wrong_number_of_arguments() {
    fails_with(&["-e", "BEGIN { @s = sum(); }"], &["`sum()` takes 1 argument, but 0 were given"]);
}

#[test]
fn missing_script_file() {
    fails_with(&["/nonexistent/script.bt"], &["cannot read script file /nonexistent/script.bt"]);
}

#[test]
fn no_program_at_all() {
    fails_with(&[], &["no program given"]);
}

#[test]
fn script_file_errors_name_the_file() {
    let dir = Scratch::new("errors");
    let p = dir.path(&dir.write("bad.bt", b"#!/usr/bin/env rbpf\nBEGIN {\n  @x = nope;\n}\n"));
    fails_with(&[&p], &[&format!("{p}:3:8"), "unknown builtin `nope`"]);
}

/// Without root or the BPF capabilities, one sentence says what is missing.
#[test]
fn unprivileged_run_names_the_missing_capability() {
    if !common::kernel_tests_enabled("unprivileged_run_names_the_missing_capability") {
        return;
    }
    // The binary must be reachable by `nobody`: copy it somewhere readable.
    let dir = Scratch::new("unpriv");
    let bin = dir.join("rbpf");
    std::fs::copy(env!("CARGO_BIN_EXE_rbpf"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(&bin)
        .args(["-e", "BEGIN { printf(\"hi\\n\"); exit(); }"])
        .output()
        .expect("setpriv (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CAP_BPF") && stderr.lines().count() <= 2, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn kernel_function_probes_fail_clearly_where_the_kernel_lacks_them() {
    if !common::kernel_tests_enabled("kernel_function_probes_fail_clearly_where_the_kernel_lacks_them") {
        return;
    }
    let has_kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists();
    if !has_kprobes {
        for program in ["kprobe:do_nanosleep { exit(); }", "kretprobe:vfs_read { @ = retval; }", "kprobe:vfs_* { @[func] = count(); }"] {
            fails_with(&["-e", program], &["kprobes are not available: this kernel is built without kprobes (CONFIG_KPROBES)", "-e:1:1"]);
        }
    }
    // fentry needs BTF and BPF trampolines: where the kernel refuses tracing
    // programs, the load fails in one sentence; where it has them, it runs.
    let out = run(&["-e", "fentry:do_nanosleep { printf(\"%d\\n\", args.mode); exit(); }", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(0) {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("this kernel cannot run fentry probes (fentry:do_nanosleep): the kernel refuses BPF tracing programs")
                || stderr.contains("fentry probes are not available"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    }
}

#[test]
fn nesting_too_deep_for_the_compiler_is_refused_not_a_crash() {
    // One token a line, so that the diagnostic quoting its line stays short.
    let parens = format!("BEGIN {{ $x = {}1{}; }}", "(\n".repeat(3000), ")".repeat(3000));
    fails_with(&["-e", &parens], &["the program is nested too deeply: brackets, `?:` and `else if` are limited to 100 levels", "-e:100:1"]);
    let negations = format!("BEGIN {{ $x = 1; $y = {}$x; }}", "-\n".repeat(50_000));
    fails_with(&["-e", &negations], &["statements and expressions are limited to 250 levels"]);
    let sum = format!("BEGIN {{ $x = 1; $y = {}; }}", vec!["$x"; 5_000].join("\n+"));
    fails_with(&["-e", &sum], &["statements and expressions are limited to 250 levels"]);
}

/// Just inside the limits, every pass (checker, code generator, `-d`'s
/// printing of the trees) gets through on the main thread's stack.
#[test]
fn deep_but_legal_programs_run() {
    if !common::kernel_tests_enabled("deep_but_legal_programs_run") {
        return;
    }
    let print = "printf(\"%d\\n\", $y); exit();";
    for (program, expect) in [
        (format!("BEGIN {{ $x = 1; $y = {}$x; {print} }}", "- ".repeat(240)), "1"),
        (format!("BEGIN {{ $x = 1; $y = {}$x; {print} }}", "!".repeat(241)), "0"),
        (format!("BEGIN {{ $x = 1; $y = {}; {print} }}", vec!["$x"; 240].join(" + ")), "240"),
        (format!("BEGIN {{ $x = 1; $y = {}$x{}; {print} }}", "(".repeat(97), ")".repeat(97)), "1"),
        (format!("BEGIN {{ $x = 1; $y = 0; {}$y = 7;{} {print} }}", "if ($x) { ".repeat(97), " }".repeat(97)), "7"),
        (format!("BEGIN {{ $x = 1; $y = 0; {}$y = 7;{} {print} }}", "{ ".repeat(97), " }".repeat(97)), "7"),
    ] {
        for args in [vec!["-e", program.as_str()], vec!["-d", "-e", program.as_str()]] {
            // Not `run`: `-d` prints more than a pipe holds before exit.
            let out = common::rbpf().args(&args).output().expect("run rbpf");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{:.60}: {}", program, String::from_utf8_lossy(&out.stderr));
            assert!(stdout.lines().any(|l| l == expect), "{program:.60}: {stdout:.300}");
        }
    }
}

/// Four nested `unroll(100)` once grew rbpf to 17.7 GB: now a refusal
/// pointing at the outer unroll, before anything is copied.
#[test]
fn unroll_nested_beyond_a_program_is_refused_at_once() {
    let start = std::time::Instant::now();
    fails_with(
        &["-e", "BEGIN { $i = 0; unroll(100) { unroll(100) { unroll(100) { unroll(100) { $i++; } } } } exit(); }"],
        &["this `unroll` repeats its body into 301010100 statements and expressions", "-e:1:24", "unrolled too far"],
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "took {:?}", start.elapsed());
}

/// A string length that is no length is an error, as in bpftrace, not
/// quietly clamped; one with no place in the source gets no snippet.
#[test]
fn invalid_string_lengths_are_refused() {
    for (value, needle) in [
        ("0", "Env var 'BPFTRACE_STRLEN' did not contain a valid uint64_t, or was zero-valued."),
        ("abc", "Env var 'BPFTRACE_STRLEN' did not contain a valid uint64_t, or was zero-valued."),
        ("", "Env var 'BPFTRACE_STRLEN' did not contain a valid uint64_t, or was zero-valued."),
        ("201", "'BPFTRACE_STRLEN' 201 exceeds the current maximum of 200 bytes."),
        ("300", "'BPFTRACE_STRLEN' 300 exceeds the current maximum of 200 bytes."),
    ] {
        let out = common::rbpf()
            .env("BPFTRACE_STRLEN", value)
            .args(["-e", "BEGIN { printf(\"%s\\n\", comm); exit(); }"])
            .output()
            .expect("run rbpf");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{value:?}: {stderr}");
        assert!(stderr.contains(needle) && !stderr.contains("┌─"), "{value:?}: {stderr}");
    }
    fails_with(&["-e", "BEGIN { printf(\"%s\\n\", str(\"abc\", -1)); exit(); }"], &["`str()` cannot take a negative length", "-e:1:35"]);
}

/// BEGIN and END run in rbpf's own process: `signal("TERM")` there killed
/// rbpf. Refused, as bpftrace refuses it, and so is a signal number out of
/// range.
#[test]
fn signal_without_a_task_or_out_of_range_is_refused() {
    fails_with(&["--unsafe", "-e", "BEGIN { signal(\"TERM\"); exit(); }"], &["`signal()` cannot be used in BEGIN probes", "-e:1:9"]);
    fails_with(&["--unsafe", "-e", "END { signal(9); }"], &["`signal()` cannot be used in END probes"]);
    fails_with(&["--unsafe", "-e", "profile:hz:99 { signal(100); }"], &["100 is not a valid signal", "-e:1:24"]);
}

#[test]
fn a_loop_too_long_for_the_verifier_is_named_as_such() {
    if !common::kernel_tests_enabled("a_loop_too_long_for_the_verifier_is_named_as_such") {
        return;
    }
    let program = "BEGIN { $i = 0; while ($i < 200000) { @ = lhist($i, 0, 2000, 10); $i++; } exit(); }";
    // Kernels from 6.4 on keep the end of a long verifier log, where the
    // instruction it stopped at is: the error points at the loop. Older
    // ones keep its start, and their verifier gives up for another reason
    // (6.1: "The sequence of 8193 jumps is too complex"): the probe.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel release");
    let mut numbers = release.trim().split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    let (reason, span) = if version >= (6, 4) { (": BPF program is too large", "-e:1:17") } else { (": ", "-e:1:1") };
    let first = format!("error: the program for BEGIN is too large or too complex for the kernel's verifier{reason}");
    fails_with(&["-e", program], &[&first, span, "the verifier gave up here", "fewer iterations or less work in each"]);
    let out = run(&["-e", program]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("bug in rbpf"));
}

#[test]
fn unknown_types_are_named_with_the_kernels_nearest_type() {
    fails_with(&["-e", "BEGIN { @ = sizeof(nosuch_t); }"], &["error: unknown type `nosuch_t`", "-e:1:20", "^^^^^^^^ not defined in the script or the kernel"]);
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("skipping the kernel's hints: no /sys/kernel/btf/vmlinux");
        return;
    }
    for (src, hint) in [
        ("BEGIN { $t = (struct task_strct *)0; }", "did you mean `struct task_struct`?"),
        ("BEGIN { @ = sizeof(struct task_strct); }", "did you mean `struct task_struct`?"),
        ("BEGIN { @ = offsetof(struct task_strct, pid); }", "did you mean `struct task_struct`?"),
        ("BEGIN { @ = sizeof(union bpf_atr); }", "did you mean `union bpf_attr`?"),
        ("BEGIN { @ = sizeof(pid_tt); }", "did you mean `pid_t`?"),
    ] {
        fails_with(&["-e", src], &["error: unknown type", hint]);
    }
}
