//! The string functions with a check of their own: `str()` (also of texts
//! known when the program is compiled), `strftime()` and `ntop()`.

use super::{Checker, ProbeCx};
use crate::ast::{self, BinaryOp, ExprKind as A};
use crate::checked::{Expr, ExprKind};
use crate::types::Type;
use crate::Diagnostic;
use super::functions::Call;

impl Checker {
    /// `str(ptr)` / `str(ptr, len)`: a string read from memory, a string cut
    /// to a length, or a text known when the program is compiled.
    pub(super) fn str(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let args = call.args;
        // bpftrace refuses a negative constant length; read at run
        // time, it would be taken as a huge unsigned one.
        if let Some(len) = args.get(1).filter(|a| self.negative_constant(a)) {
            self.error(
                Diagnostic::error(len.span, "`str()` cannot take a negative length")
                    .with_label("negative")
                    .with_note("the length is how many bytes to read, at most the string length (64 unless set)"),
            );
            return None;
        }
        // After an error, an empty string stands in so that the
        // error does not cascade into "needs a string" ones.
        let literal = self.literal_str_arg(&args[0]).unwrap_or(Some(String::new()));
        if let Some(text) = literal {
            return self.str_of_literal(text, args.get(1), cx);
        }
        let ptr = self.expr(&args[0], cx);
        let len = match args.get(1) {
            Some(a) => {
                let l = self.expr(a, cx);
                self.expect_int(&l, "the length of `str()`")?;
                Some(Box::new(l))
            }
            None => None,
        };
        if ptr.ty.is_str() {
            // str() of a string is the string itself, cut to the
            // length when there is one.
            let Some(len) = len else {
                return Some((ptr.kind, ptr.ty));
            };
            let size = match len.kind {
                ExprKind::Int(n) => u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1).min(ptr.ty.stored_size()),
                _ => ptr.ty.stored_size(),
            };
            return Some((ExprKind::StrPrefix { str: Box::new(ptr), len }, Type::Str { size }));
        }
        self.expect_int(&ptr, "`str()`")?;
        // A constant length shrinks the buffer, as in bpftrace.
        let size = match len.as_deref().map(|l| &l.kind) {
            Some(ExprKind::Int(n)) => (*n as u32).saturating_add(1).min(self.strlen),
            _ => self.strlen,
        };
        Some((ExprKind::StrRead { ptr: Box::new(ptr), len }, Type::Str { size }))
    }

    /// `strftime(fmt, nsecs)`: the nanoseconds, printed in that format.
    pub(super) fn strftime(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let args = call.args;
        let A::Str(format) = &args[0].kind else {
            self.error(
                Diagnostic::error(args[0].span, "`strftime()` takes a format string literal")
                    .with_label("not a string literal"),
            );
            return None;
        };
        let nsecs = self.expr(&args[1], cx);
        self.expect_int(&nsecs, "`strftime()`")?;
        let format_id = self.time_formats.len() as u32;
        self.time_formats.push(format.clone());
        Some((ExprKind::Retype(Box::new(nsecs)), Type::Timestamp { format: format_id }))
    }

    /// `ntop(addr)` / `ntop(af, addr)`: an IPv4 or IPv6 address, printed.
    pub(super) fn ntop(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let args = call.args;
        let addr_arg = args.last()?;
        // An address held in a byte array field (`__u8 saddr[4]`,
        // `__u8 saddr_v6[16]`): its bytes, and without a family,
        // the family its size says, as bpftrace does.
        // The same for a byte array read through a pointer
        // (`$sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8`), which reads as
        // a string elsewhere: here its bytes, as they are.
        // (A byte array that is not `char` reads as an array value.)
        let is_bytes = |ty: &Type| match ty {
            Type::Str { .. } => true,
            Type::CValue(c) => matches!(c.0.resolved(), crate::ctypes::CType::Array { element, .. }
                if matches!(element.resolved(), crate::ctypes::CType::Int { size: 1, .. })),
            _ => false,
        };
        let bytes_of = |addr: Expr| match addr {
            Expr { kind: kind @ ExprKind::Load { size: size @ (4 | 16), .. }, ty, span } if is_bytes(&ty) => {
                Expr { kind, ty: Type::Buf { size }, span }
            }
            other => other,
        };
        // An address held by value (`ntop(pton("::1"))`, a `uint8[16]`
        // member of a struct value): its bytes, as they are.
        let held = |ty: &Type| is_bytes(ty) && matches!(ty.stored_size(), 4 | 16) && ty.is_cvalue();
        let bytes = self.address_field(addr_arg, cx);
        let (af, addr) = match args {
            [addr] => {
                let addr = bytes_of(bytes.unwrap_or_else(|| self.expr(addr, cx)));
                let v6 = addr.ty == (Type::Buf { size: 16 }) || (held(&addr.ty) && addr.ty.stored_size() == 16);
                let family = if v6 { AF_INET6 } else { AF_INET };
                (Expr { kind: ExprKind::Int(family), ty: Type::U64, span: addr.span }, addr)
            }
            [af, addr] => {
                let af = self.expr(af, cx);
                self.expect_int(&af, "the address family of `ntop()`")?;
                (af, bytes_of(bytes.unwrap_or_else(|| self.expr(addr, cx))))
            }
            _ => return None,
        };
        if !matches!(addr.ty, Type::Buf { .. }) && !held(&addr.ty) {
            self.expect_int(&addr, "`ntop()` of an IPv4 address")?;
        }
        Some((ExprKind::Ntop { af: Box::new(af), addr: Box::new(addr) }, Type::Inet))
    }

    /// The text `str()` reads when its argument is known when the program is
    /// compiled: a string literal, a positional parameter (`str($1)`, its
    /// text even when it looks like a number; a missing parameter is ""), or a positional parameter plus a constant
    /// offset (`str($1 + 2)`, the text from its third byte). `Ok(None)` means
    /// the argument is read at run time.
    pub(super) fn literal_str_arg(&mut self, arg: &ast::Expr) -> Option<Option<String>> {
        let param = |s: &Self, n: u32| s.params.get(n as usize - 1).cloned().unwrap_or_default();
        match &arg.kind {
            A::Str(text) => Some(Some(text.clone())),
            // bpftrace gives the parameter's text also when it looks like
            // a number: `str($1)` of `8080` is "8080".
            A::Positional(n) => Some(Some(param(self, *n))),
            A::Binary { op: BinaryOp::Add, lhs, rhs } => {
                let (A::Positional(n), A::Int(offset)) = (&lhs.kind, &rhs.kind) else {
                    return Some(None);
                };
                let text = param(self, *n);
                if *offset > text.len() as u64 {
                    self.error(
                        Diagnostic::error(
                            rhs.span,
                            format!("`str(${n} + N)` needs N at most the length of ${n}, which is {}", text.len()),
                        )
                        .with_label("past the end of the parameter"),
                    );
                    return None;
                }
                Some(Some(text[*offset as usize..].to_string()))
            }
            _ => Some(None),
        }
    }
    /// `str()` of a text known at compile time: at most `max_strlen - 1`
    /// bytes, or the first `n` bytes with a constant length `n`.
    pub(super) fn str_of_literal(&mut self, text: String, len: Option<&ast::Expr>, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let mut keep = text.len().min(self.strlen.saturating_sub(1) as usize);
        if let Some(len) = len {
            let l = self.expr(len, cx);
            let ExprKind::Int(n) = l.kind else {
                self.error(
                    Diagnostic::error(l.span, "`str()` of a literal takes a constant length")
                        .with_label("not a constant"),
                );
                return None;
            };
            keep = keep.min(n as usize);
        }
        let mut end = keep;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = text[..end].to_string();
        let size = text.len() as u32 + 1;
        Some((ExprKind::Str(text), Type::Str { size }))
    }
}

/// Address families, as `ntop()` takes them.
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
