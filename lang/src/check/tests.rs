//! Checker tests: a program in, the rendered diagnostics (or a summary of
//! the checked program) out.

use crate::diagnostic::render_to_string;
use crate::probes::ProbeKind;
use crate::target::FakeTarget;
use crate::types::Type;
use crate::Source;

mod array_fields;
mod buffers;
mod iter;
mod marks;
mod pointers;
mod pointer_fields;
mod stacks;
mod tables;
mod probe_kinds;
mod memory_errors;
mod more_functions;
mod watchpoint;
mod tuples;
mod types;
mod values;
mod warnings;

pub(crate) const EXECVE_FORMAT: &str = "name: sys_enter_execve
ID: 824
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
";

/// The kernel types the fake's BTF describes.
const KERNEL_TYPES: &str = "struct task_struct { int pid; int tgid; struct task_struct *real_parent; }; \
                            typedef int pid_t; enum { TCP_ESTABLISHED = 1, TCP_SYN_SENT };";

fn target() -> FakeTarget {
    FakeTarget::default()
        .with_tracepoint("syscalls", "sys_enter_execve", EXECVE_FORMAT)
        .with_usdt("/bin/app", "app", "req", 0x1010, Some(0x3000), "-4@%edi 8@16(%rsp)")
        .with_usdt("/bin/app", "app", "req", 0x1030, Some(0x3000), "-4@%eax 8@$7")
        .with_usdt("/bin/app", "app", "odd", 0x1040, None, "4@(%rax,%rbx,4)")
        .with_user_symbol("/bin/app", "flag", 0x4010, 1)
        .with_user_symbol("/bin/app", "table", 0x4020, 48)
        .with_kernel_symbol("vfs_read", 0xffffffff81002000)
        // The iterators' functions, whose parameters are their contexts' members.
        .with_kernel_function("bpf_iter_task", &[("meta", "struct bpf_iter_meta *", 8, false), ("task", "struct task_struct *", 8, false)], Some(("int", 4, true)))
        .with_kernel_function(
            "bpf_iter_task_file",
            &[("meta", "struct bpf_iter_meta *", 8, false), ("task", "struct task_struct *", 8, false), ("fd", "u32", 4, false), ("file", "struct file *", 8, false)],
            Some(("int", 4, true)),
        )
        .with_cgroup("/sys/fs/cgroup/unified/app", 7351)
        .with_kernel_definitions(KERNEL_TYPES)
        .with_tracepoint("sched", "sched_switch", "format:\n\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:__data_loc char[] name;\toffset:28;\tsize:4;\tsigned:0;\n")
}

fn run(src: &str) -> Result<crate::checked::Program, String> {
    let ast = crate::parse(src).map_err(|d| render_to_string(&Source::new("-e", src), &d))?;
    super::check(&ast, &target()).map_err(|d| render_to_string(&Source::new("-e", src), &d))
}

#[track_caller]
fn check_error(src: &str, expect: &str) {
    match run(src) {
        Ok(_) => panic!("expected an error for {src}"),
        Err(text) => {
            let text: Vec<&str> = text.trim().lines().map(str::trim_end).collect();
            assert_eq!(text.join("\n"), expect.trim(), "\n{}", text.join("\n"));
        }
    }
}

#[track_caller]
fn check_ok(src: &str) -> crate::checked::Program {
    run(src).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn canonical_one_liner_types_its_map() {
    let p = check_ok("tracepoint:syscalls:sys_enter_execve { @c[comm] = count(); }");
    assert_eq!(p.maps.len(), 1);
    assert_eq!(p.maps[0].name, "@c");
    assert_eq!(format!("{:?} {:?}", p.maps[0].key, p.maps[0].value), "[Str { size: 16 }] Count");
    assert_eq!(p.probes[0].name, "tracepoint:syscalls:sys_enter_execve");
}

#[test]
fn maps_are_sorted_and_typed_from_every_use() {
    let p = check_ok("BEGIN { if (@b > 1) { @a = 1; } } END { @b = 2; @s[\"x\", 1] = sum(5); @m = min(-1); @v = avg(3); @mx = max(4) }");
    let names: Vec<_> = p.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["@a", "@b", "@m", "@mx", "@s", "@v"]);
}

#[test]
fn tracepoint_fields_get_their_types() {
    let p = check_ok("t:sched:sched_switch { printf(\"%s %d %s\\n\", args.prev_comm, args->prev_pid, args.name); }");
    let types: Vec<String> = p.printfs[0].args.iter().map(|t| t.to_string()).collect();
    assert_eq!(types, ["string[16]", "int32", "string[64]"]);
}

#[test]
fn syntax_error() {
    check_error(
        "BEGIN { @x = ; }",
        "
error: expected an expression, found `;`
  ┌─ -e:1:14
  │
1 │ BEGIN { @x = ; }
  │              ^ unexpected `;`",
    );
}

#[test]
fn unknown_probe_type() {
    check_error(
        "tracepoitn:syscalls:sys_enter_execve { }",
        "
error: unknown probe type `tracepoitn`
  ┌─ -e:1:1
  │
1 │ tracepoitn:syscalls:sys_enter_execve { }
  │ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ not a probe type
  │
  = the probe types are: BEGIN, END, tracepoint, interval, rawtracepoint, kprobe, kretprobe, fentry, fexit, uprobe, uretprobe, usdt, profile, software, hardware, iter, watchpoint, asyncwatchpoint",
    );
}

#[test]
fn unknown_tracepoint() {
    check_error(
        "tracepoint:syscalls:sys_enter_nope { }",
        "
error: tracepoint not found: syscalls:sys_enter_nope
  ┌─ -e:1:1
  │
1 │ tracepoint:syscalls:sys_enter_nope { }
  │ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ tracepoint `syscalls:sys_enter_nope` does not exist on this kernel
  │
  = the tracepoints of this category are the directories in /sys/kernel/tracing/events/syscalls/",
    );
}

#[test]
fn unknown_args_field() {
    check_error(
        "tracepoint:syscalls:sys_enter_execve { printf(\"%s\\n\", str(args.filenme)); }",
        "
error: tracepoint `syscalls:sys_enter_execve` has no field `filenme`
  ┌─ -e:1:64
  │
1 │ tracepoint:syscalls:sys_enter_execve { printf(\"%s\\n\", str(args.filenme)); }
  │                                                                ^^^^^^^ no such field
  │
  = its fields are: __syscall_nr, filename, argv",
    );
}

#[test]
fn unknown_builtin_and_function() {
    // The notes list every builtin and function: their names come from the
    // tables, so that adding one changes no test.
    let builtins: Vec<&str> = super::builtins::BUILTINS.iter().filter(|b| b.listed).map(|b| b.usage).collect();
    let functions: Vec<&str> = super::functions::FUNCTIONS.iter().map(|f| f.name).collect();
    check_error(
        "BEGIN { @x = pdi; foo(1); }",
        &format!(
            "
error: unknown builtin `pdi`
  ┌─ -e:1:14
  │
1 │ BEGIN {{ @x = pdi; foo(1); }}
  │              ^^^ not a builtin variable
  │
  = builtins are: {}

error: unknown function `foo`
  ┌─ -e:1:19
  │
1 │ BEGIN {{ @x = pdi; foo(1); }}
  │                   ^^^ not a function rbpf knows
  │
  = functions are: {}",
            builtins.join(", "),
            functions.join(", ")
        ),
    );
}

#[test]
fn stack_keys_of_other_modes_name_them() {
    check_error(
        "profile:hz:99 { @a[kstack(perf, 3)] = count(); } profile:hz:98 { @a[kstack] = count(); }",
        "
error: map `@a` is used with key [kstack] here, but with key [kstack(perf, 3)] before
  ┌─ -e:1:66
  │
1 │ profile:hz:99 { @a[kstack(perf, 3)] = count(); } profile:hz:98 { @a[kstack] = count(); }
  │                 -------------------                              ^^^^^^^^^^ conflicting key type
  │                 │
  │                 first used here
  │
  = a map's keys must have the same types everywhere",
    );
}

#[test]
fn histograms_of_other_parameters_name_them() {
    check_error(
        "BEGIN { @h = lhist(1, 0, 100, 10); @h = lhist(2, 0, 50, 10); }",
        "
error: map `@h` already holds lhist(n, 0, 100, 10), so it cannot hold lhist(n, 0, 50, 10)
  ┌─ -e:1:41
  │
1 │ BEGIN { @h = lhist(1, 0, 100, 10); @h = lhist(2, 0, 50, 10); }
  │              --------------------       ^^^^^^^^^^^^^^^^^^^ conflicting value
  │              │
  │              its value is set here",
    );
    check_error(
        "BEGIN { @h = hist(1); @h = hist(2, 2); }",
        "
error: map `@h` already holds hist(n), so it cannot hold hist(n, 2)
  ┌─ -e:1:28
  │
1 │ BEGIN { @h = hist(1); @h = hist(2, 2); }
  │              -------       ^^^^^^^^^^ conflicting value
  │              │
  │              its value is set here",
    );
}

#[test]
fn map_keys_must_agree() {
    check_error(
        "BEGIN { @m[1] = 1; } END { @m[\"a\"] = 2; }",
        "
error: map `@m` is used with key [string[2]] here, but with key [int64] before
  ┌─ -e:1:28
  │
1 │ BEGIN { @m[1] = 1; } END { @m[\"a\"] = 2; }
  │         -----              ^^^^^^^ conflicting key type
  │         │
  │         first used here
  │
  = a map's keys must have the same types everywhere",
    );
}

#[test]
fn wrong_number_of_arguments() {
    check_error(
        "BEGIN { @c = count(1); }",
        "
error: `count()` takes no arguments, but 1 was given
  ┌─ -e:1:20
  │
1 │ BEGIN { @c = count(1); }
  │              ----- ^ expected no arguments
  │              │
  │              in this call",
    );
    check_error(
        "BEGIN { printf(\"%d %s\\n\", 1); }",
        "
error: the format has 2 conversions but 1 argument follows
  ┌─ -e:1:9
  │
1 │ BEGIN { printf(\"%d %s\\n\", 1); }
  │         ^^^^^^^^^^^^^^^^^^^^
  │         │      │
  │         │      the format string
  │         wrong number of arguments",
    );
}

#[test]
fn printf_argument_types_must_match() {
    check_error(
        "BEGIN { printf(\"%d\\n\", comm); }",
        "
error: `%d` needs an integer, but this is string[16]
  ┌─ -e:1:24
  │
1 │ BEGIN { printf(\"%d\\n\", comm); }
  │                ------  ^^^^ expected an integer
  │                │
  │                the format string",
    );
}

#[test]
fn value_kinds_must_agree_and_args_need_a_tracepoint() {
    let e = run("BEGIN { @x = count(); @x = 1; }").unwrap_err();
    assert!(e.contains("map `@x` already holds count(), so it cannot hold a int64 value"), "{e}");
    let e = run("BEGIN { @x = args.foo; }").unwrap_err();
    assert!(e.contains("`args` is not available in a `BEGIN` probe"), "{e}");
    let e = run("BEGIN { $y = $x + 1; }").unwrap_err();
    assert!(e.contains("unknown variable `$x`"), "{e}");
}

#[test]
fn interval_units() {
    let p = check_ok("interval:ms:100 { exit() } interval:s:2 { exit() }");
    let kinds: Vec<_> = p.probes.iter().map(|p| format!("{:?}", p.kind)).collect();
    assert_eq!(kinds, ["Interval { period_ns: 100000000 }", "Interval { period_ns: 2000000000 }"]);
    assert!(run("interval:m:1 { }").is_err());
    assert!(run("interval:s:0 { }").is_err());
}

#[test]
fn shared_block_expands_per_attach_point() {
    let p = check_ok("tracepoint:syscalls:sys_enter_execve, t:sched:sched_switch, BEGIN { @[probe] = count(); }");
    let names: Vec<_> = p.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tracepoint:syscalls:sys_enter_execve", "tracepoint:sched:sched_switch", "BEGIN"]);
}

#[test]
fn loops_casts_ternaries_and_compound_assignments_check() {
    check_ok("BEGIN { $i = 0; while ($i < 5) { $i += 1; if ($i == 2) { continue; } break; } }");
    check_ok("BEGIN { for ($i : 0..10) { @s = sum($i); } unroll(4) { @c++; } $x = (uint8)300 + (int32)-1; }");
    check_ok("BEGIN { $s = 1 ? \"a\" : \"bcd\"; $n = pid > 1 ? 10 : 20; if ($s == \"a\") { return; } $n--; $m = $n++; }");
    let p = check_ok("BEGIN { @x = sizeof(uint16) + sizeof(comm) + $# + $1; }");
    assert_eq!(p.maps[0].name, "@x");
}

#[test]
fn break_outside_a_loop() {
    check_error(
        "BEGIN { break; }",
        "error: `break` outside of a loop
  ┌─ -e:1:9
  │
1 │ BEGIN { break; }
  │         ^^^^^ not inside `while` or `for`",
    );
}

#[test]
fn ternary_branches_of_different_types() {
    check_error(
        "BEGIN { $x = 1 ? 2 : \"a\"; }",
        "error: the branches of `?:` have different types: int64 and string[2]
  ┌─ -e:1:14
  │
1 │ BEGIN { $x = 1 ? 2 : \"a\"; }
  │              ^^^^^^^^^^^
  │              │   │   │
  │              │   │   this is string[2]
  │              │   this is int64
  │              both must be integers or both strings",
    );
}

#[test]
fn bad_casts_unroll_counts_and_config() {
    assert!(run("BEGIN { $x = (struct foo)1; }").unwrap_err().contains("cannot cast to `struct foo`"));
    assert!(run("BEGIN { unroll(0) { } }").unwrap_err().contains("`unroll` needs a count between 1 and 100"));
    assert!(run("BEGIN { unroll(101) { } }").is_err());
    assert!(run("config = { foo = 1 } BEGIN { }").unwrap_err().contains("unknown config option `foo`"));
    assert!(run("config = { max_strlen = 999 } BEGIN { }").unwrap_err().contains("between 1 and 200"));
    assert!(run("BEGIN { exit(256); }").unwrap_err().contains("exit status from 0 to 255"));
    check_ok("config = { max_strlen = 32 } BEGIN { exit(3); }");
}

#[test]
fn aggregations_and_map_functions_check() {
    let p = check_ok("BEGIN { @h[comm] = hist(pid, 2); @l = lhist(pid, 0, 100, 10); @s = stats(1); @c = count(); if (@c > 2) { delete(@m[1]); } @m[1] = 1; delete(@m, 1); clear(@h); zero(@l); print(@s); print(@c, 3, 10); print(\"x\"); @k = has_key(@m, 1); }");
    let values: Vec<String> = p.maps.iter().map(|m| m.value.describe()).collect();
    assert_eq!(values, ["count()", "hist()", "a uint64 value", "lhist()", "a int64 value", "stats()"]);
    assert!(run("BEGIN { @h = hist(1, 6); }").unwrap_err().contains("must be an integer literal from 0 to 5"));
    assert!(run("BEGIN { @l = lhist(1, 10, 5, 1); }").unwrap_err().contains("must be above its minimum"));
    assert!(run("BEGIN { @h = hist(1); $x = @h; }").unwrap_err().contains("the value of hist() cannot be read"));
    assert!(run("BEGIN { @h = hist(1); delete(@h[1]); }").is_err());
    assert!(run("BEGIN { clear(@x[1]); @x[1] = 1; }").unwrap_err().contains("`clear()` takes a map"));
}

#[test]
fn string_functions_builtins_and_unsafe_calls() {
    check_ok("BEGIN { @a = strlen(comm) + strncmp(comm, \"ab\", 2) + strcontains(comm, \"x\") + bswap((uint16)1); @b = rand + cgroup + jiffies + numaid + ncpus; time(); time(\"%H\\n\"); cat(\"/proc/%d/status\", pid); }");
    assert!(run("BEGIN { system(\"ls\"); }").unwrap_err().contains("`system()` is unsafe"));
    assert!(run("BEGIN { signal(\"KILL\"); }").unwrap_err().contains("`signal()` is unsafe"));
    assert!(run("BEGIN { @x = strlen(1); }").unwrap_err().contains("`strlen()` needs a string"));
    let ast = crate::parse("tracepoint:syscalls:sys_enter_execve { system(\"ls %d\", 1); signal(\"SIGUSR1\"); signal(9); signal(\"TERM\"); signal(64); signal(pid); }").unwrap();
    let options = crate::check::Options { allow_unsafe: true, ..Default::default() };
    assert!(crate::check::check_with(&ast, &target(), &options).is_ok());
    let ast = crate::parse("tracepoint:syscalls:sys_enter_execve { signal(\"SIGNOPE\"); }").unwrap();
    assert!(crate::check::check_with(&ast, &target(), &options).is_err());
}

#[test]
fn str_of_a_positional_parameter_is_cut_at_compile_time() {
    let p = check_ok(r#"BEGIN { printf("%s %s %s", str($1), str($1, 2), str("literal", 3)); }"#);
    let text = format!("{:?}", p.probes[0].body);
    assert!(text.contains(r#"Str("")"#) && text.contains(r#"Str("lit")"#), "{text}");
    check_error(
        r#"BEGIN { printf("%s\n", str($1 + 10)); }"#,
        r#"
error: `str($1 + N)` needs N at most the length of $1, which is 0
  ┌─ -e:1:33
  │
1 │ BEGIN { printf("%s\n", str($1 + 10)); }
  │                                 ^^ past the end of the parameter"#,
    );
}

#[test]
fn increment_needs_a_variable_or_map_entry() {
    check_ok(r#"BEGIN { $v = @k["a"]++; $w = --@n; }"#);
    check_error(
        "BEGIN { $v = 1++; }",
        "
error: `++` and `--` need a variable or a map entry
  ┌─ -e:1:14
  │
1 │ BEGIN { $v = 1++; }
  │              ^ not a variable or map entry",
    );
}

#[test]
fn variables_keep_their_integer_width() {
    let p = check_ok("BEGIN { $x = (uint16)1; $y = sizeof($x); @m = (int16)-2; }");
    let text = format!("{:?}", p.probes[0].body);
    assert!(text.contains("Int(2)"), "{text}");
}

#[test]
fn function_probes_have_registers_func_and_retval() {
    let p = check_ok("uprobe:/bin/sh:main { @[func, arg0] = count(); } uretprobe:/bin/sh:main { @r = retval; }");
    assert_eq!(p.probes[1].name, "uretprobe:/bin/sh:main");
    check_error(
        "tracepoint:syscalls:sys_enter_execve { @ = arg0; }",
        "
error: `arg0` is not available in `tracepoint:syscalls:sys_enter_execve`
  ┌─ -e:1:44
  │
1 │ tracepoint:syscalls:sys_enter_execve { @ = arg0; }
  │                                            ^^^^ only kprobes, uprobes and usdt probes have argN
  │
  = tracepoints and fentry name their arguments: `args.NAME`",
    );
    check_error(
        "uprobe:/bin/sh:main { @ = retval; }",
        "
error: `retval` is not available in `uprobe:/bin/sh:main`
  ┌─ -e:1:27
  │
1 │ uprobe:/bin/sh:main { @ = retval; }
  │                           ^^^^^^ only return probes have a return value",
    );
}

fn kernel_target() -> FakeTarget {
    target()
        .with_kernel_function("vfs_read", &[("file", "struct file *", 8, false), ("count", "size_t", 8, false)], Some(("ssize_t", 8, true)))
        .with_kernel_function("vfs_write", &[("file", "struct file *", 8, false), ("count", "size_t", 8, false)], Some(("ssize_t", 8, true)))
        .with_kernel_function("do_nanosleep", &[("t", "struct hrtimer_sleeper *", 8, false), ("mode", "enum hrtimer_mode", 4, false)], Some(("int", 4, true)))
        .with_kernel_function("kfree", &[("x", "const void *", 8, false)], None)
}

fn run_on(target: &FakeTarget, src: &str) -> Result<crate::checked::Program, String> {
    let ast = crate::parse(src).map_err(|d| render_to_string(&Source::new("-e", src), &d))?;
    super::check(&ast, target).map_err(|d| render_to_string(&Source::new("-e", src), &d))
}

#[test]
fn kprobes_expand_wildcards_and_read_registers() {
    let t = kernel_target();
    let p = run_on(&t, "kprobe:vfs_* { @[func, probe] = count(); } kretprobe:do_nanosleep { @r = retval; } kprobe:vfs_read+4 { @o = arg1; }")
        .unwrap();
    let names: Vec<&str> = p.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kprobe:vfs_read", "kprobe:vfs_write", "kretprobe:do_nanosleep", "kprobe:vfs_read+4"]);
    let e = run_on(&t, "kprobe:nothing_* { }").unwrap_err();
    assert!(e.contains("no kernel function matches `nothing_*`"), "{e}");
    let e = run_on(&t, "kretprobe:vfs_read+4 { }").unwrap_err();
    assert!(e.contains("a kretprobe attaches to a function, not an offset in it"), "{e}");
    let mut no_kprobes = t.clone();
    no_kprobes.no_kprobes = Some("this kernel is built without CONFIG_KPROBES".into());
    let e = run_on(&no_kprobes, "kprobe:vfs_read { }").unwrap_err();
    assert!(e.contains("kprobes are not available: this kernel is built without CONFIG_KPROBES"), "{e}");
}

#[test]
fn kprobe_offsets_are_bounded_by_the_kernel_image_s_symbols() {
    let mut t = kernel_target();
    // No image: the kernel judges the offset.
    assert!(run_on(&t, "kprobe:vfs_read+4096 { }").is_ok());
    t.kernel_function_sizes.insert("vfs_read".into(), 64);
    assert!(run_on(&t, "kprobe:vfs_read+63 { }").is_ok());
    let e = run_on(&t, "kprobe:vfs_read+64 { }").unwrap_err();
    assert!(e.contains("error: Offset outside the function bounds ('vfs_read' size is 64)"), "{e}");
    // An image named but unreadable is said before kprobes are looked for.
    t.no_vmlinux = Some("/boot/missing (BPFTRACE_VMLINUX) does not exist".into());
    t.no_kprobes = Some("this kernel is built without CONFIG_KPROBES".into());
    let e = run_on(&t, "kprobe:vfs_read+4 { }").unwrap_err();
    assert!(e.contains("error: cannot check the offset into `vfs_read`: /boot/missing (BPFTRACE_VMLINUX) does not exist"), "{e}");
    // Without an offset, no image is read.
    let e = run_on(&t, "kprobe:vfs_read { }").unwrap_err();
    assert!(e.contains("kprobes are not available"), "{e}");
}

#[test]
fn wildcard_kprobes_share_one_multi_attached_program() {
    let mut t = kernel_target();
    t.kprobe_multi = true;
    let p = run_on(&t, "kprobe:vfs_* { @[func] = count(); } kretprobe:vfs_* { @r[func] = sum(retval); }").unwrap();
    let kinds: Vec<(&str, &ProbeKind)> = p.probes.iter().map(|p| (p.name.as_str(), &p.kind)).collect();
    let funcs = vec!["vfs_read".to_string(), "vfs_write".to_string()];
    assert_eq!(
        kinds,
        [
            ("kprobe:vfs_*", &ProbeKind::KprobeMulti { funcs: funcs.clone(), ret: false }),
            ("kretprobe:vfs_*", &ProbeKind::KprobeMulti { funcs, ret: true })
        ]
    );
    // `func` is the traced function's address there, printed as its name.
    assert_eq!(p.maps[0].key, vec![Type::Ksym]);

    // One program per function where the body reads `probe` (a constant of
    // each), needs callbacks, or the kernel has no multi-attach links; and
    // one function needs no multi-attach link.
    for src in [
        "kprobe:vfs_* { @[probe] = count(); }",
        "kprobe:vfs_* { @n[tid] = count(); for ($kv : @n) { } }",
        "kprobe:vfs_* { @n = count(); @l = len(@n); }",
        "k:vfs_* /probe == \"kprobe:vfs_read\"/ { @n = count(); }",
    ] {
        let p = run_on(&t, src).unwrap();
        assert_eq!(p.probes.len(), 2, "{src}");
        assert!(p.probes.iter().all(|p| matches!(p.kind, ProbeKind::Kprobe { .. })), "{src}");
    }
    let p = run_on(&t, "kprobe:vfs_r* { @[func] = count(); }").unwrap();
    assert!(matches!(&p.probes[0].kind, ProbeKind::Kprobe { func, .. } if func == "vfs_read"));
    t.kprobe_multi = false;
    let p = run_on(&t, "kprobe:vfs_* { @[func] = count(); }").unwrap();
    assert_eq!(p.probes.len(), 2);
    assert!(p.maps[0].key[0].is_str());
}

#[test]
fn fentry_types_arguments_from_btf() {
    let t = kernel_target();
    let p = run_on(&t, "fentry:vfs_read { @[args.count] = count(); } fexit:do_nanosleep { @r[args.mode] = sum(retval); } kfunc:kfree { @f = args.x; }").unwrap();
    let names: Vec<&str> = p.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["fentry:vfs_read", "fexit:do_nanosleep", "fentry:kfree"]);
    let e = run_on(&t, "fentry:vfs_read { @ = args.nope; }").unwrap_err();
    assert!(e.contains("function `vfs_read` has no argument `nope`") && e.contains("its arguments are: file, count"), "{e}");
    let e = run_on(&t, "fexit:kfree { @ = retval; }").unwrap_err();
    assert!(e.contains("`kfree` returns nothing (void)"), "{e}");
    let e = run_on(&t, "fentry:not_in_btf { }").unwrap_err();
    assert!(e.contains("the kernel's BTF has no function `not_in_btf`"), "{e}");
    let e = run_on(&t, "fentry:vfs_read { @ = retval; }").unwrap_err();
    assert!(e.contains("`retval` is not available in `fentry:vfs_read`"), "{e}");
}

#[test]
fn fentry_on_a_module_function_is_typed_from_the_modules_btf() {
    let t = kernel_target()
        .with_module_function("nf_conntrack", "nf_ct_delete", &[("ct", "struct nf_conn *", 8, false), ("portid", "u32", 4, false)], Some(("bool", 1, false)))
        .with_kernel_definitions("struct nf_conn { unsigned long status; unsigned int mark; };");
    let module_of = |src: &str| {
        let p = run_on(&t, src).unwrap_or_else(|e| panic!("{src}: {e}"));
        p.probes
            .iter()
            .map(|p| match &p.kind {
                ProbeKind::Fentry { module, .. } => format!("{} {}", p.name, module.as_deref().unwrap_or("-")),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    // Named with its module, without it, or matched by wildcards: attached
    // in the module's BTF either way.
    assert_eq!(module_of("fentry:nf_conntrack:nf_ct_delete { @[args.ct->mark] = count(); }"), ["fentry:nf_conntrack:nf_ct_delete nf_conntrack"]);
    assert_eq!(module_of("fexit:nf_ct_delete { @[retval, args->ct->status] = count(); }"), ["fexit:nf_ct_delete nf_conntrack"]);
    assert_eq!(module_of("fentry:nf_*:nf_ct_* { @ = count(); }"), ["fentry:nf_conntrack:nf_ct_delete nf_conntrack"]);
    assert_eq!(module_of("fentry:vmlinux:vfs_read { @ = count(); }"), ["fentry:vmlinux:vfs_read -"]);
    let e = run_on(&t, "fentry:vmlinux:nf_ct_delete { }").unwrap_err();
    assert!(e.contains("the kernel's BTF has no function `nf_ct_delete`"), "{e}");
    let e = run_on(&t, "fentry:nf_conntrack:vfs_read { }").unwrap_err();
    assert!(e.contains("the BTF of module `nf_conntrack` has no function `vfs_read`"), "{e}");
    let e = run_on(&t, "fentry:nosuch:vfs_read { }").unwrap_err();
    assert!(e.contains("no kernel module `nosuch` with BTF is loaded") && e.contains("needs its BTF"), "{e}");
    let e = run_on(&t, "fentry:nf_conntrack:nf_ct_delete { @ = args.ct->marc; }").unwrap_err();
    assert!(e.contains("`struct nf_conn` has no member `marc`"), "{e}");
}

#[test]
fn for_over_a_map_types_kv_and_scopes_its_variables() {
    let p = check_ok(
        "BEGIN { @m[1, \"a\"] = count(); @s[2] = \"x\"; $n = 0; for ($kv : @m) { $n += $kv.0.0 + $kv.1; $t = $kv.0.1; } for ($kv : @s) { printf(\"%s\\n\", $kv.1); } $t = \"b\"; printf(\"%d %d\\n\", $n, len(@m)); }",
    );
    let vars: Vec<String> = p.probes[0].vars.iter().map(|v| format!("{} {}", v.name, v.ty)).collect();
    assert_eq!(
        vars,
        ["$n uint64", "$kv ((int64,string[8]),uint64)", "$t string[8]", "$kv (int64,string[8])", "$t string[8]"],
        "each loop gets its own $kv, its strings widened to the map key's layout; the $t of the loop ends with it"
    );
    let crate::checked::StmtKind::ForMap { outer, .. } = &p.probes[0].body[3].kind else {
        panic!("{:?}", p.probes[0].body[3]);
    };
    assert_eq!(outer, &[crate::checked::VarId(0)], "only $n comes from before the loop");
}

#[test]
fn for_over_a_map_refuses_what_bpftrace_refuses() {
    check_error(
        "BEGIN { $kv = 1; @m[1] = 2; for ($kv : @m) { } }",
        "
error: the loop variable `$kv` is already a variable of this probe
  ┌─ -e:1:34
  │
1 │ BEGIN { $kv = 1; @m[1] = 2; for ($kv : @m) { } }
  │                                  ^^^ shadows an existing variable
  │
  = give the loop variable a name of its own",
    );
    check_error(
        "BEGIN { @m = 2; for ($kv : @m) { } }",
        "
error: map `@m` has no keys to iterate over
  ┌─ -e:1:28
  │
1 │ BEGIN { @m = 2; for ($kv : @m) { } }
  │         ---                ^^ a map without keys
  │         │
  │         used without keys here
  │
  = a `for` loop iterates over a map with keys, such as `@m[k] = v`",
    );
    check_error(
        "BEGIN { @a[1] = avg(2); for ($kv : @a) { } }",
        "
error: a `for` loop cannot iterate over a map of avg()
  ┌─ -e:1:36
  │
1 │ BEGIN { @a[1] = avg(2); for ($kv : @a) { } }
  │                 ------             ^^ holds avg()
  │                 │
  │                 its value is set here
  │
  = loops iterate over maps of plain values, count(), sum(), min() or max()",
    );
}

#[test]
fn for_over_a_map_body_has_no_context_and_no_return() {
    check_error(
        "tracepoint:syscalls:sys_enter_execve { @m[1] = 1; for ($kv : @m) { @x = args.filename; return; } }",
        "
error: `args` is not available inside a `for` loop over a map
  ┌─ -e:1:73
  │
1 │ tracepoint:syscalls:sys_enter_execve { @m[1] = 1; for ($kv : @m) { @x = args.filename; return; } }
  │                                                                         ^^^^ inside a loop over a map
  │
  = read it into a variable before the loop

error: `return` is not allowed inside a `for` loop over a map
  ┌─ -e:1:88
  │
1 │ tracepoint:syscalls:sys_enter_execve { @m[1] = 1; for ($kv : @m) { @x = args.filename; return; } }
  │                                                                                        ^^^^^^ inside a loop over a map
  │
  = the loop's body runs once per element; `break` ends the loop",
    );
}

#[test]
fn tuple_elements_and_whole_tuples() {
    // $kv is a tuple like any other: it can be copied whole.
    check_ok("BEGIN { @m[1] = 2; for ($kv : @m) { $x = $kv; @y[$kv.0] = $x.1; } }");
    check_error(
        "BEGIN { @m[1] = 2; for ($kv : @m) { @y = $kv.2; @z = $kv.1.0; } }",
        "
error: tuple index 2 is out of range
  ┌─ -e:1:46
  │
1 │ BEGIN { @m[1] = 2; for ($kv : @m) { @y = $kv.2; @z = $kv.1.0; } }
  │                                          --- ^ this tuple has 2 elements, indexed 0 to 1
  │                                          │
  │                                          this is (int64,int64)

error: `.0` needs a tuple, but this is int64
  ┌─ -e:1:59
  │
1 │ BEGIN { @m[1] = 2; for ($kv : @m) { @y = $kv.2; @z = $kv.1.0; } }
  │                                                      -----^^ only tuples have numbered elements
  │                                                      │
  │                                                      this is int64",
    );
}

#[test]
fn len_takes_a_map() {
    check_error(
        "BEGIN { $x = 1; @m[1] = 1; printf(\"%d\\n\", len($x) + len(@m, 1)); }",
        "
error: `len()` takes a map, such as `@m`
  ┌─ -e:1:47
  │
1 │ BEGIN { $x = 1; @m[1] = 1; printf(\"%d\\n\", len($x) + len(@m, 1)); }
  │                                               ^^ not a map name

error: `len()` takes 1 argument, but 2 were given
  ┌─ -e:1:57
  │
1 │ BEGIN { $x = 1; @m[1] = 1; printf(\"%d\\n\", len($x) + len(@m, 1)); }
  │                                                     --- ^^^^^ expected 1 argument
  │                                                     │
  │                                                     in this call",
    );
}

#[test]
fn usdt_sites_are_programs_of_their_own_with_their_own_arguments() {
    let p = check_ok("usdt:/bin/app:req { @[probe] = sum(arg0 + arg1); }");
    assert_eq!(p.probes.len(), 2);
    for probe in &p.probes {
        assert_eq!(probe.name, "usdt:/bin/app:app:req");
        assert!(matches!(&probe.kind, ProbeKind::Usdt { semaphore_offset: Some(0x3000), args, .. } if args.len() == 2));
    }
    let summary = |i: usize| format!("{:?}", p.probes[i].body);
    assert!(summary(0).contains("UsdtArg(UsdtArg { size: 4, signed: true, location: Register { pt_regs_offset: 112"), "{}", summary(0));
    assert!(summary(1).contains("location: Constant(7)"), "{}", summary(1));
}

#[test]
fn usdt_arguments_beyond_the_notes_are_errors() {
    check_error(
        "U:/bin/app:app:req { print(arg2); }",
        "
error: `usdt:/bin/app:app:req` has no `arg2`
  ┌─ -e:1:28
  │
1 │ U:/bin/app:app:req { print(arg2); }
  │                            ^^^^ this probe has 2 arguments: arg0 and arg1",
    );
}

#[test]
fn usdt_arguments_in_unreadable_forms_are_errors_when_used() {
    check_ok("usdt:/bin/app:odd { print(1); }");
    check_error(
        "usdt:/bin/app:odd { print(arg0); }",
        "
error: `arg0` of `usdt:/bin/app:app:odd` is in a form rbpf cannot read
  ┌─ -e:1:27
  │
1 │ usdt:/bin/app:odd { print(arg0); }
  │                           ^^^^ its note says `4@(%rax,%rbx,4)`
  │
  = rbpf reads registers, memory at a register plus an offset, globals (`sym(%rip)`) and constants",
    );
}

#[test]
fn pid_attaches_uprobes_to_the_process_and_filters_the_rest() {
    let src = "uprobe:/bin/sh:main { @u = count(); } usdt:/bin/app:app:req { @d = count(); } tracepoint:syscalls:sys_enter_execve { @t = count(); }";
    let ast = crate::parse(src).unwrap();
    let target = target().with_usdt("/proc/42/root/bin/app", "app", "req", 0x1010, None, "");
    let options = crate::check::Options { pid: Some(42), ..Default::default() };
    let p = super::check_with(&ast, &target, &options).unwrap_or_else(|d| panic!("{}", render_to_string(&Source::new("-e", src), &d)));
    let [u, d, t] = &p.probes[..] else { panic!("{:?}", p.probes) };
    assert!(matches!(&u.kind, ProbeKind::Uprobe { path, pid: Some(42), .. } if path == "/proc/42/root/bin/sh"), "{:?}", u.kind);
    assert_eq!(u.name, "uprobe:/bin/sh:main");
    assert!(matches!(&d.kind, ProbeKind::Usdt { pid: Some(42), .. }), "{:?}", d.kind);
    // The kernel filters what is attached to the process; the rest is tested.
    assert!(u.predicate.is_none() && d.predicate.is_none());
    assert!(t.predicate.is_some());
}

#[test]
fn max_map_keys_sizes_every_map() {
    let p = run_on(&target(), "config = { max_map_keys = 100000 } BEGIN { @a[1] = 1; }").unwrap();
    assert_eq!(p.max_map_keys, 100000);
    assert_eq!(run_on(&target(), "BEGIN { @a[1] = 1; }").unwrap().max_map_keys, 4096);
    let e = run_on(&target(), "config = { max_map_keys = 0 } BEGIN { }").unwrap_err();
    assert!(e.contains("`max_map_keys` must be between 1 and 16777216"), "{e}");
}

#[test]
fn positional_parameters_expand_in_attach_points() {
    let params = vec!["sched_switch".to_string(), "7".to_string()];
    let span = crate::Span::new(10, 40);
    let expand = |text: &str| super::expand_positionals(text, span, &params);
    assert_eq!(expand("tracepoint:sched:$1").unwrap(), "tracepoint:sched:sched_switch");
    assert_eq!(expand("interval:ms:1$2").unwrap(), "interval:ms:17");
    assert_eq!(expand("uprobe:$2$1:f$").unwrap(), "uprobe:7sched_switch:f$");
    assert_eq!(expand("BEGIN").unwrap(), "BEGIN");
    let d = expand("interval:ms:$3").unwrap_err();
    assert_eq!((d.span.start, d.span.end), (22, 24));
    assert_eq!(d.message, "the attach point uses positional parameter $3, but only 2 were given");
    let d = super::expand_positionals("i:s:$99999999999999999999", span, &[]).unwrap_err();
    assert!(d.message.ends_with("but none was given"), "{}", d.message);
}

#[test]
fn text_after_a_positional_parameter_in_an_attach_point_is_quoted() {
    let params = vec!["read".to_string(), "enter".to_string()];
    let span = crate::Span::new(10, 60);
    let expand = |text: &str| super::expand_positionals(text, span, &params);
    assert_eq!(expand(r#"tracepoint:syscalls:sys_enter_$1"*""#).unwrap(), "tracepoint:syscalls:sys_enter_read*");
    assert_eq!(expand(r#"t:syscalls:sys_$2"_"$1"#).unwrap(), "t:syscalls:sys_enter_read");
    assert_eq!(expand(r#"uprobe:"/lib/libstdc++.so.6":f"#).unwrap(), "uprobe:/lib/libstdc++.so.6:f");
    assert_eq!(expand(r#"uprobe:"$1":f"#).unwrap(), "uprobe:$1:f");
    let d = expand("tracepoint:syscalls:sys_enter_$1*").unwrap_err();
    assert_eq!((d.span.start, d.span.end), (42, 43));
    assert_eq!(d.message, "found trailing text '*' in positional parameter index");
    let d = expand("t:syscalls:sys_$1_$2:x").unwrap_err();
    assert_eq!((d.span.start, d.span.end), (27, 30));
    assert_eq!(d.message, "found trailing text '_$2' in positional parameter index");
}

#[test]
fn str_of_a_positional_parameter_is_its_text() {
    let options = super::Options { params: vec!["8080".into(), "-1".into()], ..Default::default() };
    let src = "BEGIN { printf(\"%s %s %s\\n\", str($1), str($2), str($1 + 2)); }";
    let ast = crate::parse(src).unwrap();
    let p = super::check_with(&ast, &target(), &options).unwrap_or_else(|d| panic!("{d:?}"));
    let text = format!("{p:?}");
    for s in ["Str(\"8080\")", "Str(\"-1\")", "Str(\"80\")"] {
        assert!(text.contains(s), "{s} not in {text:.2000}");
    }
}

#[test]
fn unrolling_past_what_a_program_holds_is_refused_at_the_unroll() {
    // Four deep is 10^8 copies of the body: refused before any is made.
    let src = "BEGIN { $i = 0; unroll(100) { unroll(100) { unroll(100) { unroll(100) { $i++; } } } } }";
    let err = run(src).expect_err("too large");
    assert!(err.contains("this `unroll` repeats its body into 301010100 statements and expressions"), "{err}");
    assert!(err.contains("-e:1:24"), "{err}");
    // Three deep with a body of two statements: 710,100, over the bound.
    let src = "BEGIN { $i = 0; unroll(100) { unroll(100) { unroll(10) { $i++; @x[$i] = $i; } } } }";
    assert!(run(src).expect_err("too large").contains("710100 statements"));
    // Each below the bound, together above it: the one that crosses it.
    let one = "unroll(100) { unroll(100) { unroll(4) { $i++; @x[$i] = $i; } } } ";
    let src = format!("BEGIN {{ $i = 0; {} }}", one.repeat(2));
    let err = run(&src).expect_err("too large together");
    assert!(err.contains("the probe's unrolled bodies add up to 580200"), "{err}");
    assert!(err.contains(&format!("-e:1:{}", 24 + one.len())), "{err}");
    // Under the bound: accepted.
    check_ok("BEGIN { $i = 0; unroll(100) { unroll(100) { unroll(5) { $i++; @x[$i] = $i; } } } }");
    check_ok(&format!("BEGIN {{ $i = 0; {} }}", "unroll(100) { unroll(100) { $i++; } } ".repeat(5)));
}

#[test]
fn signal_needs_a_valid_signal_and_a_task_to_send_it_to() {
    let options = crate::check::Options { allow_unsafe: true, ..Default::default() };
    let check = |src: &str| {
        let ast = crate::parse(src).unwrap();
        match crate::check::check_with(&ast, &target(), &options) {
            Ok(_) => String::new(),
            Err(d) => render_to_string(&Source::new("-e", src), &d),
        }
    };
    // BEGIN and END run inside rbpf: `signal("TERM")` there killed rbpf.
    for (src, message, at) in [
        ("BEGIN { signal(\"TERM\"); }", "`signal()` cannot be used in BEGIN probes: they run in rbpf's own process", "-e:1:9"),
        ("END { signal(9); }", "`signal()` cannot be used in END probes: they run in rbpf's own process", "-e:1:7"),
        ("interval:s:1 { signal(9); }", "`signal()` cannot be used in interval probes", "-e:1:16"),
        ("software:cpu-clock:1000 { signal(9); }", "`signal()` cannot be used in software probes", "-e:1:27"),
        ("tracepoint:syscalls:sys_enter_execve { signal(100); }", "100 is not a valid signal", "-e:1:47"),
        ("tracepoint:syscalls:sys_enter_execve { signal(0); }", "0 is not a valid signal", "-e:1:47"),
        ("tracepoint:syscalls:sys_enter_execve { signal(-1); }", "-1 is not a valid signal", "-e:1:47"),
        ("tracepoint:syscalls:sys_enter_execve { signal(\"FOO\"); }", "unknown signal `FOO`", "-e:1:47"),
    ] {
        let text = check(src);
        assert!(text.contains(message) && text.contains(at), "{src}: {text}");
    }
    assert_eq!(check("profile:hz:99 { signal(\"SIGUSR1\"); }"), "");
}

#[test]
fn unrolled_code_of_all_probes_together_is_bounded_and_said_once() {
    // 70,100 statements and expressions each; the 15th crosses 1,000,000.
    let probe = "BEGIN { $i = 0; unroll(100) { unroll(100) { $i++; @x[$i] = $i; } } }\n";
    check_ok(&probe.repeat(14));
    let err = run(&probe.repeat(20)).expect_err("too large together");
    assert!(err.contains("the unrolled bodies of all probes add up to more than 1000000"), "{err}");
    assert!(err.contains("-e:15:24"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
}

#[test]
fn str_of_a_string_with_a_length_keeps_at_most_that_many_characters() {
    let p = check_ok(
        "t:sched:sched_switch { $n = 1; @[str(comm, 3), str(args.prev_comm, 100), str(args.name, 5), str(comm, $n), str(comm)] = 1; }",
    );
    let sizes = |t: &Type| match t {
        Type::Str { size } => *size,
        other => panic!("{other:?}"),
    };
    assert_eq!(p.maps[0].key.iter().map(sizes).collect::<Vec<_>>(), [4, 16, 6, 16, 16]);
    let text = format!("{:?}", p.probes[0].body);
    assert_eq!(text.matches("StrPrefix").count(), 4, "{text}");
}

/// The config keys of the runtime's settings are counts above 0.
#[test]
fn runtime_config_keys_are_counts() {
    marks::check(
        r#"
config = { max_probes = 0; log_size = 4096; perf_rb_pages = 8 } BEGIN { }
//                      ^ error: `max_probes` must be a count above 0
"#,
    );
}
