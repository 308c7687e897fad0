//! The process a trace follows: a child command started for `-c CMD`, held
//! before it runs until the probes are attached, or a running process
//! given by `-p PID`. The trace stops when it exits, as if `exit()` had been
//! called; a child still running then is terminated.

use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a followed process could not be started or found, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// `-c ''`.
    #[error("the command given with -c is empty")]
    EmptyCommand,
    /// No such file, nor one in PATH.
    #[error("cannot run {0}: no such executable file, and none of that name in PATH")]
    NotFound(String),
    /// The file exists but cannot be executed (as a shell says it).
    #[error("cannot run {0}: permission denied (it is not an executable file)")]
    NotExecutable(String),
    /// The command could not be started.
    #[error("cannot run {command}")]
    Spawn {
        /// The command as given.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// `-p` names no process.
    #[error("there is no process with pid {0}")]
    NoSuchProcess(u32),
    /// The process could not be watched for its end (pidfd_open).
    #[error("cannot follow pid {pid}")]
    Watch {
        /// The process.
        pid: u32,
        /// Why.
        source: io::Error,
    },
}

/// A process whose exit ends the trace.
#[derive(Debug)]
pub struct Followed {
    pid: u32,
    /// Readable once the process has exited (pidfd_open, Linux 5.3).
    pub(crate) pidfd: OwnedFd,
    /// For `-c`: our child, not yet reaped, and while it is held, the write
    /// end of the pipe whose one byte lets it run.
    child: Option<Option<std::fs::File>>,
}

impl Followed {
    /// Starts `command` (split on whitespace; the first word is looked up
    /// in PATH) as a child that waits, before it executes, until
    /// `Followed::release`: the probes see it from its first instruction.
    /// It is killed when the thread that spawned it ends (that is what
    /// PR_SET_PDEATHSIG watches): spawn from a thread that outlives the
    /// trace, as the main thread does.
    pub fn spawn(command: &str) -> Result<Followed, ProcessError> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let Some(program) = words.first() else { return Err(ProcessError::EmptyCommand) };
        let spawn_error = |source| ProcessError::Spawn { command: (*program).to_string(), source };
        let path = find_in_path(program)?;
        // Everything the child needs is made before fork: after it, a
        // multithreaded parent's child may only make async-signal-safe calls.
        let cstr = |s: &[u8]| CString::new(s).map_err(|_| spawn_error(io::Error::from(io::ErrorKind::InvalidInput)));
        let path = cstr(path.as_os_str().as_bytes())?;
        let args: Vec<CString> = words.iter().map(|w| cstr(w.as_bytes())).collect::<Result<_, _>>()?;
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let (reader, writer) = pipe().map_err(spawn_error)?;
        let (read_fd, write_fd) = (reader.as_raw_fd(), writer.as_raw_fd());
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: fork has no memory preconditions; the child branch below
        // only calls prctl, getppid, close, read, execv and _exit on memory
        // made before it.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(spawn_error(io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: see above; `argv` is NUL-terminated and its strings live.
            unsafe {
                // The command dies with rbpf, however rbpf ends (even
                // SIGKILL): a trace never leaves it running unwatched. The
                // signal is kept across execve. If rbpf died before the
                // prctl, the parent is already someone else.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 || libc::getppid() != parent {
                    libc::_exit(127);
                }
                libc::close(write_fd);
                let mut byte = 0u8;
                // One byte lets it run; EOF means the parent gave up on it.
                if libc::read(read_fd, (&raw mut byte).cast(), 1) == 1 {
                    libc::execv(path.as_ptr(), argv.as_ptr());
                }
                libc::_exit(127);
            }
        }
        drop(reader);
        let pid = pid as u32;
        match pidfd_open(pid) {
            Ok(pidfd) => Ok(Followed { pid, pidfd, child: Some(Some(writer)) }),
            Err(source) => {
                drop(writer);
                reap(pid);
                Err(ProcessError::Watch { pid, source })
            }
        }
    }

    /// Follows the running process `pid`.
    pub fn attach(pid: u32) -> Result<Followed, ProcessError> {
        let pidfd = pidfd_open(pid).map_err(|source| match source.raw_os_error() {
            Some(libc::ESRCH) => ProcessError::NoSuchProcess(pid),
            _ => ProcessError::Watch { pid, source },
        })?;
        Ok(Followed { pid, pidfd, child: None })
    }

    /// The followed process's id (what `cpid` reads).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets a held child command run (once the probes are attached).
    pub(crate) fn release(&mut self) {
        if let Some(writer) = &mut self.child {
            if let Some(mut w) = writer.take() {
                let _ = w.write_all(&[1]);
            }
        }
    }

    /// Whether the process has exited, without waiting.
    pub(crate) fn has_exited(&self) -> bool {
        let mut poll = libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, no waiting.
        unsafe { libc::poll(&mut poll, 1, 0) == 1 }
    }
}

impl Drop for Followed {
    /// A child command still running (or never released) is terminated,
    /// as bpftrace does when it stops first, and reaped: SIGTERM first,
    /// then SIGKILL if it is still there after `TERMINATE_GRACE` (a
    /// command that ignores SIGTERM must not keep the trace from ending).
    fn drop(&mut self) {
        if let Some(writer) = self.child.take() {
            // A held child reads EOF and exits by itself.
            drop(writer);
            if !self.has_exited() {
                // SAFETY: kill has no memory preconditions; the pid is our
                // child's, not yet reaped, so it cannot have been reused.
                unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
                if !self.wait_exit(TERMINATE_GRACE) {
                    // SAFETY: as above.
                    unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
                }
            }
            reap(self.pid);
        }
    }
}

/// How long a child command has to end after SIGTERM before SIGKILL.
const TERMINATE_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

impl Followed {
    /// Waits up to `limit` for the process to exit; whether it did.
    fn wait_exit(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut poll = libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let timeout = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut poll, 1, timeout) } {
                1 => return true,
                0 => return false,
                // Interrupted by a signal: wait out the rest.
                _ if left.is_zero() => return false,
                _ => {}
            }
        }
    }
}

/// Waits for our child `pid` to end and collects it.
fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: `status` is a valid int to write; `pid` is our child.
    while unsafe { libc::waitpid(pid as i32, &mut status, 0) } < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {}
}

/// The file `program` names: itself if it has a `/`, else the first
/// executable of that name in PATH. A file that is there but cannot be
/// executed is said so, not "not found" (as a shell says "Permission
/// denied" for it).
fn find_in_path(program: &str) -> Result<PathBuf, ProcessError> {
    let is_file = |p: &Path| p.metadata().is_ok_and(|m| m.is_file());
    let is_executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path).map(|dir| dir.join(program)).collect()
    };
    if let Some(found) = candidates.iter().find(|p| is_executable(p)) {
        return Ok(found.clone());
    }
    match candidates.iter().find(|p| p.exists() && (is_file(p) || program.contains('/'))) {
        Some(there) => Err(ProcessError::NotExecutable(there.display().to_string())),
        None => Err(ProcessError::NotFound(program.to_string())),
    }
}

fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors we own.
    Ok(unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) })
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_child_runs_only_once_released_and_is_followed_to_its_exit() {
        let dir = std::env::temp_dir().join(format!("rbpf-process-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("ran");
        let mut child = Followed::spawn(&format!("touch {}", marker.display())).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!marker.exists(), "the child ran before it was released");
        assert!(!child.has_exited());
        child.release();
        for _ in 0..200 {
            if child.has_exited() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(child.has_exited());
        assert!(marker.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_child_never_released_is_terminated() {
        let child = Followed::spawn("sleep 30").unwrap();
        let pid = child.pid();
        drop(child);
        // Reaped: no such process any more.
        assert_eq!(unsafe { libc::kill(pid as i32, 0) }, -1);
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_a_grace() {
        let dir = std::env::temp_dir().join(format!("rbpf-stubborn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("stubborn");
        std::fs::write(&script, "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Followed::spawn(script.to_str().unwrap()).unwrap();
        child.release();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let pid = child.pid();
        // Dropped on a thread, so that a drop that waits forever fails the
        // test instead of hanging it (the pid stays ours until reaped).
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(child);
            let _ = done.send(());
        });
        if dropped.recv_timeout(std::time::Duration::from_secs(3)).is_err() {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("a child that ignores SIGTERM kept the drop waiting");
        }
        assert_eq!(unsafe { libc::kill(pid as i32, 0) }, -1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_commands_and_pids_say_why() {
        assert_eq!(Followed::spawn("  ").unwrap_err().to_string(), "the command given with -c is empty");
        let e = Followed::spawn("/nonexistent/rbpf-no-such-command").unwrap_err().to_string();
        assert_eq!(e, "cannot run /nonexistent/rbpf-no-such-command: no such executable file, and none of that name in PATH");
        assert_eq!(Followed::attach(0x3fff_fff0).unwrap_err().to_string(), "there is no process with pid 1073741808");
        // There, but not executable: not "not found".
        let e = Followed::spawn("/etc/passwd").unwrap_err().to_string();
        assert_eq!(e, "cannot run /etc/passwd: permission denied (it is not an executable file)");
        let e = Followed::spawn("/etc").unwrap_err().to_string();
        assert_eq!(e, "cannot run /etc: permission denied (it is not an executable file)");
    }

    /// An error's own message never repeats its source: whoever renders
    /// the chain (`{:#}`) adds it once.
    #[test]
    fn messages_leave_their_source_to_the_chain() {
        use std::error::Error;
        let io = || io::Error::from_raw_os_error(libc::EPIPE);
        let errors: Vec<Box<dyn Error>> = vec![
            Box::new(ProcessError::Spawn { command: "x".into(), source: io() }),
            Box::new(ProcessError::Watch { pid: 1, source: io() }),
            Box::new(crate::RuntimeError::Output(io())),
        ];
        for e in errors {
            let source = e.source().expect("has a source").to_string();
            assert!(!e.to_string().contains(&source), "{e} repeats {source}");
        }
    }
}
