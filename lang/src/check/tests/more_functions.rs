//! `pton`, `strerror`, `cgroup_path`, `override`, `path`, tuple
//! comparisons and `?:` between statements: what they accept and how they
//! refuse the rest.

use super::marks::check;
use super::{kernel_target, run_on};
use crate::checked::{ExprKind, StmtKind};
use crate::types::Type;

#[test]
fn pton_takes_an_address_literal() {
    check(
        r#"
BEGIN { $s = "1.2.3.4"; @a = pton("1.2.3"); @b = pton($s); @c = pton("::1"); }
//                                ^^^^^^^ error: `pton()` expects a valid IPv4/IPv6 address, got 1.2.3
//                                                    ^^ error: `pton()` takes an IPv4 or IPv6 address as a string literal
"#,
    );
}

#[test]
fn pton_is_an_array_of_the_address_bytes() {
    let p = run_on(&kernel_target(), r#"BEGIN { @a = pton("10.0.0.1"); @b = pton("fe80::1"); }"#).unwrap();
    let types: Vec<String> = p.maps.iter().map(|m| format!("{:?}", m.value)).collect();
    assert!(types[0].contains("len: 4"), "{}", types[0]);
    assert!(types[1].contains("len: 16"), "{}", types[1]);
}

#[test]
fn cgroupid_is_the_id_of_the_path_when_compiled() {
    let ast = crate::parse(r#"BEGIN { @a = cgroupid("/sys/fs/cgroup/unified/app"); @b = cgroup == cgroupid("/sys/fs/cgroup/unified/app"); }"#).unwrap();
    let p = super::super::check(&ast, &super::target()).unwrap();
    let text = format!("{p:?}");
    assert_eq!(text.matches("Int(7351)").count(), 2, "{text}");
    check(
        r#"
BEGIN { $p = "/sys/fs/cgroup/unified/app"; @a = cgroupid("/nonexistent"); @b = cgroupid($p); @c = cgroupid(); }
//                                                       ^^^^^^^^^^^^^^ error: Failed to get `cgroupid` for path: "/nonexistent": No such file or directory
//                                                                                      ^^ error: `cgroupid()` takes a path as a string literal
//                                                                                                ^^^^^^^^ error: `cgroupid()` takes 1 argument, but 0 were given
"#,
    );
}

#[test]
fn strerror_and_cgroup_path_take_numbers_and_a_literal_filter() {
    check(
        r#"
BEGIN { $f = "cpu"; @a = strerror("x"); @b = cgroup_path(cgroup, $f); @c = cgroup_path("x"); @d = cgroup_path(cgroup, "c*"); }
//                                ^^^ error: `strerror()` needs an integer, but this is string[2]
//                                                               ^^ error: `cgroup_path()` takes its filter as a string literal
//                                                                                     ^^^ error: `cgroup_path()` needs an integer, but this is string[2]
"#,
    );
}

#[test]
fn cgroup_path_keeps_its_filter_in_its_type() {
    let p = run_on(&kernel_target(), r#"BEGIN { printf("%s %s %s", cgroup_path(cgroup, "uni*"), cgroup_path(1), strerror(2)); }"#).unwrap();
    let StmtKind::Printf { args, .. } = &p.probes[0].body[0].kind else { panic!("{:?}", p.probes[0].body) };
    let types: Vec<&Type> = args.iter().map(|a| &a.ty).collect();
    assert_eq!(types, [&Type::CgroupPath { filter: Some("uni*".into()) }, &Type::CgroupPath { filter: None }, &Type::Errno]);
}

#[test]
fn override_is_for_kprobes_on_entry_and_unsafe() {
    check(
        r#"
tracepoint:syscalls:sys_enter_execve { override(1); }
//                                     ^^^^^^^^ error: `override()` is unsafe
"#,
    );
    let t = kernel_target();
    let options = crate::check::Options { allow_unsafe: true, ..Default::default() };
    let checked = |src: &str| crate::check::check_with(&crate::parse(src).unwrap(), &t, &options);
    let p = checked("kprobe:vfs_read { override(-22); }").unwrap();
    assert!(matches!(p.probes[0].body[0].kind, StmtKind::Override(_)));
    for src in ["kretprobe:vfs_read { override(0); }", "tracepoint:syscalls:sys_enter_execve { override(0); }", "BEGIN { override(0); }"] {
        let errors = checked(src).unwrap_err();
        assert_eq!(errors[0].message, "override can only be used with kprobes.", "{src}");
        let at = src.find("override").unwrap() as u32;
        assert_eq!((errors[0].span.start, errors[0].span.end), (at, at + "override(0)".len() as u32), "{src}");
    }
    assert!(checked(r#"kprobe:vfs_read { override("x"); }"#).is_err());
}

#[test]
fn path_is_for_fentry_and_fexit() {
    check(
        r#"
tracepoint:syscalls:sys_enter_execve { printf("%s", path(args.filename)); }
//                                                  ^^^^^^^^^^^^^^^^^^^ error: The path function can only be used with 'kfunc', 'kretfunc', 'iter' probes
"#,
    );
    let p = run_on(&kernel_target(), "fentry:vfs_read { @[path(args.file)] = count(); }").unwrap();
    assert!(p.maps[0].key[0].is_str());
    // A `struct path` member is passed by its address, as bpftrace's
    // `path(args->filp->f_path)`: no read of the struct itself.
    let src = "struct path { long mnt; long dentry; }; struct file { long mode; struct path f_path; }; \
               fentry:vfs_read { @[path(args->file->f_path)] = count(); }";
    let p = run_on(&kernel_target(), src).unwrap();
    let StmtKind::MapUpdate { keys, .. } = &p.probes[0].body[0].kind else { panic!() };
    let text = format!("{keys:?}");
    assert!(text.contains("Retype") && !text.contains("Load"), "{text}");
}

#[test]
fn tuples_compare_with_equality_only_and_element_by_element() {
    check(
        r#"
BEGIN { @a = (1, "a") == (1, "ab"); @b = (1, "a") < (1, "b"); @c = (1, "a") == (1, 2); @d = (1, 2) == (1, 2, 3); @e = (1, 2) == 1; }
//                                       ^^^^^^^^ error: `<` needs an integer, but this is (int64,string[2])
//                                                                 ^^^^^^^^^^^^^^^^^^ error: cannot compare tuple elements of types string[2] and int64
//                                                                                          ^^^^^^^^^^^^^^^^^^^ error: cannot compare tuples of 2 and 3 elements
//                                                                                                                              ^ error: cannot compare int64 with a tuple
"#,
    );
    let p = run_on(&kernel_target(), r#"BEGIN { $t = (1, (comm, 2)); @ = $t != (1, ("sh", 2)); }"#).unwrap();
    let StmtKind::MapUpdate { update: crate::checked::MapUpdate::Set(e), .. } = &p.probes[0].body[1].kind else { panic!() };
    let text = format!("{e:?}");
    assert!(matches!(e.kind, ExprKind::Binary { .. }) && text.contains("StrEq") && text.contains("TupleIndex"), "{text}");
}

#[test]
fn a_conditional_between_statements_is_an_if() {
    check(
        r#"
BEGIN { pid > 1 ? printf("a") : exit(); pid ? printf("b") : 2; }
//                                                          ^ error: the branches of `?:` must both have a value or both have none
"#,
    );
    let p = run_on(&kernel_target(), r#"BEGIN { pid > 1 ? printf("a") : (pid > 2 ? exit() : printf("b")); }"#).unwrap();
    let StmtKind::If { then, else_, .. } = &p.probes[0].body[0].kind else { panic!("{:?}", p.probes[0].body) };
    assert!(matches!(then[0].kind, StmtKind::Printf { .. }));
    assert!(matches!(else_[0].kind, StmtKind::If { .. }));
}

#[test]
fn unroll_counts_are_literals_or_positional_parameters_from_1_to_100() {
    check(
        r#"
BEGIN { unroll(0) { } unroll(101) { } unroll(-1) { } unroll(pid) { } unroll($1) { } unroll($#) { } unroll($2) { } }
//             ^ error: unroll minimum value is 1
//                           ^^^ error: unroll maximum value is 100
//                                           ^^ error: unroll minimum value is 1
//                                                          ^^^ error: syntax error, unexpected builtin, expecting $# or - or positional parameter or integer
//                                                                          ^^ error: unroll minimum value is 1
//                                                                                         ^^ error: unroll minimum value is 1
//                                                                                                        ^^ error: unroll minimum value is 1
"#,
    );
    // bpftrace 0.17's grammar takes no expression there; a parameter that
    // is no number is refused in its words.
    let options = crate::check::Options { params: vec!["abc".into()], ..Default::default() };
    let refused = |src: &str| {
        let diags = crate::check::check_with(&crate::parse(src).unwrap(), &kernel_target(), &options).unwrap_err();
        diags.iter().map(|d| d.message.clone()).collect::<Vec<_>>()
    };
    assert_eq!(refused("BEGIN { unroll($1) { } }"), [r#"$1 used numerically but given "abc""#]);
    assert_eq!(refused("BEGIN { unroll(1+1) { } }"), ["syntax error, unexpected +, expecting )"]);
    let options = crate::check::Options { params: vec!["3".into(), "x".into()], ..Default::default() };
    let p = crate::check::check_with(&crate::parse("BEGIN { unroll($1) { } unroll($#) { } }").unwrap(), &kernel_target(), &options).unwrap();
    let counts: Vec<u32> = p.probes[0].body.iter().filter_map(|s| match s.kind { StmtKind::Unroll { count, .. } => Some(count), _ => None }).collect();
    assert_eq!(counts, [3, 2]);
    let p = crate::check::check_with(&crate::parse("BEGIN { unroll($2) { } }").unwrap(), &kernel_target(), &options);
    assert!(p.is_err());
}

#[test]
fn macaddr_takes_a_pointer_or_a_six_byte_array() {
    check(
        r#"
BEGIN { @a = macaddr(comm); @b = macaddr(curtask); }
//           ^^^^^^^^^^^^^ error: macaddr() argument must be 6 bytes in size
"#,
    );
}

#[test]
fn unwatch_takes_an_address_and_is_a_statement() {
    check(
        r#"
BEGIN { unwatch(0x1234); $a = (uint64)8; unwatch($a); unwatch("x"); $v = unwatch(1); unwatch(); }
//                                                            ^^^ error: `unwatch()` needs an integer, but this is string[2]
//                                                                       ^^^^^^^^^^ error: `unwatch()` has no value
//                                                                                   ^^^^^^^ error: `unwatch()` takes 1 argument, but 0 were given
"#,
    );
}

/// A kernel with a function passed a socket buffer.
fn skb_target() -> crate::target::FakeTarget {
    kernel_target()
        .with_kernel_definitions("struct sk_buff { unsigned int len; unsigned int data_len; }; struct sock { int x; };")
        .with_kernel_function("ip_finish_output2", &[("sk", "struct sock *", 8, false), ("skb", "struct sk_buff *", 8, false)], Some(("int", 4, true)))
}

#[test]
fn skboutput_names_its_file_and_is_a_u32() {
    let p = run_on(
        &skb_target(),
        r#"fentry:ip_finish_output2 { $r = skboutput("a.pcap", args.skb, args.skb->len, 0); @r = skboutput("b.pcap", args.skb, 64, 14); @s = skboutput("a.pcap", args.skb, 8, 0); }"#,
    )
    .unwrap();
    assert_eq!(p.skb_outputs, ["a.pcap", "b.pcap"]);
    let text = format!("{:?}", p.probes[0].body);
    assert_eq!(text.matches("function: \"skboutput\"").count(), 3, "{text}");
    assert!(p.maps.iter().all(|m| format!("{:?}", m.value).contains("bits: 32, signed: false")), "{:?}", p.maps);
}

#[test]
fn skboutput_refuses_what_is_not_a_socket_buffer_and_other_probes() {
    let errors = |src: &str| run_on(&skb_target(), src).expect_err("refused");
    let text = errors(r#"fentry:ip_finish_output2 { $r = skboutput("a.pcap", args.sk, 10, 0); }"#);
    assert!(text.contains("error: `skboutput()` needs a `struct sk_buff *`, but this is struct sock *"), "{text}");
    assert!(text.contains("-e:1:53"), "{text}");
    let text = errors(r#"fentry:ip_finish_output2 { $r = skboutput("a.pcap", 0, 10, 0); }"#);
    assert!(text.contains("needs a `struct sk_buff *`"), "{text}");
    let text = errors(r#"fentry:ip_finish_output2 { $p = "a.pcap"; $r = skboutput($p, args.skb, 10, 0); }"#);
    assert!(text.contains("error: `skboutput()` takes the pcap file's path as a string literal"), "{text}");
    let text = errors(r#"kprobe:ip_finish_output2 { $r = skboutput("a.pcap", arg1, 10, 0); }"#);
    assert!(text.contains("error: `skboutput()` is not available in `kprobe:ip_finish_output2`"), "{text}");
    let text = errors(r#"fentry:ip_finish_output2 { $r = skboutput("a.pcap", args.skb, "x", 0); }"#);
    assert!(text.contains("error: the length of `skboutput()` needs an integer"), "{text}");
}

/// `func` in a uprobe on a C++ function: its name demangled once, here,
/// unless the options or the config block say otherwise; its address
/// (printed as `usym()` prints it) under BPFTRACE_NO_USER_SYMBOLS.
#[test]
fn func_in_a_uprobe_names_a_cpp_function_demangled() {
    let target = kernel_target().with_user_functions("/bin/cpp", &["_ZN6shapes4leafEi"]);
    let func = |src: &str, options: &crate::check::Options| {
        let ast = crate::parse(src).unwrap();
        let p = crate::check::check_with(&ast, &target, options).unwrap();
        let StmtKind::MapUpdate { keys, .. } = &p.probes[0].body[0].kind else { panic!() };
        keys[0].kind.clone()
    };
    let src = "uretprobe:/bin/cpp:_ZN6shapes4leafEi { @[func] = count(); }";
    let default = crate::check::Options::default();
    assert_eq!(func(src, &default), ExprKind::Str("shapes::leaf(int)".into()));
    let mangled = ExprKind::Str("_ZN6shapes4leafEi".into());
    assert_eq!(func(src, &crate::check::Options { cpp_demangle: Some(false), ..Default::default() }), mangled);
    assert_eq!(func(&format!("config = {{ cpp_demangle = 0 }} {src}"), &default), mangled);
    // The environment wins over the config block.
    let on = crate::check::Options { cpp_demangle: Some(true), ..Default::default() };
    assert_eq!(func(&format!("config = {{ cpp_demangle = 0 }} {src}"), &on), ExprKind::Str("shapes::leaf(int)".into()));
    let hex = crate::check::Options { no_user_symbols: true, ..Default::default() };
    let entry = func("uprobe:/bin/cpp:_ZN6shapes4leafEi { @[func] = count(); }", &hex);
    assert!(matches!(entry, ExprKind::Call { function: "usym", .. }), "{entry:?}");
}
