//! Functions the kernel allows in some probe types only: `override(rc)`
//! (bpf_override_return, in a kprobe on a function's entry, with
//! `--unsafe`), and `path(p)` (bpf_d_path) and
//! `skboutput(path, skb, length, offset)` (bpf_skb_output) in fentry/fexit
//! probes (and `path()` in iterator probes too), where the kernel's BTF says what the pointer is.

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::ast::ExprKind as A;
use crate::checked::{Expr, ExprKind, StmtKind};
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
        if !matches!(cx.resolved.kind, ProbeKind::Fentry { .. } | ProbeKind::Iter { .. }) {
            self.error(
                Diagnostic::error(call.span, "The path function can only be used with 'kfunc', 'kretfunc', 'iter' probes")
                    .with_label(format!("in {}", cx.resolved.name))
                    .with_note("bpf_d_path is allowed in fentry, fexit and iterator programs only"),
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

    /// `skboutput(path, skb, length, offset)`: `length` bytes of the
    /// packet data of `skb` (a `struct sk_buff *` the kernel's BTF types),
    /// from `offset` on, written as a record of the pcap file at `path`;
    /// its value is the helper's: 0, or a negative error.
    pub(super) fn skboutput(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if !matches!(cx.resolved.kind, ProbeKind::Fentry { .. }) {
            self.error(
                Diagnostic::error(call.span, format!("`skboutput()` is not available in `{}`", cx.resolved.name))
                    .with_label("not in an fentry or fexit probe")
                    .with_note("bpf_skb_output takes a socket buffer the kernel's BTF types: use it in fentry and fexit probes"),
            );
            return None;
        }
        let A::Str(path) = &call.args[0].kind else {
            self.error(
                Diagnostic::error(call.args[0].span, "`skboutput()` takes the pcap file's path as a string literal")
                    .with_label("not a string literal")
                    .with_note("write e.g. `skboutput(\"out.pcap\", args.skb, args.skb->len, 0)`"),
            );
            return None;
        };
        let skb = self.expr(&call.args[1], cx);
        let length = self.expr(&call.args[2], cx);
        let offset = self.expr(&call.args[3], cx);
        let is_skb = matches!(&skb.ty, Type::Ptr { user: false, pointee: Some(p), .. } if p.0.to_string() == "struct sk_buff");
        if !is_skb {
            self.error(
                Diagnostic::error(skb.span, format!("`skboutput()` needs a `struct sk_buff *`, but this is {}", skb.ty))
                    .with_label("expected a socket buffer")
                    .with_note("pass an argument of the traced function, e.g. `args.skb`"),
            );
            return None;
        }
        self.expect_int(&length, "the length of `skboutput()`")?;
        self.expect_int(&offset, "the offset of `skboutput()`")?;
        let id = match self.skb_outputs.iter().position(|p| p == path) {
            Some(id) => id,
            None => {
                self.skb_outputs.push(path.clone());
                self.skb_outputs.len() - 1
            }
        };
        let id = Expr { kind: ExprKind::Int(id as u64), ty: Type::U64, span: call.args[0].span };
        Some((ExprKind::Call { function: "skboutput", args: vec![id, skb, length, offset] }, Type::Int { bits: 32, signed: false }))
    }
}
