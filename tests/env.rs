//! bpftrace's environment variables and their `config = { }` keys, end to
//! end: `cat()`'s byte limit, the limit on BPF programs, user symbols
//! turned off, C++ names left mangled, the user symbol cache, the
//! kernel's BTF read from another file, and kprobe offsets bounded by the
//! kernel image named; invalid values are refused in bpftrace's words.

mod common;

use std::path::Path;
use std::process::Output;

use common::{build_c, kernel_tests_enabled, rbpf, Scratch};

fn run_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    rbpf().envs(env.iter().copied()).args(args).output().expect("run rbpf")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_values_are_refused_in_bpftrace_s_words() {
    for (name, value, message) in [
        ("BPFTRACE_CAT_BYTES_MAX", "0", "ERROR: Env var 'BPFTRACE_CAT_BYTES_MAX' did not contain a valid uint64_t, or was zero-valued.\n"),
        ("BPFTRACE_MAX_CAT_BYTES", "x", "ERROR: Env var 'BPFTRACE_MAX_CAT_BYTES' did not contain a valid uint64_t, or was zero-valued.\n"),
        ("BPFTRACE_MAX_BPF_PROGS", "-1", "ERROR: Env var 'BPFTRACE_MAX_BPF_PROGS' did not contain a valid uint64_t, or was zero-valued.\n"),
        ("BPFTRACE_NO_USER_SYMBOLS", "2", "ERROR: Env var 'BPFTRACE_NO_USER_SYMBOLS' did not contain a valid value (0 or 1).\n"),
        ("BPFTRACE_NO_CPP_DEMANGLE", "yes", "ERROR: Env var 'BPFTRACE_NO_CPP_DEMANGLE' did not contain a valid value (0 or 1).\n"),
        ("BPFTRACE_CPP_DEMANGLE", "", "ERROR: Env var 'BPFTRACE_CPP_DEMANGLE' did not contain a valid value (0 or 1).\n"),
        ("BPFTRACE_CACHE_USER_SYMBOLS", "2", "ERROR: Env var 'BPFTRACE_CACHE_USER_SYMBOLS' did not contain a valid value (0 or 1).\n"),
        ("BPFTRACE_NODE_MAX", "abc", "ERROR: Env var 'BPFTRACE_NODE_MAX' did not contain a valid uint64_t, or was zero-valued.\n"),
        (
            "BPFTRACE_MAX_TYPE_RES_ITERATIONS",
            "abc",
            "ERROR: Env var 'BPFTRACE_MAX_TYPE_RES_ITERATIONS' did not contain a valid uint64_t, or was zero-valued.\n",
        ),
        // bpftrace takes 0 as a limit: no program has fewer nodes.
        ("BPFTRACE_NODE_MAX", "0", "ERROR: node count (5) exceeds the limit (0)\n"),
    ] {
        let out = run_with(&[(name, value)], &["-e", "BEGIN { exit(); }"]);
        assert_eq!(out.status.code(), Some(1), "{name}={value}");
        assert!(stderr(&out).starts_with(message), "{name}={value}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{name}={value}: nothing runs");
    }
    for (config, message) in [
        ("max_cat_bytes = 0", "`max_cat_bytes` must be a count above 0"),
        ("max_bpf_progs = \"a\"", "`max_bpf_progs` needs an integer"),
        ("cpp_demangle = 2", "`cpp_demangle` must be 0 or 1 (or true or false)"),
        ("cache_user_symbols = PER_THREAD", "Invalid value for cache_user_symbols: valid values are PER_PID, PER_PROGRAM, and NONE."),
        ("vmlinux = 1", "vmlinux can only be set as an environment variable"),
    ] {
        let out = run_with(&[], &["-e", &format!("config = {{ {config} }} BEGIN {{ exit(); }}")]);
        assert_eq!(out.status.code(), Some(1), "{config}");
        assert!(stderr(&out).contains(&format!("error: {message}")), "{config}: {}", stderr(&out));
        assert!(stderr(&out).contains("┌─ -e:1:"), "{config}: a span: {}", stderr(&out));
    }
}

/// BPFTRACE_NODE_MAX refuses a program of that many syntax tree nodes or
/// more, counted as bpftrace 0.17 counts them (checked against it:
/// `BEGIN { exit(); }` has 5, the program below 14).
#[test]
fn programs_with_too_many_nodes_are_refused() {
    let program = "BEGIN { @x = 1 + 2; printf(\"%d\\n\", @x); exit(); }";
    // Compiled, not run: --emit-elf needs no kernel.
    let compile = |env: &[(&str, &str)]| run_with(env, &["--emit-elf", "/dev/null", "-e", program]);
    for max in ["5", "14"] {
        let out = compile(&[("BPFTRACE_NODE_MAX", max)]);
        assert_eq!((out.status.code(), stderr(&out)), (Some(1), format!("ERROR: node count (14) exceeds the limit ({max})\n")));
    }
    let out = compile(&[("BPFTRACE_NODE_MAX", "15")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Without effect on rbpf, but valid: 0 is bpftrace's "unlimited".
    let out = compile(&[("BPFTRACE_MAX_TYPE_RES_ITERATIONS", "0")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Every config key later bpftrace documents is taken: those rbpf follows
/// or has no use for quietly, the others with a warning that they have no
/// effect here; a value of the wrong kind is still refused.
#[test]
fn every_documented_config_key_is_taken() {
    let compile = |config: &str| run_with(&[], &["--emit-elf", "/dev/null", "-e", &format!("config = {{ {config} }} BEGIN {{ exit(); }}")]);
    let quiet = compile("no_user_symbols = 1; max_type_res_iterations = 5; print_maps_on_exit = 1; cache_user_symbols = NONE");
    assert_eq!((quiet.status.code(), stderr(&quiet)), (Some(0), String::new()));
    let keys = "on_stack_limit = 32; lazy_symbolication = 1; probe_inline = 0; use_blazesym = 0; print_maps_on_exit = 0; \
                stack_mode = perf; symbol_source = dwarf; missing_probes = error; str_trunc_trailer = \"..\"; license = \"GPL\"";
    let warned = compile(keys);
    assert_eq!(warned.status.code(), Some(0), "{}", stderr(&warned));
    for key in keys.split("; ").map(|k| k.split(' ').next().unwrap()) {
        assert!(stderr(&warned).contains(&format!("warning: config option `{key}` has no effect in rbpf")), "{key}: {}", stderr(&warned));
    }
    let out = compile("stack_mode = sideways");
    assert!(stderr(&out).contains("error: `stack_mode` must be one of: bpftrace, perf, raw"), "{}", stderr(&out));
}

#[test]
fn cat_prints_at_most_the_bytes_allowed() {
    if !kernel_tests_enabled("cat_prints_at_most_the_bytes_allowed") {
        return;
    }
    let dir = Scratch::new("env-cat");
    let file = dir.join("text");
    std::fs::write(&file, "abcdefghij\n").unwrap();
    let program = format!("BEGIN {{ cat(\"{}\"); cat(\"{}\"); exit(); }}", file.display(), file.display());
    let config = format!("config = {{ max_cat_bytes = 2 }} {program}");
    let old_config = format!("config = {{ cat_bytes_max = 3 }} {program}");
    for (env, program, expected) in [
        (vec![], &program, "abcdefghij\nabcdefghij\n"),
        (vec![("BPFTRACE_CAT_BYTES_MAX", "5")], &program, "abcdeabcde"),
        (vec![("BPFTRACE_MAX_CAT_BYTES", "4")], &program, "abcdabcd"),
        (vec![], &config, "abab"),
        (vec![], &old_config, "abcabc"),
        // The environment wins over the config block.
        (vec![("BPFTRACE_CAT_BYTES_MAX", "1")], &config, "aa"),
    ] {
        let out = run_with(&env, &["-e", program]);
        assert_eq!(stdout(&out), format!("Attaching 1 probe...\n{expected}\n\n"), "{env:?} {program}: {}", stderr(&out));
    }
}

#[test]
fn too_many_bpf_programs_are_refused_before_anything_loads() {
    // `probe` makes one program per tracepoint the wildcard matches; BEGIN
    // and END are not counted, as bpftrace does not count them.
    let program = "BEGIN { exit(); } END { } tracepoint:syscalls:sys_enter_getpid, tracepoint:syscalls:sys_enter_getppid, \
                   tracepoint:syscalls:sys_enter_gettid { @[probe] = count(); }";
    let refused = "ERROR: Failed to compile: Your program is trying to generate more than 3 BPF programs, which exceeds the current limit of 2.\n\
                   You can increase the limit through the BPFTRACE_MAX_BPF_PROGS environment variable.\n";
    let out = run_with(&[("BPFTRACE_MAX_BPF_PROGS", "2")], &["-e", program]);
    assert_eq!((out.status.code(), stderr(&out).as_str(), stdout(&out).as_str()), (Some(1), refused, ""));
    let out = run_with(&[], &["-e", &format!("config = {{ max_bpf_progs = 2 }} {program}")]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(1), refused));
    if !kernel_tests_enabled("too_many_bpf_programs_are_refused_before_anything_loads") {
        return;
    }
    let out = run_with(&[("BPFTRACE_MAX_BPF_PROGS", "3")], &["--dry-run", "-e", &format!("config = {{ max_bpf_progs = 2 }} {program}")]);
    assert_eq!(out.status.code(), Some(0), "the environment wins: {}", stderr(&out));
}

/// As bpftrace 0.17 counts: a wildcard's matches count only when the body
/// needs one program per match (`probe`), and the total is named at the
/// first attach point that brings it over the limit.
#[test]
fn only_probes_expanded_per_match_count_as_bpf_programs() {
    let refused = |total: u64, max: u64| {
        format!(
            "ERROR: Failed to compile: Your program is trying to generate more than {total} BPF programs, which exceeds the current limit of {max}.\n\
             You can increase the limit through the BPFTRACE_MAX_BPF_PROGS environment variable.\n"
        )
    };
    let read_probe = r#"tracepoint:syscalls:sys_enter_read* { printf("%s\n", probe); exit(); }"#;
    let write_probe = r#"tracepoint:syscalls:sys_enter_write* { printf("%s\n", probe); exit(); }"#;
    let matches = |prefix: &str| {
        std::fs::read_dir("/sys/kernel/tracing/events/syscalls")
            .map(|dir| dir.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with(prefix)).count() as u64)
            .unwrap_or(0)
    };
    let (read_count, write_count) = (matches("sys_enter_read"), matches("sys_enter_write"));
    if read_count < 2 || write_count == 0 {
        return;
    }
    let out = run_with(&[("BPFTRACE_MAX_BPF_PROGS", "1")], &["-e", read_probe]);
    assert_eq!((out.status.code(), stderr(&out)), (Some(1), refused(read_count, 1)));
    let both = format!("{read_probe} {write_probe}");
    let out = run_with(&[("BPFTRACE_MAX_BPF_PROGS", &read_count.to_string())], &["-e", &both]);
    assert_eq!(stderr(&out), refused(read_count + write_count, read_count));
    if !kernel_tests_enabled("only_probes_expanded_per_match_count_as_bpf_programs") {
        return;
    }
    // Without `probe`, one program serves every match: not counted.
    let program = "tracepoint:syscalls:sys_enter_read* { exit(); } BEGIN { exit(); }";
    let out = run_with(&[("BPFTRACE_MAX_BPF_PROGS", "1")], &["--dry-run", "-e", program]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Calls `work`, whose symbol is the mangled C++ name of
/// `rbpfns::work(int)`, once per 10 ms, 500 times.
const MANGLED: &str = r#"
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) int work(int i) __asm__("_ZN6rbpfns4workEi");
__attribute__((noinline)) int work(int i) { return i * 2 + 1; }
int main(void) {
    int sum = 0;
    for (int i = 0; i < 500; i++) { sum += work(i); usleep(10000); }
    return sum == 0;
}
"#;

/// The `usym()` of the traced function and the user stack of its caller's
/// call, printed by rbpf running `binary` under `env` and `config`.
fn user_symbols(binary: &Path, env: &[(&str, &str)], config: &str) -> (String, String) {
    let program = format!(
        "{config} uprobe:{}:_ZN6rbpfns4workEi {{ printf(\"%s\\n\", usym(reg(\"ip\"))); @s[ustack(1)] = count(); exit(); }}",
        binary.display()
    );
    let out = run_with(env, &["-c", binary.to_str().unwrap(), "-e", &program]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{env:?}: {text} {}", stderr(&out));
    let usym = text.lines().nth(1).unwrap_or_default().to_string();
    let frame = text.lines().skip_while(|l| *l != "@s[").nth(1).unwrap_or_default().trim().to_string();
    (usym, frame)
}

#[test]
fn user_symbols_are_named_demangled_or_left_as_addresses_as_asked() {
    const TEST: &str = "user_symbols_are_named_demangled_or_left_as_addresses_as_asked";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let Some(binary) = build_c(TEST, "a program with a C++ name (needs gcc)", "mangled", &[("main.c", MANGLED)], &["-O1"]) else { return };
    let demangled = ("rbpfns::work(int)".to_string(), "rbpfns::work(int)+0".to_string());
    let mangled = ("_ZN6rbpfns4workEi".to_string(), "_ZN6rbpfns4workEi+0".to_string());
    assert_eq!(user_symbols(&binary, &[], ""), demangled);
    assert_eq!(user_symbols(&binary, &[("BPFTRACE_NO_CPP_DEMANGLE", "0")], ""), demangled);
    assert_eq!(user_symbols(&binary, &[("BPFTRACE_NO_CPP_DEMANGLE", "1")], ""), mangled);
    assert_eq!(user_symbols(&binary, &[("BPFTRACE_CPP_DEMANGLE", "0")], ""), mangled);
    assert_eq!(user_symbols(&binary, &[], "config = { cpp_demangle = false }"), mangled);
    assert_eq!(user_symbols(&binary, &[], "config = { no_cpp_demangle = 1 }"), mangled);
    assert_eq!(user_symbols(&binary, &[("BPFTRACE_NO_CPP_DEMANGLE", "0")], "config = { cpp_demangle = 0 }"), demangled);
    // Without the cache, each name is read again: the same names.
    assert_eq!(user_symbols(&binary, &[("BPFTRACE_CACHE_USER_SYMBOLS", "NONE")], ""), demangled);
    assert_eq!(user_symbols(&binary, &[("BPFTRACE_CACHE_USER_SYMBOLS", "0")], "config = { cache_user_symbols = PER_PID }"), demangled);
    // No user symbols: the address, in usym() and in the stack alike.
    let (usym, frame) = user_symbols(&binary, &[("BPFTRACE_NO_USER_SYMBOLS", "1")], "");
    assert!(usym.starts_with("0x") && u64::from_str_radix(&usym[2..], 16).is_ok(), "{usym}");
    assert_eq!(frame, usym);
    let _ = std::fs::remove_dir_all(binary.parent().unwrap());
}

/// A raw BTF file holding one type: `struct rbpf_env_only` of 24 bytes,
/// with no members.
fn one_struct_btf() -> Vec<u8> {
    let strings = b"\0rbpf_env_only\0";
    let mut types = Vec::new();
    types.extend(1u32.to_le_bytes()); // name_off
    types.extend((4u32 << 24).to_le_bytes()); // kind STRUCT, no members
    types.extend(24u32.to_le_bytes()); // size
    let mut btf = Vec::new();
    btf.extend(0xeb9fu16.to_le_bytes());
    btf.extend([1, 0]); // version, flags
    for word in [24, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
        btf.extend(word.to_le_bytes()); // hdr_len, type_off, type_len, str_off, str_len
    }
    btf.extend(types);
    btf.extend(strings);
    btf
}

#[test]
fn kernel_types_come_from_the_btf_file_named() {
    let dir = Scratch::new("env-btf");
    let file = dir.join("one.btf");
    std::fs::write(&file, one_struct_btf()).unwrap();
    let btf = file.to_str().unwrap();
    let program = r#"BEGIN { printf("%d\n", sizeof(struct rbpf_env_only)); exit(); }"#;
    let out = run_with(&[], &["-e", program]);
    assert!(stderr(&out).contains("error: unknown type `struct rbpf_env_only`"), "{}", stderr(&out));
    // The running kernel's types are not read then.
    let out = run_with(&[("BPFTRACE_BTF", btf)], &["-e", "BEGIN { printf(\"%d\\n\", sizeof(struct task_struct)); exit(); }"]);
    assert!(stderr(&out).contains("error: unknown type `struct task_struct`"), "{}", stderr(&out));
    let missing = dir.join("missing.btf");
    let out = run_with(&[("BPFTRACE_BTF", missing.to_str().unwrap())], &["-e", program]);
    assert_eq!(out.status.code(), Some(1));
    let reason = format!("cannot read the BTF file {} (BPFTRACE_BTF): No such file or directory", missing.display());
    assert!(stderr(&out).contains(&reason), "{}", stderr(&out));
    if kernel_tests_enabled("kernel_types_come_from_the_btf_file_named") {
        let out = run_with(&[("BPFTRACE_BTF", btf)], &["-e", program]);
        assert_eq!(stdout(&out), "Attaching 1 probe...\n24\n\n\n", "{}", stderr(&out));
        // A copy of the running kernel's BTF answers as the kernel does.
        let copy = dir.join("vmlinux");
        if std::fs::copy("/sys/kernel/btf/vmlinux", &copy).is_ok() {
            let sizeof = "BEGIN { printf(\"%d\\n\", sizeof(struct task_struct)); exit(); }";
            let own = stdout(&run_with(&[], &["-e", sizeof]));
            assert_eq!(stdout(&run_with(&[("BPFTRACE_BTF", copy.to_str().unwrap())], &["-e", sizeof])), own);
        }
    }
}

#[test]
fn kprobe_offsets_are_bounded_by_the_kernel_image_named() {
    const TEST: &str = "kprobe_offsets_are_bounded_by_the_kernel_image_named";
    // A stand-in for the kernel image: an ELF file whose symbol table has
    // a `vfs_read` of a few bytes.
    let source = "__attribute__((noinline)) int vfs_read(int x) { return x + 1; }\nint main(void) { return vfs_read(0) - 1; }\n";
    let Some(image) = build_c(TEST, "a stand-in kernel image (needs gcc)", "vmlinux", &[("main.c", source)], &["-O1"]) else { return };
    let out = run_with(&[("BPFTRACE_VMLINUX", image.to_str().unwrap())], &["-e", "kprobe:vfs_read+100000 { }"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains("error: Offset outside the function bounds ('vfs_read' size is "), "{text}");
    assert!(text.contains("┌─ -e:1:1"), "a span: {text}");
    let out = run_with(&[("BPFTRACE_VMLINUX", "/nonexistent/vmlinux")], &["-e", "kprobe:vfs_read+4 { }"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains("error: cannot check the offset into `vfs_read`: /nonexistent/vmlinux (BPFTRACE_VMLINUX) does not exist"), "{text}");
    let _ = std::fs::remove_dir_all(image.parent().unwrap());
}
