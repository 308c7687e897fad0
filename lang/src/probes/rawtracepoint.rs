//! `rawtracepoint:NAME`: a tracepoint's raw arguments (its `TP_PROTO`), as
//! an array of u64 that `arg0`, `arg1`, ... read. The name is checked against
//! the tracepoints the kernel lists, whatever their category, as bpftrace
//! does, so a typo is an error here and not an ENOENT at attach time.

use super::{glob_match, is_glob, ContextValue, ProbeKind, ResolvedProbe, Scope};
use crate::target::{FieldKind, Target, TargetError, TracepointField};
use crate::{Diagnostic, Span};

pub fn resolve(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let [name] = parts else {
        return Err(Diagnostic::error(span, "a raw tracepoint is written `rawtracepoint:NAME`")
            .with_label("expected e.g. `rawtracepoint:sched_switch`"));
    };
    if name.is_empty() {
        return Err(Diagnostic::error(span, "the raw tracepoint's name must not be empty")
            .with_label("expected e.g. `rawtracepoint:sched_switch`"));
    }
    let all = target.tracepoints().map_err(|e| {
        let why = match e {
            TargetError::Unavailable(why) => why,
            TargetError::NotFound => "the kernel lists no tracepoints".into(),
        };
        Diagnostic::error(span, format!("cannot check raw tracepoint `{name}`: {why}"))
            .with_label("needs the list of tracepoints")
    })?;
    let mut names: Vec<&str> = all.iter().map(|(_, n)| n.as_str()).filter(|n| glob_match(name, n)).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        let message = if is_glob(name) {
            format!("no raw tracepoint matches `{name}`")
        } else {
            format!("raw tracepoint `{name}` does not exist")
        };
        return Err(Diagnostic::error(span, message)
            .with_label("no such tracepoint on this kernel")
            .with_note("the tracepoints are listed in /sys/kernel/tracing/available_events, as CATEGORY:NAME"));
    }
    Ok(names
        .into_iter()
        .map(|n| ResolvedProbe { kind: ProbeKind::RawTracepoint { name: n.to_string() }, name: format!("rawtracepoint:{n}") })
        .collect())
}

/// `argN` (written `name`) of a raw tracepoint: the Nth u64 of its
/// context, which the kernel lays out as the tracepoint's arguments, one
/// per slot.
pub(super) fn arg(n: u8, name: &str, span: Span) -> Result<ContextValue, Diagnostic> {
    // The kernel passes raw tracepoints at most 12 arguments
    // (bpf_trace_run1 to bpf_trace_run12).
    if n >= 12 {
        return Err(Diagnostic::error(span, format!("`{name}` is past a raw tracepoint's arguments"))
            .with_label("raw tracepoints have at most twelve arguments, arg0 to arg11"));
    }
    Ok(ContextValue::Field(TracepointField {
        name: name.to_string(),
        c_type: "u64".into(),
        offset: 8 * u32::from(n),
        size: 8,
        signed: false,
        kind: FieldKind::Int,
    }))
}
