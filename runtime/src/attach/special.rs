//! BEGIN and END: raw tracepoint programs that attach to nothing; each runs
//! once through BPF_PROG_TEST_RUN, so no probe has to fire (or be detached,
//! which costs a kernel grace period) to run them.

use std::os::fd::AsFd;

use aya::programs::{Program, RawTracePoint};
use rbpf_codegen::manifest::ProgramInfo;

use super::typed;
use crate::error::Action;
use crate::{sys, RuntimeError};

pub(super) fn load(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut RawTracePoint = typed(program, info, "raw tracepoint program")?;
    program.load().map_err(|e| RuntimeError::load(&info.name, &info.probe_name, e))
}

pub(super) fn run(program: &mut Program, info: &ProgramInfo) -> Result<(), RuntimeError> {
    let program: &mut RawTracePoint = typed(program, info, "raw tracepoint program")?;
    let fd = program.fd().map_err(|e| RuntimeError::Load { probe: info.probe_name.clone(), source: e })?;
    match sys::prog_test_run(fd.as_fd()) {
        Ok(_) => Ok(()),
        // Test runs of raw tracepoint programs came in Linux 5.10.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | 524 /* ENOTSUPP */)) => {
            Err(RuntimeError::Unsupported { kind: "BEGIN and END", probe: info.probe_name.clone(), source: e })
        }
        Err(e) => Err(RuntimeError::syscall(Action::RunPrograms, "BPF_PROG_TEST_RUN", &info.probe_name, e)),
    }
}
