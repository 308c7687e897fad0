//! Checker tests of tracepoint pointer fields typed from their format
//! file's C text: `*p`, `p[i]` and `p->f` through pointers to integers,
//! `char`, typedefs the kernel's BTF defines, structs and pointers; and
//! `++`/`--` moving a pointer by its pointee's size.

use std::rc::Rc;

use crate::checked::{Expr, ExprKind, MapUpdate, StmtKind};
use crate::ctypes::{AddrSpace, CType, Member, Record, RecordKind};
use crate::diagnostic::render_to_string;
use crate::types::Type;
use crate::target::FakeTarget;
use crate::Source;

/// The format files' field lines, as this machine's Linux 6.18 has them.
const FORMATS: &[(&str, &str)] = &[
    ("sys_enter_execve", "\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:const char *const * envp;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_writev", "\tfield:unsigned long fd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const struct iovec * vec;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_sendfile64", "\tfield:loff_t * offset;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:size_t count;\toffset:40;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_getresuid", "\tfield:uid_t * ruidp;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_getgroups", "\tfield:gid_t * grouplist;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_rt_sigprocmask", "\tfield:int how;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:sigset_t * nset;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_io_submit", "\tfield:long nr;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:struct iocb * * iocbpp;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_getcpu", "\tfield:unsigned * cpup;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("sys_enter_select", "\tfield:unsigned int * a;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const unsigned long * b;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:size_t * c;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:char * * d;\toffset:40;\tsize:8;\tsigned:0;\n\tfield:void * e;\toffset:48;\tsize:8;\tsigned:0;\n\tfield:no_such_t * f;\toffset:56;\tsize:8;\tsigned:0;\n\tfield:u32 * g;\toffset:64;\tsize:8;\tsigned:0;\n"),
];

/// The kernel types the fake's BTF describes (their real definitions).
const KERNEL_TYPES: &str = "typedef long long loff_t; typedef unsigned int uid_t; typedef unsigned int gid_t; \
                            typedef unsigned long size_t; typedef struct { unsigned long sig[1]; } sigset_t; \
                            struct iocb { unsigned long long aio_data; unsigned int aio_key; int aio_rw_flags; };";

/// `struct iovec` as BTF gives it: BTF marks every pointer a kernel one.
fn iovec() -> CType {
    let member = |name: &str, ty, offset| Member { name: Some(name.into()), ty, offset, bitfield: None };
    let members = vec![
        member("iov_base", CType::pointer(CType::Void, AddrSpace::Kernel), 0),
        member("iov_len", CType::Int { size: 8, signed: false }, 8),
    ];
    CType::Record(Rc::new(Record { kind: RecordKind::Struct, name: Some("iovec".into()), size: 16, align: 8, members }))
}

fn run(src: &str) -> Result<crate::checked::Program, String> {
    let mut target = FakeTarget::default().with_kernel_definitions(KERNEL_TYPES).with_kernel_type("struct iovec", iovec());
    for (name, fields) in FORMATS {
        target = target.with_tracepoint("syscalls", name, &format!("format:\n{fields}"));
    }
    // The same field in a tracepoint that records kernel pointers.
    target = target.with_tracepoint("sock", "sendmsg", &format!("format:\n{}", FORMATS[1].1));
    let ast = crate::parse(src).map_err(|d| render_to_string(&Source::new("-e", src), &d))?;
    crate::check(&ast, &target).map_err(|d| render_to_string(&Source::new("-e", src), &d))
}

/// The value `@x = VALUE;` assigns in `tracepoint:syscalls:EVENT` (or
/// in `tracepoint:EVENT` when it names its category).
#[track_caller]
fn assigned(event: &str, value: &str) -> Expr {
    let event = if event.contains(':') { event.to_string() } else { format!("syscalls:{event}") };
    let p = run(&format!("tracepoint:{event} {{ @x = {value}; }}")).unwrap_or_else(|e| panic!("{e}"));
    let StmtKind::MapUpdate { update: MapUpdate::Set(e), .. } = &p.probes[0].body[0].kind else {
        panic!("not an assignment: {:?}", p.probes[0].body[0]);
    };
    e.clone()
}

/// The bytes read for `value`, whether from user memory, and its type.
#[track_caller]
fn read(event: &str, value: &str) -> (u32, bool, String) {
    let e = assigned(event, value);
    match e.kind {
        ExprKind::Load { size, user, .. } => (size, user, e.ty.to_string()),
        other => panic!("not a read: {other:?}"),
    }
}

#[test]
fn pointers_to_pointers_index_and_dereference() {
    // bpftrace 0.17 types `const char *const *` as `int8 * *`.
    assert_eq!(read("sys_enter_execve", "args->argv[1]"), (8, true, "int8 *".into()));
    assert_eq!(read("sys_enter_execve", "*args->argv"), (8, true, "int8 *".into()));
    assert_eq!(read("sys_enter_execve", "args.envp[0]"), (8, true, "int8 *".into()));
    assert_eq!(read("sys_enter_execve", "args->argv[1][0]"), (1, true, "int8".into()));
    assert_eq!(read("sys_enter_execve", "*args->filename"), (1, true, "int8".into()));
    assert_eq!(read("sys_enter_execve", "args->filename[3]"), (1, true, "int8".into()));
    assert_eq!(read("sys_enter_select", "*args->d"), (8, true, "int8 *".into()));
    let e = assigned("sys_enter_execve", "str(args->argv[0])");
    assert_eq!(e.ty.to_string(), "string[64]");
    // The element's address counts pointers: argv[2] is 16 bytes on.
    let e = assigned("sys_enter_execve", "args->argv[2]");
    assert!(format!("{e:?}").contains("Int(16)"), "{e:?}");
}

#[test]
fn integers_and_their_typedefs_read_at_their_size_and_sign() {
    assert_eq!(read("sys_enter_sendfile64", "*args->offset"), (8, true, "int64".into()));
    assert_eq!(read("sys_enter_getresuid", "*args->ruidp"), (4, true, "uint32".into()));
    assert_eq!(read("sys_enter_getgroups", "args->grouplist[1]"), (4, true, "uint32".into()));
    assert_eq!(read("sys_enter_getcpu", "*args->cpup"), (4, true, "uint32".into()));
    assert_eq!(read("sys_enter_select", "*args->a"), (4, true, "uint32".into()));
    assert_eq!(read("sys_enter_select", "args->b[1]"), (8, true, "uint64".into()));
    assert_eq!(read("sys_enter_select", "*args->c"), (8, true, "uint64".into()));
    // A kernel integer name stands without BTF's typedef too.
    assert_eq!(read("sys_enter_select", "*args->g"), (4, true, "uint32".into()));
}

#[test]
fn structs_and_struct_typedefs_have_members() {
    assert_eq!(read("sys_enter_rt_sigprocmask", "args->nset->sig[0]"), (8, true, "uint64".into()));
    assert_eq!(read("sys_enter_rt_sigprocmask", "(*args->nset).sig[0]"), (8, true, "uint64".into()));
    assert_eq!(read("sys_enter_writev", "args->vec[1].iov_len"), (8, true, "uint64".into()));
    assert_eq!(read("sys_enter_io_submit", "args->iocbpp[0]->aio_key"), (4, true, "uint32".into()));
    assert_eq!(read("sys_enter_io_submit", "(*args->iocbpp)->aio_rw_flags"), (4, true, "int32".into()));
}

#[test]
fn a_kernel_types_pointer_in_user_memory_points_to_user_memory() {
    // A syscall's `struct iovec` is the process's: its `iov_base` too,
    // though BTF says nothing of address spaces.
    let e = assigned("sys_enter_writev", "args->vec[1].iov_base");
    assert!(matches!(e.ty, Type::Ptr { user: true, .. }), "{:?}", e.ty);
    let e = assigned("sock:sendmsg", "args->vec[1].iov_base");
    assert!(matches!(e.ty, Type::Ptr { user: false, .. }), "{:?}", e.ty);
    assert_eq!(read("sock:sendmsg", "args->vec->iov_len"), (8, false, "uint64".into()));
}

#[test]
fn what_a_pointer_field_cannot_do_is_said() {
    let error = run("tracepoint:syscalls:sys_enter_select { @x = *args->e; }").unwrap_err();
    assert!(error.contains("a value of type `void` cannot be read"), "{error}");
    let error = run("tracepoint:syscalls:sys_enter_select { @x = *args->f; }").unwrap_err();
    assert!(error.contains("`*` needs a pointer to a known type, but this is pointer"), "{error}");
    let error = run("tracepoint:syscalls:sys_enter_sendfile64 { @x = args->count[0]; }").unwrap_err();
    assert!(error.contains("`count` (size_t) is not an array"), "{error}");
    // bpftrace 0.17: "int8 * type passed to print() is not printable".
    let error = run("tracepoint:syscalls:sys_enter_execve { print(args->filename); }").unwrap_err();
    assert!(error.contains("`print()` cannot print a pointer (int8 *)"), "{error}");
}

/// The `delta` of the `++`/`--` that `$y = ...` (the program's second
/// statement, after `$p = ...`) holds.
#[track_caller]
fn step(program: &str) -> i64 {
    let p = run(program).unwrap_or_else(|e| panic!("{e}"));
    let StmtKind::VarAssign { value, .. } = &p.probes[0].body[1].kind else { panic!("{:?}", p.probes[0].body[1]) };
    match value.kind {
        ExprKind::VarIncDec { delta, .. } | ExprKind::MapIncDec { delta, .. } => delta,
        ref other => panic!("not an increment: {other:?}"),
    }
}

#[test]
fn increments_move_a_pointer_by_its_pointee() {
    assert_eq!(step("tracepoint:syscalls:sys_enter_execve { $p = args->argv; $y = $p++; }"), 8);
    assert_eq!(step("tracepoint:syscalls:sys_enter_execve { $p = args->argv; $y = --$p; }"), -8);
    assert_eq!(step("tracepoint:syscalls:sys_enter_writev { $p = args->vec; $y = ++$p; }"), 16);
    assert_eq!(step("BEGIN { $p = (int32 *)0; $y = $p--; }"), -4);
    assert_eq!(step("BEGIN { $p = (int16 *)0; $y = $p++; }"), 2);
    assert_eq!(step("BEGIN { $p = (void *)0; $y = $p++; }"), 1);
    assert_eq!(step("BEGIN { $p = 0; $y = $p++; }"), 1);
    // A map holding a typed pointer keeps its type.
    assert_eq!(step("BEGIN { @p = (int32 *)8; $y = @p++; }"), 4);
    let p = run("BEGIN { @p = (int32 *)8; $y = @p--; }").unwrap_or_else(|e| panic!("{e}"));
    let StmtKind::VarAssign { value, .. } = &p.probes[0].body[1].kind else { panic!() };
    assert_eq!(value.ty.to_string(), "int32 *");
}
