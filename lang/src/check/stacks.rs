//! `kstack` and `ustack`, alone or called as `kstack(MODE, N)`: their
//! arguments (a mode among bpftrace 0.17's `bpftrace` and `perf`, a frame
//! limit from 1 to 127, either or both, in that order) and their type;
//! and `ksym(addr)`, a kernel address printed as its symbol.

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::ast;
use crate::checked::ExprKind;
use crate::types::{StackMode, StackType, Type, MAX_STACK_FRAMES};
use crate::Diagnostic;

impl Checker {
    /// `kstack`, `kstack(MODE)`, `kstack(N)` or `kstack(MODE, N)` (and
    /// `ustack`'s); alone, every frame in bpftrace's mode.
    pub(super) fn stack(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let name = call.name.name.as_str();
        // bpf_get_stackid reads the probe's context.
        self.outside_map_loop(name, call.span, cx)?;
        let mut stack = StackType { user: name == "ustack", mode: StackMode::Bpftrace, limit: MAX_STACK_FRAMES };
        let mut args = call.args.iter().peekable();
        if let Some(a) = args.next_if(|a| matches!(a.kind, ast::ExprKind::Ident(_))) {
            stack.mode = self.stack_mode(a)?;
        }
        if let Some(a) = args.next() {
            let what = format!("the frame limit of `{name}()`");
            stack.limit = self.const_arg(a, 1, i64::from(MAX_STACK_FRAMES), &what)? as u8;
        }
        if let Some(a) = args.next() {
            self.error(
                Diagnostic::error(a.span, format!("`{name}()` takes a mode, then a frame limit"))
                    .with_label("nothing more after the limit")
                    .with_note(format!("write e.g. `{name}(perf, 8)`")),
            );
            return None;
        }
        Some(stack_expr(stack))
    }

    /// `ksym(addr)`: the address, printed as the kernel symbol it is in.
    pub(super) fn ksym(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let addr = self.expr(&call.args[0], cx);
        self.expect_int(&addr, "`ksym()`")?;
        Some((ExprKind::Retype(Box::new(addr)), Type::Ksym))
    }

    /// A stack mode named by a bare identifier.
    fn stack_mode(&mut self, a: &ast::Expr) -> Option<StackMode> {
        let ast::ExprKind::Ident(mode) = &a.kind else { return None };
        match mode.as_str() {
            "bpftrace" => Some(StackMode::Bpftrace),
            "perf" => Some(StackMode::Perf),
            _ => {
                self.error(
                    Diagnostic::error(a.span, format!("unknown stack mode `{mode}`"))
                        .with_label("not a stack mode")
                        .with_note("stack modes are: bpftrace, perf"),
                );
                None
            }
        }
    }
}

/// The checked expression of a stack: code generation lowers a call of
/// this name by the stack's type.
fn stack_expr(stack: StackType) -> (ExprKind, Type) {
    let function = if stack.user { "ustack" } else { "kstack" };
    (ExprKind::Call { function, args: Vec::new() }, Type::Stack(stack))
}
