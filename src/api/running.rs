//! Running a compiled program: [`Program::start`] loads and attaches it;
//! the [`Running`] handle runs it inside the caller's tokio runtime, receives
//! its output as [`Event`]s, reads its maps while it runs, stops it and
//! awaits its end. Dropping the handle detaches the program.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc;

use crate::api::compiler::Program;
use crate::runtime::{Event, EventOutput, MapEntry, MapHandle, Output, RuntimeError, Session, SessionOptions, StopHandle};

impl Program {
    /// Loads the program (the kernel's verifier judges it here), runs
    /// BEGIN and attaches the probes, and returns its handle; from then on
    /// the probes count into the maps, and the events they print are
    /// handled while the handle is awaited ([`Running::recv`],
    /// [`Running::wait`]), until `exit()` or [`Running::stop`]. The
    /// process's signals are left alone.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O and time enabled.
    pub fn start(&self) -> Result<Running, RuntimeError> {
        let mut session = Session::load(&self.compiled().object, &embedded())?;
        let maps = session.map_handle()?;
        let stop = session.stop_handle();
        let (mut out, events) = EventOutput::channel();
        let mut run: Run = Box::pin(async move {
            let code = session.run(&mut out).await?;
            out.send(Event::Exit(code));
            Ok(code)
        });
        // Up to its first wait for events: BEGIN has run and the probes
        // are attached. Whoever awaits the handle later is woken from
        // then on (each poll registers the waker of the poll).
        let result = match run.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Pending => None,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Ready(ended) => Some(ended),
        };
        let run = if result.is_some() { None } else { Some(run) };
        Ok(Running { events, maps, stop, run, result })
    }

    /// Loads the program and runs it to its end, in this task, sending
    /// what it prints to `out` (a [`TextOutput`](crate::runtime::TextOutput)
    /// prints bpftrace's text). Returns the code of the last `exit(code)`.
    /// `stop` (a [`StopHandle::default`] kept elsewhere) stops it as
    /// [`Running::stop`] does.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O and time enabled.
    pub async fn run<O: Output>(&self, out: &mut O, stop: StopHandle) -> Result<i32, RuntimeError> {
        let mut session = Session::load(&self.compiled().object, &embedded())?;
        session.stop_on(stop);
        session.run(out).await
    }
}

/// How an embedded program runs: like the command line, but the signals
/// are the embedding program's own.
fn embedded() -> SessionOptions {
    SessionOptions { ignore_signals: true, ..SessionOptions::default() }
}

/// The run of one session, owning it: dropping it detaches the probes.
type Run = Pin<Box<dyn Future<Output = Result<i32, RuntimeError>>>>;

/// A started program and its run: its events, its maps, and the way to
/// stop it. The run is a future the handle owns, not a task: its events
/// are handled while the handle is awaited ([`Running::recv`],
/// [`Running::wait`]); in between, the probes stay attached and keep
/// counting into the maps ([`Running::read_map`] reads them at any time),
/// and printed events wait in the kernel's ring buffer. Dropping the handle detaches every
/// probe and frees every kernel object of the program at once, without
/// running END. Several handles may run side by side (awaited with
/// `tokio::join!` or `select!`, or each in a task of a
/// [`tokio::task::LocalSet`]: the handle is not `Send`, as the symbol
/// caches of a run are not).
pub struct Running {
    events: mpsc::UnboundedReceiver<Event>,
    maps: MapHandle,
    stop: StopHandle,
    /// `None` once it has ended.
    run: Option<Run>,
    /// How it ended, until [`Running::wait`] takes it.
    result: Option<Result<i32, RuntimeError>>,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("maps", &self.maps).field("ended", &self.run.is_none()).finish_non_exhaustive()
    }
}

impl Running {
    /// Runs the program until its next event and returns it, in the order
    /// the program printed them; `None` once the program has ended and
    /// every event was received (the last one then was [`Event::Exit`],
    /// unless the run failed: [`Running::wait`] says why). Cancel-safe.
    pub async fn recv(&mut self) -> Option<Event> {
        if let Ok(event) = self.events.try_recv() {
            return Some(event);
        }
        if let Some(run) = &mut self.run {
            tokio::select! {
                biased;
                event = self.events.recv() => return event,
                result = run => {
                    // Dropping the run closes the channel: what it sent
                    // is received below, then `None`.
                    self.run = None;
                    self.result = Some(result);
                }
            }
        }
        self.events.recv().await
    }

    /// The next event if one is waiting, without running the program.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }
    /// The map named `name` (`"@x"` or `"x"`) as it is now, typed as
    /// printed maps are: per-CPU values combined, histograms as buckets,
    /// sorted as bpftrace prints them.
    pub fn read_map(&self, name: &str) -> Result<Vec<MapEntry>, RuntimeError> {
        self.maps.read(name)
    }

    /// Deletes every element of the map, as `clear(@map)`.
    pub fn clear_map(&self, name: &str) -> Result<(), RuntimeError> {
        self.maps.clear(name)
    }

    /// Sets every value of the map to zero, keeping its keys, as
    /// `zero(@map)`.
    pub fn zero_map(&self, name: &str) -> Result<(), RuntimeError> {
        self.maps.zero(name)
    }

    /// The program's maps, to read from elsewhere (another task or
    /// thread) for as long as the handle is kept.
    pub fn maps(&self) -> &MapHandle {
        &self.maps
    }

    /// Asks the program to stop, as Ctrl-C stops the command line: the
    /// probes detach, END runs, the maps print (as events), then the
    /// program ends.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// A stopper to keep elsewhere: cloneable, and usable from any task
    /// or thread.
    pub fn stopper(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs the program to its end and returns the code of its last
    /// `exit(code)` (0 if none), or what made it fail. Events not yet
    /// received are dropped: receive them first to see them.
    pub async fn wait(mut self) -> Result<i32, RuntimeError> {
        // Nothing more is kept: what the run sends from now on is dropped
        // as it is sent, not queued.
        self.events.close();
        match self.run.take() {
            Some(run) => run.await,
            None => self.result.take().unwrap_or(Ok(0)),
        }
    }
}
