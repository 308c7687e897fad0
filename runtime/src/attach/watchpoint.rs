//! `watchpoint`: a hardware breakpoint perf event (PERF_TYPE_BREAKPOINT,
//! sample period 1) running the program on every access it watches. With
//! a followed process it is one event for that process on whichever CPU it
//! runs; without one it watches a kernel address, one event per online CPU,
//! as bpftrace does.
//!
//! `watchpoint:FUNC+argN` attaches a uprobe on the function
//! ([`attach_setup`]) in the followed process; each address it sends is
//! watched from then on ([`watch`]), and the process, which the uprobe
//! stopped unless the probe is an `asyncwatchpoint`, is let go on.
//!
//! `unwatch(addr)` removes every watchpoint on the address when its
//! request arrives ([`FunctionWatches::unwatch`]), and forgets the
//! address, so that the function passed it again watches it again.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{Attach, ProgramInfo, UprobeLocation, WatchMode};

use super::perf_event::online_cpus;
use super::Link;
use crate::error::Action;
use crate::sys::{self, perf_flag, perf_type, PerfEventAttr};
use crate::RuntimeError;

/// `HW_BREAKPOINT_R`, `_W`, `_RW` and `_X`.
fn bp_type(mode: WatchMode) -> u32 {
    match mode {
        WatchMode::Read => 1,
        WatchMode::Write => 2,
        WatchMode::ReadWrite => 3,
        WatchMode::Execute => 4,
    }
}

pub(super) fn attach(
    program: BorrowedFd<'_>,
    info: &ProgramInfo,
    address: u64,
    length: u8,
    mode: WatchMode,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let length = match (mode, length) {
        // The kernel takes the length of a long for an instruction.
        (WatchMode::Execute, _) => std::mem::size_of::<libc::c_long>() as u64,
        (_, 1 | 2 | 4 | 8) => u64::from(length),
        _ => return Err(RuntimeError::Missing { what: "watchpoint length", name: info.probe_name.clone() }),
    };
    let scopes: Vec<(i32, i32)> = match pid.and_then(|p| i32::try_from(p).ok()) {
        Some(pid) => vec![(pid, -1)],
        None => online_cpus()?.into_iter().map(|cpu| (-1, i32::try_from(cpu).unwrap_or(0))).collect(),
    };
    open(program, &scopes, address, length, mode).map_err(|e| attach_error(info, pid, mode, e))
}

/// Opens the breakpoint's perf events, one per (pid, cpu) of `scopes`, and
/// attaches the program to them; `length` is one the kernel takes.
fn open(program: BorrowedFd<'_>, scopes: &[(i32, i32)], address: u64, length: u64, mode: WatchMode) -> Result<Link, std::io::Error> {
    // Links already made are dropped (detached) if a later one fails.
    let mut links = Link::default();
    for &(pid_arg, cpu) in scopes {
        let mut attr = PerfEventAttr {
            type_: perf_type::BREAKPOINT,
            sample_period: 1,
            // Not `precise_ip` (bpftrace asks for it): a breakpoint is
            // exact anyway, and a precise event takes a program that reads
            // stacks only with call-chain samples (else EPROTO), whose
            // user stacks then begin with perf's PERF_CONTEXT_USER marker.
            flags: perf_flag::DISABLED,
            bp_type: bp_type(mode),
            config1: address,
            config2: length,
            ..PerfEventAttr::default()
        };
        let event = sys::perf_event_open(&mut attr, pid_arg, cpu)?;
        links.add(sys::perf_event_attach(event, program)?);
    }
    Ok(links)
}

/// The uprobe of `watchpoint:FUNC+argN` on `func` in `path`, in the
/// followed process alone: the breakpoint is that process's.
pub(super) fn attach_setup(program: BorrowedFd<'_>, info: &ProgramInfo, path: &str, func: &str, pid: Option<u32>) -> Result<Link, RuntimeError> {
    if pid.is_none() {
        return Err(RuntimeError::Watchpoint { probe: info.probe_name.clone(), reason: "it watches an address in a process: give one with -p PID or -c CMD" });
    }
    super::uprobe::attach(program, info, path, &UprobeLocation::Symbol(func.to_string()), false, pid)
}

/// What watching a function's argument came to.
pub(crate) enum Watched {
    /// The breakpoint is in place.
    Attached(Link),
    /// The process already exited.
    Gone,
    /// Every debug register is taken: the address is not watched, as in
    /// bpftrace, which says so and goes on.
    OutOfRegisters,
    /// The kernel cannot watch that address; the warning says why.
    Refused(String),
}

/// Puts the breakpoint of `info` (an `Attach::WatchpointFunction`
/// program) on `length` bytes at `address` in process `pid`.
pub(crate) fn watch(program: BorrowedFd<'_>, info: &ProgramInfo, address: u64, length: u8, mode: WatchMode, pid: u32) -> Result<Watched, RuntimeError> {
    let bytes = match mode {
        WatchMode::Execute => std::mem::size_of::<libc::c_long>() as u64,
        _ => u64::from(length),
    };
    // In every thread the process has now: a breakpoint opened for a pid
    // watches that one thread, and the thread that calls the function
    // need not be the one that accesses the address.
    let mut links = Link::default();
    for tid in threads_of(pid) {
        match open(program, &[(tid, -1)], address, bytes, mode) {
            Ok(link) => links.merge(link),
            // A thread that ended since it was listed.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return refusal(info, address, length, mode, pid, e),
        }
    }
    Ok(match links.is_empty() {
        true => Watched::Gone,
        false => Watched::Attached(links),
    })
}

/// The threads of process `pid` (none once it is gone).
fn threads_of(pid: u32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks.filter_map(|task| task.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// What perf_event_open's error `e` means for a breakpoint at an address
/// a function was passed (the breakpoints already opened are dropped).
fn refusal(info: &ProgramInfo, address: u64, length: u8, mode: WatchMode, pid: u32, e: std::io::Error) -> Result<Watched, RuntimeError> {
    match e {
        e if e.raw_os_error() == Some(libc::ENOSPC) => Ok(Watched::OutOfRegisters),
        // The address came from the function: one the kernel cannot
        // watch (not a multiple of the length) is said and skipped, as a
        // breakpoint out of registers is.
        e if e.raw_os_error() == Some(libc::EINVAL) && mode != WatchMode::Read => Ok(Watched::Refused(format!(
            "{}: cannot watch {length} bytes at {address:#x}: the address must be a multiple of the length, skipping",
            info.probe_name
        ))),
        e => Err(attach_error(info, Some(pid), mode, e)),
    }
}

fn attach_error(info: &ProgramInfo, pid: Option<u32>, mode: WatchMode, e: std::io::Error) -> RuntimeError {
    let probe = info.probe_name.clone();
    let reason = match e.raw_os_error() {
        // The breakpoint PMU is missing (some virtual machines) or
        // switched off.
        Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP) => Some("this kernel or machine has no hardware breakpoints"),
        Some(libc::ENOSPC) => Some("every debug register is in use (x86 has four; a debugger or another trace may hold them)"),
        // x86's debug registers watch writes, or reads and writes, never
        // reads alone.
        Some(libc::EINVAL) if mode == WatchMode::Read => Some("this machine cannot watch reads alone: watch `rw` (reads and writes) instead"),
        Some(libc::EINVAL) => Some("the kernel refused the breakpoint's address, length or mode on this machine"),
        Some(libc::ESRCH) if pid.is_some() => Some("the process has exited"),
        _ => None,
    };
    match reason {
        Some(reason) => RuntimeError::Watchpoint { probe, reason },
        None => RuntimeError::attach(Action::AttachPerfEvents, &info.probe_name, e),
    }
}

/// The breakpoints a session's watchpoints placed (those of
/// `watchpoint:FUNC+argN` and those on a fixed address, which `unwatch()`
/// can remove), and whether their uprobes stop the followed process.
#[derive(Debug, Default)]
pub(crate) struct FunctionWatches {
    /// The (program, address) pairs already watched or refused: a function
    /// passed the same address again adds no second breakpoint (bpftrace
    /// skips a repeat too), and a refusal is said once.
    seen: std::collections::HashSet<(usize, u64)>,
    /// The breakpoints in place, by the address they watch.
    links: Vec<(u64, Link)>,
    /// Whether a synchronous watchpoint's uprobe may stop the process.
    stops: bool,
}

/// bpftrace 0.17's words when every debug register is taken.
pub(crate) const OUT_OF_REGISTERS: &str = "Failed to attach watchpoint probe. You are out of watchpoint registers.";

impl FunctionWatches {
    pub(crate) fn new(manifest: &rbpf_codegen::manifest::Manifest) -> FunctionWatches {
        let stops = manifest.programs.iter().any(|p| matches!(p.attach, Attach::WatchpointSetup { asynchronous: false, .. }));
        FunctionWatches { seen: Default::default(), links: Vec::new(), stops }
    }

    /// Keeps the link of a watchpoint on a fixed `address`, which
    /// `unwatch()` may remove.
    pub(crate) fn keep(&mut self, address: u64, link: Link) {
        self.links.push((address, link));
    }

    /// The breakpoints still in place, to be detached with the session's
    /// other links.
    pub(crate) fn take_links(&mut self) -> Vec<Link> {
        std::mem::take(&mut self.links).into_iter().map(|(_, link)| link).collect()
    }

    /// `unwatch(address)`: detaches every breakpoint on `address` and
    /// forgets the pairs it was watched by, also in `watched` (the
    /// [`rbpf_codegen::manifest::WATCHED_MAP`]), so that a function passed
    /// it again watches it again. An address nothing watches is no error,
    /// as in bpftrace.
    pub(crate) fn unwatch(&mut self, address: u64, watched: Option<BorrowedFd<'_>>) {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.links).into_iter().partition(|(a, _)| *a == address);
        self.links = kept;
        let forgotten: Vec<(usize, u64)> = self.seen.iter().filter(|(_, a)| *a == address).copied().collect();
        for pair in &forgotten {
            self.seen.remove(pair);
            if let Some(map) = watched {
                let _ = sys::map_delete(map, &watched_key(pair.0, pair.1));
            }
        }
        super::detach_all(gone.into_iter().map(|(_, link)| link).collect());
    }

    /// Whether a uprobe of the session may stop the followed process (so
    /// that it must be let go on once no uprobe can stop it again).
    pub(crate) fn stops_process(&self) -> bool {
        self.stops
    }

    /// Watches `address` with the program at `index` of `programs` (whose
    /// fd `program` finds) in process `pid`, then lets the process go on
    /// if its uprobe stopped it. Keeps the breakpoint's link, if a new one
    /// was placed, and gives a warning to print, if one is due.
    /// The pair is then noted in `watched` (the [`rbpf_codegen::manifest::WATCHED_MAP`]), so that
    /// the uprobe neither sends it nor stops the process for it again.
    pub(crate) fn place<'a>(
        &mut self,
        programs: &[ProgramInfo],
        program: impl Fn(&ProgramInfo) -> Result<BorrowedFd<'a>, RuntimeError>,
        watched: Option<BorrowedFd<'_>>,
        index: usize,
        address: u64,
        pid: Option<u32>,
    ) -> Result<Option<String>, RuntimeError> {
        let Some(info @ ProgramInfo { attach: Attach::WatchpointFunction { length, mode }, .. }) = programs.get(index) else {
            return Err(RuntimeError::Event(format!("watchpoint program {index} is not in the manifest")));
        };
        let asynchronous = !programs.iter().any(|p| matches!(p.attach, Attach::WatchpointSetup { watch, asynchronous: false, .. } if watch as usize == index));
        let Some(pid) = pid else {
            return Err(RuntimeError::Watchpoint { probe: info.probe_name.clone(), reason: "it watches an address in a process: give one with -p PID or -c CMD" });
        };
        let placed = match self.seen.insert((index, address)) {
            false => Ok(None),
            true => program(info).and_then(|fd| watch(fd, info, address, *length, *mode, pid)).map(|watched| match watched {
                Watched::Attached(link) => {
                    self.links.push((address, link));
                    None
                }
                Watched::Gone => None,
                Watched::OutOfRegisters => Some(OUT_OF_REGISTERS.to_string()),
                Watched::Refused(why) => Some(why),
            }),
        };
        // A full map (or a pair it cannot take) only costs the repeats
        // their record; so does a process gone, which makes no more calls.
        if let (true, Some(map)) = (placed.is_ok(), watched) {
            let _ = sys::map_update(map, &watched_key(index, address), &[1]);
        }
        // Also when the breakpoint could not be placed: the process must
        // not stay stopped.
        if !asynchronous {
            resume(pid);
        }
        placed
    }
}

/// The [`rbpf_codegen::manifest::WATCHED_MAP`]'s key of the program at
/// `index` watching `address`.
fn watched_key(index: usize, address: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&(index as u32).to_ne_bytes());
    key[4..].copy_from_slice(&address.to_ne_bytes());
    key
}

/// Lets process `pid` go on after a setup uprobe stopped it (SIGSTOP).
/// One that exited meanwhile needs nothing.
pub(crate) fn resume(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
}
