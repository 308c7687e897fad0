//! `str()` of texts known when the program is compiled.

use super::*;

impl Checker {
    /// The text `str()` reads when its argument is known when the program is
    /// compiled: a string literal, a positional parameter (`str($1)`, its
    /// text even when it looks like a number; a missing parameter is ""), or a positional parameter plus a constant
    /// offset (`str($1 + 2)`, the text from its third byte). `Ok(None)` means
    /// the argument is read at run time.
    pub(super) fn literal_str_arg(&mut self, arg: &ast::Expr) -> Option<Option<String>> {
        use ast::ExprKind as A;
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
