//! Loading and attaching the programs of an object, one module per probe
//! kind where it differs. Every attach returns a [`Link`] that detaches
//! when dropped.

mod fentry;
mod interval;
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
use crate::RuntimeError;

/// An attached probe: the links or perf events that hold it (one per CPU
/// for perf counters); dropping it detaches it.
#[derive(Debug)]
pub(crate) struct Link(#[allow(dead_code, reason = "held for its Drop")] Vec<OwnedFd>);

impl Link {
    fn one(fd: OwnedFd) -> Link {
        Link(vec![fd])
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

/// Detaches every link at once. Closing one waits for the kernel's grace
/// period (50-80 ms for a tracepoint), so closing 360 one after another
/// takes half a minute; closed from threads of their own the waits overlap
/// and the whole takes about one.
pub(crate) fn detach_all(links: Vec<Link>) {
    /// More threads than this would cost more to start than they save.
    const MAX_THREADS: usize = 256;
    // A link of many parts (a perf counter's per-CPU events, the links of
    // a uprobe wildcard) closes its parts concurrently too.
    let mut links: Vec<Link> = links.into_iter().flat_map(|l| l.0).map(Link::one).collect();
    if links.len() < 2 {
        return;
    }
    let per_thread = links.len().div_ceil(MAX_THREADS);
    std::thread::scope(|scope| {
        while !links.is_empty() {
            let chunk: Vec<Link> = links.drain(..per_thread.min(links.len())).collect();
            // A thread that cannot start leaves its links to close here.
            let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn_scoped(scope, move || drop(chunk));
            drop(spawned);
        }
    });
}

/// Links being detached by [`detach_in_background`]; waiting for it (or
/// dropping it) returns once every one is closed.
pub(crate) struct Detaching(Option<std::thread::JoinHandle<()>>);

impl Detaching {
    pub(crate) fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(handle) = self.0.take() {
            // A panic there was reported on stderr; the links are dropped.
            drop(handle.join());
        }
    }
}

impl Drop for Detaching {
    fn drop(&mut self) {
        self.join();
    }
}

/// [`detach_all`] on a thread of its own. The kernel takes a program off
/// its hook at once and then waits out a grace period (50-90 ms for a
/// tracepoint) before close() returns: END and printing the maps need not
/// wait for that. Detaches here if no thread can start.
pub(crate) fn detach_in_background(links: Vec<Link>) -> Detaching {
    if links.is_empty() {
        return Detaching(None);
    }
    // On failure the closure, and with it every link, is dropped here.
    let handle = std::thread::Builder::new().name("rbpf-detach".into()).spawn(move || detach_all(links));
    Detaching(handle.ok())
}

/// Runs a BEGIN or END program once.
pub(crate) fn run_once(program: BorrowedFd<'_>, info: &ProgramInfo) -> Result<(), RuntimeError> {
    special::run(program, info)
}
