//! The hooks of the aggregations (`count()`, `sum()`, `hist()`, ...): what
//! each stores in its map and with which parameters.

use super::functions::Call;
use super::{Checker, ProbeCx};
use crate::checked::{MapUpdate, MapValue};
use crate::Diagnostic;

impl Checker {
    /// `count()`.
    pub(super) fn count(&mut self, _: &Call, _: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        Some((MapUpdate::Count, MapValue::Count))
    }

    /// `sum(n)`: signed when `n` is. `min(n)`, `max(n)`, `avg(n)` and
    /// `stats(n)` are signed always, as bpftrace 0.17 keeps them: it
    /// compares and prints min and max as signed numbers
    /// (`min(-(cpu + 10))` of an unsigned value prints -10) and divides
    /// the total of avg and stats as one (`avg((uint64)-1)` prints -1).
    pub(super) fn int_aggregation(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        let agg = call.name.name.as_str();
        let arg = self.expr(&call.args[0], cx);
        self.expect_int(&arg, &format!("`{agg}()`"))?;
        let signed = arg.ty.is_signed();
        Some(match agg {
            "sum" => (MapUpdate::Sum(arg), MapValue::Sum { signed }),
            "min" => (MapUpdate::Min(arg), MapValue::Min { signed: true }),
            "max" => (MapUpdate::Max(arg), MapValue::Max { signed: true }),
            "stats" => (MapUpdate::Stats(arg), MapValue::Stats { signed: true }),
            _ => (MapUpdate::Avg(arg), MapValue::Avg { signed: true }),
        })
    }

    /// `hist(n)` / `hist(n, bits)`: power-of-two buckets, each split in `2^bits`.
    pub(super) fn hist(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        let arg = self.expr(&call.args[0], cx);
        self.expect_int(&arg, "`hist()`")?;
        let bits = match call.args.get(1) {
            None => 0,
            Some(k) => self.const_arg(k, 0, 5, "the second argument of `hist()`")? as u8,
        };
        Some((MapUpdate::Hist(arg), MapValue::Hist { bits }))
    }

    /// `lhist(n, min, max, step)`: constants, at most 1000 buckets.
    pub(super) fn lhist(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        let args = call.args;
        let arg = self.expr(&args[0], cx);
        self.expect_int(&arg, "`lhist()`")?;
        let min = self.const_arg(&args[1], 0, i64::MAX, "the minimum of `lhist()`")?;
        let max = self.const_arg(&args[2], 0, i64::MAX, "the maximum of `lhist()`")?;
        let step = self.const_arg(&args[3], 1, i64::MAX, "the step of `lhist()`")?;
        if max <= min {
            self.error(
                Diagnostic::error(args[2].span, "the maximum of `lhist()` must be above its minimum")
                    .with_label("not above the minimum")
                    .with_secondary(args[1].span, "the minimum"),
            );
            return None;
        }
        if (max - min) / step > 1000 {
            self.error(
                Diagnostic::error(args[3].span, "`lhist()` would have more than 1000 buckets")
                    .with_label("too small a step for this range"),
            );
            return None;
        }
        Some((MapUpdate::Lhist(arg), MapValue::Lhist { min, max, step }))
    }
}
