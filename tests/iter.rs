//! End-to-end tests of iterator probes (`iter:task`, `iter:task_file`) on
//! the real kernel: the kernel runs the program once per task (or open
//! file) as rbpf reads the iterator, and what the program printed is the
//! output; a pinned iterator runs again on each read of its bpffs file.

mod common;

use std::process::{Child, Command, Stdio};

use common::{fails_with, kernel_tests_enabled, run_ok};

/// A `sleep` child that is killed when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn start(stdin: Stdio) -> Sleeper {
        Sleeper(Command::new("sleep").arg("30").stdin(stdin).spawn().expect("spawn sleep"))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The threads /proc lists now.
fn proc_tasks() -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_ok() {
            n += std::fs::read_dir(entry.path().join("task")).map(|d| d.count()).unwrap_or(0);
        }
    }
    n
}

const TASKS: &str = r#"iter:task { printf("%s:%d\n", ctx->task->comm, ctx->task->pid); }"#;

#[test]
fn iter_task_prints_a_line_per_task() {
    if !kernel_tests_enabled("iter_task_prints_a_line_per_task") {
        return;
    }
    let child = Sleeper::start(Stdio::null());
    let (out, _) = run_ok(&["-e", TASKS]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Attaching 1 probe..."), "{out}");
    let tasks: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let mine = format!("sleep:{}", child.pid());
    assert_eq!(tasks.iter().filter(|l| **l == mine).count(), 1, "{mine} once in\n{out}");
    // The kernel's last call, with no task, prints nothing (it would print
    // an empty name and pid 0).
    assert!(tasks.iter().all(|l| !l.ends_with(":0")), "{out}");
    // Every task of this pid namespace, give or take those that came and went.
    let listed = proc_tasks();
    assert!(tasks.len() * 2 >= listed && tasks.len() <= listed * 2 + 50, "{} tasks printed, /proc lists {listed}:\n{out}", tasks.len());
}

#[test]
fn iter_task_file_shows_an_open_file_with_its_path() {
    if !kernel_tests_enabled("iter_task_file_shows_an_open_file_with_its_path") {
        return;
    }
    let path = format!("/tmp/rbpf-iter-{}", std::process::id());
    std::fs::write(&path, "x").expect("write the file");
    let child = Sleeper::start(Stdio::from(std::fs::File::open(&path).expect("open the file")));
    let program = format!(
        r#"iter:task_file /ctx->task->pid == {}/ {{ printf("%s %d:%s\n", ctx->task->comm, ctx->fd, path(ctx->file->f_path)); }}"#,
        child.pid()
    );
    let (out, _) = run_ok(&["-e", &program]);
    let _ = std::fs::remove_file(&path);
    assert!(out.lines().any(|l| l == format!("sleep 0:{path}")), "fd 0 of sleep is {path} in\n{out}");
}

#[test]
fn a_pinned_iterator_runs_when_its_file_is_read() {
    if !kernel_tests_enabled("a_pinned_iterator_runs_when_its_file_is_read") {
        return;
    }
    /// Removes the pin, whatever the test's outcome.
    struct Pin(String);
    impl Drop for Pin {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let name = format!("rbpf_iter_test_{}", std::process::id());
    let pin = Pin(format!("/sys/fs/bpf/{name}"));
    let child = Sleeper::start(Stdio::null());
    let program = TASKS.replace("iter:task", &format!("iter:task:{name}"));
    let (out, _) = run_ok(&["-e", &program]);
    assert!(out.starts_with(&format!("Attaching 1 probe...\nProgram pinned to {}\n", pin.0)), "{out}");
    let text = std::fs::read_to_string(&pin.0).expect("read the pinned iterator");
    assert!(text.lines().any(|l| l == format!("sleep:{}", child.pid())), "{text}");
    // Each read runs the program again.
    let again = Command::new("cat").arg(&pin.0).output().expect("cat");
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("sleep:{}", child.pid())));
}

#[test]
fn an_iterator_cannot_be_mixed_with_other_probes() {
    fails_with(
        &["-e", "iter:task { printf(\"%d\\n\", ctx->task->pid); } BEGIN { }"],
        &["error: an iterator probe cannot be mixed with other probes", "-e:1:1", "`BEGIN` is another probe"],
    );
    fails_with(&["-e", "iter:task { } iter:task_file { }"], &["an iterator probe cannot be mixed with other probes", "`iter:task_file` is another probe"]);
}

#[test]
fn ctx_belongs_to_iterators() {
    fails_with(&["-e", "tracepoint:syscalls:sys_enter_read { @ = ctx; }"], &["error: Use args instead of ctx in tracepoint", "-e:1:42"]);
    fails_with(&["-e", "interval:s:1 { @ = ctx; }"], &["error: `ctx` is not available in `interval:s:1`"]);
}

#[test]
fn listing_names_the_iterators() {
    if !kernel_tests_enabled("listing_names_the_iterators") {
        return;
    }
    // As bpftrace 0.17 lists them here.
    for search in ["iter:*", "it:*", "iter:task*"] {
        let (out, _) = run_ok(&["-l", search]);
        assert_eq!(out, "iter:task\niter:task_file\n", "{search}");
    }
    let (out, _) = run_ok(&["-l", "iter:task_f*"]);
    assert_eq!(out, "iter:task_file\n");
}
