//! What `software:` and `hardware:` probes share: a named perf counter on
//! every online CPU whose program runs once every COUNT events, COUNT
//! defaulting per event as in bpftrace's documentation.

use super::list::{matching, ListError, ListedProbe};
use super::{glob_match, PerfSample};
use crate::{Diagnostic, Span};

/// One named event: its names, the kernel's config number for it
/// (PERF_COUNT_SW_* or PERF_COUNT_HW_*) and the count used when none is
/// written.
pub(super) struct Event {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub config: u64,
    pub default_count: u64,
}

/// The event's config, its sampling period and the probe's name, which is
/// the attach point as written under the provider's full name (the
/// `probe` builtin of `s:faults` is `software:faults`).
pub(super) fn resolve(kind: &str, table: &[Event], parts: &[&str], span: Span) -> Result<(u64, PerfSample, String), Diagnostic> {
    let names = || table.iter().map(|e| e.name).collect::<Vec<_>>().join(", ");
    let (event, count) = match parts {
        [event] => (*event, None),
        [event, count] => (*event, Some(*count)),
        _ => {
            return Err(Diagnostic::error(span, format!("a {kind} probe is written `{kind}:EVENT` or `{kind}:EVENT:COUNT`"))
                .with_label(format!("expected e.g. `{kind}:{}:100`", table[0].name))
                .with_note(format!("the {kind} events are: {}", names())));
        }
    };
    let Some(found) = table.iter().find(|e| e.name == event || e.alias == Some(event)) else {
        return Err(Diagnostic::error(span, format!("`{event}` is not a {kind} event"))
            .with_label(format!("unknown {kind} event"))
            .with_note(format!("the {kind} events are: {}", names())));
    };
    let period = match count {
        None => found.default_count,
        Some(text) => match text.parse::<u64>() {
            Ok(0) => {
                return Err(Diagnostic::error(span, format!("a {kind} probe's count must be at least 1"))
                    .with_label("the program runs once every COUNT events"));
            }
            Ok(n) => n,
            Err(_) => {
                return Err(Diagnostic::error(span, format!("`{text}` is not a whole number"))
                    .with_label("the count must be a positive integer"));
            }
        },
    };
    let name = match count {
        None => format!("{kind}:{event}"),
        Some(_) => format!("{kind}:{event}:{period}"),
    };
    Ok((found.config, PerfSample::Period(period), name))
}

/// The events whose name or alias `EVENT` matches, as `TYPE:NAME:` — the
/// form bpftrace lists them in from 0.19 on; 0.17 prints its search
/// pattern there instead (`software:*:`), which names no event.
pub(super) fn list(kind: &str, table: &[Event], parts: &[&str]) -> Result<Vec<ListedProbe>, ListError> {
    let event = match parts {
        [event] | [event, _] => *event,
        _ => return Err(ListError::Usage(format!("a {kind} probe is listed as `{kind}:EVENT`"))),
    };
    let names = table
        .iter()
        .filter(|e| glob_match(event, e.name) || e.alias.is_some_and(|a| glob_match(event, a)))
        .map(|e| e.name);
    Ok(matching("*", names).into_iter().map(|name| ListedProbe::new(format!("{kind}:{name}:"))).collect())
}

