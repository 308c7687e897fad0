//! BEGIN and END: raw tracepoint programs that attach to nothing; each runs
//! once through BPF_PROG_TEST_RUN, so no probe has to fire (or be detached,
//! which costs a kernel grace period) to run them.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::ProgramInfo;

use crate::error::Action;
use crate::{sys, RuntimeError};

pub(super) fn run(program: BorrowedFd<'_>, info: &ProgramInfo) -> Result<(), RuntimeError> {
    match sys::prog_test_run(program) {
        Ok(_) => Ok(()),
        // Test runs of raw tracepoint programs came in Linux 5.10.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | 524 /* ENOTSUPP */)) => {
            Err(RuntimeError::Unsupported { kind: "BEGIN and END", probe: info.probe_name.clone(), source: e })
        }
        Err(e) => Err(RuntimeError::syscall(Action::RunPrograms, "BPF_PROG_TEST_RUN", &info.probe_name, e)),
    }
}
