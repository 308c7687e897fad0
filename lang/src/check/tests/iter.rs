//! Checker tests of iterator probes (`iter:task`, `iter:task_file`): the
//! context read as `ctx->NAME`, the NULL object the kernel passes last,
//! the printf the kernel formats, and the mistakes bpftrace's man page and
//! 0.17's messages name.

use super::marks::check;
use super::{check_ok, run};
use crate::checked::{ExprKind, StmtKind};
use crate::probes::ProbeKind;

#[test]
fn ctx_members_are_the_iterators_function_parameters() {
    let p = check_ok(r#"iter:task { printf("%d:%d\n", ctx->task->tgid, ctx->task->pid); }"#);
    assert_eq!(p.probes[0].name, "iter:task");
    let ProbeKind::Iter { name, pin, object_offset, .. } = &p.probes[0].kind else { panic!("{:?}", p.probes[0].kind) };
    assert_eq!((name.as_str(), pin.as_deref(), *object_offset), ("task", None, 8));
    // The file is the object of task_file, at its fourth u64 slot; `it` is
    // the short name, and a pin is kept for the runtime.
    let p = check_ok(r#"it:task_file:files { printf("%d %d\n", ctx->fd, ctx->task->pid); }"#);
    assert_eq!(p.probes[0].name, "iter:task_file:files");
    let ProbeKind::Iter { pin, object_offset, .. } = &p.probes[0].kind else { panic!() };
    assert_eq!((pin.as_deref(), *object_offset), (Some("files"), 24));
    let StmtKind::Printf { args, .. } = &p.probes[0].body[0].kind else { panic!() };
    assert!(matches!(&args[0].kind, ExprKind::TracepointField(f) if f.name == "fd" && f.offset == 16), "{:?}", args[0]);
}

#[test]
fn an_iterator_is_its_programs_only_probe() {
    // BEGIN and END too, as bpftrace's man page says: "not even other iterator".
    for (src, other) in [
        ("iter:task { } BEGIN { }", "BEGIN"),
        ("END { } iter:task { }", "END"),
        ("iter:task { } iter:task_file { }", "iter:task_file"),
        ("t:syscalls:sys_enter_execve, iter:task { }", "tracepoint:syscalls:sys_enter_execve"),
    ] {
        let e = run(src).unwrap_err();
        assert!(e.contains("error: an iterator probe cannot be mixed with other probes"), "{e}");
        assert!(e.contains(&format!("`{other}` is another probe")), "{e}");
    }
    let e = run("iter:task { } BEGIN { }").unwrap_err();
    assert!(e.contains("-e:1:1"), "the iterator's attach point: {e}");
}

#[test]
fn ctx_is_the_iterators_alone() {
    check(
        r#"
tracepoint:syscalls:sys_enter_execve { @ = ctx->filename; }
//                                         ^^^ error: Use args instead of ctx in tracepoint
interval:s:1 { @ = ctx; }
//                 ^^^ error: `ctx` is not available in `interval:s:1`
"#,
    );
    check(
        r#"
iter:task { @ = args.task; }
//              ^^^^ error: Use ctx instead of args in iter probes
"#,
    );
    check(
        r#"
iter:task { @ = args->task->pid; }
//              ^^^^ error: Use ctx instead of args in iter probes
"#,
    );
}

#[test]
fn unknown_iterators_and_bad_attach_points_are_refused() {
    let e = run("iter:tasks { }").unwrap_err();
    assert!(e.contains("error: unknown iterator `tasks`") && e.contains("the iterators are: task, task_file"), "{e}");
    let e = run("iter:task:a:b { }").unwrap_err();
    assert!(e.contains("error: an iterator probe is written `iter:NAME` or `iter:NAME:PIN`"), "{e}");
}

#[test]
fn printf_takes_what_the_kernels_seq_printf_takes() {
    check(
        r#"
iter:task { printf("%5.2s\n", comm); }
//                 ^^^^^^^^^ error: this format cannot be printed by an iterator: `%5.2s`: the kernel's seq_printf takes no `#` and no precision
"#,
    );
    check(
        r#"
iter:task { printf("%s\n", ksym(ctx->task->pid)); }
//                         ^^^^^^^^^^^^^^^^^^^^ error: an iterator's printf cannot print ksym
"#,
    );
    check_ok(r#"iter:task { printf("%-16s %08x %c %lu %p %%\n", comm, ctx->task->pid, 65, ctx->task->tgid, ctx->task); }"#);
}

#[test]
fn kernel_format_is_the_ll_form_of_each_integer_conversion() {
    let pieces = crate::format::parse("%-16s|%08x|%5d|%hhu|%lld|%c|%p|100%%\n").unwrap();
    assert_eq!(crate::format::kernel_format(&pieces).unwrap(), "%-16s|%08llx|%5lld|%llu|%lld|%c|%p|100%%\n");
    let thirteen = crate::format::parse(&"%d".repeat(13)).unwrap();
    assert!(crate::format::kernel_format(&thirteen).unwrap_err().contains("at most 12"));
    let octal = crate::format::parse("%o").unwrap();
    assert!(crate::format::kernel_format(&octal).is_err());
}

#[test]
fn path_works_in_iterators() {
    check_ok(
        r#"struct path { long mnt; long dentry; }; struct file { long mode; struct path f_path; };
           iter:task_file { printf("%d %s\n", ctx->fd, path(ctx->file->f_path)); }"#,
    );
}
