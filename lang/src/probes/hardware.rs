//! `hardware:EVENT:[COUNT]`: the CPU's performance counters (cycles,
//! cache misses, ...), which fire every COUNT events. This build lists
//! them but does not attach them yet.

use super::list::{ListError, ListedProbe};
use super::software::list_events;
use crate::target::Target;

/// The events and their aliases, as bpftrace's documentation names them.
pub const EVENTS: &[(&str, &[&str])] = &[
    ("backend-stalls", &[]),
    ("branch-instructions", &["branches"]),
    ("branch-misses", &[]),
    ("bus-cycles", &[]),
    ("cache-misses", &[]),
    ("cache-references", &[]),
    ("cpu-cycles", &["cycles"]),
    ("frontend-stalls", &[]),
    ("instructions", &[]),
    ("ref-cycles", &[]),
];

pub fn list(parts: &[&str], _verbose: bool, _: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list_events("hardware", EVENTS, parts)
}
