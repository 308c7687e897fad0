//! Functions the kernel allows in some probe types only: `override(rc)`
//! (bpf_override_return, in a kprobe on a function's entry, with
//! `--unsafe`) and `path(p)` (bpf_d_path, in fentry/fexit probes, where
//! the kernel's BTF says what the pointer is).

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::checked::{ExprKind, StmtKind};
use crate::probes::ProbeKind;
use crate::types::Type;
use crate::Diagnostic;

impl Checker {
    /// `override(rc)`: the probed function returns `rc` without running.
    pub(super) fn override_return(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        if !matches!(cx.resolved.kind, ProbeKind::Kprobe { ret: false, .. } | ProbeKind::KprobeMulti { ret: false, .. }) {
            self.error(
                Diagnostic::error(call.span, "override can only be used with kprobes.")
                    .with_label(format!("in {}", cx.resolved.name))
                    .with_note("bpf_override_return works in a kprobe on a function's entry alone, and only for the functions the kernel allows error injection into"),
            );
            return None;
        }
        let rc = self.expr(&call.args[0], cx);
        self.expect_int(&rc, "`override()`")?;
        Some(StmtKind::Override(rc))
    }

    /// `path(p)`: the full path of a `struct path *`, a string.
    pub(super) fn path(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if !matches!(cx.resolved.kind, ProbeKind::Fentry { .. }) {
            self.error(
                Diagnostic::error(call.span, "The path function can only be used with 'kfunc', 'kretfunc', 'iter' probes")
                    .with_label(format!("in {}", cx.resolved.name))
                    .with_note("bpf_d_path is allowed in fentry and fexit programs only"),
            );
            return None;
        }
        // A `struct path` member is passed by its address, as bpftrace
        // takes `path(args->filp->f_path)`.
        let p = match self.record_address(&call.args[0], cx) {
            Some(address) => address,
            None => self.expr(&call.args[0], cx),
        };
        self.expect_int(&p, "`path()`")?;
        Some((ExprKind::Call { function: "path", args: vec![p] }, Type::Str { size: self.strlen }))
    }
}
