//! `kstack` and `ustack`: their modes and frame limits, and the type a
//! map keyed by them gets.

use super::marks::check;
use super::target;
use crate::types::{StackMode, StackType, Type, MAX_STACK_FRAMES};

/// The key types of the program's first map.
fn first_key(src: &str) -> Vec<Type> {
    let ast = crate::parse(src).expect("parses");
    let program = crate::check::check(&ast, &target()).expect("checks");
    program.maps[0].key.clone()
}

#[test]
fn stacks_alone_keep_every_frame_in_bpftraces_mode() {
    let stack = |user| Type::Stack(StackType { user, mode: StackMode::Bpftrace, limit: MAX_STACK_FRAMES });
    assert_eq!(first_key("profile:hz:99 { @[kstack] = count(); }"), [stack(false)]);
    assert_eq!(first_key("profile:hz:99 { @[ustack, kstack()] = count(); }"), [stack(true), stack(false)]);
}

#[test]
fn a_mode_then_a_limit() {
    let stack = |mode, limit| Type::Stack(StackType { user: true, mode, limit });
    assert_eq!(first_key("profile:hz:99 { @[ustack(perf)] = count(); }"), [stack(StackMode::Perf, MAX_STACK_FRAMES)]);
    assert_eq!(first_key("profile:hz:99 { @[ustack(3)] = count(); }"), [stack(StackMode::Bpftrace, 3)]);
    assert_eq!(first_key("profile:hz:99 { @[ustack(perf, 8)] = count(); }"), [stack(StackMode::Perf, 8)]);
    assert_eq!(first_key("profile:hz:99 { @[ustack(bpftrace, 1)] = count(); }"), [stack(StackMode::Bpftrace, 1)]);
}

#[test]
fn stacks_print_with_percent_s() {
    check(r#"profile:hz:99 { printf("%s %s\n", kstack, ustack(perf, 2)); print(kstack(1)); }"#);
}

#[test]
fn bad_modes_and_limits() {
    check(
        r#"
profile:hz:99 { @[kstack(raw)] = count(); @[ustack(0)] = count(); }
//                       ^^^ error: unknown stack mode `raw`
//                                                 ^ error: the frame limit of `ustack()` must be an integer literal from 1 to 127
"#,
    );
    check(
        r#"
profile:hz:99 { @[kstack(perf, 128)] = count(); @[ustack(perf, 2, 3)] = count(); }
//                             ^^^ error: the frame limit of `kstack()` must be an integer literal from 1 to 127
//                                                       ^^^^^^^^^^ error: `ustack()` takes 0 to 2 arguments, but 3 were given
"#,
    );
    check(
        r#"
profile:hz:99 { @[kstack(2, perf)] = count(); $n = 3; @[kstack($n)] = count(); }
//                          ^^^^ error: `kstack()` takes a mode, then a frame limit
//                                                             ^^ error: the frame limit of `kstack()` must be an integer literal from 1 to 127
"#,
    );
}

#[test]
fn stacks_are_not_numbers() {
    check(
        r#"
profile:hz:99 { $x = kstack + 1; }
//                   ^^^^^^ error: `+` needs an integer, but this is kstack
"#,
    );
}

#[test]
fn ksym_takes_an_address() {
    check("profile:hz:99 { @[ksym(0xffffffff81000000)] = count(); }");
    check(
        r#"
profile:hz:99 { @[ksym("f")] = count(); }
//                     ^^^ error: `ksym()` needs an integer, but this is string[2]
"#,
    );
}

#[test]
fn no_stack_in_a_loop_over_a_map() {
    check(
        r#"
profile:hz:99 { @m[1] = 1; for ($kv : @m) { @s[kstack] = count(); @u[ustack(2)] = count(); } }
//                                             ^^^^^^ error: `kstack` is not available inside a `for` loop over a map
//                                                                   ^^^^^^^^^ error: `ustack` is not available inside a `for` loop over a map
"#,
    );
}

#[test]
fn usym_takes_an_address() {
    assert_eq!(first_key("profile:hz:99 { @[usym(reg(\"ip\"))] = count(); }"), [Type::Usym]);
    check(
        r#"
uprobe:/bin/sh:main { @[usym("f")] = count(); }
//                           ^^^ error: `usym()` needs an integer, but this is string[2]
"#,
    );
}

#[test]
fn kaddr_is_the_address_of_a_kernel_symbol() {
    let ast = crate::parse(r#"BEGIN { $a = kaddr("vfs_read"); }"#).expect("parses");
    let program = crate::check::check(&ast, &target()).expect("checks");
    let text = format!("{program:?}");
    assert!(text.contains(&format!("Int({})", 0xffffffff81002000u64)), "{text}");
    check(
        r#"
BEGIN { @a = kaddr("no_such_function"); @b = kaddr(1); $n = "vfs_read"; @c = kaddr($n); }
//                 ^^^^^^^^^^^^^^^^^^ error: unknown kernel symbol `no_such_function`
//                                                 ^ error: `kaddr()` takes a name as a string literal
//                                                                                 ^^ error: `kaddr()` takes a name as a string literal
"#,
    );
}

#[test]
fn uaddr_is_a_pointer_sized_as_its_symbol() {
    check(r#"usdt:/bin/app:app:req { @a = *uaddr("flag"); @b = *uaddr("table"); }"#);
    check(
        r#"
usdt:/bin/app:app:req { @a = uaddr("missing"); }
//                                 ^^^^^^^^^ error: unknown symbol `missing`
BEGIN { @b = uaddr("flag"); }
//           ^^^^^^^^^^^^^ error: `uaddr()` is not available in `BEGIN`
"#,
    );
}

#[test]
fn reg_reads_registers_by_bpftraces_names() {
    check(r#"profile:hz:99 { @[reg("ip"), reg("sp")] = count(); } usdt:/bin/app:app:req { @r = reg("r15") + reg("ss"); }"#);
    check(
        r#"
profile:hz:99 { @[reg("rip")] = count(); }
//                    ^^^^^ error: unknown register `rip`
tracepoint:syscalls:sys_enter_execve { @r = reg("ip"); }
//                                          ^^^^^^^^^ error: `reg()` is not available in `tracepoint:syscalls:sys_enter_execve`
"#,
    );
    check(
        r#"
interval:ms:10 { @m[1] = 2; for ($kv : @m) { @r = reg("ip"); } @s = reg(1); }
//                                                ^^^^^^^^^ error: `reg()` is not available inside a `for` loop over a map
//                                                                      ^ error: `reg()` takes a name as a string literal
"#,
    );
}

#[test]
fn func_at_an_address_is_the_symbol_hit() {
    assert_eq!(first_key("uprobe:/bin/sh:0x1040 { @[func] = count(); }"), [Type::Usym]);
    assert_eq!(first_key("uprobe:/bin/sh:main { @[func] = count(); }"), [Type::Str { size: 64 }]);
}
