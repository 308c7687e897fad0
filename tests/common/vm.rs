//! The VM test lane from Rust: boots Debian's stock Linux 6.1 under QEMU
//! (`tests/vm/run`, which installs and caches what it needs) and runs a
//! batch of shell commands there, on the host's files: the guest sees the
//! host's / (read-only, with a throwaway overlay), so the freshly built rbpf
//! and test binaries run there at the same paths.
//!
//! A boot costs seconds of emulated CPU, so batch: one [`run`] per test
//! binary, shared by its tests (see tests/vm.rs). A test file uses it with
//! `#[path = "common/vm.rs"] mod vm;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What one command printed in the guest, and how it ended.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub command: String,
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl CommandOutput {
    /// The command, its status and output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "$ {}\n(exit status {}, {:.1} s in the guest)\n--- stdout\n{}--- stderr\n{}",
            self.command, self.status, self.seconds, self.stdout, self.stderr
        )
    }
}

/// One boot: the guest's kernel release and each command's output, in order.
#[derive(Debug, Clone)]
pub struct Boot {
    pub kernel: String,
    /// From starting QEMU until it exited.
    pub seconds: f64,
    pub outputs: Vec<CommandOutput>,
}

#[derive(Debug, Clone)]
pub enum VmError {
    /// The lane cannot run here (no QEMU and it cannot be installed).
    Unavailable(String),
    /// The guest did not boot, timed out, or did not run every command.
    Failed(String),
}

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmError::Unavailable(why) => write!(f, "the VM lane is unavailable here: {why}"),
            VmError::Failed(why) => write!(f, "the VM lane failed: {why}"),
        }
    }
}

/// The lane's script (tests/vm/run).
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/run")
}

/// Boots the guest once and runs `commands` there in order (each with bash,
/// in this crate's directory, as root, with the host's PATH and RBPF_*
/// variables). `timeout` bounds the whole boot.
pub fn run(commands: &[String], timeout: Duration) -> Result<Boot, VmError> {
    run_series("6.1", commands, timeout)
}

/// [`run`] on a kernel of another series the lane knows (`6.12`).
pub fn run_series(series: &str, commands: &[String], timeout: Duration) -> Result<Boot, VmError> {
    let results = std::env::temp_dir().join(format!("rbpf-vm-results-{}-{series}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let started = Instant::now();
    let out = Command::new(script())
        .arg("--quiet")
        .arg("--results")
        .arg(&results)
        .arg("--timeout")
        .arg(timeout.as_secs().to_string())
        .arg("--")
        .args(commands)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RBPF_VM_SERIES", series)
        .output()
        .map_err(|e| VmError::Unavailable(format!("cannot run {}: {e}", script().display())))?;
    let seconds = started.elapsed().as_secs_f64();
    let boot = read_results(&results, commands, seconds);
    let _ = std::fs::remove_dir_all(&results);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match (boot, out.status.code()) {
        (Some(boot), _) => Ok(boot),
        (None, Some(77)) => Err(VmError::Unavailable(stderr.trim().to_string())),
        (None, code) => Err(VmError::Failed(format!("tests/vm/run exited with {code:?}:\n{stderr}"))),
    }
}

/// Reads what the script left in `dir`; None unless the guest ran every
/// command (the script writes `done` last).
fn read_results(dir: &Path, commands: &[String], seconds: f64) -> Option<Boot> {
    let read = |path: PathBuf| std::fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
    read(dir.join("done"))?;
    let kernel = read(dir.join("kernel"))?.trim().to_string();
    let outputs = commands
        .iter()
        .enumerate()
        .map(|(i, command)| {
            let one = dir.join(i.to_string());
            Some(CommandOutput {
                command: command.clone(),
                status: read(one.join("status"))?.trim().parse().ok()?,
                stdout: read(one.join("stdout"))?,
                stderr: read(one.join("stderr"))?,
                seconds: read(one.join("seconds"))?.trim().parse().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Boot { kernel, seconds, outputs })
}

/// Decides what a test does when the lane cannot run: with the guest's
/// results it goes on; without QEMU it skips with a visible message, unless
/// RBPF_REQUIRE_KERNEL=1 makes that a failure; a guest that failed to boot
/// fails the test.
pub fn or_skip<'a>(test: &str, boot: &'a Result<Boot, VmError>) -> Option<&'a Boot> {
    match boot {
        Ok(boot) => Some(boot),
        Err(VmError::Unavailable(why)) => {
            if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("{test}: RBPF_REQUIRE_KERNEL=1 but the VM lane cannot run: {why}");
            }
            eprintln!("skipping {test}: the VM lane cannot run here ({why}); set RBPF_REQUIRE_KERNEL=1 to fail instead");
            None
        }
        Err(e @ VmError::Failed(_)) => panic!("{test}: {e}"),
    }
}

/// The newest test binary cargo built for the integration test `name` in
/// this profile (target/<profile>/deps/<name>-<hash>), next to the running
/// test binary. `cargo test` builds every test target before it runs any,
/// so under `cargo test` it is the current one.
pub fn test_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    std::fs::read_dir(deps)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let file = entry.file_name().into_string().ok()?;
            let hash = file.strip_prefix(name)?.strip_prefix('-')?;
            if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let meta = entry.metadata().ok()?;
            use std::os::unix::fs::PermissionsExt;
            (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some((meta.modified().ok()?, entry.path()))
        })
        .max()
        .map(|(_, path)| path)
}

/// A batch of named commands and the boot that ran them, shared by the
/// tests that read their outputs.
pub type Guest = (Vec<String>, Result<Boot, VmError>);

/// Boots Linux `series` and runs `commands` (name, command line) there.
/// A boot's figures, `notes`, then every command's output go to
/// target/tmp/LANE-report-SERIES.txt (a passing test's output is not
/// shown).
pub fn boot_batch(lane: &str, series: &str, commands: Vec<(String, String)>, timeout: Duration, notes: &str) -> Guest {
    let (names, commands): (Vec<String>, Vec<String>) = commands.into_iter().unzip();
    let boot = run_series(series, &commands, timeout);
    if let Ok(boot) = &boot {
        let mut report = format!("guest {} ran {} commands in {:.0} s\n", boot.kernel, boot.outputs.len(), boot.seconds);
        for (name, out) in names.iter().zip(&boot.outputs) {
            report += &format!("  {name}: exit status {}, {:.1} s\n", out.status, out.seconds);
        }
        report += notes;
        for (name, out) in names.iter().zip(&boot.outputs) {
            report += &format!("\n=== {name}\n{}", out.describe());
        }
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{lane}-report-{series}.txt"));
        let _ = std::fs::write(&path, report);
        eprintln!("{lane}: guest {} ran {} commands in {:.0} s; report in {}", boot.kernel, boot.outputs.len(), boot.seconds, path.display());
    }
    (names, boot)
}

/// The output of the command `name` in `guest`, or None when the lane
/// skips.
pub fn output_of(guest: &'static Guest, test: &str, name: &str) -> Option<&'static CommandOutput> {
    let (names, boot) = guest;
    let boot = or_skip(test, boot)?;
    let i = names.iter().position(|n| n == name).expect("a command of the batch");
    Some(&boot.outputs[i])
}

/// Quotes `s` for the guest's shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
