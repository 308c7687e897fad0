//! `profile`, `software` and `hardware`: one perf counter per online CPU,
//! each running the same program, as bpftrace attaches them. The three
//! differ only in the counter, so they share this attach.

use aya::programs::perf_event::{
    HardwareEvent, PerfEventConfig, PerfEventLinkId, PerfEventScope, SamplePolicy, SoftwareEvent,
};
use aya::programs::{PerfEvent, Program, ProgramError};
use rbpf_codegen::manifest::{PerfCounter, PerfSample, ProgramInfo};

use super::{typed, Link};
use crate::error::Action;
use crate::RuntimeError;

pub(super) fn load(program: &mut Program, info: &ProgramInfo, counter: PerfCounter) -> Result<(), RuntimeError> {
    let program: &mut PerfEvent = typed(program, info, "perf event program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))?;
    // A machine without a PMU is told before BEGIN runs: open the counter
    // once on the first CPU and close it again.
    if let PerfCounter::Hardware { .. } = counter {
        let cpu = online_cpus()?.first().copied().unwrap_or(0);
        let id = open(program, info, counter, PerfSample::Period(u64::MAX >> 1), cpu)?;
        program.detach(id).map_err(|e| attach_error(info, counter, e))?;
    }
    Ok(())
}

pub(super) fn attach(
    program: &mut Program,
    info: &ProgramInfo,
    counter: PerfCounter,
    sample: PerfSample,
) -> Result<Link, RuntimeError> {
    let program: &mut PerfEvent = typed(program, info, "perf event program")?;
    let cpus = online_cpus()?;
    // Links already made are dropped (detached) if a later CPU fails.
    let mut links = Vec::with_capacity(cpus.len());
    for cpu in cpus {
        let id = open(program, info, counter, sample, cpu)?;
        links.push(program.take_link(id).map_err(|e| attach_error(info, counter, e))?);
    }
    Ok(Link::PerfEvents(links))
}

fn open(
    program: &mut PerfEvent,
    info: &ProgramInfo,
    counter: PerfCounter,
    sample: PerfSample,
    cpu: u32,
) -> Result<PerfEventLinkId, RuntimeError> {
    let config = config(info, counter)?;
    let policy = match sample {
        PerfSample::Period(n) => SamplePolicy::Period(n),
        PerfSample::Frequency(n) => SamplePolicy::Frequency(n),
    };
    program
        .attach(config, PerfEventScope::AllProcessesOneCpu { cpu }, policy, false)
        .map_err(|e| attach_error(info, counter, e))
}

fn online_cpus() -> Result<Vec<u32>, RuntimeError> {
    aya::util::online_cpus().map_err(|(path, source)| RuntimeError::Syscall { call: "read", object: path.to_string(), source })
}

/// aya's name for the counter; config numbers are the kernel's ABI.
fn config(info: &ProgramInfo, counter: PerfCounter) -> Result<PerfEventConfig, RuntimeError> {
    use HardwareEvent as H;
    use SoftwareEvent as S;
    let config = match counter {
        PerfCounter::Software { config } => PerfEventConfig::Software(match config {
            0 => S::CpuClock,
            1 => S::TaskClock,
            2 => S::PageFaults,
            3 => S::ContextSwitches,
            4 => S::CpuMigrations,
            5 => S::PageFaultsMin,
            6 => S::PageFaultsMaj,
            7 => S::AlignmentFaults,
            8 => S::EmulationFaults,
            9 => S::Dummy,
            10 => S::BpfOutput,
            _ => return Err(RuntimeError::Missing { what: "software event", name: info.probe_name.clone() }),
        }),
        PerfCounter::Hardware { config } => PerfEventConfig::Hardware(match config {
            0 => H::CpuCycles,
            1 => H::Instructions,
            2 => H::CacheReferences,
            3 => H::CacheMisses,
            4 => H::BranchInstructions,
            5 => H::BranchMisses,
            6 => H::BusCycles,
            7 => H::StalledCyclesFrontend,
            8 => H::StalledCyclesBackend,
            9 => H::RefCpuCycles,
            _ => return Err(RuntimeError::Missing { what: "hardware event", name: info.probe_name.clone() }),
        }),
    };
    Ok(config)
}

fn attach_error(info: &ProgramInfo, counter: PerfCounter, e: ProgramError) -> RuntimeError {
    if let ProgramError::SyscallError(s) = &e {
        let errno = s.io_error.raw_os_error();
        // perf_event_open says ENOENT (no such event), ENODEV or EOPNOTSUPP
        // when no PMU provides the counter: virtual machines and most
        // containers have none.
        if matches!(errno, Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP)) {
            if let PerfCounter::Hardware { .. } = counter {
                return RuntimeError::NoPmu { probe: info.probe_name.clone() };
            }
            let source = std::io::Error::from_raw_os_error(errno.unwrap_or(0));
            return RuntimeError::Unsupported { kind: "perf event", probe: info.probe_name.clone(), source };
        }
        if let Some(refusal) = RuntimeError::from_refusal(Action::AttachPerfEvents, &s.io_error) {
            return refusal;
        }
    }
    RuntimeError::Attach { probe: info.probe_name.clone(), source: e }
}
