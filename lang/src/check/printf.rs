//! `printf()` and its format string, also used by `system()` and `cat()`.

use super::{Checker, ProbeCx};
use crate::ast::{self, ExprKind as A};
use crate::checked::{Expr, Printf, StmtKind};
use crate::format;
use crate::types::Type;
use crate::{Diagnostic, Span};
use super::functions::Call;

impl Checker {
    /// `printf(fmt, ...)`.
    pub(super) fn printf_call(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        self.printf(call.span, call.args, cx)
    }

    /// The format and arguments of `printf()`, `system()` and `cat()`.
    pub(super) fn printf(&mut self, span: Span, args: &[ast::Expr], cx: &mut ProbeCx) -> Option<StmtKind> {
        let Some((fmt, rest)) = args.split_first() else {
            self.error(
                Diagnostic::error(span, "`printf()` needs a format string")
                    .with_label("no arguments")
                    .with_note("write e.g. `printf(\"%d\\n\", pid)`"),
            );
            return None;
        };
        let A::Str(format_text) = &fmt.kind else {
            self.error(
                Diagnostic::error(fmt.span, "printf's format must be a string literal")
                    .with_label("not a string literal"),
            );
            return None;
        };
        let pieces = match format::parse(format_text) {
            Ok(p) => p,
            Err(e) => {
                self.error(Diagnostic::error(fmt.span, e.message.clone()).with_label("in this format string"));
                return None;
            }
        };
        let convs: Vec<_> = format::conversions(&pieces).cloned().collect();
        // An argument that was refused already needs no second message
        // about its stand-in's type.
        let mut refused = Vec::with_capacity(rest.len());
        let checked: Vec<Expr> = rest
            .iter()
            .map(|a| {
                let before = self.diags.len();
                let e = self.expr(a, cx);
                refused.push(self.diags.len() > before);
                e
            })
            .collect();
        if convs.len() != checked.len() {
            let d = Diagnostic::error(
                span,
                format!(
                    "the format has {} conversion{} but {} argument{} follow{}",
                    convs.len(),
                    if convs.len() == 1 { "" } else { "s" },
                    checked.len(),
                    if checked.len() == 1 { "" } else { "s" },
                    if checked.len() == 1 { "s" } else { "" },
                ),
            )
            .with_label("wrong number of arguments")
            .with_secondary(fmt.span, "the format string");
            self.error(d);
            return None;
        }
        let mut ok = true;
        for ((conv, arg), refused) in convs.iter().zip(&checked).zip(refused) {
            if refused {
                ok = false;
                continue;
            }
            let (fits, want) = if conv.takes_buffer() {
                (arg.ty.is_buf(), "a buffer")
            } else if conv.takes_string() {
                (arg.ty.prints_as_string(), "a string")
            } else {
                (arg.ty.is_int(), "an integer")
            };
            if !fits {
                ok = false;
                let name = match (conv.conv, conv.buffer) {
                    ('r', format::BufferStyle::Escaped) => "rx".to_string(),
                    ('r', format::BufferStyle::Hex) => "rh".to_string(),
                    (c, _) => c.to_string(),
                };
                let mut d = Diagnostic::error(arg.span, format!("`%{name}` needs {want}, but this is {}", arg.ty))
                    .with_label(format!("expected {want}"))
                    .with_secondary(fmt.span, "the format string");
                if arg.ty.is_buf() {
                    d = d.with_note("print a buffer with `%r`, `%rx` or `%rh`");
                } else if conv.takes_buffer() {
                    d = d.with_note("`%r` prints what `buf()` returns");
                }
                self.error(d);
            }
        }
        if !ok {
            return None;
        }
        if matches!(cx.resolved.kind, crate::probes::ProbeKind::Iter { .. }) {
            self.kernel_printf(&pieces, &checked, fmt.span, cx)?;
        }
        let id = self.printfs.len();
        self.printfs.push(Printf {
            format: format_text.clone(),
            args: checked.iter().map(|a| a.ty.clone()).collect(),
            span,
        });
        Some(StmtKind::Printf { id, args: checked })
    }

    /// In an iterator probe the kernel formats printf (its output is the
    /// iterator's), so the format and the arguments must be what
    /// bpf_seq_printf takes: integers and strings.
    fn kernel_printf(&mut self, pieces: &[format::Piece], args: &[Expr], fmt: Span, cx: &ProbeCx) -> Option<()> {
        if cx.map_loops > 0 {
            self.error(
                Diagnostic::error(fmt, "`printf()` in an iterator probe is not available inside a `for` loop over a map")
                    .with_label("inside a loop over a map")
                    .with_note("the kernel's seq_printf needs the iterator's context, which the loop's body has not"),
            );
            return None;
        }
        if let Err(why) = format::kernel_format(pieces) {
            self.error(
                Diagnostic::error(fmt, format!("this format cannot be printed by an iterator: {why}"))
                    .with_label("in an iter probe the kernel formats printf")
                    .with_note("use flags `0 + - space`, a width, and %d %i %u %x %X %c %s %p"),
            );
            return None;
        }
        for arg in args {
            let fits = matches!(arg.ty, Type::Int { .. } | Type::Ptr { .. } | Type::Str { .. });
            if !fits {
                self.error(
                    Diagnostic::error(arg.span, format!("an iterator's printf cannot print {}", arg.ty))
                        .with_label("only integers, pointers and strings")
                        .with_note("in an iter probe the kernel's seq_printf formats printf"),
                );
                return None;
            }
        }
        Some(())
    }
}
