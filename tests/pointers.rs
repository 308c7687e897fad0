//! Reads through pointers end to end: a C program with a linked list of
//! structs (ints, a char array, a nested struct, an array, a union, bit
//! fields), traced by a uprobe on a function taking a pointer; and kernel
//! memory through `curtask` and a tracepoint's struct pointer.

mod common;

use common::{App, Built, Tracer};

/// The definitions the traced program and the scripts share.
const TYPES: &str = "
struct Q { short s; unsigned char tag; };
union U { int i; unsigned char b[4]; };
struct P {
  int x;
  char name[8];
  struct P *next;
  struct Q q;
  long arr[3];
  union U u;
  unsigned int lo : 3, mid : 5;
  int neg : 4;
};
";

/// Per line read from stdin: one call of `rbpf_visit` with the head of a
/// two-element list (the second's name fills its array, with no NUL),
/// and one nanosleep of 1.25 ms.
const PROGRAM: &str = r#"
#include <stdio.h>
#include <time.h>
__attribute__((noinline)) int rbpf_visit(struct P *p) { asm volatile("" :: "r"(p) : "memory"); return p->x; }
int main(void) {
    struct P b = { .x = 2, .name = "8charsok", .next = 0, .q = { -7, 9 }, .arr = {10, 20, 30}, .u = { .i = 0x01020304 }, .lo = 5, .mid = 17, .neg = -3 };
    struct P a = { .x = -1, .name = "first", .next = &b, .q = { 300, 1 }, .arr = {1, 2, 3}, .u = { .i = 7 }, .lo = 2, .mid = 31, .neg = 7 };
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        struct timespec ts = { 0, 1250000 };
        nanosleep(&ts, 0);
        printf("%d\n", rbpf_visit(&a));
        fflush(stdout);
    }
    return 0;
}
"#;

/// Per line read from stdin: syscalls whose tracepoints' pointer fields
/// point to integers, integer typedefs and structs the program filled in
/// (getresuid, sendfile, writev), then one call of `rbpf_walk` with an
/// array of three structs and one of three ints.
const WALK_PROGRAM: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>
__attribute__((noinline)) int rbpf_walk(struct P *ps, int *ns) { asm volatile("" :: "r"(ps), "r"(ns) : "memory"); return ps[1].x + ns[1]; }
int main(void) {
    struct P ps[3] = { { .x = 1, .name = "one" }, { .x = 2, .name = "two" }, { .x = 3, .name = "three" } };
    int ns[3] = { 10, 20, 30 };
    int null = open("/dev/null", O_WRONLY), zero = open("/dev/zero", O_RDONLY);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        uid_t r = 1001, e = 1002, s = 1003;
        off_t off = 77;
        struct iovec iov[2] = { { "abc", 3 }, { "hello", 5 } };
        getresuid(&r, &e, &s);
        sendfile(null, zero, &off, 0);
        writev(null, iov, 2);
        printf("%d\n", rbpf_walk(ps, ns));
        fflush(stdout);
    }
    return 0;
}
"#;

fn build(test: &str) -> Option<Built> {
    let source = format!("{TYPES}{PROGRAM}");
    Built::for_kernel(test, "the pointer test program (needs gcc)", "pointer-app", &[("main.c", &source)], &["-O1", "-g"])
}

/// Runs `program` while the test program does one round; rbpf's output,
/// or `None` where kernel tests cannot run.
fn trace(test: &str, program: &str, probes: usize) -> Option<String> {
    trace_with(test, &[], program, probes)
}

/// As [`trace`], with more options for rbpf (`-f json`).
fn trace_with(test: &str, options: &[&str], program: &str, probes: usize) -> Option<String> {
    let binary = build(test)?;
    trace_binary(&binary, options, program, probes)
}

/// As [`trace_with`], tracing `binary`.
fn trace_binary(binary: &Built, options: &[&str], program: &str, probes: usize) -> Option<String> {
    let mut app = App::start(binary);
    let program = program.replace("BIN", &binary.display().to_string()).replace("PID", &app.pid().to_string());
    let mut args = options.to_vec();
    args.extend(["-e", &program]);
    let mut tracer = Tracer::start(&args);
    tracer.wait_for(|l| l.starts_with("Attaching") || l.contains("attached_probes"));
    tracer.wait_attached(probes);
    app.step();
    let (out, status) = tracer.stop(libc::SIGINT);
    app.finish();
    assert_eq!(status, 0, "{out}");
    Some(out)
}

#[test]
fn members_arrays_unions_and_bit_fields_read_through_a_uprobes_pointer() {
    const TEST: &str = "members_arrays_unions_and_bit_fields_read_through_a_uprobes_pointer";
    // bpftrace 0.17 prints the same for this script (it reads bit fields
    // masked, unsigned, so `neg` of -3 is 13), but refuses `$p->arr[$i]`
    // and `$p.q`, which later bpftrace reads.
    let program = format!(
        "{TYPES} uprobe:BIN:rbpf_visit {{
           $p = (struct P *)arg0; $i = 2;
           printf(\"%d %s %d %s\\n\", $p->x, $p->name, $p->next->x, $p->next->name);
           printf(\"%d %d %d %d\\n\", $p->q.s, $p->next->q.s, $p->next->q.tag, $p.q.tag);
           printf(\"%d %d %d %d\\n\", $p->arr[2], $p->next->arr[$i], (*$p).x, $p->u.b[0]);
           printf(\"%d %d %d | %d %d %d\\n\", $p->lo, $p->mid, $p->neg, $p->next->lo, $p->next->mid, $p->next->neg);
           printf(\"%d %d %d\\n\", ($p + 0)->next->u.b[3], $p->next == 0, $p->next->next == 0);
         }}"
    );
    let Some(out) = trace(TEST, &program, 1) else { return };
    let expected = "-1 first 2 8charsok\n300 -7 9 1\n3 30 -1 7\n2 31 7 | 5 17 13\n1 0 1\n";
    assert!(out.contains(expected), "{out}");
}

#[test]
fn an_array_member_cast_to_a_pointer_is_its_address() {
    const TEST: &str = "an_array_member_cast_to_a_pointer_is_its_address";
    // The array decays to a pointer to its first element, in user memory
    // as `$p` is: `name` is at offset 4, `arr` (longs 1, 2, 3 read as
    // int32s) at 32. bpftrace 0.17 agrees on the long array; a char array
    // it reads as 0 or fails to load.
    let program = format!(
        "{TYPES} uprobe:BIN:rbpf_visit {{
           $p = (struct P *)arg0; $c = (int8 *)$p->name; $l = (int32 *)$p->arr;
           printf(\"%d %d %d %d %d\\n\", *$c, $c[1], *$l, $l[2], $l[4]);
           printf(\"%d %d %c %d\\n\", (uint64)$c - (uint64)$p, (uint64)$l - (uint64)$p,
                  *(uint8 *)$p->next->name, *((int64 *)$p->next->arr + 2));
         }}"
    );
    let Some(out) = trace(TEST, &program, 1) else { return };
    assert!(out.contains("102 105 1 2 3\n4 32 8 30\n"), "{out}");
}

#[test]
fn curtask_and_a_tracepoints_struct_pointer_read_kernel_and_user_memory() {
    const TEST: &str = "curtask_and_a_tracepoints_struct_pointer_read_kernel_and_user_memory";
    let program = "tracepoint:syscalls:sys_enter_clock_nanosleep /pid == PID/ {
        printf(\"%d %d %d %d\\n\", curtask->pid == pid, curtask->real_parent->tgid, args->rqtp->tv_sec, args->rqtp->tv_nsec);
    }";
    let Some(out) = trace(TEST, program, 1) else { return };
    let expected = format!("1 {} 0 1250000\n", std::process::id());
    assert!(out.contains(&expected), "{out}");
}

/// The struct values script: `print()` of a struct, a nested struct and an
/// array; members of a struct value in a variable; comparisons; values as
/// map keys and values and in a tuple; pointer differences.
fn values_program() -> String {
    format!(
        "{TYPES} uprobe:BIN:rbpf_visit {{
           $p = (struct P *)arg0; $s = *$p;
           print(*$p->next); print($p->q); print($s.arr);
           printf(\"%d %d %s %d %d | %d %d %d | %d %d\\n\", $s.x, $s.q.s, $s.name, $s.arr[1], $s.next->x,
                  $s == *$p, $s.q == $p->next->q, $s.u != $p->u, ($p + 3) - $p, $p - ($p + 2));
           @a[$p->next->arr] = count(); @s = *$p->next; @u = $p->u; @k[$s.q, $s.x] = 1; @t = ($s.q, 5);
         }}"
    )
}

#[test]
fn struct_union_and_array_values_print_store_key_and_compare() {
    const TEST: &str = "struct_union_and_array_values_print_store_key_and_compare";
    let Some(out) = trace(TEST, &values_program(), 1) else { return };
    // bpftrace 0.17 prints the same bytes, but for the bit fields, which
    // it prints as garbage (`.lo = 3469, .mid = 3469, .neg = 1342177293`),
    // and the comparisons and differences it lacks.
    let next = "{ .x = 2, .name = 8charsok, .next = 0, .q = { .s = -7, .tag = 9 }, .arr = [10,20,30], \
                .u = { .i = 16909060, .b = [4,3,2,1] }, .lo = 5, .mid = 17, .neg = 13 }";
    let expected = format!(
        "{next}\n{{ .s = 300, .tag = 1 }}\n[1,2,3]\n-1 300 first 2 2 | 1 0 0 | 3 -2\n\n\n\
         @a[[10,20,30]]: 1\n@k[{{.s=300,.tag=1}}, -1]: 1\n@s: {next}\n@t: ({{ .s = 300, .tag = 1 }}, 5)\n\
         @u: {{ .i = 7, .b = [7,0,0,0] }}\n"
    );
    assert!(out.contains(&expected), "{out}");
}

#[test]
fn struct_values_in_json() {
    const TEST: &str = "struct_values_in_json";
    let Some(out) = trace_with(TEST, &["-f", "json"], &values_program(), 1) else { return };
    // bpftrace 0.17's lines, but for the bit fields as above.
    let next = r#"{ "x": 2, "name": "8charsok", "next": 0, "q": { "s": -7, "tag": 9 }, "arr": [10,20,30], "u": { "i": 16909060, "b": [4,3,2,1] }, "lo": 5, "mid": 17, "neg": 13 }"#;
    for line in [
        format!(r#"{{"type": "value", "data": {next}}}"#),
        r#"{"type": "value", "data": { "s": 300, "tag": 1 }}"#.to_string(),
        r#"{"type": "value", "data": [1,2,3]}"#.to_string(),
        r#"{"type": "map", "data": {"@a": {"[10,20,30]": 1}}}"#.to_string(),
        r#"{"type": "map", "data": {"@k": {"{.s=300,.tag=1},-1": 1}}}"#.to_string(),
        format!(r#"{{"type": "map", "data": {{"@s": {next}}}}}"#),
        r#"{"type": "map", "data": {"@u": { "i": 7, "b": [7,0,0,0] }}}"#.to_string(),
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
    }
}

#[test]
fn a_tracepoints_struct_pointer_reads_a_struct_value() {
    const TEST: &str = "a_tracepoints_struct_pointer_reads_a_struct_value";
    // bpftrace 0.17 prints the same.
    let program = "tracepoint:syscalls:sys_enter_clock_nanosleep /pid == PID/ {
        print(*args->rqtp); @t[*args->rqtp] = count(); $t = *args->rqtp; printf(\"%d\\n\", $t.tv_nsec);
    }";
    let Some(out) = trace(TEST, program, 1) else { return };
    let expected = "{ .tv_sec = 0, .tv_nsec = 1250000 }\n1250000\n\n\n@t[{.tv_sec=0,.tv_nsec=1250000}]: 1\n";
    assert!(out.contains(expected), "{out}");
}

#[test]
fn a_tracepoints_args_as_a_whole() {
    const TEST: &str = "a_tracepoints_args_as_a_whole";
    // bpftrace 0.17 refuses `args` alone; later bpftrace makes it the
    // record of the fields (bpftrace issue #2688).
    let program = "tracepoint:syscalls:sys_enter_clock_nanosleep /pid == PID/ {
        $a = args; @[$a.which_clock, $a.flags] = count();
        printf(\"%d %d %d\\n\", $a.rqtp->tv_nsec, $a == args, sizeof($a));
    }";
    let Some(out) = trace(TEST, program, 1) else { return };
    // nanosleep() is clock_nanosleep(CLOCK_REALTIME, 0, ...); the record
    // is 5 fields of 8 bytes (`__syscall_nr`, an int, padded).
    assert!(out.contains("1250000 1 40\n\n\n@[0, 0]: 1\n"), "{out}");
}

/// Pointers as map keys, alone, among other keys and as a struct's
/// member: printed in hex there, as bpftrace 0.17 prints them (and as
/// `%p` does), in decimal as values.
fn pointer_keys_program() -> String {
    format!(
        "{TYPES} uprobe:BIN:rbpf_visit {{
           $p = (struct P *)arg0; printf(\"%p %p\\n\", $p, $p->next);
           @k[$p] = count(); @n[$p->next, 1] = 1; @s[*$p] = 1; @v = $p;
         }}"
    )
}

/// The addresses the `%p` line printed, and the first in decimal.
fn pointer_line(out: &str) -> (String, String, String) {
    let line = out.lines().find(|l| l.starts_with("0x") || l.contains(r#""data": "0x"#)).unwrap_or_else(|| panic!("{out}"));
    let line = line.trim_start_matches(r#"{"type": "printf", "data": ""#).trim_end_matches(r#"\n"}"#);
    let mut parts = line.split(' ').map(str::to_string);
    let mut next = || parts.next().unwrap_or_else(|| panic!("{out}"));
    let (p, q) = (next(), next());
    let decimal = u64::from_str_radix(p.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("{out}"));
    (p, q, decimal.to_string())
}

#[test]
fn pointer_map_keys_print_in_hex() {
    const TEST: &str = "pointer_map_keys_print_in_hex";
    let Some(out) = trace(TEST, &pointer_keys_program(), 1) else { return };
    let (p, next, decimal) = pointer_line(&out);
    for line in [format!("@k[{p}]: 1"), format!("@n[{next}, 1]: 1"), format!("@v: {decimal}")] {
        assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
    }
    assert!(out.contains(&format!(".name=first,.next={next},.q=")), "{out}");
}

#[test]
fn pointer_map_keys_print_in_hex_in_json() {
    const TEST: &str = "pointer_map_keys_print_in_hex_in_json";
    let Some(out) = trace_with(TEST, &["-f", "json"], &pointer_keys_program(), 1) else { return };
    let (p, next, decimal) = pointer_line(&out);
    for line in [
        format!(r#"{{"type": "map", "data": {{"@k": {{"{p}": 1}}}}}}"#),
        format!(r#"{{"type": "map", "data": {{"@n": {{"{next},1": 1}}}}}}"#),
        format!(r#"{{"type": "map", "data": {{"@v": {decimal}}}}}"#),
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
    }
    assert!(out.contains(&format!(".name=first,.next={next},.q=")), "{out}");
}

#[test]
fn increments_move_pointers_by_their_pointee_and_tracepoint_pointers_have_types() {
    const TEST: &str = "increments_move_pointers_by_their_pointee_and_tracepoint_pointers_have_types";
    let source = format!("#define _GNU_SOURCE\n{TYPES}{WALK_PROGRAM}");
    let Some(binary) = Built::for_kernel(TEST, "the pointer test program (needs gcc)", "pointer-walk-app", &[("main.c", &source)], &["-O1", "-g"])
    else {
        return;
    };
    // bpftrace 0.17 prints the same for this script: `++` and `--` move a
    // pointer by its pointee's size, as `+ 1` does; a syscall
    // tracepoint's pointer fields read user memory as their C types say,
    // and so do the pointers in the structs they point to.
    let program = format!(
        "{TYPES} uprobe:BIN:rbpf_walk {{
           $c = (struct P *)arg0; ++$c; $v = (int32 *)arg1; $v++;
           printf(\"%d %s %d | \", $c->x, $c->name, *$v);
           $c++; $v++; printf(\"%s %d | \", $c->name, *$v);
           $c--; --$v; $w = $v--; printf(\"%s %d %d\\n\", $c->name, *$v, *$w);
         }}
         tracepoint:syscalls:sys_enter_getresuid /pid == PID/ {{ printf(\"%d %d %d\\n\", *args->ruidp, args->euidp[0], *args->suidp); }}
         tracepoint:syscalls:sys_enter_sendfile64 /pid == PID/ {{ printf(\"%d %d\\n\", *args->offset, args->offset[0] + 1); }}
         tracepoint:syscalls:sys_enter_writev /pid == PID/ {{
           printf(\"%d %d %s %s\\n\", args->vec[1].iov_len, args->vec->iov_len, str(args->vec[1].iov_base), str((*args->vec).iov_base));
         }}"
    );
    let Some(out) = trace_binary(&binary, &[], &program, 4) else { return };
    let expected = "1001 1002 1003\n77 78\n5 3 hello abc\n2 two 20 | three 30 | two 10 20\n";
    assert!(out.contains(expected), "{out}");
}
