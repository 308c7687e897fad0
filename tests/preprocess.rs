//! The preprocessor end to end: `-I`, `--include`, quoted includes beside
//! the script, and diagnostics that point at the user's line after
//! directives and macro expansions.

mod common;

use std::path::PathBuf;

use common::{fails_with, run};

/// A fresh directory holding `files`.
fn dir_with(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbpf-e2e-preprocess-{test}-{}", std::process::id()));
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("in a directory")).expect("create the directory");
        std::fs::write(path, text).expect("write a test file");
    }
    dir
}

fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn include_dirs_and_include_files_give_macros() {
    if !common::kernel_tests_enabled("include_dirs_and_include_files_give_macros") {
        return;
    }
    let dir = dir_with(
        "flags",
        &[
            ("script/local.h", "#define LOCAL 1\n"),
            ("script/main.bt", "#include \"local.h\"\n#include <extra/two.h>\nBEGIN { printf(\"%d %d %d\\n\", LOCAL, TWO, FIRST); exit(); }\n"),
            ("inc/extra/two.h", "#define TWO 2\n"),
            ("inc2/first.h", "#define FIRST (TWO + 1)\n"),
        ],
    );
    let script = dir.join("script/main.bt");
    let inc = dir.join("inc");
    let inc2 = dir.join("inc2");
    let out = stdout_of(&[
        "-q",
        "-I",
        inc.to_str().expect("utf-8"),
        "-I",
        inc2.to_str().expect("utf-8"),
        "--include",
        "extra/two.h",
        "--include",
        "first.h",
        script.to_str().expect("utf-8"),
    ]);
    assert_eq!(out, "1 2 3\n\n\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_quoted_include_is_named() {
    let dir = dir_with("missing", &[("s.bt", "BEGIN { }\n#include \"not_here.h\"\n")]);
    let script = dir.join("s.bt");
    fails_with(
        &[script.to_str().expect("utf-8")],
        &["error: cannot find included file `not_here.h`", "s.bt:2:10"],
    );
    fails_with(
        &["--include", "./not_here_either.h", "-e", "BEGIN { }"],
        &["--include ./not_here_either.h: cannot find included file `./not_here_either.h`"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn system_headers_are_accepted_unread() {
    if !common::kernel_tests_enabled("system_headers_are_accepted_unread") {
        return;
    }
    let program = "#include <linux/sched.h>\n#include <no/such/header.h>\nBEGIN { printf(\"%d %d\\n\", TASK_RUNNING, AF_INET); exit(); }";
    let out = stdout_of(&["-q", "--include", "sys/socket.h", "-e", program]);
    assert_eq!(out, "0 2\n\n\n");
}

#[test]
fn directive_errors_point_at_the_directive() {
    fails_with(&["-e", "BEGIN { }\n#if 1\nBEGIN { }"], &["error: unterminated conditional directive", "-e:2:1"]);
    fails_with(&["-e", "BEGIN { }\n#else"], &["error: #else without #if", "-e:2:1"]);
    fails_with(&["-e", "#frob\nBEGIN { }"], &["error: unknown preprocessor directive `#frob`", "-e:1:1"]);
    fails_with(&["-e", "#define 1X\nBEGIN { }"], &["error: bad #define", "-e:1:1"]);
}

#[test]
fn errors_after_a_conditional_block_point_at_their_line() {
    let dir = dir_with(
        "lines",
        &[(
            "s.bt",
            "#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\n#else\n#define LIMIT \\\n  10\n#endif\n\nBEGIN {\n  $x = LIMIT + nosuch;\n}\n",
        )],
    );
    let script = dir.join("s.bt");
    fails_with(&[script.to_str().expect("utf-8")], &["error: unknown builtin `nosuch`", "s.bt:9:16", "9 │   $x = LIMIT + nosuch;"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn errors_after_macro_uses_point_at_the_source() {
    fails_with(
        &["-e", "#define MAX(a, b) ((a) > (b) ? (a) : (b))\nBEGIN { $m = MAX(1, 2); $y = $m + nosuch; }"],
        &["error: unknown builtin `nosuch`", "-e:2:35"],
    );
    // An error inside an expansion is shown at the macro use.
    fails_with(
        &["-e", "#define BAD (nosuch + 1)\nBEGIN { $m = BAD; }"],
        &["error: unknown builtin `nosuch`", "-e:2:14", "^^^"],
    );
    fails_with(
        &["-e", "#define F(a, b) a\nBEGIN { $m = F(1); }"],
        &["error: macro `F` takes 2 arguments, but 1 were given", "-e:2:14"],
    );
}

/// A header's types count as the script's own: bpftrace (through clang)
/// reads them, and tools keep their structs in a header of their own.
#[test]
fn included_headers_give_their_types() {
    if !common::kernel_tests_enabled("included_headers_give_their_types") {
        return;
    }
    let dir = dir_with(
        "types",
        &[
            (
                "script/rec.h",
                "#pragma once\n#define NAME_LEN 5\n// one record\nstruct rec {\n\tunsigned int lo : 3, mid : 5;\n\tint hi;\n\tchar name[NAME_LEN];\n};\nint rec_fill(struct rec *r);\n",
            ),
            ("script/main.bt", "#include \"rec.h\"\n#include <levels.h>\nBEGIN { printf(\"%d %d %d %d\\n\", sizeof(struct rec), offsetof(struct rec, name), HIGH, sizeof(level_t)); exit(); }\n"),
            ("inc/levels.h", "enum level { LOW = 1, HIGH = 7 };\ntypedef unsigned short level_t;\n"),
        ],
    );
    let script = dir.join("script/main.bt");
    let inc = dir.join("inc");
    assert_eq!(stdout_of(&["-q", "-I", inc.to_str().unwrap(), script.to_str().unwrap()]), "16 8 7 2\n\n\n");
    // An --include file's types come before the program's first line.
    let first = dir.join("inc/levels.h");
    let out = stdout_of(&["-q", "--include", first.to_str().unwrap(), "-e", "BEGIN { printf(\"%d\\n\", (uint64)HIGH); exit(); }"]);
    assert_eq!(out, "7\n\n\n");
    let _ = std::fs::remove_dir_all(dir);
}
