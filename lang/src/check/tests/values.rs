//! Struct, union and array values: read whole from memory, stored, keyed,
//! compared and printed; members read from a stored value; pointer
//! differences; and the refusals, marked inline.

use super::check_ok;
use super::marks::check;
use crate::checked::{Expr, ExprKind, StmtKind};

const P: &str = "struct Q { short s; unsigned char tag; }; \
                 struct P { int x; char name[8]; struct P *next; struct Q q; long arr[3]; unsigned char b[4]; unsigned int lo : 3, mid : 5; };";

/// The values assigned by the statements of `body` after `P`, in order.
#[track_caller]
fn values(body: &str) -> Vec<Expr> {
    let p = check_ok(&format!("{P}\nuprobe:/bin/sh:main {{ $p = (struct P *)arg0; {body} }}"));
    p.probes[0].body[1..]
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::VarAssign { value, .. } => Some(value.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn records_and_arrays_read_whole_at_their_size() {
    let v = values("$s = *$p; $q = $p->q; $a = $p->arr; $b = $p->b; $n = $p->name;");
    let shown: Vec<(String, Option<u32>)> = v
        .iter()
        .map(|e| {
            let size = match e.kind {
                ExprKind::Load { size, .. } => Some(size),
                _ => None,
            };
            (e.ty.to_string(), size)
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("struct P".to_string(), Some(64)),
            ("struct Q".to_string(), Some(4)),
            ("int64[3]".to_string(), Some(24)),
            // `unsigned char` arrays are numbers; `char` ones strings.
            ("uint8[4]".to_string(), Some(4)),
            ("string[9]".to_string(), Some(8)),
        ]
    );
}

#[test]
fn members_of_a_stored_value_read_from_its_bytes() {
    let v = values("$s = *$p; $x = $s.x; $t = $s.q.tag; $e = $s.arr[2]; $m = $s.mid; $n = $s.name; $y = $s.next->x;");
    let members: Vec<(u32, u32, String)> = v[1..6]
        .iter()
        .map(|e| match &e.kind {
            ExprKind::Member { offset, size, .. } => (*offset, *size, e.ty.to_string()),
            other => panic!("not a member: {other:?}"),
        })
        .collect();
    assert_eq!(
        members,
        [(0, 4, "int32".into()), (26, 1, "uint8".into()), (48, 8, "int64".into()), (60, 1, "uint32".into()), (4, 8, "string[9]".into())]
    );
    // A pointer member is followed through memory again, in the probe's
    // address space.
    assert!(matches!(v[6].kind, ExprKind::Load { user: true, size: 4, .. }), "{:?}", v[6]);
}

#[test]
fn pointers_subtract_to_a_count_of_pointees() {
    let v = values("$d = $p - $p->next; $c = $p->next == $p; $l = $p < $p->next;");
    assert_eq!(v[0].ty.to_string(), "int64");
    assert!(matches!(v[0].kind, ExprKind::Ternary { .. }), "{:?}", v[0]);
}

#[test]
fn values_are_keys_values_and_compare_by_bytes() {
    let v = values("@m[*$p] = count(); @n[$p->arr] = $p->q; $e = *$p == *$p->next; $f = $p->q != $p->next->q;");
    assert!(v.iter().all(|e| matches!(e.kind, ExprKind::StrEq { .. })), "{v:?}");
}

#[test]
fn values_refuse_what_bpftrace_refuses() {
    check(
        r#"
struct Q { short s; unsigned char tag; long arr[2]; }; struct R { int x; }; struct Big { char b[300]; };
uprobe:/bin/sh:main { $q = *(struct Q *)arg0; @a = $q + 1; @b = $q < $q; @c = $q == 1; printf("%s", $q); }
//                                                 ^^ error: `+` needs integers, but this is `struct Q`
//                                                              ^^ error: `<` needs integers, but this is `struct Q`
//                                                                                  ^ error: cannot compare `struct Q` with `int64`
//                                                                                                  ^^ error: `%s` needs a string, but this is struct Q
uprobe:/bin/sh:main { $q = *(struct Q *)arg0; $i = 1; @d = $q.arr[$i]; @e = $q->s; @f = *(struct Big *)arg0; }
//                                                                ^^ error: an array value (`int64[2]`) can only be indexed with a constant
//                                                                          ^^ error: `->` needs a pointer, but this is struct Q
//                                                                                      ^^^^^^^^^^^^^^^^^^^ error: `struct Big` (300 bytes) cannot be read whole
uprobe:/bin/sh:main { $q = (struct Q *)arg0; $r = (struct R *)arg0; @g = $q - $r; @h = *$q == *$r; }
//                                                                       ^^^^^^^ error: The - operator can not be used on expressions of types struct Q *, struct R *
//                                                                                            ^^^ error: cannot compare `struct Q` with `struct R`
"#,
    );
}

#[test]
fn a_tracepoints_args_is_a_struct_value_of_its_fields() {
    let p = check_ok("tracepoint:sched:sched_switch { print(args); @[args] = count(); $a = args; @p = $a.prev_pid; }");
    assert_eq!(p.print_values[0].to_string(), "struct _tracepoint_sched_sched_switch");
    let StmtKind::VarAssign { value, .. } = &p.probes[0].body[2].kind else { panic!() };
    let ExprKind::Record(members) = &value.kind else { panic!("{value:?}") };
    assert!(members.iter().all(|m| matches!(m.value.kind, ExprKind::TracepointField(_))));
    check(
        r#"
BEGIN { print(args); }
//            ^^^^ error: `args` is not available in a `BEGIN` probe
"#,
    );
}
