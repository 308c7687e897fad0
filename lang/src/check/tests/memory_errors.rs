//! Every error of the type system for memory, each with its span: unknown
//! types (in casts, `sizeof`, `offsetof`; the script's and the kernel's),
//! unknown members with the nearest name as a hint, arithmetic on a struct
//! value, and casts between types of different kinds or sizes.

use super::marks::check;
use super::{check_error, run, target};

#[test]
fn unknown_types_are_named_where_they_are_written() {
    check(
        r#"
tracepoint:syscalls:sys_enter_execve { $p = (struct nosuch *)args->filename; $u = (union nosuch **)0; }
//                                           ^^^^^^^^^^^^^^^ error: unknown type `struct nosuch`
//                                                                                 ^^^^^^^^^^^^^^^ error: unknown type `union nosuch`
BEGIN { @s = sizeof(struct nosuch); @o = offsetof(struct nosuch, x); @e = sizeof(enum nosuch); }
//                  ^^^^^^^^^^^^^ error: unknown type `struct nosuch`
//                                                ^^^^^^^^^^^^^ error: unknown type `struct nosuch`
//                                                                               ^^^^^^^^^^^ error: unknown type `enum nosuch`
"#,
    );
    // The message says where it was looked for, and hints a near name the
    // script defines.
    check_error(
        "struct point { int x; }; BEGIN { $t = (struct pont *)0; }",
        r#"
error: unknown type `struct pont`
  ┌─ -e:1:40
  │
1 │ struct point { int x; }; BEGIN { $t = (struct pont *)0; }
  │                                        ^^^^^^^^^^^^^ not defined in the script or the kernel
  │
  = did you mean `struct point`?"#,
    );
}

#[test]
fn unknown_members_hint_the_nearest_name() {
    check(
        r#"
struct P { int count; struct P *next; };
BEGIN { $p = (struct P *)0; @a = $p->cuont; @b = $p->next->nxt; @c = offsetof(struct P, cnt); @d = curtask->real_parent->tgdi; }
//                                   ^^^^^ error: `struct P` has no member `cuont`
//                                                         ^^^ error: `struct P` has no member `nxt`
//                                                                                      ^^^ error: `struct P` has no member `cnt`
//                                                                                                                       ^^^^ error: `struct task_struct` has no member `tgdi`
"#,
    );
    for (src, hint) in [
        ("struct P { int count; }; BEGIN { $p = (struct P *)0; @ = $p->cuont; }", "did you mean `count`?"),
        ("BEGIN { @ = curtask->real_parent->tgdi; }", "did you mean `tgid`?"),
        ("BEGIN { @ = offsetof(struct task_struct, pdi); }", "did you mean `pid`?"),
    ] {
        let e = run(src).unwrap_err();
        assert!(e.contains(hint), "{src}: {e}");
    }
    // A name like none of the members gets no guess.
    let e = run("BEGIN { @ = curtask->zzzzzzzz; }").unwrap_err();
    assert!(e.contains("has no member `zzzzzzzz`") && !e.contains("did you mean"), "{e}");
}

/// The one error `src` has: its message, and the text its span covers.
fn only_error(src: &str) -> (String, String) {
    let ast = crate::parse(src).unwrap_or_else(|d| panic!("does not parse: {d:?}"));
    let diags = match crate::check::check(&ast, &target()) {
        Ok(_) => panic!("expected an error for {src}"),
        Err(diags) => diags,
    };
    assert_eq!(diags.len(), 1, "{src}: {diags:?}");
    let d = &diags[0];
    (d.message.clone(), src[d.span.start as usize..d.span.end as usize].to_string())
}

#[test]
fn arithmetic_on_a_struct_value_is_refused_at_the_value() {
    // Whether a struct value may be read whole or not, arithmetic on one is
    // an error that points at it and names its type (bpftrace 0.17: "Type
    // mismatch for '+': comparing 'struct P' with 'int64'").
    for (src, operand) in [
        ("struct P { int x; int y; }; BEGIN { $p = (struct P *)0; @ = *$p + 1; }", "*$p"),
        ("struct P { int x; int y; }; BEGIN { $p = (struct P *)0; @ = $p->x * *$p; }", "*$p"),
        ("struct P { int x; struct Q { int a; } q; }; BEGIN { $p = (struct P *)0; @ = $p->q - 2; }", "$p->q"),
        ("BEGIN { @ = *curtask & 1; }", "*curtask"),
    ] {
        let (message, span) = only_error(src);
        assert_eq!(span, operand, "{src}: {message}");
        assert!(message.contains("struct "), "{src}: {message}");
    }
}

#[test]
fn casts_between_kinds_and_sizes_are_refused() {
    check(
        r#"
struct P { int x; int y; }; struct Q { int x; int y; int z; };
BEGIN { @a = (struct P)1; @b = (struct Q)1; @c = (union U)1; }
//            ^^^^^^^^ error: cannot cast to `struct P`
//                              ^^^^^^^^ error: cannot cast to `struct Q`
//                                                ^^^^^^^ error: cannot cast to `union U`
"#,
    );
    // The label says what is wrong: the sizes when they differ.
    let e = run("struct Q { int x; int y; int z; }; BEGIN { @ = (struct Q)1; }").unwrap_err();
    assert!(e.contains("`struct Q` has 12 bytes, but int64 has 8") && e.contains("cast to a pointer, `(struct Q *)`"), "{e}");
    let e = run("struct P { int x; int y; }; BEGIN { @ = (struct P)1; }").unwrap_err();
    assert!(e.contains("`struct P` is not an integer type") && !e.contains("bytes, but"), "{e}");
    // A struct or array value is not an integer to cast (bpftrace 0.17:
    // "Cannot cast from struct type", "Casts are not supported for type").
    for (src, operand) in [
        ("struct P { int x; int y; }; BEGIN { $p = (struct P *)0; @ = (uint64)*$p; }", "*$p"),
        ("struct P { int x; int b[2]; }; BEGIN { $p = (struct P *)0; @ = (uint32)$p->b; }", "$p->b"),
        ("struct P { int x; char s[8]; }; BEGIN { $p = (struct P *)0; @ = (uint64)$p->s; }", "$p->s"),
    ] {
        let (message, span) = only_error(src);
        assert_eq!(span, operand, "{src}: {message}");
    }
}

#[test]
fn an_unknown_bare_type_name_is_an_unknown_type() {
    // bpftrace calls it an unknown identifier; it is no builtin either.
    check(
        r#"
BEGIN { @s = sizeof(nosuch_t); @o = offsetof(nosuch_t, x); @p = sizeof(pid); @t = sizeof(pid_t); }
//                  ^^^^^^^^ error: unknown type `nosuch_t`
//                                           ^^^^^^^^ error: unknown type `nosuch_t`
"#,
    );
    let e = run("BEGIN { @ = sizeof(pid_tt); }").unwrap_err();
    assert!(e.contains("unknown type `pid_tt`") && e.contains("did you mean `pid_t`?") && !e.contains("builtin"), "{e}");
}

#[test]
fn misspelt_kernel_types_hint_the_kernels_nearest_name() {
    check(
        r#"
BEGIN { $t = (struct task_strct *)0; @s = sizeof(struct task_strct); @o = offsetof(struct task_strct, pid); }
//            ^^^^^^^^^^^^^^^^^^^ error: unknown type `struct task_strct`
//                                               ^^^^^^^^^^^^^^^^^ error: unknown type `struct task_strct`
//                                                                                 ^^^^^^^^^^^^^^^^^ error: unknown type `struct task_strct`
"#,
    );
    for src in [
        "BEGIN { $t = (struct task_strct *)0; }",
        "BEGIN { @ = sizeof(struct task_strct); }",
        "BEGIN { @ = offsetof(struct task_strct, pid); }",
    ] {
        let e = run(src).unwrap_err();
        assert!(e.contains("did you mean `struct task_struct`?"), "{src}: {e}");
    }
    // The kind is kept: a struct's name is no hint for a union.
    let e = run("BEGIN { @ = sizeof(union task_strct); }").unwrap_err();
    assert!(e.contains("unknown type `union task_strct`") && !e.contains("did you mean"), "{e}");
}
