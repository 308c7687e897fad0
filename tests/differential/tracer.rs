//! Running one case under one tracer: the workload, the command line, the
//! time limit, and the `-o` file.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::corpus::{Case, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracer {
    Bpftrace,
    Rbpf,
}

impl Tracer {
    pub fn name(self) -> &'static str {
        match self {
            Tracer::Bpftrace => "bpftrace",
            Tracer::Rbpf => "rbpf",
        }
    }

    fn command(self) -> Command {
        match self {
            Tracer::Bpftrace => Command::new("bpftrace"),
            Tracer::Rbpf => Command::new(env!("CARGO_BIN_EXE_rbpf")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The case as written.
    Text,
    /// The case with `-f json` added.
    Json,
    /// `--dry-run`: compile, load (the verifier judges), attach, detach.
    DryRun,
}

pub struct Run {
    /// Standard output; with `-o`, followed by a `--- -o file` line and
    /// the file's content.
    pub stdout: String,
    /// Standard output and the `-o` file's content, without the marker
    /// line: what `-f json` output is parsed from.
    pub json_text: String,
    pub stderr: String,
    /// None when killed at the time limit or by a signal.
    pub status: Option<i32>,
    pub timed_out: bool,
    /// The tracer's pid and the workload's, for the `pid` rule.
    pub pids: Vec<u32>,
}

impl Run {
    pub fn status_text(&self) -> String {
        match (self.status, self.timed_out) {
            (_, true) => "killed after the time limit".into(),
            (Some(code), _) => format!("status {code}"),
            (None, _) => "killed by a signal".into(),
        }
    }
}

/// Kills and reaps a child this harness started, also when a panic unwinds.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// Held while an exec workload runs: such cases filter on the file name,
/// which every exec workload's children share, and two of them running at
/// once on two CPUs can both print before either's exit() is seen (their
/// records interleave in the one ring buffer that all CPUs share).
static EXEC_WORKLOAD: Mutex<()> = Mutex::new(());

pub fn run(tracer: Tracer, case: &Case, mode: Mode) -> Run {
    // Taken first, so released after the workload is ended.
    let _alone = (case.workload == Some(Workload::Exec)).then(|| EXEC_WORKLOAD.lock().unwrap_or_else(PoisonError::into_inner));
    let workload = case.workload.map(|w| {
        let (program, args) = w.command();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the workload");
        // Traced from its loop on, not from bash's start-up.
        let mut ready = String::new();
        if let Some(stdout) = child.stdout.take() {
            drop(std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready));
        }
        Owned(child)
    });
    let workload_pid = workload.as_ref().map(|w| w.0.id());
    let program = match workload_pid {
        Some(pid) => case.program.replace("$PID", &pid.to_string()),
        None => case.program.clone(),
    };

    let out_file = case.opts.iter().any(|o| o.contains("$OUT")).then(|| {
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("rbpf-differential-{}-{n}-{}.out", std::process::id(), tracer.name()))
    });
    let opts = case.opts.iter().map(|o| match &out_file {
        Some(path) => o.replace("$OUT", &path.to_string_lossy()),
        None => o.clone(),
    });

    let mut cmd = tracer.command();
    match mode {
        Mode::Text => {}
        Mode::Json => {
            cmd.args(["-f", "json"]);
        }
        Mode::DryRun => {
            cmd.arg("--dry-run");
        }
    }
    cmd.args(opts).arg("-e").arg(&program).args(&case.params);
    for (key, _) in std::env::vars() {
        if key.starts_with("BPFTRACE_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(case.env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());

    let mut child = Owned(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", tracer.name())));
    let tracer_pid = child.0.id();
    let stdout = reader(child.0.stdout.take());
    let stderr = reader(child.0.stderr.take());

    let deadline = Instant::now() + Duration::from_secs(case.timeout_secs);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for the tracer") {
            break status.code();
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.0.kill();
            let _ = child.0.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(workload);
    let mut stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let mut json_text = stdout.clone();
    if let Some(path) = out_file {
        let content = std::fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned());
        let _ = std::fs::remove_file(&path);
        stdout.push_str("--- -o file\n");
        match content {
            Ok(text) => {
                stdout.push_str(&text);
                json_text.push_str(&text);
            }
            Err(e) => stdout.push_str(&format!("(no file: {e})\n")),
        }
    }
    let pids = [Some(tracer_pid), workload_pid].into_iter().flatten().collect();
    Run { stdout, json_text, stderr, status, timed_out, pids }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
