//! A writer that writes on a thread of its own, so that an output nobody
//! reads (a pipe to a process that does not read, a paused pager, a
//! stalled terminal) never holds up the event loop: a stop request is
//! seen at once. The session reads events only as fast as the output
//! takes them ([`Backlog::below`]), and at the end waits for what is
//! queued only as long as a stop allows.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The [`Write`] end: every write is queued and returns at once.
pub struct BackgroundWriter {
    shared: Arc<Shared>,
}

/// What the session sees of a [`BackgroundWriter`]: how much is still
/// to be written, and a way to wait for it without blocking.
#[derive(Clone)]
pub struct Backlog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog").field("pending", &self.pending()).finish()
    }
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writing thread: something was queued, or the writer closed.
    queued: Condvar,
    /// Wakes the session: something was written, or writing failed.
    progress: Notify,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes queued or being written.
    pending: usize,
    /// The error writing ended with: later writes fail with it.
    failed: Option<(Option<i32>, io::ErrorKind, String)>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the writing thread cannot leave the queue half
        // changed: every change is one statement.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn error(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|(code, kind, message)| match code {
            Some(code) => io::Error::from_raw_os_error(*code),
            None => io::Error::new(*kind, message.clone()),
        })
    }
}

impl BackgroundWriter {
    /// Starts the thread that writes to `inner`.
    pub fn spawn(inner: Box<dyn Write + Send>) -> io::Result<(BackgroundWriter, Backlog)> {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), queued: Condvar::new(), progress: Notify::new() });
        let thread = shared.clone();
        std::thread::Builder::new().name("rbpf-output".into()).spawn(move || write_queued(&thread, inner))?;
        Ok((BackgroundWriter { shared: shared.clone() }, Backlog { shared }))
    }
}

/// The writing thread: writes the chunks in order until the writer is
/// closed and everything is written, or a write fails.
fn write_queued(shared: &Shared, mut inner: Box<dyn Write + Send>) {
    loop {
        let chunks: Vec<Vec<u8>> = {
            let mut state = shared.lock();
            while state.chunks.is_empty() && !state.closed {
                state = shared.queued.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.chunks.is_empty() {
                return;
            }
            state.chunks.drain(..).collect()
        };
        let size: usize = chunks.iter().map(Vec::len).sum();
        let written = chunks.iter().try_for_each(|chunk| inner.write_all(chunk)).and_then(|()| inner.flush());
        let mut state = shared.lock();
        match written {
            Ok(()) => state.pending = state.pending.saturating_sub(size),
            Err(e) => {
                state.failed = Some((e.raw_os_error(), e.kind(), e.to_string()));
                state.chunks.clear();
                state.pending = 0;
            }
        }
        let failed = state.failed.is_some();
        drop(state);
        shared.progress.notify_waiters();
        if failed {
            return;
        }
    }
}

impl Write for BackgroundWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if let Some(e) = state.error() {
            return Err(e);
        }
        if !buf.is_empty() {
            state.chunks.push_back(buf.to_vec());
            state.pending += buf.len();
            self.shared.queued.notify_one();
        }
        Ok(buf.len())
    }

    /// Never waits: the thread writes as soon as it can. Reports an
    /// earlier failure.
    fn flush(&mut self) -> io::Result<()> {
        self.shared.lock().error().map_or(Ok(()), Err)
    }
}

impl Drop for BackgroundWriter {
    /// The thread writes what is queued and ends; nobody waits for it.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.queued.notify_one();
    }
}

impl Backlog {
    /// Bytes queued and not yet written (0 once writing failed).
    pub fn pending(&self) -> usize {
        self.shared.lock().pending
    }

    /// The error writing ended with, if it failed.
    pub fn error(&self) -> Option<io::Error> {
        self.shared.lock().error()
    }

    /// Returns once at most `limit` bytes are left to write (or writing
    /// failed: nothing more will be written).
    pub async fn below(&self, limit: usize) {
        loop {
            let progress = self.shared.progress.notified();
            tokio::pin!(progress);
            // Registered before the check: a wake-up in between is kept.
            progress.as_mut().enable();
            if self.pending() <= limit {
                return;
            }
            progress.await;
        }
    }

    /// Returns once everything queued is written.
    pub async fn written(&self) {
        self.below(0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A writer that takes nothing until the test lets it.
    struct Gate {
        open: Arc<(Mutex<bool>, Condvar)>,
        seen: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (open, cv) = &*self.open;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.seen.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn writes_never_wait_for_a_blocked_output_and_the_backlog_says_so() {
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut writer, backlog) = BackgroundWriter::spawn(Box::new(Gate { open: open.clone(), seen: seen.clone() })).unwrap();
        for _ in 0..1000 {
            writer.write_all(&[b'x'; 1000]).unwrap();
        }
        writer.flush().unwrap();
        assert!(backlog.pending() > 0);
        let rt = runtime();
        let waited = rt.block_on(async { tokio::time::timeout(Duration::from_millis(100), backlog.written()).await });
        assert!(waited.is_err(), "nothing can be written yet");
        *open.0.lock().unwrap() = true;
        open.1.notify_all();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), backlog.written()).await }).expect("written");
        assert_eq!(seen.lock().unwrap().len(), 1_000_000);
        assert_eq!(backlog.pending(), 0);
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::EPIPE))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_fails_the_writes_after_it() {
        let (mut writer, backlog) = BackgroundWriter::spawn(Box::new(Broken)).unwrap();
        writer.write_all(b"lost\n").unwrap();
        runtime().block_on(async { tokio::time::timeout(Duration::from_secs(10), backlog.written()).await }).expect("gave up");
        assert_eq!(backlog.error().and_then(|e| e.raw_os_error()), Some(libc::EPIPE));
        let e = writer.write_all(b"more\n").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
        assert_eq!(writer.flush().unwrap_err().raw_os_error(), Some(libc::EPIPE));
    }
}
