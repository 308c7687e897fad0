//! `tracepoint:CATEGORY:NAME`: the kernel's static trace events. `args`
//! is typed from the event's tracefs format file.

use super::list::{ListError, ListedProbe};
use super::{glob_match, is_glob, ProbeKind, ResolvedProbe};
use crate::target::{FieldKind, Target, TargetError, TracepointField};
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

/// `tracepoint:CATEGORY:NAME` with wildcards in either part, or
/// `tracepoint:NAME` with a wildcard (any category), from tracefs's
/// `available_events`; with `verbose`, each one's fields.
pub fn list(parts: &[&str], verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    let (category, name) = match parts {
        [category, name] => (*category, *name),
        [name] if is_glob(name) => ("*", *name),
        _ => return Err(ListError::Usage("a tracepoint is listed as `tracepoint:CATEGORY:NAME`".into())),
    };
    let mut found: Vec<(String, String)> =
        target.tracepoints()?.into_iter().filter(|(c, n)| glob_match(category, c) && glob_match(name, n)).collect();
    found.sort();
    found.dedup();
    found
        .into_iter()
        .map(|(category, name)| {
            let mut probe = ListedProbe::new(format!("tracepoint:{category}:{name}"));
            if verbose {
                match target.tracepoint_format(&category, &name) {
                    Ok(format) => probe.details = format.fields.iter().map(declaration).collect(),
                    // Gone since available_events was read.
                    Err(TargetError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(probe)
        })
        .collect()
}

/// A field as its format file declares it (`char comm[16]`,
/// `const char * filename`), which is what `bpftrace -lv` prints.
fn declaration(field: &TracepointField) -> String {
    match (field.kind, field.c_type.find('[')) {
        (FieldKind::Array { .. }, Some(bracket)) => {
            format!("{} {}{}", field.c_type[..bracket].trim_end(), field.name, &field.c_type[bracket..])
        }
        _ => format!("{} {}", field.c_type, field.name),
    }
}
