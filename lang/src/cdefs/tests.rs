//! C definitions: text in, each type's layout (or the error) out.

use crate::ctypes::CType;
use crate::diagnostic::render_to_string;
use crate::Source;

/// `struct NAME size/align { member @offset[:bit+width] ... }` for every
/// struct and union `text` defines, in name order, or the rendered errors.
fn layouts(text: &str) -> String {
    let src = format!("{text}\nBEGIN {{}}");
    let program = match crate::parse(&src) {
        Ok(p) => p,
        Err(d) => return render_to_string(&Source::new("-e", &src), &d),
    };
    let (types, diags) = super::layout(&program.definitions, &mut |_| None);
    if !diags.is_empty() {
        return render_to_string(&Source::new("-e", &src), &diags);
    }
    let mut keys: Vec<&String> = types.types.keys().collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let ty = &types.types[key];
        let mut line = format!("{key} {}/{}", ty.size().unwrap_or(0), ty.align().unwrap_or(0));
        if let CType::Record(r) = ty.resolved() {
            for m in &r.members {
                let name = m.name.as_deref().unwrap_or("_");
                match m.bitfield {
                    Some(b) => line += &format!(" {name}@{}:{}", b.bit_offset, b.width),
                    None => line += &format!(" {name}@{}", m.offset),
                }
            }
        }
        out.push(line);
    }
    let mut constants: Vec<_> = types.constants.iter().collect();
    constants.sort();
    for (name, v) in constants {
        out.push(format!("{name}={v}"));
    }
    out.join("\n")
}

#[track_caller]
fn check(text: &str, expect: &str) {
    let got = layouts(text);
    let got: Vec<&str> = got.trim().lines().map(str::trim_end).collect();
    assert_eq!(got.join("\n"), expect.trim(), "\n{}", got.join("\n"));
}

#[test]
fn lays_out_members_with_padding() {
    check(
        "struct P { int x; char name[8]; struct P *next; };",
        "struct P 24/8 x@0 name@4 next@16",
    );
}

#[test]
fn packs_bit_fields_within_their_units() {
    check(
        "struct B { char a; int b : 3; int c : 30; unsigned : 0; short e : 4; };",
        "struct B 12/4 a@0 b@8:3 c@32:30 e@64:4",
    );
}

#[test]
fn anonymous_members_and_unions() {
    check(
        "struct S { char c; union { int i; long l; }; struct { short s; } named; };",
        "struct S 24/8 c@0 _@8 named@16",
    );
}

#[test]
fn enums_count_on_from_the_last_value() {
    check("enum E { A, B = 5, C, D = -1, F = B << 2 };", "enum E 4/4\nA=0\nB=5\nC=6\nD=-1\nF=20");
}

#[test]
fn typedefs_name_types_and_arrays() {
    check(
        "typedef unsigned long long u64_t; typedef struct { u64_t a[2][3]; } pair_t; struct Q { pair_t p; char tail[]; } __attribute__((packed));",
        "pair_t 48/8 a@0\nstruct Q 48/1 p@0 tail@48\nu64_t 8/8",
    );
}

#[test]
fn function_pointers_are_pointers() {
    check("struct F { void (*cb)(int, char *); char c; };", "struct F 16/8 cb@0 c@8");
}

#[test]
fn a_redefinition_is_an_error() {
    check(
        "struct A { int x; }; struct A { long y; };",
        r#"
error: `struct A` is defined twice
  ┌─ -e:1:22
  │
1 │ struct A { int x; }; struct A { long y; };
  │ -------------------  ^^^^^^^^^^^^^^^^^^^^ defined again here
  │ │
  │ first defined here"#,
    );
}

#[test]
fn an_unknown_type_has_a_hint() {
    check(
        "typedef int myint; struct A { mying x; };",
        r#"
error: unknown type `mying`
  ┌─ -e:1:31
  │
1 │ typedef int myint; struct A { mying x; };
  │                               ^^^^^ not defined in the script or the kernel
  │
  = did you mean `myint`?"#,
    );
}

#[test]
fn a_malformed_definition_is_an_error() {
    check(
        "struct A { int x };",
        r#"
error: expected `;` in this C definition, found `}`
  ┌─ -e:1:18
  │
1 │ struct A { int x };
  │                  ^ expected `;`"#,
    );
}

#[test]
fn a_struct_value_of_an_unknown_type_is_incomplete() {
    check(
        "struct A { struct B b; };",
        r#"
error: unknown type `struct B`
  ┌─ -e:1:12
  │
1 │ struct A { struct B b; };
  │            ^^^^^^^^ not defined in the script or the kernel"#,
    );
}

/// Sizes and offsets as gcc computes them for the same text (x86-64).
#[test]
fn long_double_takes_sixteen_bytes_aligned_to_sixteen() {
    check("struct X { char c; long double ld; int after; };", "struct X 48/16 c@0 ld@16 after@32");
}

#[test]
fn a_struct_may_be_declared_before_its_body_or_never_defined() {
    check(
        "struct Fwd; struct A { struct Fwd *p; int x; }; typedef struct B B; struct B { B *n; int v; };",
        "B 16/8 n@0 v@8\nstruct A 16/8 p@0 x@8\nstruct B 16/8 n@0 v@8",
    );
}
