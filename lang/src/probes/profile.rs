//! `profile:UNIT:N`: a perf software cpu-clock event on every online CPU,
//! firing N times a second (hz) or every N units (s, ms, us), as bpftrace's
//! profile probe; `interval` is the same event on one CPU.

use super::{PerfCounter, PerfSample, ProbeKind, ResolvedProbe, Scope};
use crate::target::Target;
use crate::{Diagnostic, Span};

/// PERF_COUNT_SW_CPU_CLOCK.
const CPU_CLOCK: u64 = 0;

pub fn resolve(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let usage = || {
        Diagnostic::error(span, "a profile probe is written `profile:UNIT:COUNT`")
            .with_label("expected e.g. `profile:hz:99` or `profile:ms:10`")
            .with_note("UNIT is one of hz, s, ms, us")
    };
    let [unit, count] = parts else { return Err(usage()) };
    let Ok(n) = count.parse::<u64>() else {
        return Err(Diagnostic::error(span, format!("`{count}` is not a whole number"))
            .with_label("the profile's count must be a positive integer"));
    };
    if n == 0 {
        return Err(Diagnostic::error(span, "a profile rate of zero never fires").with_label("the count must be at least 1"));
    }
    // bpftrace samples `hz` by frequency (the kernel adjusts the period)
    // and the time units by a fixed cpu-clock period in nanoseconds.
    let sample = match (*unit, super::interval::unit_ns(unit)) {
        (_, Some(ns)) => n.checked_mul(ns).map(PerfSample::Period),
        ("hz", None) => Some(PerfSample::Frequency(n)),
        _ => return Err(usage()),
    };
    let Some(sample) = sample else {
        return Err(Diagnostic::error(span, "this profile period is out of range").with_label("too large"));
    };
    Ok(vec![ResolvedProbe {
        kind: ProbeKind::PerfEvent { counter: PerfCounter::Software { config: CPU_CLOCK }, sample },
        name: format!("profile:{unit}:{n}"),
    }])
}
