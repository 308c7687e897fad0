//! `hist()` and `lhist()` values: the buckets of one key, from the first
//! to the last one that counted something (zeros in between included), as
//! bpftrace shows them, with each bucket's range.

use std::collections::BTreeMap;

use rbpf_codegen::manifest::{hist_bounds, MapValue};

/// The buckets of one histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// From `hist()`: single-value buckets print as `[v]`; from `lhist()`,
    /// every bucket prints as a range.
    pub log2: bool,
    /// Empty when nothing was counted (e.g. after `zero()`).
    pub buckets: Vec<Bucket>,
}

/// One bucket: the values `lo <= v < hi` (`None`: unbounded on that side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The lowest value in it.
    pub lo: Option<i128>,
    /// The first value past it.
    pub hi: Option<i128>,
    /// The count as printed: divided by `print(@m, top, div)`'s `div`.
    pub count: u64,
    /// The count before that division: bpftrace draws the bars from it.
    pub raw: u64,
}

impl Histogram {
    /// Builds the histogram of one key from `index → count` (indices as
    /// `manifest::hist_index` / `lhist_index` compute them). `kind` must be
    /// `Hist` or `Lhist`; indices past the last bucket are ignored.
    pub fn new(kind: &MapValue, counts: &BTreeMap<u64, u64>) -> Histogram {
        let last = last_index(kind);
        let nonzero = || counts.iter().filter(|&(&i, &c)| c != 0 && i <= last).map(|(&i, _)| i);
        let (Some(first), Some(end)) = (nonzero().next(), nonzero().next_back()) else {
            return Histogram { log2: matches!(kind, MapValue::Hist { .. }), buckets: Vec::new() };
        };
        let buckets = (first..=end)
            .map(|index| {
                let (lo, hi) = bounds(kind, index);
                let count = counts.get(&index).copied().unwrap_or(0);
                Bucket { lo, hi, count, raw: count }
            })
            .collect();
        Histogram { log2: matches!(kind, MapValue::Hist { .. }), buckets }
    }

    /// The sum of the raw counts: bpftrace orders keyed histograms by it.
    pub fn total(&self) -> u64 {
        self.buckets.iter().fold(0u64, |acc, b| acc.wrapping_add(b.raw))
    }

    /// Divides the printed counts by `div` (`print(@m, top, div)`).
    pub fn divide(&mut self, div: u64) {
        for b in &mut self.buckets {
            b.count = b.raw / div.max(1);
        }
    }
}

/// The largest bucket index of a histogram kind.
fn last_index(kind: &MapValue) -> u64 {
    match *kind {
        // Index 0 is the negatives, then 2^(k+1) single values, then 2^k
        // buckets for each power of two up to 2^63.
        MapValue::Hist { bits } => {
            let k = u64::from(bits.min(5));
            (1 << (k + 1)) + (63 - k) * (1 << k)
        }
        MapValue::Lhist { min, max, step } => lhist_buckets(min, max, step) + 1,
        _ => 0,
    }
}

/// The number of in-range buckets of an `lhist`: `(max - min) / step`.
fn lhist_buckets(min: i64, max: i64, step: i64) -> u64 {
    (i128::from(max) - i128::from(min)).max(0) as u64 / step.max(1) as u64
}

/// The range of bucket `index`.
fn bounds(kind: &MapValue, index: u64) -> (Option<i128>, Option<i128>) {
    match *kind {
        // bits past 5 are not a valid hist(); clamped, so the shifts stay in range.
        MapValue::Hist { bits } => match hist_bounds(index, bits.min(5)) {
            None => (None, Some(0)),
            Some((lo, hi)) => (Some(i128::from(lo)), hi.map(i128::from)),
        },
        MapValue::Lhist { min, max, step } => {
            let step = i128::from(step.max(1));
            if index == 0 {
                (None, Some(i128::from(min)))
            } else if index > lhist_buckets(min, max, step as i64) {
                (Some(i128::from(max)), None)
            } else {
                let lo = i128::from(min) + i128::from(index - 1) * step;
                (Some(lo), Some(lo + step))
            }
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_codegen::manifest::{hist_index, lhist_index};

    fn build(kind: MapValue, values: &[i64]) -> Histogram {
        let mut counts = BTreeMap::new();
        for &v in values {
            let index = match kind {
                MapValue::Hist { bits } => hist_index(v, bits),
                MapValue::Lhist { min, max, step } => lhist_index(v, min, max, step),
                _ => unreachable!(),
            };
            *counts.entry(index).or_insert(0) += 1;
        }
        Histogram::new(&kind, &counts)
    }

    fn ranges(h: &Histogram) -> Vec<(Option<i128>, Option<i128>, u64)> {
        h.buckets.iter().map(|b| (b.lo, b.hi, b.count)).collect()
    }

    #[test]
    fn from_the_first_to_the_last_nonzero_bucket() {
        let h = build(MapValue::Hist { bits: 0 }, &[-1, 0, 5]);
        assert_eq!(
            ranges(&h),
            [(None, Some(0), 1), (Some(0), Some(1), 1), (Some(1), Some(2), 0), (Some(2), Some(4), 0), (Some(4), Some(8), 1)]
        );
        assert_eq!(h.total(), 3);
        assert!(build(MapValue::Hist { bits: 0 }, &[]).buckets.is_empty());
    }

    #[test]
    fn linear_buckets_with_both_open_ends() {
        // lhist(x, 0, 10, 3): (..., 0) [0, 3) [3, 6) [6, 9) [10, ...)
        let h = build(MapValue::Lhist { min: 0, max: 10, step: 3 }, &[5, 100]);
        assert_eq!(ranges(&h), [(Some(3), Some(6), 1), (Some(6), Some(9), 0), (Some(10), None, 1)]);
        let h = build(MapValue::Lhist { min: 1024, max: 4096, step: 1024 }, &[1]);
        assert_eq!(ranges(&h), [(None, Some(1024), 1)]);
    }

    #[test]
    fn indices_past_the_end_are_ignored_and_zero_step_is_safe() {
        let kind = MapValue::Lhist { min: 0, max: 10, step: 0 };
        let h = Histogram::new(&kind, &BTreeMap::from([(3, 1), (u64::MAX, 5)]));
        assert_eq!(ranges(&h), [(Some(2), Some(3), 1)]);
        let h = Histogram::new(&MapValue::Hist { bits: 9 }, &BTreeMap::from([(u64::MAX, 1)]));
        assert!(h.buckets.is_empty());
    }

    #[test]
    fn division_keeps_the_raw_counts() {
        let mut h = build(MapValue::Hist { bits: 2 }, &[9, 9, 9]);
        h.divide(2);
        assert_eq!((h.buckets[0].count, h.buckets[0].raw), (1, 3));
        assert_eq!(h.buckets[0].lo, Some(8));
        assert_eq!(h.buckets[0].hi, Some(10));
        h.divide(0);
        assert_eq!(h.buckets[0].count, 3);
    }
}
