//! Functions whose value is a number the runtime renders from the host's
//! facts when it prints it: `strerror(n)` (the C library's text for an
//! errno) and `cgroup_path(id [, filter])` (a cgroup's paths in the
//! mounted hierarchies, read at print time as bpftrace reads them);
//! and `pton(text)`, an address's bytes known when the program is compiled.

use std::net::IpAddr;
use std::rc::Rc;

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::ast::ExprKind as A;
use crate::checked::{Expr, ExprKind, RecordMember};
use crate::ctypes::CType;
use crate::types::{Pointee, Type};
use crate::Diagnostic;

impl Checker {
    /// `strerror(n)`: the errno, printed as its text.
    pub(super) fn strerror(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let n = self.expr(&call.args[0], cx);
        self.expect_int(&n, "`strerror()`")?;
        Some((ExprKind::Retype(Box::new(n)), Type::Errno))
    }

    /// `cgroup_path(id [, filter])`: the cgroup id, printed as its paths in
    /// the hierarchies whose names match the filter, a glob known when the
    /// program is compiled.
    pub(super) fn cgroup_path(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let id = self.expr(&call.args[0], cx);
        self.expect_int(&id, "`cgroup_path()`")?;
        let filter = match call.args.get(1) {
            None => None,
            Some(a) => match &a.kind {
                A::Str(text) => Some(text.clone()),
                _ => {
                    self.error(
                        Diagnostic::error(a.span, "`cgroup_path()` takes its filter as a string literal")
                            .with_label("not a string literal")
                            .with_note("the filter is a glob of hierarchy names, e.g. \"unified\" or \"cpu*\""),
                    );
                    return None;
                }
            },
        };
        Some((ExprKind::Retype(Box::new(id)), Type::CgroupPath { filter }))
    }

    /// `macaddr(p)`: the 6 bytes of a MAC address, read from where `p`
    /// points, or a 6-byte array value itself (not a struct, which
    /// bpftrace refuses).
    pub(super) fn macaddr(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let arg = self.expr(&call.args[0], cx);
        match &arg.ty {
            Type::CValue(c) if matches!(c.0.resolved(), CType::Array { .. }) && c.0.size() == Some(6) => {
                Some((ExprKind::Retype(Box::new(arg)), Type::Macaddr))
            }
            Type::Int { .. } | Type::Ptr { .. } => {
                // A pointer reads its own address space; an integer the
                // probe's, as `*` of one does (user memory in a uprobe).
                let user = match arg.ty {
                    Type::Ptr { user, .. } => user,
                    _ => super::memory::probe_is_user(&cx.resolved.kind),
                };
                Some((ExprKind::Load { addr: Box::new(arg), user, size: 6, bitfield: None }, Type::Macaddr))
            }
            ty => {
                self.error(
                    Diagnostic::error(call.span, "macaddr() argument must be 6 bytes in size")
                        .with_label(format!("`{ty}` is not 6 bytes"))
                        .with_secondary(arg.span, "takes a pointer, or an array of 6 bytes"),
                );
                None
            }
        }
    }

    /// `pton("1.2.3.4")` / `pton("::1")`: the address's bytes in network
    /// order, a `uint8[4]` or `uint8[16]` array made when the program is
    /// compiled.
    pub(super) fn pton(&mut self, call: &Call, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let arg = &call.args[0];
        let A::Str(text) = &arg.kind else {
            self.error(
                Diagnostic::error(arg.span, "`pton()` takes an IPv4 or IPv6 address as a string literal")
                    .with_label("not a string literal"),
            );
            return None;
        };
        let bytes = match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => a.octets().to_vec(),
            Ok(IpAddr::V6(a)) => a.octets().to_vec(),
            Err(_) => {
                self.error(
                    Diagnostic::error(arg.span, format!("`pton()` expects a valid IPv4/IPv6 address, got {text}"))
                        .with_label("not an address"),
                );
                return None;
            }
        };
        let byte = Type::Int { bits: 8, signed: false };
        let members = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| RecordMember { offset: i as u32, value: Expr { kind: ExprKind::Int(u64::from(*b)), ty: byte.clone(), span: arg.span } })
            .collect();
        let array = CType::Array { element: Rc::new(CType::Int { size: 1, signed: false }), len: bytes.len() as u64 };
        Some((ExprKind::Record(members), Type::CValue(Pointee(Rc::new(array)))))
    }
}
