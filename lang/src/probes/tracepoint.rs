//! `tracepoint:CATEGORY:NAME`: the kernel's static trace events. `args`
//! is typed from the event's tracefs format file. Wildcards in the category
//! or the name expand against every tracepoint the kernel lists, one probe
//! (and one program) per match, as bpftrace does.

use super::list::{ListError, ListedProbe};
use super::{glob_match, is_glob, ProbeKind, ResolvedProbe, Scope, Syscall};
use crate::target::{FieldKind, Target, TargetError, TracepointField, TracepointFormat};
use crate::{Diagnostic, Span};

pub fn resolve(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let [category, name] = parts else {
        return Err(Diagnostic::error(span, "a tracepoint is written `tracepoint:CATEGORY:NAME`")
            .with_label("expected e.g. `tracepoint:syscalls:sys_enter_execve`"));
    };
    if category.is_empty() || name.is_empty() {
        return Err(Diagnostic::error(span, "the tracepoint's category and name must not be empty")
            .with_label("expected e.g. `tracepoint:syscalls:sys_enter_execve`"));
    }
    if !is_glob(category) && !is_glob(name) {
        return Ok(vec![probe(category, name, span, target)?]);
    }
    let all = target.tracepoints().map_err(|e| {
        let why = match e {
            TargetError::Unavailable(why) => why,
            TargetError::NotFound => "the kernel lists no tracepoints".into(),
        };
        Diagnostic::error(span, format!("cannot expand the wildcard: {why}")).with_label("needs the list of tracepoints")
    })?;
    let mut matches: Vec<&(String, String)> =
        all.iter().filter(|(c, n)| glob_match(category, c) && glob_match(name, n)).collect();
    matches.sort();
    matches.dedup();
    if matches.is_empty() {
        return Err(Diagnostic::error(span, format!("no tracepoint matches `{category}:{name}`"))
            .with_label("matches nothing")
            .with_note("the tracepoints are listed in /sys/kernel/tracing/available_events"));
    }
    matches.into_iter().map(|(c, n)| probe(c, n, span, target)).collect()
}

/// One tracepoint, its `args` typed from its format file.
fn probe(category: &str, name: &str, span: Span, target: &dyn Target) -> Result<ResolvedProbe, Diagnostic> {
    let format = match target.tracepoint_format(category, name) {
        Ok(format) => format,
        Err(TargetError::NotFound) => {
            // The message in bpftrace's words (scripts grep for them).
            return Err(Diagnostic::error(span, format!("tracepoint not found: {category}:{name}"))
                .with_label(format!("tracepoint `{category}:{name}` does not exist on this kernel"))
                .with_note(format!("the tracepoints of this category are the directories in /sys/kernel/tracing/events/{category}/")));
        }
        Err(TargetError::Unavailable(why)) => {
            return Err(Diagnostic::error(span, format!("cannot read tracepoint `{category}:{name}`: {why}"))
                .with_label("needed to type `args`"));
        }
    };
    let syscall = syscall(category, name, &format, target);
    Ok(ResolvedProbe {
        kind: ProbeKind::Tracepoint { category: category.to_string(), name: name.to_string(), format, syscall },
        name: format!("tracepoint:{category}:{name}"),
    })
}

/// The syscall a `syscalls:sys_enter_NAME` or `sys_exit_NAME` tracepoint
/// is for, when the machine's number for it is known and its record is
/// laid out as raw_syscalls' is (checked, not assumed): `__syscall_nr` at 8,
/// then the arguments (or `ret`) as 8-byte fields from 16.
fn syscall(category: &str, name: &str, format: &TracepointFormat, target: &dyn Target) -> Option<Syscall> {
    if category != "syscalls" {
        return None;
    }
    let (exit, syscall) = match (name.strip_prefix("sys_enter_"), name.strip_prefix("sys_exit_")) {
        (Some(s), _) => (false, s),
        (_, Some(s)) => (true, s),
        _ => return None,
    };
    let [nr, rest @ ..] = format.fields.as_slice() else { return None };
    let laid_out = nr.name == "__syscall_nr"
        && nr.offset == 8
        && nr.size <= 8
        && rest.len() <= if exit { 1 } else { 6 }
        && rest.iter().enumerate().all(|(i, f)| f.offset == 16 + 8 * i as u32 && f.size == 8);
    laid_out.then_some(())?;
    Some(Syscall { nr: target.syscall_number(syscall)?, exit })
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
