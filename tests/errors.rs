//! Bad input of every kind: a diagnostic that points at the cause, exit
//! status 1, never a panic.

mod common;

use common::{fails_with, run};

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
    let dir = std::env::temp_dir().join(format!("rbpf-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.bt");
    std::fs::write(&path, "#!/usr/bin/env rbpf\nBEGIN {\n  @x = nope;\n}\n").unwrap();
    let p = path.to_str().unwrap();
    fails_with(&[p], &[&format!("{p}:3:8"), "unknown builtin `nope`"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without root or the BPF capabilities, one sentence says what is missing.
#[test]
fn unprivileged_run_names_the_missing_capability() {
    if !common::kernel_tests_enabled("unprivileged_run_names_the_missing_capability") {
        return;
    }
    // The binary must be reachable by `nobody`: copy it somewhere readable.
    let dir = std::env::temp_dir().join(format!("rbpf-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("rbpf");
    std::fs::copy(env!("CARGO_BIN_EXE_rbpf"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(&bin)
        .args(["-e", "BEGIN { printf(\"hi\\n\"); exit(); }"])
        .output()
        .expect("setpriv (util-linux) runs");
    std::fs::remove_dir_all(&dir).unwrap();
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
fn a_loop_too_long_for_the_verifier_is_named_as_such() {
    if !common::kernel_tests_enabled("a_loop_too_long_for_the_verifier_is_named_as_such") {
        return;
    }
    let program = "BEGIN { $i = 0; while ($i < 200000) { @ = lhist($i, 0, 2000, 10); $i++; } exit(); }";
    fails_with(
        &["-e", program],
        &[
            "error: the program for BEGIN is too large or too complex for the kernel's verifier: BPF program is too large",
            "-e:1:17",
            "the verifier gave up here",
            "fewer iterations or less work in each",
        ],
    );
    let out = run(&["-e", program]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("bug in rbpf"));
}
