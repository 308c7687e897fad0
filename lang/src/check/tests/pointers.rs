//! Reads through typed pointers: casts to pointer types, members,
//! dereferences, indexes and pointer arithmetic; and their errors, marked
//! inline.

use super::check_ok;
use super::marks::check;
use crate::checked::{Expr, ExprKind, StmtKind};
use crate::types::Type;

const P: &str = "struct Q { short s; unsigned char tag; }; \
                 struct P { int x; char name[8]; struct P *next; struct Q q; long arr[3]; unsigned int lo : 3, mid : 5; };";

/// The value assigned by the first statement of `body` after `P`.
#[track_caller]
fn value(body: &str) -> Expr {
    let p = check_ok(&format!("{P}\nuprobe:/bin/sh:main {{ $p = (struct P *)arg0; {body} }}"));
    match &p.probes[0].body[1].kind {
        StmtKind::VarAssign { value, .. } => value.clone(),
        other => panic!("not an assignment: {other:?}"),
    }
}

/// The bytes the value reads, its address space and its type.
#[track_caller]
fn load(body: &str) -> (u32, bool, String) {
    let e = value(body);
    match e.kind {
        ExprKind::Load { size, user, .. } => (size, user, e.ty.to_string()),
        other => panic!("not a read: {other:?}"),
    }
}

#[test]
fn members_read_at_their_type() {
    assert_eq!(load("$v = $p->x;"), (4, true, "int32".into()));
    assert_eq!(load("$v = $p->name;"), (8, true, "string[9]".into()));
    assert_eq!(load("$v = $p->next;"), (8, true, "struct P *".into()));
    assert_eq!(load("$v = $p->next->q.tag;"), (1, true, "uint8".into()));
    assert_eq!(load("$v = $p.q.s;"), (2, true, "int16".into()));
    assert_eq!(load("$v = $p->arr[2];"), (8, true, "int64".into()));
    assert_eq!(load("$v = (*$p).x;"), (4, true, "int32".into()));
    assert_eq!(load("$v = $p[1].x;"), (4, true, "int32".into()));
    assert_eq!(load("$v = *(int32 *)arg0;"), (4, true, "int32".into()));
    // A bit field reads the bytes holding it.
    assert_eq!(load("$v = $p->mid;"), (1, true, "uint32".into()));
}

/// bpftrace 0.17 reads a uint64 at an integer used as an address (Debian's
/// loads.bt: `*kaddr("avenrun")`), in the probe's address space.
#[test]
fn an_integer_dereferenced_reads_a_uint64() {
    assert_eq!(load("$v = *arg1;"), (8, true, "uint64".into()));
    assert_eq!(load("$v = *(int8)arg1;"), (8, true, "uint64".into()));
    let p = check_ok("tracepoint:sched:sched_switch { @ = *(pid + 8); }");
    let StmtKind::MapUpdate { update: crate::checked::MapUpdate::Set(e), .. } = &p.probes[0].body[0].kind else { panic!() };
    assert!(matches!(e.kind, ExprKind::Load { user: false, size: 8, .. }), "{e:?}");
    assert_eq!(e.ty, Type::U64);
}

#[test]
fn kernel_probes_read_kernel_memory() {
    let p = check_ok("tracepoint:sched:sched_switch { @ = ((struct task_struct *)0)->real_parent->tgid; }");
    let StmtKind::MapUpdate { update: crate::checked::MapUpdate::Set(e), .. } = &p.probes[0].body[0].kind else { panic!() };
    assert!(matches!(e.kind, ExprKind::Load { user: false, size: 4, .. }), "{e:?}");
}

#[test]
fn pointer_arithmetic_counts_pointees() {
    let e = value("$v = $p + 2;");
    assert_eq!(e.ty.to_string(), "struct P *");
    let ExprKind::Binary { rhs, .. } = e.kind else { panic!("{e:?}") };
    assert_eq!(rhs.kind, ExprKind::Int(2 * 64));
    assert!(matches!(value("$v = $p == $p->next;").ty, Type::Int { .. }));
}

#[test]
fn reading_through_pointers_reports_each_mistake() {
    check(
        r#"
struct P { int x; char name[8]; struct P *next; struct Q { int a; } q; };
uprobe:/bin/sh:main { $p = (struct P *)arg0; @a = $p->nxet; @b = arg0->x; @c = *arg1; @d = $p->q + 1; }
//                                                    ^^^^ error: `struct P` has no member `nxet`
//                                                               ^^^^ error: `->` needs a pointer, but this is uint64
//                                                                                         ^^^^^ error: `+` needs integers, but this is `struct Q`
uprobe:/bin/sh:main { @e = (struct R *)arg0; @f = (struct P)arg0; @g = $x; @h = ((struct P *)arg0)->name[9]; @i = ((struct P *)arg0)->x->y; }
//                          ^^^^^^^^^^ error: unknown type `struct R`
//                                                 ^^^^^^^^ error: cannot cast to `struct P`
//                                                                     ^^ error: unknown variable `$x`
//                                                                                                       ^ error: index 9 is out of bounds for `int8[8]`
//                                                                                                                ^^^^^^^^^^^^^^^^^^^^^ error: `->` needs a pointer, but this is int32
"#,
    );
}

#[test]
fn curtask_points_to_the_kernels_task_struct() {
    let p = check_ok("tracepoint:sched:sched_switch { @ = curtask->real_parent->real_parent->tgid; }");
    let StmtKind::MapUpdate { update: crate::checked::MapUpdate::Set(e), .. } = &p.probes[0].body[0].kind else { panic!() };
    assert!(matches!(e.kind, ExprKind::Load { user: false, size: 4, .. }), "{e:?}");
    check(
        r#"
BEGIN { @ = curtask->real_parent->tgdi; }
//                                ^^^^ error: `struct task_struct` has no member `tgdi`
"#,
    );
}

#[test]
fn uptr_and_kptr_choose_the_address_space() {
    let read = |src: &str| {
        let p = check_ok(&format!("{P}\n{src}"));
        let StmtKind::MapUpdate { update: crate::checked::MapUpdate::Set(e), .. } = &p.probes[0].body[0].kind else { panic!() };
        match e.kind {
            ExprKind::Load { user, .. } => user,
            ref other => panic!("not a read: {other:?}"),
        }
    };
    assert!(read("BEGIN { @ = ((struct P *)uptr(0))->x; }"));
    assert!(!read("uprobe:/bin/sh:main { @ = ((struct P *)kptr(arg0))->x; }"));
    assert!(!read("uprobe:/bin/sh:main { @ = kptr((struct P *)arg0)->next->x; }"));
    assert!(read("BEGIN { @ = *uptr((int32 *)0); }"));
}

#[test]
fn print_refuses_a_typed_pointer_as_bpftrace_does() {
    check(
        r#"
struct P { int x; };
BEGIN { $p = (struct P *)8; print($p); print($p->x); }
//                                ^^ error: `print()` cannot print a pointer (struct P *)
"#,
    );
}

#[test]
fn sizeof_measures_what_a_pointer_points_to() {
    assert_eq!(value("$v = sizeof(*$p);").kind, ExprKind::Int(64));
    assert_eq!(value("$v = sizeof($p->q);").kind, ExprKind::Int(4));
    assert_eq!(value("$v = sizeof($p->next->name);").kind, ExprKind::Int(8));
}

#[test]
fn an_unknown_member_hints_the_closest_name() {
    let err = super::run(&format!("{P}\nBEGIN {{ $p = (struct P *)0; @ = $p->nxet->x; }}")).unwrap_err();
    assert!(err.contains("`struct P` has no member `nxet`") && err.contains("did you mean `next`?"), "{err}");
}

#[test]
fn a_struct_known_only_by_name_is_an_unknown_type_when_followed() {
    check(
        r#"
struct P { struct Nowhere *n; };
BEGIN { $p = (struct P *)0; @ = $p->n->x; }
//                                     ^ error: unknown type `struct Nowhere`
"#,
    );
}

#[test]
fn an_array_member_cast_to_a_pointer_is_its_address() {
    // `name` is at offset 4, `arr` at 32: the cast adds the offset to the
    // base pointer and reads nothing; the pointer stays in user memory.
    for (body, offset, ty) in [("$v = (int8 *)$p->name;", 4, "int8 *"), ("$v = (int32 *)$p->arr;", 32, "int32 *"), ("$v = (uint64 **)$p->next->arr;", 32, "uint64 * *")] {
        let e = value(body);
        assert_eq!(e.ty.to_string(), ty, "{body}");
        assert!(matches!(e.ty, Type::Ptr { user: true, .. }), "{body}: {:?}", e.ty);
        let ExprKind::Retype(addr) = &e.kind else { panic!("{body}: not a retyped address: {e:?}") };
        let ExprKind::Binary { rhs, .. } = &addr.kind else { panic!("{body}: not an offset: {addr:?}") };
        assert_eq!(rhs.kind, ExprKind::Int(offset), "{body}");
    }
    // A kernel pointer's array gives a kernel pointer.
    let p = super::check_ok(&format!("{P}\ntracepoint:sched:sched_switch {{ $l = (int32 *)((struct P *)0)->arr; }}"));
    let StmtKind::VarAssign { value, .. } = &p.probes[0].body[0].kind else { panic!() };
    assert!(matches!(value.ty, Type::Ptr { user: false, .. }), "{:?}", value.ty);
    // A member that is no array is read, then cast; an array copied into a
    // variable has no address; an integer member is read and cast as any
    // integer is.
    assert!(matches!(value_kind("$v = (int8 *)$p->next;"), ExprKind::Retype(inner) if matches!(inner.kind, ExprKind::Load { .. })));
    check(
        r#"
struct P { int x; char name[8]; };
uprobe:/bin/sh:main { $p = (struct P *)arg0; $s = *$p; $a = (int8 *)$s.name; $c = (struct R *)$p->name; }
//                                                                  ^^^^^^^ error: an array inside a value held in a variable or map has no address
//                                                                                 ^^^^^^^^^^ error: unknown type `struct R`
"#,
    );
}

fn value_kind(body: &str) -> ExprKind {
    value(body).kind
}

/// `macaddr()` of an integer reads the probe's address space, as `*` of
/// one does: user memory in a uprobe (bpftrace 0.17 prints the bytes a
/// uprobe's `arg0` points to), kernel memory elsewhere.
#[test]
fn macaddr_of_an_integer_reads_the_probe_s_memory() {
    for (program, user) in
        [("uprobe:/bin/sh:main { $m = macaddr(arg0); }", true), ("tracepoint:sched:sched_switch { $m = macaddr((uint64)8); }", false)]
    {
        let p = check_ok(program);
        let StmtKind::VarAssign { value, .. } = &p.probes[0].body[0].kind else { panic!() };
        assert!(matches!(value.kind, ExprKind::Load { user: u, size: 6, .. } if u == user), "{program}: {value:?}");
    }
}

/// bpftrace 0.17 indexes only arrays and pointers; a struct value indexed
/// read past itself, and the verifier refused the program.
#[test]
fn indexing_a_struct_is_refused() {
    check(
        r#"
struct P { int x; char name[8]; struct P *next; struct Q { int a; } q; };
uprobe:/bin/sh:main { $s = *(struct P *)arg0; @a = $s[1].x; print($s[0]); @b = $s.name[1]; }
//                                                 ^^^^^ error: The array index operator [] can only be used on arrays and pointers, found struct P
//                                                                ^^^^^ error: The array index operator [] can only be used on arrays and pointers, found struct P
uprobe:/bin/sh:main { $p = (struct P *)arg0; $s = *$p; @c = (*$p)[1]; @d = $p->q[0]; @e = $s.q[0]; @f = $p[1].x; }
//                                                          ^^^^^^^^ error: The array index operator [] can only be used on arrays and pointers, found struct P
//                                                                         ^^^^^^^^ error: The array index operator [] can only be used on arrays and pointers, found struct Q
//                                                                                        ^^^^^^^ error: The array index operator [] can only be used on arrays and pointers, found struct Q
"#,
    );
}

/// As bpftrace 0.17: a pointer takes or gives an integer count of its
/// pointees (`p + n`, `n + p`, `p - n`, and `p - q` of one type, which
/// 0.17 lacks), compares, and is true when not null (`&&`, `||`, `!`, as
/// later bpftrace); every other operator is refused in 0.17's words.
#[test]
fn pointers_take_only_the_operators_that_mean_something() {
    check(
        r#"
struct P { int x; char name[8]; struct P *next; };
uprobe:/bin/sh:main { $p = (struct P *)arg0; @a = $p * 2; @b = -$p; @c = ~$p; @d = $p / 2; @e = $p & 0xff; }
//                                                ^^^^^^ error: The * operator can not be used on expressions of types struct P *, int64
//                                                             ^^^ error: The - operator can not be used on expressions of type 'struct P *'
//                                                                       ^^^ error: The ~ operator can not be used on expressions of type 'struct P *'
//                                                                                 ^^^^^^ error: The / operator can not be used on expressions of types struct P *, int64
//                                                                                              ^^^^^^^^^ error: The & operator can not be used on expressions of types struct P *, int64
uprobe:/bin/sh:main { $p = (struct P *)arg0; @f = $p << 1; @g = $p + $p; @h = 2 * $p; @i = 1 - $p; @j = $p % (uint32)2; @k = (uint8 *)$p | 1; }
//                                                ^^^^^^^ error: The << operator can not be used on expressions of types struct P *, int64
//                                                              ^^^^^^^ error: The + operator can not be used on expressions of types struct P *, struct P *
//                                                                            ^^^^^^ error: The * operator can not be used on expressions of types int64, struct P *
//                                                                                         ^^^^^^ error: The - operator can not be used on expressions of types int64, struct P *
//                                                                                                      ^^^^^^^^^^^^^^ error: The % operator can not be used on expressions of types struct P *, unsigned int32
//                                                                                                                           ^^^^^^^^^^^^^^^ error: The | operator can not be used on expressions of types unsigned int8 *, int64
uprobe:/bin/sh:main { $p = (struct P *)arg0; $q = (int32 *)arg1; @l = $p - $q; @m = $q + $p; }
//                                                                    ^^^^^^^ error: The - operator can not be used on expressions of types struct P *, int32 *
//                                                                                  ^^^^^^^ error: The + operator can not be used on expressions of types int32 *, struct P *
uprobe:/bin/sh:main { $p = (struct P *)arg0; @n = $p == 0; @o = $p < $p->next; @r = $p && 1; @s = !$p; @t = $p || 0; @u = $p - 1; @v = $p->next - $p; if ($p) { @w = $p ? 1 : 2; } }
"#,
    );
}

#[test]
fn an_integer_plus_a_pointer_counts_pointees() {
    let e = value("$v = 2 + $p;");
    assert_eq!(e.ty.to_string(), "struct P *");
    let ExprKind::Binary { lhs, rhs, .. } = e.kind else { panic!("{e:?}") };
    assert_eq!(rhs.kind, ExprKind::Int(2 * 64), "{lhs:?} + {rhs:?}");
}

/// `$p++` steps a whole pointee, as `$p += 1` does (bpftrace 0.17 agrees).
#[test]
fn incrementing_a_pointer_steps_a_pointee() {
    let p = check_ok(&format!("{P}\nuprobe:/bin/sh:main {{ $p = (struct P *)arg0; $p++; --$p; $i = 1; $i++; }}"));
    let deltas: Vec<i64> = p.probes[0].body[1..]
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Expr(Expr { kind: ExprKind::VarIncDec { delta, .. }, .. }) => Some(*delta),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, [64, -64, 1]);
}

/// `*` of a pointer to nothing known (`uptr()`, `kptr()`) reads a uint64
/// in the pointer's address space, as bpftrace 0.17 reads `*uptr(arg0)`.
#[test]
fn a_pointer_to_nothing_known_dereferences_as_a_uint64() {
    for (program, user) in [
        ("tracepoint:sched:sched_switch { $v = *uptr(8); }", true),
        ("uprobe:/bin/sh:main { $v = *kptr(arg0); }", false),
    ] {
        let p = check_ok(program);
        let StmtKind::VarAssign { value, .. } = &p.probes[0].body[0].kind else { panic!() };
        assert!(matches!(value.kind, ExprKind::Load { user: u, size: 8, .. } if u == user), "{program}: {value:?}");
        assert_eq!(value.ty.to_string(), "uint64", "{program}");
    }
}
