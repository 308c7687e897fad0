//! `BEGIN` and `END`: run once, before every other probe is attached and
//! after every other probe is detached.

use super::{ProbeKind, ResolvedProbe, Scope};
use crate::target::Target;
use crate::{Diagnostic, Span};

fn resolve_special(kind: ProbeKind, name: &str, parts: &[&str], span: Span) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    if !parts.is_empty() {
        return Err(Diagnostic::error(span, format!("`{name}` takes no arguments"))
            .with_label(format!("write just `{name}`")));
    }
    Ok(vec![ResolvedProbe { kind, name: name.to_string() }])
}

pub fn resolve_begin(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve_special(ProbeKind::Begin, "BEGIN", parts, span)
}

pub fn resolve_end(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve_special(ProbeKind::End, "END", parts, span)
}
