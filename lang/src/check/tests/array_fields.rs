//! Checker tests of tracepoint array fields: elements by constant index,
//! and byte arrays holding addresses for `ntop()`.

use crate::checked::{ExprKind, StmtKind};
use crate::diagnostic::render_to_string;
use crate::target::{FakeTarget, FieldKind};
use crate::types::Type;
use crate::Source;

const RAW_SYSCALLS: &str = "format:
\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;
";
const SOCK: &str = "format:
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__s16 deltas[3];\toffset:56;\tsize:6;\tsigned:1;
";

fn run(src: &str) -> Result<crate::checked::Program, String> {
    let target = FakeTarget::default()
        .with_tracepoint("raw_syscalls", "sys_enter", RAW_SYSCALLS)
        .with_tracepoint("sock", "inet_sock_set_state", SOCK);
    let ast = crate::parse(src).map_err(|d| render_to_string(&Source::new("-e", src), &d))?;
    crate::check(&ast, &target).map_err(|d| render_to_string(&Source::new("-e", src), &d))
}

/// The value assigned by the program's first statement, `@x = VALUE`.
fn assigned(src: &str) -> (ExprKind, Type) {
    let p = run(src).unwrap_or_else(|e| panic!("{e}"));
    let StmtKind::MapUpdate { update: crate::checked::MapUpdate::Set(e), .. } = &p.probes[0].body[0].kind else {
        panic!("not an assignment: {:?}", p.probes[0].body[0]);
    };
    (e.kind.clone(), e.ty.clone())
}

#[test]
fn an_element_is_an_integer_of_the_element_type_at_its_offset() {
    let (kind, ty) = assigned("t:raw_syscalls:sys_enter { @x = args->args[2]; }");
    let ExprKind::TracepointField(f) = kind else { panic!("{kind:?}") };
    assert_eq!((f.offset, f.size, f.signed, f.kind), (32, 8, false, FieldKind::Int));
    assert_eq!(ty, Type::Int { bits: 64, signed: false });
    let (kind, ty) = assigned("t:sock:inet_sock_set_state { @x = args.deltas[1]; }");
    let ExprKind::TracepointField(f) = kind else { panic!("{kind:?}") };
    assert_eq!((f.offset, f.size, f.signed), (58, 2, true));
    assert_eq!(ty, Type::Int { bits: 16, signed: true });
    let (_, ty) = assigned("t:sock:inet_sock_set_state { @x = args.saddr[3]; }");
    assert_eq!(ty, Type::Int { bits: 8, signed: false });
}

#[test]
fn an_index_is_a_constant_inside_the_array() {
    let error = run("t:raw_syscalls:sys_enter { @x = args->args[6]; }").unwrap_err();
    assert!(error.contains("the index of `args` (unsigned long[6]) must be an integer literal from 0 to 5"), "{error}");
    assert!(error.contains("-e:1:44"), "{error}");
    let error = run("t:raw_syscalls:sys_enter { $i = 1; @x = args->args[$i]; }").unwrap_err();
    assert!(error.contains("must be an integer literal from 0 to 5"), "{error}");
    let error = run("t:raw_syscalls:sys_enter { @x = args->id[0]; }").unwrap_err();
    assert!(error.contains("`id` (long) is not an array"), "{error}");
    let error = run("t:raw_syscalls:sys_enter { @x = args->nope[0]; }").unwrap_err();
    assert!(error.contains("has no field `nope`"), "{error}");
}

#[test]
fn ntop_takes_the_bytes_of_an_address_array_and_its_family_from_the_size() {
    let family = |src: &str| {
        let (kind, ty) = assigned(src);
        assert_eq!(ty, Type::Inet);
        let ExprKind::Ntop { af, addr } = kind else { panic!("{kind:?}") };
        assert!(matches!(addr.kind, ExprKind::TracepointField(_)), "{addr:?}");
        af.kind
    };
    assert_eq!(family("t:sock:inet_sock_set_state { @x = ntop(args->saddr); }"), ExprKind::Int(2));
    assert_eq!(family("t:sock:inet_sock_set_state { @x = ntop(args->saddr_v6); }"), ExprKind::Int(10));
    assert_eq!(family("t:sock:inet_sock_set_state { @x = ntop(10, args->saddr_v6); }"), ExprKind::Int(10));
    // An array that is not 4 or 16 bytes is no address.
    let error = run("t:sock:inet_sock_set_state { @x = ntop(args->deltas); }").unwrap_err();
    assert!(error.contains("cannot be read"), "{error}");
}
