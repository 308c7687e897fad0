//! `interval:UNIT:N`: fires on one CPU every N units (s, ms, us) or N times
//! a second (hz), as bpftrace's interval probe.

use super::{ProbeKind, ResolvedProbe, Scope};
use crate::target::Target;
use crate::{Diagnostic, Span};

pub fn resolve(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let usage = || {
        Diagnostic::error(span, "an interval probe is written `interval:UNIT:COUNT`")
            .with_label("expected e.g. `interval:s:1` or `interval:ms:100`")
            .with_note("UNIT is one of s, ms, us, hz")
    };
    let [unit, count] = parts else { return Err(usage()) };
    let Ok(count) = count.parse::<u64>() else {
        return Err(Diagnostic::error(span, format!("`{count}` is not a whole number"))
            .with_label("the interval's count must be a positive integer"));
    };
    if count == 0 {
        return Err(Diagnostic::error(span, "an interval of zero never ends").with_label("the count must be at least 1"));
    }
    let period_ns = match (*unit, unit_ns(unit)) {
        (_, Some(ns)) => count.checked_mul(ns),
        ("hz", None) => Some(1_000_000_000 / count).filter(|p| *p > 0),
        _ => return Err(usage()),
    };
    let Some(period_ns) = period_ns else {
        return Err(Diagnostic::error(span, "this interval is out of range").with_label("too large"));
    };
    Ok(vec![ResolvedProbe { kind: ProbeKind::Interval { period_ns }, name: format!("interval:{unit}:{count}") }])
}

/// The nanoseconds in one `s`, `ms` or `us`: the time units of interval
/// and profile probes.
pub(super) fn unit_ns(unit: &str) -> Option<u64> {
    match unit {
        "s" => Some(1_000_000_000),
        "ms" => Some(1_000_000),
        "us" => Some(1_000),
        _ => None,
    }
}
