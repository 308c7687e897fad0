//! The layout of C definitions in scripts, compared with gcc's: each set
//! of tricky definitions is laid out by rbpf, and a C program built from
//! the same text prints what gcc made of them (`sizeof`, `_Alignof`,
//! `offsetof`, bit fields found by setting their bits, enum values). No
//! kernel needed; skipped without gcc unless RBPF_REQUIRE_KERNEL=1 (CI
//! installs gcc).

use std::fmt::Write as _;
use std::process::Command;

use rbpf_lang::ctypes::CType;

/// Definitions where padding, bit-field packing, anonymous members,
/// arrays of structs, packing and enums each have a say.
const CASES: &[&str] = &[
    "struct P { int x; char name[8]; struct P *next; };",
    "struct pad { char a; long b; char c; short d; char e; };",
    "struct bits { char a; int b : 3; int c : 30; unsigned : 0; short e : 4; unsigned long f : 40; unsigned char g : 7; };",
    "struct cross { unsigned short a : 9; unsigned short b : 9; unsigned char c : 5; unsigned int d : 17; long long e : 33; };",
    "struct unnamed { char a; int : 5; char b; long : 0; char c; };",
    "struct anon { char c; union { int i; long l; struct { short s1; char s2 : 3; }; }; struct { char x; } named; double d; };",
    "union U { char c[5]; int i; struct { short a, b, c; } s; };",
    "struct elem { short a; char b; }; struct arr { char c; struct elem e[3]; int m[2][3]; char tail[]; };",
    "struct packed { char a; int b; short c : 5; long d; } __attribute__((packed));",
    "enum E { A, B = 5, C, D = -1, F = B << 2, G = 0x10 | 3 }; struct with_enum { char c; enum E e; enum E bf : 4; };",
    "enum big { SMALL = 1, HUGE = 0x100000000 }; struct holds_big { char c; enum big b; };",
    "typedef unsigned long long u64_t; typedef struct { u64_t a[2]; char b; } pair_t; struct tp { char c; pair_t p; u64_t *q; };",
    "struct fp { void (*cb)(int, char *); char c; int (*table[4])(void); _Bool flag; float f; double g; };",
    "struct nested { struct inner { char a; long b; } in; char c; struct inner arr[2]; union { char u1; int u2; } u; };",
    "struct ld { char c; long double x; int after; }; struct Fwd; struct uses_fwd { struct Fwd *p; int x; }; typedef struct later later_t; struct later { later_t *n; int v; };",
    "struct types { unsigned char uc; signed char sc; unsigned short us; short int si; long long ll; unsigned long int ul; long double_; uint32_t u32; int8_t i8; size_t sz; };",
];

/// What rbpf makes of `text`: one line per record size, member offset,
/// bit field and enumerator, in the shape the C program prints.
fn rbpf_lines(text: &str) -> Vec<String> {
    let program = rbpf_lang::parse(&format!("{text}\nBEGIN {{}}")).unwrap_or_else(|d| panic!("{text}: {d:?}"));
    let (types, diags) = rbpf_lang::cdefs::layout(&program.definitions, &mut |_| None);
    assert!(diags.is_empty(), "{text}: {diags:?}");
    let mut out = Vec::new();
    for (key, ty) in &types.types {
        let CType::Record(record) = ty.resolved() else { continue };
        out.push(format!("{key} {}/{}", record.size, record.align));
        for name in record.member_names() {
            let found = record.member(name).expect("a listed member");
            match found.member.bitfield {
                Some(b) => {
                    let bits = (found.offset - found.member.offset) * 8 + b.bit_offset;
                    out.push(format!("{key}.{name} {bits}:{}", b.width));
                }
                None => out.push(format!("{key}.{name} {}", found.offset)),
            }
        }
    }
    for (name, v) in &types.constants {
        out.push(format!("{name}={v}"));
    }
    out.sort();
    out
}

/// A C program printing gcc's view of the same records and constants.
fn c_program(text: &str) -> String {
    let program = rbpf_lang::parse(&format!("{text}\nBEGIN {{}}")).unwrap();
    let (types, _) = rbpf_lang::cdefs::layout(&program.definitions, &mut |_| None);
    let mut c = String::from("#include <stdio.h>\n#include <stdint.h>\n#include <stddef.h>\n#include <string.h>\n");
    c += text;
    c += "\nint main(void) {\n";
    for (key, ty) in &types.types {
        let CType::Record(record) = ty.resolved() else { continue };
        let _ = writeln!(c, "printf(\"{key} %zu/%zu\\n\", sizeof({key}), _Alignof({key}));");
        for name in record.member_names() {
            let found = record.member(name).unwrap();
            if found.member.bitfield.is_some() {
                let _ = writeln!(
                    c,
                    "{{ {key} v; memset(&v, 0, sizeof v); v.{name} = -1; unsigned char *b = (unsigned char *)&v; int first = -1, n = 0;
                     for (size_t i = 0; i < sizeof v * 8; i++) if (b[i / 8] >> (i % 8) & 1) {{ if (first < 0) first = i; n++; }}
                     printf(\"{key}.{name} %d:%d\\n\", first, n); }}"
                );
            } else {
                let _ = writeln!(c, "printf(\"{key}.{name} %zu\\n\", offsetof({key}, {name}));");
            }
        }
    }
    for name in types.constants.keys() {
        let _ = writeln!(c, "printf(\"{name}=%lld\\n\", (long long){name});");
    }
    c += "return 0;\n}\n";
    c
}

/// gcc's lines for `text`, or `None` when gcc is missing here.
fn gcc_lines(text: &str, index: usize) -> Option<Vec<String>> {
    let dir = std::env::temp_dir().join(format!("rbpf-c-layout-{}-{index}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, bin) = (dir.join("layout.c"), dir.join("layout"));
    std::fs::write(&src, c_program(text)).unwrap();
    let built = Command::new("gcc").arg("-w").arg("-o").arg(&bin).arg(&src).output();
    let built = match built {
        Ok(b) => b,
        Err(_) => {
            assert!(std::env::var("RBPF_REQUIRE_KERNEL").as_deref() != Ok("1"), "gcc is missing");
            eprintln!("skipping: no gcc");
            return None;
        }
    };
    assert!(built.status.success(), "gcc refused {text}:\n{}", String::from_utf8_lossy(&built.stderr));
    let run = Command::new(&bin).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines: Vec<String> = String::from_utf8_lossy(&run.stdout).lines().map(str::to_string).collect();
    lines.sort();
    Some(lines)
}

#[test]
fn layouts_match_gcc() {
    for (i, text) in CASES.iter().enumerate() {
        let Some(expected) = gcc_lines(text, i) else { return };
        assert!(expected.len() > 2, "gcc printed too little for {text}: {expected:?}");
        assert_eq!(rbpf_lines(text), expected, "{text}");
    }
}
