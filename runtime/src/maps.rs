//! The user's maps between the kernel and the output: read and decoded
//! (per-CPU values combined by the map's aggregation, histogram buckets
//! gathered per key), sorted in the order bpftrace prints them, cut to
//! `print(@m, top, div)`; and cleared or zeroed from userspace.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{MapInfo, MapValue, ValueType};

use crate::decode::{read_int, Decoder};
use crate::histogram::Histogram;
use crate::sys;
use crate::value::Stats;

pub use crate::value::Value;

/// One element of a map: its key parts (none for a map without keys) and
/// its value, per-CPU values already combined. A histogram map has one
/// entry per key, its value a [`Value::Hist`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    /// The key's parts.
    pub key: Vec<Value>,
    /// The value.
    pub value: Value,
}

/// Reads every element of `map` from the kernel map `fd`, decoding each
/// as it arrives: what is held is the decoded entries, not the raw bytes.
/// `zeroed`: the map is an array histogram ([`MapInfo::array`]) that
/// `zero()` emptied while it held counts, which bpftrace (keeping its
/// buckets in a hash) still prints, as an empty histogram.
pub(crate) fn read(fd: BorrowedFd<'_>, map: &MapInfo, decoder: &Decoder, zeroed: bool) -> io::Result<Vec<MapEntry>> {
    let cpus = cpus(map)?;
    let mut decoding = Decoding::new(map, cpus, decoder);
    decoding.zeroed = zeroed;
    sys::map_entries(fd, map.key_size as usize, stored_value_size(map, cpus), map.max_entries, |key, value| {
        decoding.add(key, value);
    })?;
    Ok(decoding.finish())
}

fn cpus(map: &MapInfo) -> io::Result<usize> {
    if map.percpu {
        sys::possible_cpus()
    } else {
        Ok(1)
    }
}

/// `print(@m)` followed by `clear(@m)`, as interval tools print: takes
/// every element out of a hash map, each read and deleted in one step
/// ([`sys::map_take`]), so an update made while the map is printed stays
/// for the next print instead of being cleared unseen. `None` for an
/// array, whose elements cannot be deleted, and where the kernel lacks
/// the command: the caller reads, then clears.
pub(crate) fn take(fd: BorrowedFd<'_>, map: &MapInfo, decoder: &Decoder) -> io::Result<Option<Vec<MapEntry>>> {
    if map.array {
        return Ok(None);
    }
    let cpus = cpus(map)?;
    let mut decoding = Decoding::new(map, cpus, decoder);
    let mut taken = false;
    let result = sys::map_take(fd, map.key_size as usize, stored_value_size(map, cpus), map.max_entries, |key, value| {
        taken = true;
        decoding.add(key, value);
    });
    match result {
        Ok(()) => Ok(Some(decoding.finish())),
        // Nothing was taken yet: the map is as it was.
        Err(e) if !taken && !is_permission(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `clear(@m)`: deletes every element; zeroes those of an array, whose
/// elements then read as unset.
pub(crate) fn clear(fd: BorrowedFd<'_>, map: &MapInfo) -> io::Result<()> {
    if map.array {
        return write_zeros(fd, map, false);
    }
    // A few calls for the whole map where the kernel takes elements in
    // batches; one lookup and one delete per key where it does not.
    let mut taken = false;
    match sys::map_take(fd, map.key_size as usize, stored_value_size(map, cpus(map)?), map.max_entries, |_, _| taken = true) {
        Ok(()) => return Ok(()),
        Err(e) if taken || is_permission(&e) => return Err(e),
        Err(_) => {}
    }
    for key in sys::map_keys(fd, map.key_size as usize, map.max_entries)? {
        sys::map_delete(fd, &key)?;
    }
    Ok(())
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// `zero(@m)`: sets every value to zero — on every CPU of a per-CPU map —
/// and keeps the keys. A zeroed min()/max() slot is unset again.
pub(crate) fn zero(fd: BorrowedFd<'_>, map: &MapInfo) -> io::Result<()> {
    write_zeros(fd, map, map.has_set_flag())
}

/// Writes zero values over every element; with `keep_set`, a plain value
/// in an array that was set stays set ([`MapInfo::array`]).
fn write_zeros(fd: BorrowedFd<'_>, map: &MapInfo, keep_set: bool) -> io::Result<()> {
    let size = stored_value_size(map, cpus(map)?);
    let zeros = vec![0u8; size];
    let mut set = zeros.clone();
    if keep_set {
        set[map.value_size as usize] = 1;
    }
    let mut value = vec![0u8; size];
    for key in sys::map_keys(fd, map.key_size as usize, map.max_entries)? {
        let was_set = keep_set && sys::map_lookup(fd, &key, &mut value)? && u64_at(&value, map.value_size as usize) != 0;
        sys::map_update(fd, &key, if was_set { &set } else { &zeros })?;
    }
    Ok(())
}

/// The bytes the kernel returns for one value: per-CPU maps give one
/// 8-byte-aligned slot per possible CPU.
pub(crate) fn stored_value_size(map: &MapInfo, cpus: usize) -> usize {
    if map.percpu {
        (map.value_size as usize).next_multiple_of(8) * cpus
    } else {
        map.kernel_value_size() as usize
    }
}

pub(crate) fn is_histogram(map: &MapInfo) -> bool {
    matches!(map.value, MapValue::Hist { .. } | MapValue::Lhist { .. })
}

/// Decodes raw `(key, value)` pairs as the kernel returns them (`cpus`
/// slots per value for a per-CPU map), combines the per-CPU values and
/// sorts the entries as bpftrace prints them.
pub fn decode(map: &MapInfo, raw: Vec<(Vec<u8>, Vec<u8>)>, cpus: usize, decoder: &Decoder) -> Vec<MapEntry> {
    let mut decoding = Decoding::new(map, cpus, decoder);
    for (key, value) in &raw {
        decoding.add(key, value);
    }
    decoding.finish()
}

/// A map being decoded, one raw element at a time.
struct Decoding<'a> {
    map: &'a MapInfo,
    decoder: &'a Decoder,
    cpus: usize,
    /// The bytes of one CPU's slot of a value.
    stride: usize,
    /// Decoded entries.
    entries: Vec<MapEntry>,
    /// The raw key bytes of each entry where the sort needs them (`avg()`
    /// and `stats()`), else empty.
    raw_keys: Vec<Vec<u8>>,
    /// A histogram's counts: bucket index → count, per user key.
    buckets: BTreeMap<Vec<u8>, BTreeMap<u64, u64>>,
    /// See [`read`].
    zeroed: bool,
}

impl<'a> Decoding<'a> {
    fn new(map: &'a MapInfo, cpus: usize, decoder: &'a Decoder) -> Decoding<'a> {
        let cpus = if map.percpu { cpus.max(1) } else { 1 };
        let stride = if map.percpu { (map.value_size as usize).next_multiple_of(8) } else { map.value_size as usize };
        Decoding { map, decoder, cpus, stride, entries: Vec::new(), raw_keys: Vec::new(), buckets: BTreeMap::new(), zeroed: false }
    }

    fn slots<'v>(&self, value_bytes: &'v [u8]) -> impl Iterator<Item = &'v [u8]> + Clone {
        let stride = self.stride;
        (0..self.cpus).map(move |cpu| value_bytes.get(cpu * stride..(cpu + 1) * stride).unwrap_or(&[]))
    }

    fn decode_key(&self, key_bytes: &[u8]) -> Vec<Value> {
        self.map
            .key
            .iter()
            .map(|f| {
                let start = (f.offset as usize).min(key_bytes.len());
                let end = start.saturating_add(f.ty.size() as usize).min(key_bytes.len());
                self.decoder.decode(&f.ty, &key_bytes[start..end])
            })
            .collect()
    }

    fn add(&mut self, key_bytes: &[u8], value_bytes: &[u8]) {
        if is_histogram(self.map) {
            // The last 8 bytes of the kernel key are the bucket index
            // (an array's key is the index alone): gather the buckets of
            // each user key.
            let split = if self.map.array { 0 } else { (self.map.key_size as usize).saturating_sub(8).min(key_bytes.len()) };
            let index = read_int(&key_bytes[split..], false);
            let count = self.slots(value_bytes).fold(0u64, |acc, s| acc.wrapping_add(u64_at(s, 0)));
            let user_key = &key_bytes[..split];
            let counts = match self.buckets.get_mut(user_key) {
                Some(counts) => counts,
                None => self.buckets.entry(user_key.to_vec()).or_default(),
            };
            let bucket = counts.entry(index).or_insert(0);
            *bucket = bucket.wrapping_add(count);
            return;
        }
        if self.map.has_set_flag() {
            // A plain value in an array exists once it was set.
            if u64_at(value_bytes, self.map.value_size as usize) == 0 {
                return;
            }
        }
        let value = combine(&self.map.value, self.slots(value_bytes), self.decoder);
        let key = self.decode_key(key_bytes);
        if sorts_by_raw_key(self.map) {
            self.raw_keys.push(key_bytes.to_vec());
        }
        self.entries.push(MapEntry { key, value });
    }

    fn finish(mut self) -> Vec<MapEntry> {
        if self.map.array && !self.zeroed {
            // Every bucket of an array exists: the map holds something
            // only once one of them counted.
            self.buckets.retain(|_, counts| counts.values().any(|&c| c != 0));
        }
        for (key_bytes, counts) in std::mem::take(&mut self.buckets) {
            let value = Value::Hist(Histogram::new(&self.map.value, &counts));
            let key = self.decode_key(&key_bytes);
            self.entries.push(MapEntry { key, value });
        }
        let map = self.map;
        // A `count()` without keys reads as 0 before anything counted, as
        // bpftrace's array does; one kept in a hash (delete() works on it)
        // may hold no element.
        if self.entries.is_empty() && map.key.is_empty() && map.value == MapValue::Count {
            self.entries.push(MapEntry { key: Vec::new(), value: Value::Uint(0) });
        }
        if sorts_by_raw_key(map) {
            // avg() and stats(): ties go by the raw key bytes.
            let mut pairs: Vec<(Vec<u8>, MapEntry)> = self.raw_keys.into_iter().zip(self.entries).collect();
            pairs.sort_unstable_by(|a, b| average(&a.1.value).cmp(&average(&b.1.value)).then_with(|| a.0.cmp(&b.0)));
            return pairs.into_iter().map(|(_, e)| e).collect();
        }
        sort(map, &mut self.entries);
        self.entries
    }
}

/// `avg()` and `stats()` break ties in raw key byte order.
fn sorts_by_raw_key(map: &MapInfo) -> bool {
    matches!(map.value, MapValue::Avg { .. } | MapValue::Stats { .. })
}

fn u64_at(slot: &[u8], offset: usize) -> u64 {
    slot.get(offset..offset + 8).map_or(0, |b| read_int(b, false))
}

/// Combines the per-CPU slots of one (non-histogram) value.
fn combine<'v>(kind: &MapValue, slots: impl Iterator<Item = &'v [u8]> + Clone, decoder: &Decoder) -> Value {
    let sum = |offset| slots.clone().fold(0u64, |acc, s| acc.wrapping_add(u64_at(s, offset)));
    let number = |v: u64, signed: bool| if signed { Value::Int(v as i64) } else { Value::Uint(v) };
    match kind {
        MapValue::Plain(ty) => decoder.decode(ty, slots.clone().next().unwrap_or(&[])),
        MapValue::Count | MapValue::Hist { .. } | MapValue::Lhist { .. } => Value::Uint(sum(0)),
        MapValue::Sum { signed } => number(sum(0), *signed),
        MapValue::Min { signed } | MapValue::Max { signed } => {
            // Each slot is `{ value, set }`; only the CPUs that saw a value
            // count. None did after zero(): bpftrace prints 0 then.
            let set = slots.filter(|s| u64_at(s, 8) != 0).map(|s| u64_at(s, 0));
            let is_min = matches!(kind, MapValue::Min { .. });
            let pick = if *signed {
                let set = set.map(|v| v as i64);
                (if is_min { set.min() } else { set.max() }).map(|v| v as u64)
            } else if is_min {
                set.min()
            } else {
                set.max()
            };
            number(pick.unwrap_or(0), *signed)
        }
        MapValue::Avg { signed } => {
            // Each slot is `{ sum, count }`: the mean of all, in integer
            // division as bpftrace (truncating towards zero).
            let (total, count) = (sum(0), sum(8));
            if count == 0 {
                number(0, *signed)
            } else if *signed {
                Value::Int((total as i64).wrapping_div(count as i64))
            } else {
                Value::Uint(total / count)
            }
        }
        MapValue::Stats { signed } => {
            let total = if *signed { i128::from(sum(0) as i64) } else { i128::from(sum(0)) };
            Value::Stats(Box::new(Stats { count: sum(8), total }))
        }
    }
}

/// bpftrace's order. Maps of numbers: by value, ascending, ties in key
/// order; keys compare part by part, integers as unsigned 64-bit numbers
/// (so -1 sorts last, as in bpftrace) and strings as strncmp does.
/// `avg()` and `stats()`: by average, ties in raw key byte order (bpftrace
/// keeps them in a std::map first). Histograms: by their total count.
/// Maps of strings, tuples and other non-numbers: by key.
/// Sorts as bpftrace prints: by value (a histogram by its total), ties by
/// key; maps of strings and other non-numbers by key alone. One sort with
/// both orders: keys are unique, so it need not be stable. (`avg()` and
/// `stats()` maps sort in [`Decoding::finish`], by raw key bytes.)
fn sort(map: &MapInfo, entries: &mut [MapEntry]) {
    match &map.value {
        MapValue::Hist { .. } | MapValue::Lhist { .. } => {
            let total = |e: &MapEntry| match &e.value {
                Value::Hist(h) => h.total(),
                _ => 0,
            };
            entries.sort_unstable_by(|a, b| total(a).cmp(&total(b)).then_with(|| key_order(&a.key, &b.key)));
        }
        MapValue::Plain(ty) if !matches!(ty, ValueType::Int { .. } | ValueType::Bool) => {
            entries.sort_unstable_by(|a, b| key_order(&a.key, &b.key));
        }
        _ => entries.sort_unstable_by(|a, b| value_order(&a.value, &b.value).then_with(|| key_order(&a.key, &b.key))),
    }
}

fn average(v: &Value) -> i128 {
    match v {
        Value::Int(i) => i128::from(*i),
        Value::Uint(u) => i128::from(*u),
        Value::Stats(s) => s.average(),
        _ => 0,
    }
}

fn key_order(a: &[Value], b: &[Value]) -> Ordering {
    a.iter().zip(b).map(|(a, b)| part_order(a, b)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn part_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) | (Value::Buf(a), Value::Buf(b)) => a.cmp(b),
        (Value::Tuple(a), Value::Tuple(b)) | (Value::Array(a), Value::Array(b)) => key_order(a, b),
        (Value::Record(a), Value::Record(b)) => {
            a.iter().zip(b).map(|((_, a), (_, b))| part_order(a, b)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        }
        (a, b) => as_unsigned(a).cmp(&as_unsigned(b)),
    }
}

fn as_unsigned(v: &Value) -> u64 {
    match v {
        Value::Int(i) => *i as u64,
        Value::Uint(u) | Value::Pointer(u) => *u,
        Value::Bool(b) => u64::from(*b),
        _ => 0,
    }
}

fn value_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (a, b) => as_unsigned(a).cmp(&as_unsigned(b)),
    }
}

/// What `print(@m, top, div)` shows of sorted entries: the last `top`
/// (the largest; 0 keeps all) with numbers divided by `div` (0 and 1
/// leave them as they are). bpftrace ignores both for `stats()` maps, and
/// 0.17 divides the counts of `hist()` maps but not of `lhist()` ones.
pub fn top_and_divide(map: &MapInfo, mut entries: Vec<MapEntry>, top: u64, div: u64) -> Vec<MapEntry> {
    if matches!(map.value, MapValue::Stats { .. }) {
        return entries;
    }
    let keep = usize::try_from(top).ok().filter(|&t| t > 0).unwrap_or(entries.len()).min(entries.len());
    let mut shown = entries.split_off(entries.len() - keep);
    drop(entries);
    if div > 1 && !matches!(map.value, MapValue::Lhist { .. }) {
        for entry in &mut shown {
            match &mut entry.value {
                Value::Int(v) => *v = (i128::from(*v) / i128::from(div)) as i64,
                Value::Uint(v) => *v /= div,
                Value::Hist(h) => h.divide(div),
                _ => {}
            }
        }
    }
    shown
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rbpf_codegen::manifest::{hist_index, lhist_index, Field};

    pub(crate) fn map(name: &str, key: Vec<ValueType>, value: MapValue) -> MapInfo {
        let mut offset = 0;
        let key: Vec<Field> = key
            .into_iter()
            .map(|ty| {
                let f = Field { offset, ty };
                offset += f.ty.size().next_multiple_of(8);
                f
            })
            .collect();
        let key_size = match value {
            MapValue::Hist { .. } | MapValue::Lhist { .. } => offset + 8,
            _ => offset.max(8),
        };
        let value_size = match &value {
            MapValue::Plain(ty) => ty.size().next_multiple_of(8),
            MapValue::Count | MapValue::Sum { .. } | MapValue::Hist { .. } | MapValue::Lhist { .. } => 8,
            _ => 16,
        };
        MapInfo {
            name: name.into(),
            bpf_name: "m".into(),
            percpu: !matches!(value, MapValue::Plain(_)),
            array: false,
            max_entries: 4096,
            key,
            key_size,
            value,
            value_size,
        }
    }

    /// Raw per-CPU histogram entries: `(user key bytes, value)` pairs
    /// counted into bucket keys on CPU 0 of `cpus`.
    pub(crate) fn hist_raw(map: &MapInfo, values: &[(Vec<u8>, i64)], cpus: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for (key, v) in values {
            let index = match map.value {
                MapValue::Hist { bits } => hist_index(*v, bits),
                MapValue::Lhist { min, max, step } => lhist_index(*v, min, max, step),
                _ => unreachable!(),
            };
            let mut k = key.clone();
            k.extend_from_slice(&index.to_le_bytes());
            *counts.entry(k).or_insert(0) += 1;
        }
        counts
            .into_iter()
            .map(|(k, n)| {
                let mut slots = n.to_le_bytes().to_vec();
                slots.resize(8 * cpus, 0);
                (k, slots)
            })
            .collect()
    }

    pub(crate) const I64: ValueType = ValueType::Int { size: 8, signed: true };
    const U64: ValueType = ValueType::Int { size: 8, signed: false };

    pub(crate) fn str_key(s: &str, size: usize) -> Vec<u8> {
        let mut b = s.as_bytes().to_vec();
        b.resize(size, 0);
        b
    }

    pub(crate) fn per_cpu(slots: &[&[u64]]) -> Vec<u8> {
        slots.iter().flat_map(|s| s.iter().flat_map(|v| v.to_le_bytes())).collect()
    }

    fn dec(map: &MapInfo, raw: Vec<(Vec<u8>, Vec<u8>)>, cpus: usize) -> Vec<MapEntry> {
        decode(map, raw, cpus, &Decoder::default())
    }

    /// Renders entries as `key,key=value` lines.
    fn show(entries: &[MapEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let text = |v: &Value| match v {
                    Value::Hist(h) => format!("hist{:?}", h.buckets.iter().map(|b| b.count).collect::<Vec<_>>()),
                    v => String::from_utf8(v.to_text()).unwrap(),
                };
                let keys: Vec<String> = e.key.iter().map(text).collect();
                format!("{}={}", keys.join(","), text(&e.value))
            })
            .collect()
    }

    #[test]
    fn counts_sum_over_cpus_and_sort_by_value_then_key() {
        let m = map("@c", vec![ValueType::Str { size: 16 }], MapValue::Count);
        let raw = vec![
            (str_key("m", 16), per_cpu(&[&[1], &[0]])),
            (str_key("c", 16), per_cpu(&[&[1], &[1]])),
            (str_key("z", 16), per_cpu(&[&[0], &[1]])),
            (str_key("a", 16), per_cpu(&[&[1], &[0]])),
        ];
        assert_eq!(show(&dec(&m, raw, 2)), ["a=1", "m=1", "z=1", "c=2"]);
    }

    #[test]
    fn signed_values_sort_signed_and_keys_sort_unsigned() {
        let m = map("@n", vec![I64], MapValue::Plain(I64));
        let raw = vec![
            (3i64.to_le_bytes().to_vec(), (-5i64).to_le_bytes().to_vec()),
            (1i64.to_le_bytes().to_vec(), 7i64.to_le_bytes().to_vec()),
            (2i64.to_le_bytes().to_vec(), (-9i64).to_le_bytes().to_vec()),
        ];
        assert_eq!(show(&dec(&m, raw, 2)), ["2=-9", "3=-5", "1=7"]);

        // Maps of strings print in key order; -2 is a large unsigned key.
        let m = map("@s", vec![I64], MapValue::Plain(ValueType::Str { size: 8 }));
        let raw = [10i64, -2, 3, 200].iter().map(|k| (k.to_le_bytes().to_vec(), str_key("v", 8))).collect();
        assert_eq!(show(&dec(&m, raw, 2)), ["3=v", "10=v", "200=v", "-2=v"]);
    }

    #[test]
    fn compound_keys_sort_part_by_part() {
        let m = map("@t", vec![U64, ValueType::Str { size: 8 }], MapValue::Plain(ValueType::Str { size: 8 }));
        let key = |n: u64, s: &str| [n.to_le_bytes().to_vec(), str_key(s, 8)].concat();
        let raw = vec![
            (key(2, "b"), str_key("x", 8)),
            (key(1, "z"), str_key("y", 8)),
            (key(2, "a"), str_key("z", 8)),
            (key(1, "a"), str_key("w", 8)),
            (key(1, "ab"), str_key("v", 8)),
        ];
        assert_eq!(show(&dec(&m, raw, 1)), ["1,a=w", "1,ab=v", "1,z=y", "2,a=z", "2,b=x"]);
    }

    #[test]
    fn min_and_max_combine_only_the_cpus_that_saw_a_value() {
        let m = map("@mx", vec![], MapValue::Max { signed: true });
        let raw = vec![(vec![0; 8], per_cpu(&[&[(-9i64) as u64, 1], &[0, 0], &[(-5i64) as u64, 1]]))];
        assert_eq!(show(&dec(&m, raw, 3)), ["=-5"]);

        let m = map("@mn", vec![], MapValue::Min { signed: false });
        let raw = vec![(vec![0; 8], per_cpu(&[&[0, 0], &[7, 1], &[3, 1]]))];
        assert_eq!(show(&dec(&m, raw, 3)), ["=3"]);

        // After zero() no CPU has a value: bpftrace prints 0.
        let raw = vec![(vec![0; 8], per_cpu(&[&[0, 0], &[0, 0]]))];
        assert_eq!(show(&dec(&m, raw, 2)), ["=0"]);
    }

    #[test]
    fn averages_divide_total_sum_by_total_count_truncating() {
        let m = map("@av", vec![I64], MapValue::Avg { signed: true });
        let raw = vec![
            (1i64.to_le_bytes().to_vec(), per_cpu(&[&[7, 1], &[2, 1]])),
            (2i64.to_le_bytes().to_vec(), per_cpu(&[&[1, 1], &[0, 0]])),
            (3i64.to_le_bytes().to_vec(), per_cpu(&[&[(-9i64) as u64, 1], &[0, 1]])),
            (4i64.to_le_bytes().to_vec(), per_cpu(&[&[0, 0], &[0, 0]])),
        ];
        assert_eq!(show(&dec(&m, raw, 2)), ["3=-4", "4=0", "2=1", "1=4"]);
    }

    #[test]
    fn stats_sort_by_average() {
        // bpftrace: @s[1]=stats(10); 4 x @s[2]=stats(3); @s[3]=stats(7), stats(8)
        // prints @s[2] (avg 3), @s[3] (avg 7), @s[1] (avg 10).
        let m = map("@s", vec![I64], MapValue::Stats { signed: true });
        let raw = vec![
            (1i64.to_le_bytes().to_vec(), per_cpu(&[&[10, 1], &[0, 0]])),
            (2i64.to_le_bytes().to_vec(), per_cpu(&[&[6, 2], &[6, 2]])),
            (3i64.to_le_bytes().to_vec(), per_cpu(&[&[15, 2], &[0, 0]])),
        ];
        assert_eq!(
            show(&dec(&m, raw, 2)),
            ["2=count 4, average 3, total 12", "3=count 2, average 7, total 15", "1=count 1, average 10, total 10"]
        );
    }

    #[test]
    fn histograms_gather_buckets_per_key_and_sort_by_total() {
        // bpftrace: 3 x @h[0]=hist(5); @h[1]=hist(9); 2 x @h[2]=hist(1000);
        // @h[3]=hist(1) prints @h[1], @h[3], @h[2], @h[0].
        let m = map("@h", vec![I64], MapValue::Hist { bits: 0 });
        let k = |n: i64| n.to_le_bytes().to_vec();
        let raw = hist_raw(&m, &[(k(0), 5), (k(0), 5), (k(0), 5), (k(1), 9), (k(2), 1000), (k(2), 1000), (k(3), 1)], 2);
        assert_eq!(show(&dec(&m, raw, 2)), ["1=hist[1]", "3=hist[1]", "2=hist[2]", "0=hist[3]"]);
        // Counts of one bucket add up over CPUs.
        let m = map("@h", vec![], MapValue::Lhist { min: 0, max: 100, step: 10 });
        let raw = vec![(1u64.to_le_bytes().to_vec(), per_cpu(&[&[2], &[3]]))];
        assert_eq!(show(&dec(&m, raw, 2)), ["=hist[5]"]);
    }

    #[test]
    fn zeroed_histograms_keep_their_keys() {
        let m = map("@h", vec![I64], MapValue::Hist { bits: 0 });
        let mut key = 1i64.to_le_bytes().to_vec();
        key.extend_from_slice(&3u64.to_le_bytes());
        assert_eq!(show(&dec(&m, vec![(key, per_cpu(&[&[0], &[0]]))], 2)), ["1=hist[]"]);
    }

    #[test]
    fn array_histograms_show_once_a_bucket_counted() {
        let mut m = map("@h", vec![], MapValue::Hist { bits: 0 });
        (m.array, m.key_size, m.max_entries) = (true, 4, 65);
        // Every bucket is read; all zero until one counted.
        let buckets = |counts: &[(u32, u64)]| -> Vec<(Vec<u8>, Vec<u8>)> {
            (0..65u32)
                .map(|i| {
                    let n = counts.iter().find(|(b, _)| *b == i).map_or(0, |(_, n)| *n);
                    (i.to_le_bytes().to_vec(), per_cpu(&[&[n], &[0]]))
                })
                .collect()
        };
        assert!(dec(&m, buckets(&[]), 2).is_empty());
        let shown = dec(&m, buckets(&[(3, 2), (5, 1)]), 2);
        let Value::Hist(h) = &shown[0].value else { panic!("not a histogram: {shown:?}") };
        assert_eq!(h.total(), 3);
        // zero() of one that counted still shows, empty.
        let decoder = Decoder::default();
        let mut zeroed = Decoding::new(&m, 2, &decoder);
        zeroed.zeroed = true;
        for (k, v) in buckets(&[]) {
            zeroed.add(&k, &v);
        }
        assert_eq!(show(&zeroed.finish()), ["=hist[]"]);
    }

    #[test]
    fn array_values_exist_once_set() {
        let mut m = map("@x", vec![], MapValue::Plain(I64));
        (m.array, m.key_size, m.max_entries) = (true, 4, 1);
        assert_eq!(stored_value_size(&m, 2), 16);
        let element = |v: i64, set: u64| [v.to_le_bytes(), set.to_le_bytes()].concat();
        assert!(dec(&m, vec![(vec![0; 4], element(0, 0))], 1).is_empty());
        assert_eq!(show(&dec(&m, vec![(vec![0; 4], element(0, 1))], 1)), ["=0"]);
        assert_eq!(show(&dec(&m, vec![(vec![0; 4], element(-4, 1))], 1)), ["=-4"]);
    }

    #[test]
    fn sums_wrap_and_keep_their_sign() {
        let m = map("@s", vec![], MapValue::Sum { signed: true });
        let raw = vec![(vec![0; 8], per_cpu(&[&[(-3i64) as u64], &[1]]))];
        assert_eq!(show(&dec(&m, raw, 2)), ["=-2"]);
    }

    #[test]
    fn a_keyless_count_reads_zero_before_counting() {
        let m = map("@c", vec![], MapValue::Count);
        assert_eq!(show(&dec(&m, Vec::new(), 2)), ["=0"]);
        let m = map("@s", vec![], MapValue::Sum { signed: false });
        assert!(dec(&m, Vec::new(), 2).is_empty());
    }

    #[test]
    fn per_cpu_slots_are_eight_byte_aligned() {
        let mut m = map("@c", vec![], MapValue::Count);
        m.value_size = 4;
        assert_eq!(stored_value_size(&m, 3), 24);
        m.percpu = false;
        assert_eq!(stored_value_size(&m, 3), 4);
    }

    #[test]
    fn short_or_missing_bytes_decode_as_zero() {
        let m = map("@c", vec![I64], MapValue::Avg { signed: true });
        assert_eq!(show(&dec(&m, vec![(vec![1], vec![5])], 4)), ["1=0"]);
        let m = map("@h", vec![I64], MapValue::Hist { bits: 0 });
        assert_eq!(show(&dec(&m, vec![(vec![], vec![])], 4)), ["0=hist[]"]);
    }

    #[test]
    fn top_keeps_the_largest_and_div_divides() {
        // bpftrace: @x[1]=5; @x[2]=9; @x[3]=-7; print(@x, 2, 2) prints
        // @x[1]: 2 and @x[2]: 4; @n[1]=-7 divided by 2 prints -3.
        let m = map("@x", vec![I64], MapValue::Plain(I64));
        let raw = [(1i64, 5i64), (2, 9), (3, -7)].iter().map(|(k, v)| (k.to_le_bytes().to_vec(), v.to_le_bytes().to_vec())).collect();
        let entries = dec(&m, raw, 1);
        assert_eq!(show(&top_and_divide(&m, entries.clone(), 2, 2)), ["1=2", "2=4"]);
        assert_eq!(show(&top_and_divide(&m, entries.clone(), 0, 2)), ["3=-3", "1=2", "2=4"]);
        assert_eq!(show(&top_and_divide(&m, entries.clone(), 10, 0)), ["3=-7", "1=5", "2=9"]);
        // lhist() maps keep their counts; hist() maps divide them.
        let values = [(Vec::new(), 3), (Vec::new(), 3), (Vec::new(), 3), (Vec::new(), 7)];
        let l = map("@l", vec![], MapValue::Lhist { min: 0, max: 10, step: 1 });
        let entries = dec(&l, hist_raw(&l, &values, 1), 1);
        assert_eq!(show(&top_and_divide(&l, entries.clone(), 0, 2)), show(&entries));
        let h = map("@h", vec![], MapValue::Hist { bits: 0 });
        let entries = dec(&h, hist_raw(&h, &values, 1), 1);
        assert_eq!(show(&top_and_divide(&h, entries, 0, 2)), ["=hist[1, 0]"]);
        // stats() maps ignore both.
        let s = map("@s", vec![], MapValue::Stats { signed: false });
        let entries = dec(&s, vec![(vec![0; 8], per_cpu(&[&[10, 2]]))], 1);
        assert_eq!(show(&top_and_divide(&s, entries, 1, 2)), ["=count 2, average 5, total 10"]);
    }
}
