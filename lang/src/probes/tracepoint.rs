//! `tracepoint:CATEGORY:NAME`: the kernel's static trace events. `args`
//! is typed from the event's tracefs format file.

use super::{ProbeKind, ResolvedProbe};
use crate::target::{Target, TargetError};
use crate::{Diagnostic, Span};

pub fn resolve(parts: &[&str], span: Span, target: &dyn Target) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let [category, name] = parts else {
        return Err(Diagnostic::error(span, "a tracepoint is written `tracepoint:CATEGORY:NAME`")
            .with_label("expected e.g. `tracepoint:syscalls:sys_enter_execve`"));
    };
    if category.is_empty() || name.is_empty() {
        return Err(Diagnostic::error(span, "the tracepoint's category and name must not be empty")
            .with_label("expected e.g. `tracepoint:syscalls:sys_enter_execve`"));
    }
    if category.contains(['*', '?']) || name.contains(['*', '?']) {
        return Err(Diagnostic::error(span, "tracepoint wildcards are not available in this build of rbpf")
            .with_label("name one tracepoint"));
    }
    let format = match target.tracepoint_format(category, name) {
        Ok(format) => format,
        Err(TargetError::NotFound) => {
            return Err(Diagnostic::error(span, format!("tracepoint `{category}:{name}` does not exist"))
                .with_label("no such tracepoint on this kernel")
                .with_note(format!("the tracepoints of this category are the directories in /sys/kernel/tracing/events/{category}/")));
        }
        Err(TargetError::Unavailable(why)) => {
            return Err(Diagnostic::error(span, format!("cannot read tracepoint `{category}:{name}`: {why}"))
                .with_label("needed to type `args`"));
        }
    };
    Ok(vec![ResolvedProbe {
        kind: ProbeKind::Tracepoint { category: category.to_string(), name: name.to_string(), format },
        name: format!("tracepoint:{category}:{name}"),
    }])
}
