//! Checker tests with their expectations marked inline, under the code
//! they concern, as rust-analyzer marks them:
//!
//! ```text
//! BEGIN { @x = printf("a"); }
//! //           ^^^^^^^^^^^ error: `printf()` has no value
//! ```
//!
//! A mark line is a `//` comment holding carets; it points at the columns
//! of the code line above it and says the severity and message of one
//! diagnostic there. The checker must report exactly the marked
//! diagnostics, no more. A test is its program, so adding a builtin or a
//! function breaks none of them.

use super::target;
use crate::Severity;

/// Checks `fixture` (code lines and mark lines) and compares the
/// diagnostics with the marks.
#[track_caller]
pub(super) fn check(fixture: &str) {
    let mut src = String::new();
    let mut expected = Vec::new();
    let mut line_start = 0;
    for line in fixture.trim_matches('\n').lines() {
        let is_mark = line.trim_start().starts_with("//") && line.contains('^');
        if !is_mark {
            line_start = src.len();
            src.push_str(line);
            src.push('\n');
            continue;
        }
        let first = line.find('^').unwrap_or(0);
        let carets = line[first..].chars().take_while(|c| *c == '^').count();
        let (start, end) = (line_start + first, line_start + first + carets);
        let text = line[first + carets..].trim();
        expected.push(format!("{start}..{end} {text}"));
    }
    let ast = crate::parse(&src).unwrap_or_else(|d| panic!("does not parse: {d:?}"));
    let actual = match super::super::check(&ast, &target()) {
        Ok(program) => program.warnings,
        Err(diags) => diags,
    };
    let actual: Vec<String> = actual
        .iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            format!("{}..{} {severity}: {}", d.span.start, d.span.end, d.message)
        })
        .collect();
    expected.sort();
    let mut sorted = actual.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "\n{src}");
}

#[test]
fn statements_have_no_value() {
    check(
        r#"
BEGIN { @x = printf("a"); $y = exit(); }
//           ^^^^^^^^^^^ error: `printf()` has no value
//                             ^^^^^^ error: `exit()` has no value
"#,
    );
}

#[test]
fn aggregations_are_only_assigned_to_maps() {
    check(
        r#"
BEGIN { count(); @x = sum(1) + 1; }
//      ^^^^^^^ error: `count()` must be assigned to a map
//                    ^^^^^^ error: `sum()` must be assigned to a map
"#,
    );
}

#[test]
fn unsafe_functions_need_the_flag_after_their_arguments_are_counted() {
    check(
        r#"
BEGIN { system("ls"); signal(); }
//      ^^^^^^ error: `system()` is unsafe
//                    ^^^^^^ error: `signal()` takes 1 argument, but 0 were given
"#,
    );
}

#[test]
fn pure_functions_check_their_arguments_kinds() {
    check(
        r#"
BEGIN { @a = strlen(1); @b = bswap("x"); @c = strncmp("a", "b", 300); @d = strcontains("a", 2); }
//                  ^ error: `strlen()` needs a string, but this is int64
//                                 ^^^ error: `bswap()` needs an integer, but this is string[2]
//                                                              ^^^ error: the length of `strncmp()` must be an integer literal from 0 to 200
//                                                                                          ^ error: `strcontains()` needs a string, but this is int64
"#,
    );
}

#[test]
fn probe_kinds_say_what_their_context_offers() {
    check(
        r#"
BEGIN { @a = arg0; @b = retval; @c = func; }
//           ^^^^ error: `arg0` is not available in `BEGIN`
//                      ^^^^^^ error: `retval` is not available in `BEGIN`
//                                   ^^^^ error: `func` is not known in `BEGIN`
"#,
    );
    check(
        r#"
uprobe:/bin/sh:main { @a = arg6; @[func, arg5] = count(); }
//                         ^^^^ error: `arg6` is not in a register
"#,
    );
}
