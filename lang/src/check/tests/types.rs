//! Named types: `sizeof`, `offsetof` and enum constants over the script's
//! C definitions and the (fake) kernel's types, folded to constants; and
//! the errors about them, marked inline.

use super::marks::check;
use super::{check_error, run};
use crate::checked::{ExprKind, StmtKind};

/// The constant `expr` folds to, after `defs`.
#[track_caller]
fn constant(defs: &str, expr: &str) -> u64 {
    let p = run(&format!("{defs}\nBEGIN {{ $x = {expr}; }}")).unwrap_or_else(|e| panic!("{e}"));
    match &p.probes[0].body[0].kind {
        StmtKind::VarAssign { value, .. } => match value.kind {
            ExprKind::Int(v) => v,
            ref other => panic!("not folded: {other:?}"),
        },
        other => panic!("not an assignment: {other:?}"),
    }
}

const P: &str = "struct P { int x; char name[8]; struct P *next; }; \
                 union U { char c; long l; }; \
                 enum E { A, B = 5, C }; \
                 typedef struct { short s; struct P p; } pair_t;";

#[test]
fn sizeof_measures_script_types() {
    assert_eq!(constant(P, "sizeof(struct P)"), 24);
    assert_eq!(constant(P, "sizeof(union U)"), 8);
    assert_eq!(constant(P, "sizeof(enum E)"), 4);
    assert_eq!(constant(P, "sizeof(pair_t)"), 32);
    assert_eq!(constant(P, "sizeof(struct P *)"), 8);
    assert_eq!(constant(P, "sizeof(uint32)"), 4);
}

#[test]
fn sizeof_measures_kernel_types() {
    assert_eq!(constant("", "sizeof(struct task_struct)"), 16);
    assert_eq!(constant("", "sizeof(pid_t)"), 4);
}

#[test]
fn a_script_type_wins_over_the_kernels() {
    assert_eq!(constant("struct task_struct { char c; };", "sizeof(struct task_struct)"), 1);
}

#[test]
fn offsetof_finds_members_and_paths() {
    assert_eq!(constant(P, "offsetof(struct P, next)"), 16);
    assert_eq!(constant(P, "offsetof(pair_t, p.name)"), 12);
    assert_eq!(constant("", "offsetof(struct task_struct, real_parent)"), 8);
}

#[test]
fn enumerators_are_constants() {
    assert_eq!(constant(P, "C"), 6);
    assert_eq!(constant(P, "TCP_ESTABLISHED"), 1);
    assert_eq!(constant("", "TCP_SYN_SENT"), 2);
}

#[test]
fn unknown_types_have_hints() {
    check(
        r#"
struct point { int x; int y; };
BEGIN { $a = sizeof(struct pont); $b = sizeof(struct nothing_like_it); }
//                  ^^^^^^^^^^^ error: unknown type `struct pont`
//                                            ^^^^^^^^^^^^^^^^^^^^^^ error: unknown type `struct nothing_like_it`
"#,
    );
}

#[test]
fn unknown_members_have_hints() {
    check(
        r#"
struct point { int x; int y; struct { int z; }; int b : 3; };
BEGIN { $a = offsetof(struct point, w); $b = offsetof(struct point, b); $c = offsetof(struct point, x.y); }
//                                  ^ error: `struct point` has no member `w`
//                                                                  ^ error: `b` is a bit field, which has no byte offset
//                                                                                                    ^ error: `int32` has no members
"#,
    );
}

#[test]
fn offsetof_needs_a_record_type() {
    check(
        r#"
BEGIN { $a = offsetof(uint32, x); $b = offsetof($a, x); }
//                    ^^^^^^ error: `offsetof()` needs a struct or union type
//                                              ^^ error: `offsetof()` needs a struct or union type
"#,
    );
}

#[test]
fn malformed_and_repeated_definitions_are_errors() {
    check(
        r#"
struct A { int x; }; struct A { long y; }; enum E { X, X };
//                   ^^^^^^^^^^^^^^^^^^^^ error: `struct A` is defined twice
//                                                     ^ error: `X` is defined twice
BEGIN { }
"#,
    );
}

#[test]
fn hints_name_the_closest_type_and_member() {
    check_error(
        "struct point { int x; int yy; }; BEGIN { $a = sizeof(struct pont) + offsetof(struct point, y); }",
        r#"
error: unknown type `struct pont`
  ┌─ -e:1:54
  │
1 │ struct point { int x; int yy; }; BEGIN { $a = sizeof(struct pont) + offsetof(struct point, y); }
  │                                                      ^^^^^^^^^^^ not defined in the script or the kernel
  │
  = did you mean `struct point`?

error: `struct point` has no member `y`
  ┌─ -e:1:92
  │
1 │ struct point { int x; int yy; }; BEGIN { $a = sizeof(struct pont) + offsetof(struct point, y); }
  │                                                                                            ^ no such member
  │
  = did you mean `yy`?"#,
    );
}

/// The type a `$x = EXPR` assignment gives `$x`, after `defs`.
#[track_caller]
fn type_of(defs: &str, expr: &str) -> String {
    let p = run(&format!("{defs}\nBEGIN {{ $x = {expr}; }}")).unwrap_or_else(|e| panic!("{e}"));
    match &p.probes[0].body[0].kind {
        StmtKind::VarAssign { value, .. } => value.ty.to_string(),
        other => panic!("not an assignment: {other:?}"),
    }
}

#[test]
fn casts_to_typedef_names_take_their_types() {
    let defs = "struct P { int x; }; typedef unsigned char uc; typedef struct P *pp;";
    assert_eq!(type_of(defs, "(uc)257"), "uint8");
    assert_eq!(type_of("", "(pid_t)-1"), "int32");
    assert_eq!(type_of(defs, "(pp)8"), "struct P *");
    assert_eq!(type_of(P, "(pair_t *)8"), "pair_t *");
    assert_eq!(type_of("", "(pid_t *)8"), "pid_t *");
    let p = run("typedef unsigned char uc; BEGIN { $x = (uc)257; }").unwrap();
    assert!(matches!(&p.probes[0].body[0].kind, StmtKind::VarAssign { value, .. } if matches!(value.kind, ExprKind::Cast(_))));
}

#[test]
fn casts_to_unknown_or_record_typedef_names_are_spanned_errors() {
    check(
        r#"
struct P { int x; }; typedef struct P p_t;
BEGIN { $a = (no_such_t)1; $b = (p_t)2; $c = (also_not_t *)3; }
//            ^^^^^^^^^ error: unknown type `no_such_t`
//                               ^^^ error: cannot cast to `p_t`
//                                            ^^^^^^^^^^^^ error: unknown type `also_not_t`
"#,
    );
}
