//! bpftrace's warnings, marked where they point (see `marks`).

use super::marks::check;

/// (`pid` is a uint32 in rbpf, as in later bpftrace; 0.17 names it a
/// uint64 in the same warning.)
#[test]
fn integers_of_different_signs_compared_or_combined() {
    check(
        r#"
BEGIN { $a = 1; $b = (uint32)2; if ($a < $b) { exit(); } }
//                                  ^^^^^^^ warning: comparison of integers of different signs: 'int64' and 'unsigned int32' can lead to undefined behavior
BEGIN { $a = -1; @x = pid == $a; @y = (int8)1 + pid; }
//                    ^^^^^^^^^ warning: comparison of integers of different signs: 'unsigned int32' and 'int64' can lead to undefined behavior
//                                    ^^^^^^^^^^^^^ warning: arithmetic on integers of different signs: 'int8' and 'unsigned int32' can lead to undefined behavior
"#,
    );
}

#[test]
fn literals_that_are_not_negative_fit_either_sign() {
    // As in bpftrace: `pid > 1` is fine, `pid > -1` is not; bit operators
    // never warn.
    check(
        r#"
BEGIN { if (pid > 1) { exit(); } @x = pid & 0xff; @y = (uint32)pid - 3; }
"#,
    );
}

#[test]
fn signed_division_and_modulo() {
    check(
        r#"
BEGIN { $a = 5; @x = $a / 2; @y = 7 % (uint64)$a; @z = (uint64)$a / 2; }
//                   ^^^^^^ warning: signed operands for '/' can lead to undefined behavior (cast to unsigned to silence warning)
"#,
    );
}

/// A pointer difference divides by the pointee's size internally; the
/// user wrote no `/`, and the count it gives is right for either order.
#[test]
fn a_pointer_difference_does_not_warn_of_division() {
    check(
        r#"
struct P { int x; char name[8]; struct P *next; };
uprobe:/bin/sh:main { $a = (struct P *)arg0; $b = (struct P *)arg1; printf("%d\n", $b - $a); @ = $a - $b; }
"#,
    );
}
