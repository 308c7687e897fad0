//! Checker tests of `buf()`, `%r` and `join()`: buffer sizes, where bytes
//! can be read from, and misuse.

use super::{check_error, check_ok, target};
use crate::diagnostic::render_to_string;
use crate::Source;

const RAW_SYSCALLS_FORMAT: &str = "format:\n\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n";

fn buffer_program(src: &str) -> crate::checked::Program {
    let ast = crate::parse(src).unwrap_or_else(|d| panic!("{d:?}"));
    let target = target().with_tracepoint("raw_syscalls", "sys_enter", RAW_SYSCALLS_FORMAT);
    crate::check::check(&ast, &target).unwrap_or_else(|d| panic!("{}", render_to_string(&Source::new("-e", src), &d)))
}

#[test]
fn buffers_are_sized_by_their_length_up_to_the_string_length() {
    let p = buffer_program(
        "BEGIN { @a = buf(\"abc\", 2); @b = buf(\"abc\", 100); $n = 1; @c = buf(\"abc\", $n); @d[buf(\"x\", 0)] = 1; }
         t:raw_syscalls:sys_enter { @e = buf(args.args); @f = buf(args->args, 8); @g = buf(args.id, 3); }",
    );
    let types: Vec<String> = p.maps.iter().map(|m| format!("{}{:?} {:?}", m.name, m.key, m.value)).collect();
    assert_eq!(
        types,
        [
            "@a[] Plain(Buf { size: 2 })",
            "@b[] Plain(Buf { size: 64 })",
            "@c[] Plain(Buf { size: 64 })",
            "@d[Buf { size: 0 }] Plain(Int { bits: 64, signed: true })",
            "@e[] Plain(Buf { size: 48 })",
            "@f[] Plain(Buf { size: 8 })",
            "@g[] Plain(Buf { size: 3 })",
        ]
    );
}

#[test]
fn printf_buffer_conversions_take_buffers_only() {
    let p = check_ok("BEGIN { printf(\"%r %rx %rh %5r|%y\\n\", buf(\"a\", 1), buf(\"b\", 1), buf(\"c\", 1), buf(\"d\", 1)); }");
    assert_eq!(p.printfs[0].args.len(), 4);
    check_error(
        "BEGIN { printf(\"%r %s\\n\", \"abc\", buf(\"abc\", 2)); }",
        "
error: `%r` needs a buffer, but this is string[4]
  ┌─ -e:1:27
  │
1 │ BEGIN { printf(\"%r %s\\n\", \"abc\", buf(\"abc\", 2)); }
  │                ---------  ^^^^^ expected a buffer
  │                │
  │                the format string
  │
  = `%r` prints what `buf()` returns

error: `%s` needs a string, but this is buffer[2]
  ┌─ -e:1:34
  │
1 │ BEGIN { printf(\"%r %s\\n\", \"abc\", buf(\"abc\", 2)); }
  │                ---------         ^^^^^^^^^^^^^ expected a string
  │                │
  │                the format string
  │
  = print a buffer with `%r`, `%rx` or `%rh`",
    );
}

#[test]
fn buffers_need_a_length_unless_read_from_an_array() {
    check_error(
        "t:sched:sched_switch { printf(\"%r\\n\", buf(args.prev_comm)); }",
        "
error: `buf()` needs a length to read from string[16]
  ┌─ -e:1:43
  │
1 │ t:sched:sched_switch { printf(\"%r\\n\", buf(args.prev_comm)); }
  │                                           ^^^^^^^^^^^^^^ no length known
  │
  = only arrays have a known length: write `buf(p, n)`",
    );
    check_error(
        "BEGIN { @b = buf(\"abc\", -1); }",
        "
error: the length of `buf()` cannot be negative
  ┌─ -e:1:25
  │
1 │ BEGIN { @b = buf(\"abc\", -1); }
  │                         ^^ a negative length",
    );
    check_error(
        "BEGIN { @b = buf(buf(\"abc\", 1), 1); }",
        "
error: `buf()` reads from an address, an array or a string, but this is buffer[1]
  ┌─ -e:1:18
  │
1 │ BEGIN { @b = buf(buf(\"abc\", 1), 1); }
  │                  ^^^^^^^^^^^^^ nothing to read bytes from",
    );
}

#[test]
fn join_takes_a_pointer_and_a_literal_separator() {
    let p = check_ok("t:syscalls:sys_enter_execve { join(args.argv); join(args->argv, \",\"); }");
    assert_eq!(p.join_separators, [" ", ","]);
    check_error(
        "t:syscalls:sys_enter_execve { $s = \",\"; join(args.argv, $s); $x = join(args.argv); join(\"abc\"); }",
        "
error: `join()` takes its separator as a string literal
  ┌─ -e:1:57
  │
1 │ t:syscalls:sys_enter_execve { $s = \",\"; join(args.argv, $s); $x = join(args.argv); join(\"abc\"); }
  │                                                         ^^ not a string literal

error: `join()` has no value
  ┌─ -e:1:67
  │
1 │ t:syscalls:sys_enter_execve { $s = \",\"; join(args.argv, $s); $x = join(args.argv); join(\"abc\"); }
  │                                                                   ^^^^^^^^^^^^^^^ use it as a statement

error: `join()` needs a pointer to an array of strings, but this is string[4]
  ┌─ -e:1:89
  │
1 │ t:syscalls:sys_enter_execve { $s = \",\"; join(args.argv, $s); $x = join(args.argv); join(\"abc\"); }
  │                                                                                         ^^^^^ expected a pointer to an array of strings",
    );
}

#[test]
fn buffers_in_one_map_have_one_size() {
    check_ok("BEGIN { $b = buf(\"ab\", 1); $b = buf(\"abc\", 3); @v = $b; @v = buf(\"xyz\", 3); }");
    check_error(
        "BEGIN { @k[buf(\"ab\", 1)] = 1; @v = buf(\"abc\", 3); @v = buf(\"ab\", 2); @k[buf(\"abc\", 3)] = 2; }",
        "
error: map `@v` already holds a buffer[3] value, so it cannot hold a buffer[2] value
  ┌─ -e:1:56
  │
1 │ BEGIN { @k[buf(\"ab\", 1)] = 1; @v = buf(\"abc\", 3); @v = buf(\"ab\", 2); @k[buf(\"abc\", 3)] = 2; }
  │                                    -------------       ^^^^^^^^^^^^ conflicting value
  │                                    │
  │                                    its value is set here

error: map `@k` is used with key [buffer[3]] here, but with key [buffer[1]] before
  ┌─ -e:1:70
  │
1 │ BEGIN { @k[buf(\"ab\", 1)] = 1; @v = buf(\"abc\", 3); @v = buf(\"ab\", 2); @k[buf(\"abc\", 3)] = 2; }
  │         ----------------                                             ^^^^^^^^^^^^^^^^^ conflicting key type
  │         │
  │         first used here
  │
  = a map's keys must have the same types everywhere",
    );
}

#[test]
fn buffers_are_not_ternary_branches() {
    check_error(
        "BEGIN { $x = 1 ? buf(\"a\", 1) : buf(\"b\", 1); }",
        "
error: `?:` cannot choose a buffer
  ┌─ -e:1:18
  │
1 │ BEGIN { $x = 1 ? buf(\"a\", 1) : buf(\"b\", 1); }
  │                  ^^^^^^^^^^^ this is buffer[1]
  │
  = as in bpftrace, the branches must be integers or strings",
    );
}

#[test]
fn buffers_compare_with_buffers_by_equality_only() {
    super::marks::check(
        r#"
BEGIN { $a = buf("abc", 3); $b = buf(pton("::1")); @x = ($a == $b) + ($a != buf("ab", 2)) + ((1, $a) == (1, $b)); }
BEGIN { $a = buf("abc", 3); @y = $a < buf("abd", 3); }
//                               ^^ error: `<` cannot compare buffers
BEGIN { $a = buf("abc", 3); @z = $a == "abc"; }
//                                     ^^^^^ error: cannot compare string[4] with a buffer
BEGIN { @w = 1 != buf("abc", 3); }
//           ^ error: cannot compare int64 with a buffer
"#,
    );
}

#[test]
fn ntop_takes_addresses_held_by_value() {
    super::marks::check(
        r#"
BEGIN { @a = ntop(pton("127.0.0.1")); @b = ntop(pton("::1")); @c = ntop(10, pton("::1")); }
"#,
    );
    let p = check_ok("BEGIN { $a = ntop(pton(\"::1\")); $b = ntop(pton(\"1.2.3.4\")); }");
    let text = format!("{:?}", p.probes[0].body);
    assert!(text.contains("Int(10)") && text.contains("Int(2)"), "the family follows the size: {text}");
}
