//! Loading and attaching the programs of an object, one module per probe
//! kind. Every attach returns a [`Link`] that detaches when dropped.

mod fentry;
mod interval;
mod kprobe;
mod perf_event;
mod rawtracepoint;
mod special;
mod tracepoint;
mod uprobe;
mod usdt;
mod watchpoint;

use aya::programs::fentry::FEntryLink;
use aya::programs::fexit::FExitLink;
use aya::programs::kprobe::KProbeLink;
use aya::programs::raw_trace_point::RawTracePointLink;
use aya::programs::{perf_event::PerfEventLink, trace_point::TracePointLink, uprobe::UProbeLink, Program};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use aya::Ebpf;
use rbpf_codegen::manifest::{Attach, ProgramInfo};

use crate::RuntimeError;

/// An attached probe; dropping it detaches it.
#[derive(Debug)]
pub(crate) enum Link {
    Tracepoint(#[allow(dead_code, reason = "held for its Drop")] TracePointLink),
    Interval(#[allow(dead_code, reason = "held for its Drop")] PerfEventLink),
    RawTracepoint(#[allow(dead_code, reason = "held for its Drop")] RawTracePointLink),
    /// One perf event per online CPU, all running the same program.
    PerfEvents(#[allow(dead_code, reason = "held for its Drop")] Vec<PerfEventLink>),
    Uprobe(#[allow(dead_code, reason = "held for its Drop")] UProbeLink),
    Kprobe(#[allow(dead_code, reason = "held for its Drop")] KProbeLink),
    Fentry(#[allow(dead_code, reason = "held for its Drop")] FEntryLink),
    Fexit(#[allow(dead_code, reason = "held for its Drop")] FExitLink),
    /// A BPF link or perf event rbpf made itself (kprobe multi-attach,
    /// usdt); closing it detaches.
    Fd(#[allow(dead_code, reason = "held for its Drop")] OwnedFd),
}

/// The programs rbpf loads itself rather than through aya (multi-attach
/// kprobes), by program name; closing one unloads it.
#[derive(Debug, Default)]
pub(crate) struct OwnPrograms(HashMap<String, OwnedFd>);

fn program<'a>(ebpf: &'a mut Ebpf, info: &ProgramInfo) -> Result<&'a mut Program, RuntimeError> {
    ebpf.program_mut(&info.name)
        .ok_or_else(|| RuntimeError::Missing { what: "program", name: info.name.clone() })
}

/// Loads one program into the kernel (the verifier runs here); `elf` is
/// the object aya loaded, for the programs rbpf loads itself.
pub(crate) fn load(ebpf: &mut Ebpf, own: &mut OwnPrograms, elf: &[u8], info: &ProgramInfo) -> Result<(), RuntimeError> {
    match &info.attach {
        Attach::Begin | Attach::End => special::load(program(ebpf, info)?, info),
        Attach::Tracepoint { .. } | Attach::TailCall { .. } | Attach::Dispatcher { .. } => tracepoint::load(program(ebpf, info)?, info),
        Attach::Interval { .. } => interval::load(program(ebpf, info)?, info),
        Attach::RawTracepoint { .. } => rawtracepoint::load(program(ebpf, info)?, info),
        Attach::PerfEvent { counter, .. } => perf_event::load(program(ebpf, info)?, info, *counter),
        Attach::Uprobe { .. } => uprobe::load(program(ebpf, info)?, info),
        Attach::Kprobe { .. } => kprobe::load(program(ebpf, info)?, info),
        Attach::KprobeMulti { .. } => {
            let fd = kprobe::load_multi(ebpf, elf, info)?;
            own.0.insert(info.name.clone(), fd);
            Ok(())
        }
        Attach::Fentry { func, ret } => fentry::load(program(ebpf, info)?, info, func, *ret),
        Attach::Usdt { .. } => usdt::load(program(ebpf, info)?, info),
        Attach::Watchpoint { .. } => watchpoint::load(program(ebpf, info)?, info),
    }
}

/// Attaches one loaded program; BEGIN and END attach to nothing (`None`).
/// `pid` is the followed process (`-p`, `-c`), which a watchpoint's
/// address is in.
pub(crate) fn attach(ebpf: &mut Ebpf, own: &OwnPrograms, info: &ProgramInfo, pid: Option<u32>) -> Result<Option<Link>, RuntimeError> {
    let link = match &info.attach {
        Attach::Begin | Attach::End => return Ok(None),
        Attach::Tracepoint { category, name } | Attach::Dispatcher { category, name, .. } => {
            tracepoint::attach(program(ebpf, info)?, info, category, name)
        }
        Attach::TailCall { table, index, .. } => return tracepoint::enter_table(ebpf, info, table, *index).map(|()| None),
        Attach::Interval { period_ns } => interval::attach(program(ebpf, info)?, info, *period_ns),
        Attach::RawTracepoint { name } => rawtracepoint::attach(program(ebpf, info)?, info, name),
        Attach::PerfEvent { counter, sample } => perf_event::attach(program(ebpf, info)?, info, *counter, *sample),
        Attach::Uprobe { path, location, pid, .. } => uprobe::attach(program(ebpf, info)?, info, path, location, *pid),
        Attach::Kprobe { func, offset, .. } => kprobe::attach(program(ebpf, info)?, info, func, *offset),
        Attach::KprobeMulti { funcs, ret } => {
            let fd = own.0.get(&info.name).ok_or_else(|| RuntimeError::Missing { what: "program", name: info.name.clone() })?;
            kprobe::attach_multi(fd.as_fd(), info, funcs, *ret)
        }
        Attach::Fentry { ret, .. } => fentry::attach(program(ebpf, info)?, info, *ret),
        Attach::Usdt { path, offset, semaphore_offset, pid } => {
            usdt::attach(program(ebpf, info)?, info, path, *offset, *semaphore_offset, *pid)
        }
        Attach::Watchpoint { address, length, mode } => {
            watchpoint::attach(program(ebpf, info)?, info, *address, *length, *mode, pid)
        }
    };
    link.map(Some)
}

/// Detaches every link at once. Closing one waits for the kernel's grace
/// period (50-80 ms for a tracepoint), so closing 360 one after another
/// takes half a minute; closed from threads of their own the waits overlap
/// and the whole takes about one.
pub(crate) fn detach_all(links: Vec<Link>) {
    /// More threads than this would cost more to start than they save.
    const MAX_THREADS: usize = 256;
    if links.len() < 2 {
        return;
    }
    let per_thread = links.len().div_ceil(MAX_THREADS);
    let mut links = links;
    std::thread::scope(|scope| {
        while !links.is_empty() {
            let chunk: Vec<Link> = links.drain(..per_thread.min(links.len())).collect();
            // A thread that cannot start leaves its links to close here.
            let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn_scoped(scope, move || drop(chunk));
            drop(spawned);
        }
    });
}

/// Runs a BEGIN or END program once.
pub(crate) fn run_once(ebpf: &mut Ebpf, info: &ProgramInfo) -> Result<(), RuntimeError> {
    special::run(program(ebpf, info)?, info)
}

/// The program as the type its section says, or a Missing error.
fn typed<'a, T>(program: &'a mut Program, info: &ProgramInfo, what: &'static str) -> Result<&'a mut T, RuntimeError>
where
    &'a mut T: TryFrom<&'a mut Program>,
{
    program.try_into().map_err(|_| RuntimeError::Missing { what, name: info.name.clone() })
}
