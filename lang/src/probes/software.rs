//! `software:EVENT[:COUNT]` (alias `s`): a perf software event (page
//! faults, context switches, ...) on every online CPU, with bpftrace's event
//! names, aliases and default counts.

use super::list::{ListError, ListedProbe};
use super::perf_counter::{self, Event};
use super::{PerfCounter, ProbeKind, ResolvedProbe, Scope};
use crate::target::Target;
use crate::{Diagnostic, Span};

const EVENTS: &[Event] = &[
    Event { name: "cpu-clock", alias: Some("cpu"), config: 0, default_count: 1_000_000 },
    Event { name: "task-clock", alias: None, config: 1, default_count: 1_000_000 },
    Event { name: "page-faults", alias: Some("faults"), config: 2, default_count: 100 },
    Event { name: "context-switches", alias: Some("cs"), config: 3, default_count: 1_000 },
    Event { name: "cpu-migrations", alias: Some("migrations"), config: 4, default_count: 1 },
    Event { name: "minor-faults", alias: None, config: 5, default_count: 100 },
    Event { name: "major-faults", alias: None, config: 6, default_count: 1 },
    Event { name: "alignment-faults", alias: None, config: 7, default_count: 1 },
    Event { name: "emulation-faults", alias: None, config: 8, default_count: 1 },
    Event { name: "dummy", alias: None, config: 9, default_count: 1 },
    Event { name: "bpf-output", alias: None, config: 10, default_count: 1 },
];

pub fn resolve(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    perf_counter::resolve("software", EVENTS, parts, span).map(|(config, sample, name)| {
        vec![ResolvedProbe { kind: ProbeKind::PerfEvent { counter: PerfCounter::Software { config }, sample }, name }]
    })
}


pub fn list(parts: &[&str], _verbose: bool, _: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    perf_counter::list("software", EVENTS, parts)
}
