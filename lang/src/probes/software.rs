//! `software:EVENT:[COUNT]`: the kernel's software perf events (page
//! faults, context switches, ...), which fire every COUNT events. This
//! build lists them but does not attach them yet.

use super::list::{matching, ListError, ListedProbe};
use super::glob_match;
use crate::target::Target;

/// The events and their aliases, as bpftrace's documentation names them
/// (perf_event_open(2) describes each).
pub const EVENTS: &[(&str, &[&str])] = &[
    ("alignment-faults", &[]),
    ("bpf-output", &[]),
    ("context-switches", &["cs"]),
    ("cpu-clock", &["cpu"]),
    ("cpu-migrations", &[]),
    ("dummy", &[]),
    ("emulation-faults", &[]),
    ("major-faults", &[]),
    ("minor-faults", &[]),
    ("page-faults", &["faults"]),
    ("task-clock", &[]),
];

pub fn list(parts: &[&str], _verbose: bool, _: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list_events("software", EVENTS, parts)
}

/// The events whose name or alias `EVENT` matches, as `TYPE:NAME:` — the
/// form bpftrace lists them in from 0.19 on; 0.17 prints its search
/// pattern there instead (`software:*:`), which names no event.
pub(super) fn list_events(kind: &str, events: &[(&str, &[&str])], parts: &[&str]) -> Result<Vec<ListedProbe>, ListError> {
    let event = match parts {
        [event] | [event, _] => *event,
        _ => return Err(ListError::Usage(format!("a {kind} probe is listed as `{kind}:EVENT`"))),
    };
    let names = events
        .iter()
        .filter(|(name, aliases)| glob_match(event, name) || aliases.iter().any(|a| glob_match(event, a)))
        .map(|(name, _)| *name);
    Ok(matching("*", names).into_iter().map(|name| ListedProbe::new(format!("{kind}:{name}:"))).collect())
}
