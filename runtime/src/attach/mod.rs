//! Loading and attaching the programs of an object, one module per probe
//! kind where it differs. Every attach returns a [`Link`] that detaches
//! when dropped.

mod fentry;
mod interval;
pub(crate) mod iter;
mod kprobe;
mod perf_event;
mod rawtracepoint;
mod pmu;
mod special;
mod tracepoint;
mod uprobe;
mod usdt;
mod watchpoint;

use std::os::fd::{BorrowedFd, OwnedFd};

use rbpf_codegen::manifest::{Attach, ProgramInfo};

use crate::loader::{Loader, Maps};
use crate::{sys, RuntimeError};

/// An attached probe: the links or perf events that hold it (one per CPU
/// for perf counters), and the perf events its links hold, kept open apart
/// so that taking the probe off is quick ([`sys::PerfAttachment`]);
/// dropping it detaches it.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// Closing these takes the programs off their hooks.
    holds: Vec<OwnedFd>,
    /// Closing these, after `holds`, frees the perf events.
    events: Vec<OwnedFd>,
}

impl Link {
    fn one(fd: OwnedFd) -> Link {
        Link::many(vec![fd])
    }

    fn many(holds: Vec<OwnedFd>) -> Link {
        Link { holds, events: Vec::new() }
    }

    /// Adds a program's hold on one more perf event.
    fn add(&mut self, attachment: sys::PerfAttachment) {
        self.holds.push(attachment.hold);
        self.events.extend(attachment.event);
    }

    /// Adds another link's parts.
    fn merge(&mut self, other: Link) {
        self.holds.extend(other.holds);
        self.events.extend(other.events);
    }

    fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }
}

impl From<sys::PerfAttachment> for Link {
    fn from(attachment: sys::PerfAttachment) -> Link {
        let mut link = Link::default();
        link.add(attachment);
        link
    }
}

/// Why the kernel refused a program: the verifier's log, or the refusal.
fn refused(info: &ProgramInfo) -> impl Fn(crate::sys::LoadFailure) -> RuntimeError + '_ {
    |failure| RuntimeError::refused(&info.name, &info.probe_name, failure)
}

/// Loads one program into the kernel (the verifier runs here).
pub(crate) fn load(loader: &mut Loader<'_>, info: &ProgramInfo) -> Result<OwnedFd, RuntimeError> {
    match &info.attach {
        Attach::Fentry { func, module, .. } => fentry::load(loader, info, module.as_deref(), func),
        Attach::Iter { name, .. } => iter::load(loader, info, name),
        Attach::PerfEvent { counter, .. } => {
            let program = loader.load(info, 0, None, &refused(info))?;
            perf_event::check(info, *counter)?;
            Ok(program)
        }
        _ => loader.load(info, 0, None, &refused(info)),
    }
}

/// Attaches one loaded program; BEGIN and END attach to nothing (`None`),
/// nor does a tail call, whose place in its table is its attachment.
/// `pid` is the followed process (`-p`, `-c`), which a watchpoint's
/// address is in. What the probe attaches without (the functions of a
/// wildcard the kernel cannot probe) is said in `warnings`.
pub(crate) fn attach(
    program: BorrowedFd<'_>,
    maps: &Maps,
    info: &ProgramInfo,
    pid: Option<u32>,
    warnings: &mut Vec<String>,
) -> Result<Option<Link>, RuntimeError> {
    static RAISE_LIMIT: std::sync::Once = std::sync::Once::new();
    RAISE_LIMIT.call_once(sys::raise_open_file_limit);
    let link = match &info.attach {
        Attach::Begin | Attach::End => return Ok(None),
        Attach::Tracepoint { category, name } | Attach::Dispatcher { category, name, .. } => {
            tracepoint::attach(program, info, category, name)
        }
        Attach::TailCall { table, index, .. } => return tracepoint::enter_table(program, maps, table, *index).map(|()| None),
        Attach::Interval { period_ns } => interval::attach(program, info, *period_ns),
        Attach::RawTracepoint { name } => rawtracepoint::attach(program, info, name),
        Attach::PerfEvent { counter, sample } => perf_event::attach(program, info, *counter, *sample),
        Attach::Uprobe { path, location, ret, pid } => uprobe::attach(program, info, path, location, *ret, *pid),
        Attach::UprobeMulti { path, funcs, ret, pid } => uprobe::attach_multi(program, info, path, funcs, *ret, *pid, warnings),
        Attach::Kprobe { func, offset, ret } => kprobe::attach(program, info, func, *offset, *ret),
        Attach::KprobeMulti { funcs, ret } => kprobe::attach_multi(program, info, funcs, *ret),
        Attach::Fentry { .. } => fentry::attach(program, info),
        Attach::Iter { .. } => iter::attach(program, info),
        Attach::Usdt { path, offset, semaphore_offset, pid } => usdt::attach(program, info, path, *offset, *semaphore_offset, *pid),
        Attach::Watchpoint { address, length, mode } => watchpoint::attach(program, info, *address, *length, *mode, pid),
        // Placed at run time, at each address its setup uprobe sends
        // ([`watch`]).
        Attach::WatchpointFunction { .. } => return Ok(None),
        Attach::WatchpointSetup { path, func, .. } => watchpoint::attach_setup(program, info, path, func, pid),
    };
    link.map(Some)
}

pub(crate) use watchpoint::{resume as resume_watched, FunctionWatches};

/// Detaches every link: takes every program off its hook, then frees the
/// perf events ([`close_all`] each).
pub(crate) fn detach_all(links: Vec<Link>) {
    let (holds, events) = split(links);
    close_all(holds);
    close_all(events);
}

/// The holds and the perf events of `links`, each fd alone.
fn split(links: Vec<Link>) -> (Vec<OwnedFd>, Vec<OwnedFd>) {
    let (mut holds, mut events) = (Vec::new(), Vec::new());
    for link in links {
        holds.extend(link.holds);
        events.extend(link.events);
    }
    (holds, events)
}

/// Closes every fd at once. Closing one may wait for a kernel grace period
/// (50-80 ms for a perf event); from threads of their own the waits overlap
/// where the kernel lets them (links, uprobes' multi links), and those it
/// serializes (the last fd of each trace event, under `event_mutex`) at
/// least do not wait on each other's thread.
fn close_all(mut fds: Vec<OwnedFd>) {
    /// More threads than this would cost more to start than they save.
    const MAX_THREADS: usize = 256;
    if fds.len() < 2 {
        return;
    }
    let per_thread = fds.len().div_ceil(MAX_THREADS);
    std::thread::scope(|scope| {
        while !fds.is_empty() {
            let chunk: Vec<OwnedFd> = fds.drain(..per_thread.min(fds.len())).collect();
            // A thread that cannot start leaves its fds to close here.
            let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn_scoped(scope, move || drop(chunk));
            drop(spawned);
        }
    });
}

/// Perf events being freed by [`detach_in_background`]; waiting for it (or
/// dropping it) returns once every one is closed.
pub(crate) struct Detaching(Option<std::thread::JoinHandle<()>>);

impl Detaching {
    /// Returns once every perf event is freed.
    pub(crate) fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(handle) = self.0.take() {
            // A panic there was reported on stderr; the fds are dropped.
            drop(handle.join());
        }
    }
}

impl Drop for Detaching {
    fn drop(&mut self) {
        self.join();
    }
}

/// Takes every program off its hook now, and waits until none still runs
/// on any CPU; the perf events are freed on a thread of their own. Freeing
/// the last fd of a trace event (a tracepoint, kprobe or uprobe) waits out
/// a grace period under a kernel mutex, one event after another: 35 ms
/// each here, seconds for a hundred tracepoints, which END and printing the
/// maps need not wait for. A link closes at once while its event stays
/// open ([`sys::PerfAttachment`]); on a kernel without perf links the
/// events themselves hold the programs and close here.
pub(crate) fn detach_in_background(links: Vec<Link>) -> Detaching {
    let (holds, events) = split(links);
    let took_off = !holds.is_empty();
    close_all(holds);
    if took_off {
        // A program that started before its link closed may still be
        // sending; after this, nothing more arrives. Without membarrier
        // (a kernel built without it), the events' own close waited.
        if sys::wait_for_running_programs().is_err() {
            close_all(events);
            return Detaching(None);
        }
    }
    if events.is_empty() {
        return Detaching(None);
    }
    // On failure the closure, and with it every event, is dropped here.
    let handle = std::thread::Builder::new().name("rbpf-detach".into()).spawn(move || close_all(events));
    Detaching(handle.ok())
}

/// Runs a BEGIN or END program once.
pub(crate) fn run_once(program: BorrowedFd<'_>, info: &ProgramInfo) -> Result<(), RuntimeError> {
    special::run(program, info)
}
