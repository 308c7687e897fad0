//! `hardware:EVENT[:COUNT]` (alias `h`): a perf hardware counter (cycles,
//! cache misses, ...) on every online CPU, with bpftrace's event names,
//! aliases and default counts. Machines without a PMU refuse it at attach.

use super::list::{ListError, ListedProbe};
use super::perf_counter::{self, Event};
use super::{PerfCounter, ProbeKind, ResolvedProbe, Scope};
use crate::target::Target;
use crate::{Diagnostic, Span};

const EVENTS: &[Event] = &[
    Event { name: "cpu-cycles", alias: Some("cycles"), config: 0, default_count: 1_000_000 },
    Event { name: "instructions", alias: None, config: 1, default_count: 1_000_000 },
    Event { name: "cache-references", alias: None, config: 2, default_count: 1_000_000 },
    Event { name: "cache-misses", alias: None, config: 3, default_count: 1_000_000 },
    Event { name: "branch-instructions", alias: Some("branches"), config: 4, default_count: 100_000 },
    Event { name: "branch-misses", alias: None, config: 5, default_count: 100_000 },
    Event { name: "bus-cycles", alias: None, config: 6, default_count: 100_000 },
    Event { name: "frontend-stalls", alias: None, config: 7, default_count: 1_000_000 },
    Event { name: "backend-stalls", alias: None, config: 8, default_count: 1_000_000 },
    Event { name: "ref-cycles", alias: None, config: 9, default_count: 1_000_000 },
];

pub fn resolve(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    perf_counter::resolve("hardware", EVENTS, parts, span).map(|(config, sample, name)| {
        vec![ResolvedProbe { kind: ProbeKind::PerfEvent { counter: PerfCounter::Hardware { config }, sample }, name }]
    })
}


pub fn list(parts: &[&str], _verbose: bool, _: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    perf_counter::list("hardware", EVENTS, parts)
}
