//! Reads through pointers end to end: a C program with a linked list of
//! structs (ints, a char array, a nested struct, an array, a union, bit
//! fields), traced by a uprobe on a function taking a pointer; and kernel
//! memory through `curtask` and a tracepoint's struct pointer.

mod common;

use std::path::PathBuf;

use common::{build_c, kernel_tests_enabled, App, Tracer};

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

fn build(test: &str) -> Option<PathBuf> {
    let source = format!("{TYPES}{PROGRAM}");
    build_c(test, "the pointer test program (needs gcc)", "pointer-app", &[("main.c", &source)], &["-O1", "-g"])
}

/// Runs `program` while the test program does one round; rbpf's output.
fn trace(test: &str, program: &str, probes: usize) -> Option<String> {
    let binary = build(test)?;
    let mut app = App::start(&binary);
    let program = program.replace("BIN", &binary.display().to_string()).replace("PID", &app.pid().to_string());
    let mut tracer = Tracer::start(&["-e", &program]);
    tracer.wait_for(|l| l.starts_with("Attaching"));
    tracer.wait_attached(probes);
    app.step();
    let (out, status) = tracer.stop(libc::SIGINT);
    app.finish();
    let _ = std::fs::remove_dir_all(binary.parent().expect("temp dir"));
    assert_eq!(status, 0, "{out}");
    Some(out)
}

#[test]
fn members_arrays_unions_and_bit_fields_read_through_a_uprobes_pointer() {
    const TEST: &str = "members_arrays_unions_and_bit_fields_read_through_a_uprobes_pointer";
    if !kernel_tests_enabled(TEST) {
        return;
    }
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
fn curtask_and_a_tracepoints_struct_pointer_read_kernel_and_user_memory() {
    const TEST: &str = "curtask_and_a_tracepoints_struct_pointer_read_kernel_and_user_memory";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let program = "tracepoint:syscalls:sys_enter_clock_nanosleep /pid == PID/ {
        printf(\"%d %d %d %d\\n\", curtask->pid == pid, curtask->real_parent->tgid, args->rqtp->tv_sec, args->rqtp->tv_nsec);
    }";
    let Some(out) = trace(TEST, program, 1) else { return };
    let expected = format!("1 {} 0 1250000\n", std::process::id());
    assert!(out.contains(&expected), "{out}");
}
