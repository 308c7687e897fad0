//! Shared helpers for the end-to-end tests: running the rbpf binary, and
//! deciding whether kernel tests can run here.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Whether tests that load BPF programs can run. Not as root they skip with
/// a visible message, unless RBPF_REQUIRE_KERNEL=1 makes that a failure.
pub fn kernel_tests_enabled(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: RBPF_REQUIRE_KERNEL=1 but not running as root: kernel tests cannot run");
    }
    eprintln!("skipping {test}: kernel tests need root (set RBPF_REQUIRE_KERNEL=1 to fail instead)");
    false
}

pub fn rbpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rbpf"))
}

/// Runs rbpf to completion (the program must end by itself, e.g. exit()).
pub fn run(args: &[&str]) -> Output {
    let mut child = rbpf().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn rbpf");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("rbpf {args:?} did not finish in 30 s; stdout: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs rbpf to completion and checks that it exited with status 0: what
/// it printed on stdout and on stderr.
pub fn run_ok(args: &[&str]) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    (stdout, stderr)
}

/// A running rbpf whose stdout is read line by line in the background.
pub struct Tracer {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Tracer {
    pub fn start(args: &[&str]) -> Tracer {
        Tracer::spawn(rbpf().args(args))
    }

    /// As [`Tracer::start`], running in `dir` (where relative paths start).
    pub fn start_in(dir: &Path, args: &[&str]) -> Tracer {
        Tracer::spawn(rbpf().current_dir(dir).args(args))
    }

    /// As [`Tracer::start`], with `env` set in rbpf's environment.
    pub fn start_with_env(env: &[(&str, &str)], args: &[&str]) -> Tracer {
        Tracer::spawn(rbpf().envs(env.iter().copied()).args(args))
    }

    /// Another tracer (bpftrace, to compare with) run the same way.
    pub fn start_other(program: &str, args: &[&str]) -> Tracer {
        Tracer::spawn(Command::new(program).args(args))
    }

    /// Waits for "Attaching N probes..." and returns N.
    pub fn attaching(&mut self) -> usize {
        let line = self.wait_for(|l| l.starts_with("Attaching "));
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
    }

    /// rbpf's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to rbpf (only to the process this test started)
    /// without waiting for it to exit.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill on the pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Sends `signal` and waits for rbpf to exit: what it printed, how
    /// it ended and how long that took from the signal.
    pub fn stop_timed(mut self, signal: i32) -> Stopped {
        let sent = Instant::now();
        self.signal(signal);
        let deadline = sent + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("rbpf did not exit in 20 s after signal {signal}; stdout so far: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = sent.elapsed();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        // A process rbpf left behind (a `-c` command that outlived it) may
        // hold stderr open: what came within 2 s, not a wait for its end.
        let (tx, rx) = mpsc::channel();
        if let Some(mut e) = self.child.stderr.take() {
            std::thread::spawn(move || {
                let mut stderr = String::new();
                let _ = e.read_to_string(&mut stderr);
                let _ = tx.send(stderr);
            });
        }
        let stderr = rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
        let mut stdout = self.seen.join("\n");
        stdout.push('\n');
        Stopped { stdout, stderr, status, took }
    }

    fn spawn(command: &mut Command) -> Tracer {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn rbpf");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Tracer { child, lines, seen: Vec::new() }
    }

    /// Waits until a line satisfying `pred` is printed.
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        let mut err = String::new();
        let _ = self.child.kill();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut err);
        }
        panic!("expected line not printed; stdout so far: {:?}; stderr: {err}", self.seen);
    }

    /// Waits until rbpf holds `n` BPF links: its probes are attached (it
    /// prints "Attaching" before attaching, as bpftrace does).
    pub fn wait_attached(&mut self, n: usize) {
        if !wait_for_links(self.child.id(), n) {
            panic!("rbpf did not attach {n} probe(s) in 20 s; stdout so far: {:?}", self.seen);
        }
    }

    /// Sends `signal` to rbpf (only to the process this test started) and
    /// returns everything it prints until it exits, and its exit status.
    pub fn stop(self, signal: i32) -> (String, i32) {
        // SAFETY: kill on the pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.finish()
    }

    /// Whether rbpf has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_some()
    }

    /// The next line rbpf prints within `timeout`, if any.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// What rbpf printed on stderr, once it closes it (when rbpf exited).
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }

    /// Waits for rbpf to exit by itself.
    pub fn finish(mut self) -> (String, i32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.child.try_wait().expect("wait").is_none() {
            let _ = self.child.kill();
            panic!("rbpf did not exit; stdout so far: {:?}", self.seen);
        }
        let status = self.child.wait().expect("wait").code().unwrap_or(-1);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        let mut text = self.seen.join("\n");
        text.push('\n');
        (text, status)
    }
}

/// rbpf is never left running (or stopped) by a test, also a failed one.
impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a [`Tracer`] ended after a signal.
pub struct Stopped {
    pub stdout: String,
    pub stderr: String,
    pub status: std::process::ExitStatus,
    /// From the signal to the exit.
    pub took: Duration,
}

/// Runs a short command `n` times (each is one execve) from a thread
/// named `comm`: the name the kernel gives the caller of execve.
pub fn spawn_n(comm: &str, program: &str, n: usize) {
    let program = program.to_string();
    std::thread::Builder::new()
        .name(comm.to_string())
        .spawn(move || {
            for _ in 0..n {
                let status = Command::new(&program).status().expect("spawn");
                assert!(status.success());
            }
        })
        .expect("spawn thread")
        .join()
        .expect("spawner thread");
}

/// Waits up to 20 s until process `pid` holds `n` BPF links; false if not.
pub fn wait_for_links(pid: u32, n: usize) -> bool {
    let fds = format!("/proc/{pid}/fd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let links = std::fs::read_dir(&fds)
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|target| target.to_string_lossy() == "anon_inode:bpf_link")
                    .count()
            })
            .unwrap_or(0);
        if links >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Runs rbpf and checks it refused the input: exit status 1, every needle
/// in what it printed on stderr, and no panic.
pub fn fails_with(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: stderr: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: expected {n:?} in stderr:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Parses `@name[key]: value` lines into (key, value).
pub fn entries<'a>(output: &'a str, map: &str) -> Vec<(&'a str, i64)> {
    let prefix = format!("{map}[");
    output
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|rest| {
            let (key, value) = rest.rsplit_once("]: ")?;
            Some((key, value.trim().parse().ok()?))
        })
        .collect()
}

/// Builds the C test program `binary` from `sources` (file name, text)
/// with gcc and `flags`, in a directory of its own; `None` after saying why (`what`
/// names the program and what it needs) where it cannot be built, unless
/// RBPF_REQUIRE_KERNEL=1 makes that a failure.
pub fn build_c(test: &str, what: &str, binary: &str, sources: &[(&str, &str)], flags: &[&str]) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rbpf-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, text) in sources {
        std::fs::write(dir.join(name), text).expect("write a C source");
    }
    let binary = dir.join(binary);
    let built = Command::new("gcc").args(flags).arg("-o").arg(&binary).args(sources.iter().map(|(name, _)| dir.join(name))).output();
    match built {
        Ok(out) if out.status.success() => Some(binary),
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            let _ = std::fs::remove_dir_all(&dir);
            if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("{test}: cannot build {what}: {why}");
            }
            eprintln!("skipping {test}: cannot build {what}: {why}");
            None
        }
    }
}

/// A test program this test started that prints a line once it is ready
/// (kept in `line`) and then, if it reads its input, waits for a line
/// there before it goes on. Killed when dropped.
pub struct Ready {
    child: Child,
    /// Kept open: a program that prints on would die of SIGPIPE otherwise.
    _stdout: BufReader<ChildStdout>,
    /// The line it printed when ready, trimmed.
    pub line: String,
}

impl Ready {
    /// Starts `binary` with `args` and waits for its first line.
    pub fn start(binary: &Path, args: &[&str]) -> Ready {
        let mut child = Command::new(binary).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start the test program");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read from the test program");
        Ready { child, _stdout: stdout, line: line.trim().to_string() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What rbpf printed tracing this process with `-p` and `program`: once
    /// the probe is attached the process is let go, and rbpf ends when it
    /// exits. Both must end well.
    pub fn trace(mut self, program: &str) -> String {
        let mut tracer = Tracer::start(&["-p", &self.pid().to_string(), "-e", program]);
        tracer.wait_for(|l| l.starts_with("Attaching"));
        tracer.wait_attached(1);
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("write to the test program");
        drop(stdin);
        let status = self.child.wait().expect("wait for the test program");
        let (text, code) = tracer.finish();
        assert!(status.success(), "the test program failed (was it left stopped?): {status}");
        assert_eq!(code, 0, "{text}");
        text
    }
}

/// Ends a program that is still running (one that does not end by itself,
/// or one left behind by a failed test).
impl Drop for Ready {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of this test's own, `rbpf-NAME-PID` in the system's
/// temporary directory, removed with what it holds when dropped (also when
/// the test fails). Derefs to its path.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rbpf-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    /// The path of the file `name` in it, as text.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Writes `bytes` to the file `name` in it; returns `name`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.dir.join(name), bytes).expect("write a scratch file");
        name.to_string()
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A C test program built by [`build_c`], whose directory is removed when
/// this is dropped (also when the test fails). Derefs to the binary's path.
pub struct Built {
    binary: PathBuf,
}

impl Built {
    /// As [`build_c`], the directory removed on drop.
    pub fn new(test: &str, what: &str, binary: &str, sources: &[(&str, &str)], flags: &[&str]) -> Option<Built> {
        build_c(test, what, binary, sources, flags).map(|binary| Built { binary })
    }

    /// As [`Built::new`], for a kernel test: `None` also where
    /// [`kernel_tests_enabled`] says kernel tests cannot run.
    pub fn for_kernel(test: &str, what: &str, binary: &str, sources: &[(&str, &str)], flags: &[&str]) -> Option<Built> {
        if !kernel_tests_enabled(test) {
            return None;
        }
        Built::new(test, what, binary, sources, flags)
    }

    /// The directory the program was built in.
    pub fn dir(&self) -> &Path {
        self.binary.parent().expect("the build directory")
    }
}

impl std::ops::Deref for Built {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.binary
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir());
    }
}

/// A test program this test started, which does one round of its work
/// per line it reads and answers each with a line.
pub struct App {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl App {
    pub fn start(binary: &Path) -> App {
        let mut child = Command::new(binary).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start the test program");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        // Ready once the dynamic loader has mapped libc: a tracer started
        // before then finds no libc in the process to attach to.
        let maps = format!("/proc/{}/maps", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("/libc.so")) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        App { child, stdin, stdout }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One round of work; returns the line it answered with.
    pub fn step(&mut self) -> String {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"\n").and_then(|()| stdin.flush()).expect("write to the test program");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the test program");
        assert!(!line.is_empty(), "the test program ended early");
        line.trim().to_string()
    }

    /// Ends its input and waits for it to exit successfully.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the test program");
        assert!(status.success());
    }
}
