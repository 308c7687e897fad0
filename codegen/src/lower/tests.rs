//! Codegen tests: a program in, its disassembly out (insta snapshots, so a
//! change in generated code shows up for review).

use rbpf_lang::target::FakeTarget;

const EXECVE: &str = "format:
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
";
const SWITCH: &str = "format:
\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] name;\toffset:28;\tsize:4;\tsigned:0;
";

fn disassemble(src: &str) -> String {
    let target = FakeTarget::default()
        .with_tracepoint("syscalls", "sys_enter_execve", EXECVE)
        .with_tracepoint("sched", "sched_switch", SWITCH)
        .with_usdt("/bin/app", "app", "req", 0x1010, Some(0x3000), "-4@%edi 2@-6(%rbp) -1@%ah 4@$-1");
    let ast = rbpf_lang::parse(src).expect("parses");
    let checked = rbpf_lang::check(&ast, &target).expect("checks");
    let object = super::compile(&checked).expect("compiles");
    crate::disassemble_object(&object).expect("disassembles")
}

fn compile(src: &str) -> crate::Object {
    let target = FakeTarget::default().with_tracepoint("syscalls", "sys_enter_execve", EXECVE);
    let ast = rbpf_lang::parse(src).expect("parses");
    let checked = rbpf_lang::check(&ast, &target).expect("checks");
    super::compile(&checked).expect("compiles")
}

#[test]
fn the_ring_buffer_is_large_only_when_probes_stream_records() {
    let size = |src: &str| compile(src).manifest.ringbuf_size;
    let quiet = super::QUIET_RINGBUF_SIZE;
    assert_eq!(size("BEGIN { printf(\"hello\\n\"); exit(); }"), quiet);
    assert_eq!(size("tracepoint:syscalls:sys_enter_execve { @[comm] = count(); } END { printf(\"bye\\n\"); }"), quiet);
    assert_eq!(size("tracepoint:syscalls:sys_enter_execve { printf(\"%d\\n\", pid); }"), super::RINGBUF_SIZE);
    // A record sent from a `for` loop's callback counts too.
    assert_eq!(
        size("tracepoint:syscalls:sys_enter_execve { @m[pid] = 1; for ($kv : @m) { printf(\"%d\\n\", $kv.0); } }"),
        super::RINGBUF_SIZE
    );
}

#[test]
fn count_by_comm() {
    insta::assert_snapshot!(disassemble("tracepoint:syscalls:sys_enter_execve { @c[comm] = count(); }"));
}

#[test]
fn predicate_and_printf() {
    insta::assert_snapshot!(disassemble(
        "tracepoint:syscalls:sys_enter_execve /pid > 100 && args.__syscall_nr != -1/ { printf(\"%d %s %s\\n\", pid, comm, str(args.filename)); }"
    ));
}

#[test]
fn aggregations_and_variables() {
    insta::assert_snapshot!(disassemble(
        "BEGIN { $x = 5 * 3 - 1; @s = sum($x); @mn[tid] = min($x); @a = avg(2); @v = $x / -2; if ($x > 3) { @v = 1 } else { exit(); } }"
    ));
}

#[test]
fn tracepoint_strings() {
    insta::assert_snapshot!(disassemble(
        "t:sched:sched_switch { @[args.prev_comm, args.name] = count(); @p[probe] = args.prev_pid; @last = args.prev_comm; }"
    ));
}

#[test]
fn registers_run_out_only_into_a_spill() {
    // With r6 holding the context, three registers are left: the
    // conditional's value takes the third, and evaluating its condition
    // needs another; any depth of nesting compiles.
    compile("tracepoint:syscalls:sys_enter_execve { printf(\"%s\\n\", str(args.filename)); @x = pid + (tid + (nsecs ? 3 : 5)); }");
    let mut deep = String::from("pid");
    for i in 0..40 {
        deep = if i % 3 == 0 { format!("(tid - (nsecs > {i} ? {deep} : uid))") } else { format!("(gid + {deep} * cpu)") };
    }
    compile(&format!("tracepoint:syscalls:sys_enter_execve {{ printf(\"%s\\n\", str(args.filename)); @x = {deep}; if ({deep} > 5) {{ @y = 1; }} }}"));
    // An expression that fits keeps its values in registers: no spill.
    let fits = disassemble("tracepoint:syscalls:sys_enter_execve { @x = pid + (tid + (nsecs ? 3 : 5)); }");
    assert!(!fits.contains("r0 = *(u64 *)(r10 -"), "{fits}");
}

#[test]
fn deep_expressions_spill_instead_of_failing() {
    let text = disassemble(
        "t:sched:sched_switch /(args.prev_pid + (pid + (tid + (uid + gid)))) > (cpu * (pid + (tid * (uid + 1))))/ { @a = (1 + (2 + (pid + (tid + (uid + (gid + cpu)))))); }",
    );
    assert!(text.contains("exit"));
}

#[test]
fn tuples_built_in_place_and_read_where_stored() {
    insta::assert_snapshot!(disassemble(
        "t:sched:sched_switch { $t = (args.prev_pid, args.prev_comm); @m[$t.0] = $t; @k[(\"a\", 1)] = (\"b\", (\"cd\", 2)); printf(\"%d %s\\n\", @m[1].0, $t.1); }"
    ));
}

#[test]
fn buffers_from_memory_strings_and_variable_lengths() {
    insta::assert_snapshot!(disassemble(
        "tracepoint:syscalls:sys_enter_execve { printf(\"%r\\n\", buf(args.filename, 4)); $n = args.__syscall_nr; @[buf(comm, $n)] = buf(\"ab\", 0); }"
    ));
}

#[test]
fn join_fills_a_reserved_record() {
    let text = disassemble("tracepoint:syscalls:sys_enter_execve { join(args.filename, \",\"); }");
    assert_eq!(text.matches("call bpf_probe_read_user_str").count(), 16);
    assert_eq!(text.matches("call bpf_probe_read_user#").count() + text.matches("call bpf_probe_read_user\n").count(), 16);
    assert!(text.contains("call bpf_ringbuf_reserve") && text.contains("call bpf_ringbuf_submit"));
}

#[test]
fn for_over_a_map_and_len() {
    insta::assert_snapshot!(disassemble(
        "BEGIN { @m[1, \"a\"] = 2; @c[3] = count(); $n = 0; for ($kv : @m) { $n += $kv.0.0 + $kv.1; if ($kv.1 > 5) { break; } } for ($kv : @c) { printf(\"%d %d %d\\n\", $kv.0, $kv.1, len(@m)); exit(); } @n = $n; }"
    ));
}

#[test]
fn nested_loops_get_their_own_callbacks() {
    let text = disassemble(
        "BEGIN { @a[1] = 1; @b[2] = 2; $x = 0; for ($i : @a) { for ($j : @b) { $x += $i.0 * $j.1; } } @x = $x; }",
    );
    assert!(text.contains("probe0_loop0 (.text):") && text.contains("probe0_loop0_loop0 (.text):"), "{text}");
    assert!(text.contains("r2 = func[probe0_loop0] ll") && text.contains("r2 = func[probe0_loop0_loop0] ll"), "{text}");
}

#[test]
fn raw_tracepoint_args_are_read_from_the_context_array() {
    insta::assert_snapshot!(disassemble("rawtracepoint:sched_switch { @[arg1] = sum(arg3); }"));
}

#[test]
fn perf_counters_attach_one_program_per_probe_with_its_counter() {
    use crate::manifest::{Attach, PerfCounter, PerfSample};
    let target = FakeTarget::default().with_tracepoint("sched", "sched_switch", SWITCH);
    let ast = rbpf_lang::parse("rt:sched_switch { } profile:hz:99 { } s:faults { } hardware:cycles:5 { }").expect("parses");
    let checked = rbpf_lang::check(&ast, &target).expect("checks");
    let object = super::compile(&checked).expect("compiles");
    let got: Vec<(&str, &Attach, &str)> =
        object.manifest.programs.iter().map(|p| (p.section.as_str(), &p.attach, p.probe_name.as_str())).collect();
    assert_eq!(
        got,
        [
            ("raw_tracepoint/probe0", &Attach::RawTracepoint { name: "sched_switch".into() }, "rawtracepoint:sched_switch"),
            (
                "perf_event/probe1",
                &Attach::PerfEvent { counter: PerfCounter::Software { config: 0 }, sample: PerfSample::Frequency(99) },
                "profile:hz:99"
            ),
            (
                "perf_event/probe2",
                &Attach::PerfEvent { counter: PerfCounter::Software { config: 2 }, sample: PerfSample::Period(100) },
                "software:faults"
            ),
            (
                "perf_event/probe3",
                &Attach::PerfEvent { counter: PerfCounter::Hardware { config: 0 }, sample: PerfSample::Period(5) },
                "hardware:cycles:5"
            ),
        ]
    );
}

#[test]
fn usdt_arguments_from_registers_memory_and_constants() {
    insta::assert_snapshot!(disassemble("usdt:/bin/app:app:req { @a = arg0; @b = arg1; @c = arg2; @d = arg3; }"));
}

/// Eight syscall tracepoints or more run as tail calls from one program
/// on raw_syscalls (one grace period to detach); fewer keep their own.
#[test]
fn many_syscall_tracepoints_share_raw_syscalls() {
    use crate::manifest::Attach;
    let mut target = FakeTarget::default();
    let calls = ["read", "write", "openat", "close", "getpid", "getppid", "dup", "dup2", "pipe"];
    for (nr, name) in calls.iter().enumerate() {
        target = target.with_tracepoint("syscalls", &format!("sys_enter_{name}"), EXECVE);
        target.syscalls.insert(name.to_string(), nr as u32 * 10);
    }
    let attaches = |src: &str| {
        let ast = rbpf_lang::parse(src).expect("parses");
        let checked = rbpf_lang::check(&ast, &target).expect("checks");
        super::compile(&checked).expect("compiles").manifest.programs.into_iter().map(|p| p.attach).collect::<Vec<_>>()
    };
    let all = attaches("t:syscalls:sys_enter_* { @[probe] = count(); }");
    assert_eq!(all.len(), 10, "{all:?}");
    assert!(matches!(&all[0], Attach::TailCall { table, index: 30, name, .. } if table == "rbpf_sys_enter" && name == "sys_enter_close"), "{all:?}");
    assert!(matches!(&all[9], Attach::Dispatcher { category, name, .. } if category == "raw_syscalls" && name == "sys_enter"), "{all:?}");
    // Two probes on one syscall keep their tracepoints; so do too few.
    let mixed = attaches("t:syscalls:sys_enter_* { @[probe] = count(); } t:syscalls:sys_enter_read { @r = count(); }");
    assert_eq!(mixed.iter().filter(|a| matches!(a, Attach::Tracepoint { name, .. } if name == "sys_enter_read")).count(), 2, "{mixed:?}");
    let few = attaches("t:syscalls:sys_enter_read, t:syscalls:sys_enter_write { @[probe] = count(); }");
    assert!(few.iter().all(|a| matches!(a, Attach::Tracepoint { .. })), "{few:?}");
}

#[test]
fn strings_are_nul_padded_to_their_destination() {
    // "ab" over "longer-string" writes both words of the variable; the
    // literal ends at its NUL; the char array is zeroed after its NUL; the
    // cut to 2 characters zeroes the rest of the 16 bytes.
    insta::assert_snapshot!(disassemble(
        "t:sched:sched_switch { $s = \"longer-string\"; $s = \"ab\\0cd\"; $c = str(args.prev_comm, 2); @[$s, $c] = 1; }"
    ));
}

#[test]
fn string_comparisons_compare_the_shorter_buffer() {
    // `comm == "bash"`: one word against an immediate after the helper
    // call; the 64-byte name is read into 32 bytes for a 19-byte literal;
    // two strings are built, and compared over the shorter one's words.
    insta::assert_snapshot!(disassemble(
        "t:sched:sched_switch /comm == \"bash\"/ { $s = \"x\"; if (args.name == \"kworker/0:1-events\") { $s = \"y\"; } @ = $s == args.prev_comm; }"
    ));
}

#[test]
fn variables_that_do_not_fit_the_stack_go_to_the_scratch_map() {
    let many: String = (0..200).map(|i| format!("$v{i} = nsecs; @[{i}] = $v{i}; ")).collect();
    let text = disassemble(&format!("BEGIN {{ {many} @s = $v0 + $v199; }}"));
    assert!(text.contains("map[rbpf_scratch]"), "{text}");
    // A program whose variables fit keeps them all on the stack.
    let few = disassemble("BEGIN { $a = nsecs; $b = $a + 1; $s = \"str\"; @[$s] = $b; }");
    assert!(!few.contains("rbpf_scratch"), "{few}");
}

#[test]
fn a_loop_counter_stays_on_the_stack_when_variables_move_to_the_scratch_map() {
    // Read from a map, the counter would be any number to the verifier,
    // which could then not see the loop end.
    let many: String = (0..100).map(|i| format!("$v{i} = nsecs; @[{i}] = $v{i}; ")).collect();
    let text = disassemble(&format!("BEGIN {{ {many} $i = 0; while ($i < 50) {{ $i++; }} @s = $i + $v99; }}"));
    assert!(text.contains("map[rbpf_scratch]"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let test = lines.iter().position(|l| l.contains("if r6 s>= 0x32")).expect("the loop's test");
    assert!(lines[test - 1].ends_with("r6 = *(u64 *)(r10 - 8)"), "{}", lines[test - 1]);
}

#[test]
fn variables_past_the_scratch_map_limit_are_refused_with_a_span() {
    let many: String = (0..180).map(|i| format!("$s{i} = str(args.filename); @[{i}] = $s{i}; ")).collect();
    let src = format!("config = {{ max_strlen = 200 }} tracepoint:syscalls:sys_enter_execve {{ {many} }}");
    let target = FakeTarget::default().with_tracepoint("syscalls", "sys_enter_execve", EXECVE);
    let ast = rbpf_lang::parse(&src).expect("parses");
    let checked = rbpf_lang::check(&ast, &target).expect("checks");
    let error = super::compile(&checked).expect_err("refused");
    assert!(matches!(error, crate::CodegenError::TooManyVariables { .. }), "{error:?}");
    assert_eq!(error.to_string(), "the variables of this probe need more than the 32 KiB it may keep");
    assert!(error.span().is_some());
}

const LIST: &str = "struct P { int x; char name[8]; struct P *next; unsigned int lo : 3, mid : 5; };";

#[test]
fn member_reads_through_a_chain_of_pointers() {
    // One bpf_probe_read_user of each pointer followed and of the 4-byte
    // field at the end; the bit field reads its one byte, then masks.
    insta::assert_snapshot!(disassemble(&format!(
        "{LIST} usdt:/bin/app:app:req {{ $p = (struct P *)arg0; @x = $p->next->x; @m = $p->mid; }}"
    )));
}

#[test]
fn char_array_members_and_kernel_reads() {
    insta::assert_snapshot!(disassemble(&format!(
        "{LIST} tracepoint:sched:sched_switch {{ $p = (struct P *)args.prev_pid; printf(\"%s %d\\n\", $p->name, *(int16 *)($p + 1)); }}"
    )));
}

#[test]
fn a_struct_value_is_read_with_one_call_into_its_slot() {
    // One bpf_probe_read_user of the struct's 12 bytes straight into the
    // variable's slot, zero padding to 16; `$s.y` loads from the slot.
    insta::assert_snapshot!(disassemble(
        "struct S { int x; int y; short z; }; uprobe:/bin/sh:main { $s = *(struct S *)arg0; @[$s.y] = $s; }"
    ));
}

/// -k adds a check after each call of a helper that can fail, -kk after
/// reads too; without either, the code is what it always was.
#[test]
fn helper_checks_follow_only_the_calls_they_cover() {
    let src = "tracepoint:syscalls:sys_enter_execve { @x[1] = str(args.filename); delete(@x[2]); }";
    let target = FakeTarget::default().with_tracepoint("syscalls", "sys_enter_execve", EXECVE);
    let ast = rbpf_lang::parse(src).expect("parses");
    let text = |level: u8| {
        let options = rbpf_lang::Options { helper_checks: level, ..Default::default() };
        let checked = rbpf_lang::check_with(&ast, &target, &options).expect("checks");
        crate::disassemble_object(&super::compile(&checked).expect("compiles")).expect("disassembles")
    };
    let outputs = |t: &str| t.matches("call bpf_ringbuf_output").count();
    let (none, k, kk) = (text(0), text(1), text(2));
    assert_eq!(outputs(&none), 0, "{none}");
    // The update of @x and the delete.
    assert_eq!(outputs(&k), 2, "{k}");
    // And the read of the string.
    assert_eq!(outputs(&kk), 3, "{kk}");
    // The check comes right after the call.
    let after_delete = kk.lines().skip_while(|l| !l.ends_with("call bpf_map_delete_elem#3")).nth(1).unwrap_or_default();
    // On the low half of r0 for a map operation, which returned an int
    // before Linux 6.3; sign-extended on the failure path.
    assert!(after_delete.ends_with("if w0 s>= 0x0 goto pc+15"), "{kk}");
    let extended: Vec<&str> = kk.lines().skip_while(|l| !l.ends_with("call bpf_map_delete_elem#3")).skip(2).take(2).collect();
    assert!(extended[0].ends_with("r0 <<= 32") && extended[1].ends_with("r0 s>>= 32"), "{kk}");
    // Other helpers return a long: the whole of r0.
    let after_read = kk.lines().skip_while(|l| !l.contains("call bpf_probe_read")).nth(1).unwrap_or_default();
    assert!(after_read.ends_with("if r0 s>= 0x0 goto pc+13"), "{kk}");
}

#[test]
fn skboutput_sends_the_header_and_packet_through_the_perf_event_array() {
    let target = FakeTarget::default()
        .with_kernel_definitions("struct sk_buff { unsigned int len; };")
        .with_kernel_function("__dev_queue_xmit", &[("skb", "struct sk_buff *", 8, false), ("sb_dev", "void *", 8, false)], Some(("int", 4, true)));
    let src = r#"fentry:__dev_queue_xmit { @r[skboutput("out.pcap", args.skb, args.skb->len - 14, 14)] = count(); $x = skboutput("out.pcap", args.skb, 8, 0); }"#;
    let ast = rbpf_lang::parse(src).expect("parses");
    let checked = rbpf_lang::check(&ast, &target).expect("checks");
    let object = super::compile(&checked).expect("compiles");
    assert_eq!(object.manifest.skb_outputs, ["out.pcap"]);
    assert_eq!(object.manifest.skb_output_pages, 64);
    insta::assert_snapshot!(crate::disassemble_object(&object).expect("disassembles"));
}
