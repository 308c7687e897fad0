//! Tests as data: a script in, the preprocessed text (trailing blanks
//! trimmed from each line) or the errors (`line:column: message`) out.

use std::path::PathBuf;

use super::{preprocess, Options};
use crate::Span;

fn render(text: &str, options: &Options) -> String {
    match preprocess(text, options) {
        Ok(pre) => {
            assert_eq!(pre.text.matches('\n').count(), text.matches('\n').count(), "the lines stay in place");
            pre.text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
        }
        Err(errors) => errors
            .iter()
            .map(|e| {
                let (line, column) = line_column(text, e.span.start as usize);
                let under = &text[e.span.range()];
                format!("{line}:{column}: {} [{under}] ({})", e.message, e.label)
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, column)
}

#[track_caller]
fn check(input: &str, expect: &str) {
    check_with(input, &Options::default(), expect);
}

#[track_caller]
fn check_with(input: &str, options: &Options, expect: &str) {
    // A raw-string case starts with a newline, in and out alike.
    let (input, expect) = match (input.strip_prefix('\n'), expect.strip_prefix('\n')) {
        (Some(input), Some(expect)) => (input, expect),
        _ => (input, expect),
    };
    assert_eq!(render(input, options).trim_end(), expect.trim_end());
}

#[test]
fn text_without_directives_is_unchanged() {
    check("BEGIN { printf(\"%d\\n\", 1); }\n", "BEGIN { printf(\"%d\\n\", 1); }");
}

#[test]
fn shebang_is_no_directive() {
    check("#!/usr/bin/env bpftrace\nBEGIN {}\n", "#!/usr/bin/env bpftrace\nBEGIN {}");
}

#[test]
fn object_like_macros() {
    check(
        r#"
#define N 5
#define M (N * 2) // twice N
#define NAME "str"
BEGIN { printf("%d %d %s N\n", N, M, NAME); @N = N; $N = 1; }
"#,
        r#"



BEGIN { printf("%d %d %s N\n", 5, (5 * 2), "str"); @N = 5; $N = 1; }
"#,
    );
}

#[test]
fn macros_are_not_expanded_in_strings_or_comments() {
    check(
        "#define X 1\nBEGIN { printf(\"X\\\"X\"); /* X */ } // X\n",
        "\nBEGIN { printf(\"X\\\"X\"); /* X */ } // X",
    );
}

#[test]
fn function_like_macros() {
    check(
        r#"
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ZERO() 0
#define NOT_CALLED(x) x
BEGIN { $m = MAX(1, MAX(2, 3)); $z = ZERO(); $n = NOT_CALLED; $c = MAX((1, 2), f(3, 4)); }
"#,
        r#"



BEGIN { $m = ((1) > (((2) > (3) ? (2) : (3))) ? (1) : (((2) > (3) ? (2) : (3)))); $z = 0; $n = NOT_CALLED; $c = (((1, 2)) > (f(3, 4)) ? ((1, 2)) : (f(3, 4))); }
"#,
    );
}

#[test]
fn recursive_macros_terminate() {
    check(
        "#define A B + 1\n#define B A * 2\n#define F(x) F(x + 1)\nBEGIN { a = A; f = F(0); }\n",
        "\n\n\nBEGIN { a = A * 2 + 1; f = F(0 + 1); }",
    );
}

#[test]
fn undef_and_redefine() {
    check(
        "#define X 1\nBEGIN { X; }\n#undef X\nBEGIN { X; }\n#define X 2\nBEGIN { X; }\n",
        "\nBEGIN { 1; }\n\nBEGIN { X; }\n\nBEGIN { 2; }",
    );
}

#[test]
fn have_btf_is_defined() {
    check(
        r#"
#ifndef BPFTRACE_HAVE_BTF
#include <linux/sched.h>
#else
#include <linux/nonexistent_header.h>
#endif
BEGIN { }
"#,
        "\n\n\n\n\n\nBEGIN { }",
    );
}

#[test]
fn conditionals_choose_lines() {
    check(
        r#"
#define LEVEL 2
#if LEVEL > 2
BEGIN { three }
#elif LEVEL == 2 && defined(LEVEL) && !defined NOPE
BEGIN { two }
#else
BEGIN { other }
#endif
#ifdef NOPE
BEGIN { nope }
#if 1
BEGIN { nested }
#endif
#elif 1
BEGIN { elif }
#endif
#if (1 << 4) / 4 % 3 == 1 ? 0x10 == 020 - 0 : 0
BEGIN { arithmetic }
#endif
"#,
        r#"




BEGIN { two }









BEGIN { elif }


BEGIN { arithmetic }
"#,
    );
}

#[test]
fn continuations_and_comments_in_directives() {
    check(
        "#define LONG 1 + \\\n  2 /* two */\n#if 0 /* a comment\n #endif */\nBEGIN { gone }\n#endif\nBEGIN { LONG }\n",
        "\n\n\n\n\n\nBEGIN { 1 +   2 }",
    );
}

#[test]
fn block_comment_hides_directives() {
    check("/*\n#error no\n*/ BEGIN { }\n", "/*\n#error no\n*/ BEGIN { }");
}

#[test]
fn skipped_groups_ignore_other_directives() {
    check("#if 0\n#bogus\n#error no\n#include \"missing.h\"\n#endif\nBEGIN {}\n", "\n\n\n\n\nBEGIN {}");
}

#[test]
fn errors() {
    check("#if 1\nBEGIN {}\n", "1:1: unterminated conditional directive [#if] (this has no matching #endif)");
    check("#else\n", "1:1: #else without #if [#else] (no #if is open here)");
    check("#endif\n", "1:1: #endif without #if [#endif] (no #if is open here)");
    check("#if 1\n#else\n#elif 1\n#endif\n", "3:1: #elif after #else [#elif] (this #elif follows the #else)");
    check("  # frobnicate x\n", "1:3: unknown preprocessor directive `#frobnicate` [# frobnicate] (not a directive)");
    check("#define\n", "1:1: bad #define [#define] (expected a macro name after #define)");
    check("#define F(a, a) a\n", "1:1: bad #define [#define F(a, a) a] (expected distinct parameter names separated by commas)");
    check("#define F(a a\n", "1:1: bad #define [#define F(a a] (the parameter list has no closing `)`)");
    check("#define F(x) #x\n", "1:1: bad #define [#define F(x) #x] (the `#` and `##` operators are not supported)");
    check("#if 1 +\n#endif\n", "1:5: bad #if condition: the condition ends too early [1 +] (in this condition)");
    check("#if 1 / 0\n#endif\n", "1:5: bad #if condition: division by zero in the condition [1 / 0] (in this condition)");
    check("#error stop here\n", "1:1: #error stop here [#error stop here] (here)");
    check("#include \"no_such_file.h\"\n", "1:10: cannot find included file `no_such_file.h` [\"no_such_file.h\"] (not found)");
    check("#include nothing\n", "1:1: bad #include [#include nothing] (expected \"FILE\" or <FILE>)");
    check(
        "#define F(a, b) a\nBEGIN { F(1); }\n",
        "2:9: macro `F` takes 2 arguments, but 1 were given [F(1)] (in this macro use)",
    );
    check("#define F(a) a\nBEGIN { F(1; }\n", "2:9: the arguments of macro `F` have no closing `)` [F] (in this macro use)");
}

#[test]
fn unread_system_headers_define_their_constants() {
    check(
        "#include <linux/sched.h>\n#include <sys/socket.h>\nBEGIN { TASK_RUNNING AF_INET AF_INET6 }\n",
        "\n\nBEGIN { 0x0000 2 10 }",
    );
    check("BEGIN { AF_INET }\n", "BEGIN { AF_INET }");
}

#[test]
fn system_headers_need_not_exist() {
    check("#include <linux/sched.h>\n#include <net/sock.h>\nBEGIN {}\n", "\n\nBEGIN {}");
}

/// A fresh directory with the given files.
fn files(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbpf-preprocess-{test}-{}", std::process::id()));
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a file in a directory")).expect("create the test directory");
        std::fs::write(path, text).expect("write a test file");
    }
    dir
}

#[test]
fn included_files_give_their_macros() {
    let dir = files(
        "includes",
        &[
            ("script/local.h", "#pragma once\n#define LOCAL 1\nstruct s { int x; };\n#include \"nested.h\"\n"),
            ("script/nested.h", "#ifndef NESTED\n#define NESTED 2\n#endif\n"),
            ("inc/sys/defs.h", "#define SYSTEM 3\n"),
            ("inc/first.h", "#define FIRST 4\n"),
        ],
    );
    let options = Options {
        script_dir: Some(dir.join("script")),
        include_dirs: vec![dir.join("inc")],
        include_files: vec!["first.h".to_string()],
    };
    check_with(
        "#include \"local.h\"\n#include <sys/defs.h>\nBEGIN { LOCAL NESTED SYSTEM FIRST }\n",
        &options,
        // local.h's struct takes the place of its #include line.
        "struct s { int x; };\n\nBEGIN { 1 2 3 4 }",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn errors_in_included_files_name_the_file() {
    let dir = files("include-errors", &[("bad.h", "#define OK 1\n\n#if\n#endif\n"), ("self.h", "#include \"self.h\"\n")]);
    let options = Options { script_dir: Some(dir.clone()), ..Options::default() };
    let bad = dir.join("bad.h");
    check_with(
        "#include \"bad.h\"\n",
        &options,
        &format!("1:10: {}:3: bad #if condition: the condition is empty [\"bad.h\"] (in this file)", bad.display()),
    );
    let out = render("#include \"self.h\"\n", &options);
    assert!(out.contains("nested more than 32 deep"), "{out}");
    let missing = Options { include_files: vec!["./missing.h".to_string()], ..Options::default() };
    check_with("BEGIN {}\n", &missing, "1:1: --include ./missing.h: cannot find included file `./missing.h` [] ()");
    // A bare name that is no system header is a file of the user's.
    let missing = Options { include_files: vec!["missing.h".to_string()], ..Options::default() };
    check_with(
        "BEGIN {}\n",
        &missing,
        "1:1: --include missing.h: cannot find included file `missing.h` in the current directory or the -I directories [] ()",
    );
    let system = Options { include_files: vec!["linux/sched.h".to_string()], ..Options::default() };
    check_with("BEGIN { TASK_RUNNING }\n", &system, "BEGIN { 0x0000 }");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn spans_map_back_to_the_macro_use() {
    let text = "#define MAX(a, b) ((a) > (b) ? (a) : (b))\n#if 1\n#endif\nBEGIN { $x = MAX(1, 2) + y; }\n";
    let pre = preprocess(text, &Options::default()).expect("preprocesses");
    let y_out = pre.text.find("+ y").expect("y is there") + 2;
    let y_in = text.find("+ y").expect("y is there") + 2;
    assert_eq!(pre.map.span(Span::new(y_out, y_out + 1)), Span::new(y_in, y_in + 1));
    // Inside the expansion: the whole use.
    let inside = pre.text.find("(1)").expect("expanded");
    let use_start = text.find("MAX(1").expect("used");
    let use_end = use_start + "MAX(1, 2)".len();
    assert_eq!(pre.map.span(Span::new(inside, inside + 3)), Span::new(use_start, use_end));
    // Before any expansion: the identity.
    let begin = text.find("BEGIN").expect("BEGIN");
    assert_eq!(pre.map.span(Span::new(begin, begin + 5)), Span::new(begin, begin + 5));
}

#[test]
fn parse_errors_after_expansions_point_at_the_source() {
    let text = "#define TWO(x) ((x) * 2)\n#ifdef BPFTRACE_HAVE_BTF\n#define ONE 1\n#endif\nBEGIN { $a = TWO(ONE); $b = ; }\n";
    let pre = preprocess(text, &Options::default()).expect("preprocesses");
    let errors = crate::parse(&pre.text).expect_err("a syntax error");
    let span = pre.map.span(errors[0].span);
    assert_eq!(line_column(text, span.start as usize), (5, 29));
    assert_eq!(&text[span.range()], ";");
}

#[test]
fn hash_inside_a_line_is_no_directive() {
    check("BEGIN { printf(\"#if\\n\"); } # not a directive\n", "BEGIN { printf(\"#if\\n\"); } # not a directive");
}

#[test]
fn macro_arguments_may_span_lines() {
    let text = "#define ADD(a, b) (a + b)\nBEGIN { $x = ADD(1,\n  2); $y = z; }\n";
    let pre = preprocess(text, &Options::default()).expect("preprocesses");
    assert_eq!(pre.text.trim(), "BEGIN { $x = (1 + 2); $y = z; }");
    // Past the shortened use, spans still land on the source's text.
    let z_out = pre.text.find('z').expect("z");
    let z_in = text.find('z').expect("z");
    assert_eq!(pre.map.span(Span::new(z_out, z_out + 1)), Span::new(z_in, z_in + 1));
}

#[test]
fn deeply_nested_macros_are_refused_not_overflowing_the_stack() {
    let mut chain = String::from("#define M0 1\n");
    for i in 1..10_000 {
        chain.push_str(&format!("#define M{i} (M{} + 1)\n", i - 1));
    }
    chain.push_str("BEGIN { $x = M9999; }\n");
    let arguments = format!("#define F(x) x\nBEGIN {{ $x = {}1{}; }}\n", "F(".repeat(10_000), ")".repeat(10_000));
    for text in [chain, arguments] {
        let errors = preprocess(&text, &Options::default()).expect_err("too deep");
        assert!(errors[0].message.contains("nested more than 256 levels deep"), "{}", errors[0].message);
        assert!(text[errors[0].span.range()].starts_with(['M', 'F']), "points at the use");
    }
    // A chain within the limit expands.
    let mut chain = String::from("#define M0 1\n");
    for i in 1..200 {
        chain.push_str(&format!("#define M{i} M{}\n", i - 1));
    }
    chain.push_str("BEGIN { $x = M199; }\n");
    assert!(preprocess(&chain, &Options::default()).unwrap().text.contains("$x = 1;"));
}

#[test]
fn included_definitions_take_the_place_of_the_include_line() {
    let dir = files(
        "include-types",
        &[
            ("defs.h", "#ifndef DEFS\n#define DEFS\n#define N 4\n// the record\nstruct rec {\n\tint id;\n\tchar name[N];\n};\nint helper(struct rec *r);\n#endif\n"),
            ("first.h", "enum level { LOW, HIGH };\n"),
        ],
    );
    let options = Options { script_dir: Some(dir.clone()), include_files: vec![dir.join("first.h").display().to_string()], ..Options::default() };
    // After a shebang line, the --include file's definitions come first.
    check_with(
        "#!/usr/bin/env rbpf\n#include \"defs.h\"\nBEGIN { N }\n",
        &options,
        "#!/usr/bin/env rbpf\nenum level { LOW, HIGH }; struct rec { \tint id; \tchar name[4]; };\nBEGIN { 4 }",
    );
    // Spans after the include line map back past it; one inside its
    // definitions maps to the line.
    let text = "#include \"defs.h\"\nBEGIN { x }\n";
    let pre = preprocess(text, &Options { script_dir: Some(dir.clone()), ..Options::default() }).expect("preprocesses");
    let x_out = pre.text.find(" x ").expect("x is there") + 1;
    let x_in = text.find(" x ").expect("x is there") + 1;
    assert_eq!(pre.map.span(Span::new(x_out, x_out + 1)), Span::new(x_in, x_in + 1));
    let id = pre.text.find("id").expect("the struct is there");
    assert_eq!(pre.map.span(Span::new(id, id + 2)), Span::new(0, "#include \"defs.h\"".len()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_quoted_include_is_looked_for_in_the_current_directory_too() {
    let dir = files("include-cwd", &[("script/placeholder", "")]);
    let name = format!("rbpf-cwd-test-{}.h", std::process::id());
    std::fs::write(&name, "#define FROM_CWD 7\n").expect("write in the current directory");
    let options = Options { script_dir: Some(dir.join("script")), ..Options::default() };
    let out = render(&format!("#include \"{name}\"\nBEGIN {{ FROM_CWD }}\n"), &options);
    let _ = std::fs::remove_file(&name);
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(out, "\nBEGIN { 7 }");
}
