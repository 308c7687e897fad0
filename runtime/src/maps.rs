//! Reading the user's maps out of the kernel and into plain entries: keys
//! decoded, per-CPU values combined by the map's aggregation, and sorted in
//! the order bpftrace prints them.

use std::cmp::Ordering;
use std::io;
use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{Field, MapInfo, MapValue, ValueType};

use crate::printf::{read_int, until_nul};
use crate::sys;

/// A decoded key part or map value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Uint(u64),
    /// A string, up to its first NUL. Bytes, not `String`: the kernel's
    /// strings (comm, file names) need not be UTF-8, and bpftrace prints
    /// them as they are.
    Str(Vec<u8>),
    /// A `stats()` value: count, average (truncated) and total.
    Stats { count: u64, average: i64, total: i64, signed: bool },
    /// A `hist()` or `lhist()` of one key: (bucket index, count) for every
    /// bucket that counted something, by index.
    Hist(Vec<(u64, u64)>),
}

impl Value {
    fn decode(ty: &ValueType, bytes: &[u8]) -> Value {
        match ty {
            ValueType::Int { signed: true, .. } => Value::Int(read_int(bytes, true) as i64),
            ValueType::Int { signed: false, .. } => Value::Uint(read_int(bytes, false)),
            ValueType::Str { .. } => Value::Str(until_nul(bytes).to_vec()),
            // Not produced by codegen yet; decoded by the output work.
            _ => Value::Str(bytes.to_vec()),
        }
    }

    /// Writes the value as bpftrace's text output does: numbers in decimal,
    /// strings as they are, unquoted.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(v) => out.extend_from_slice(v.to_string().as_bytes()),
            Value::Uint(v) => out.extend_from_slice(v.to_string().as_bytes()),
            Value::Str(s) => out.extend_from_slice(s),
            Value::Stats { count, average, total, signed } => {
                let text = if *signed {
                    format!("count {count}, average {average}, total {total}")
                } else {
                    format!("count {count}, average {}, total {}", *average as u64, *total as u64)
                };
                out.extend_from_slice(text.as_bytes());
            }
            // Histograms are drawn by the output, which knows the buckets.
            Value::Hist(_) => {}
        }
    }
}

/// One element of a map: its key parts (none for a map without keys) and
/// its value, per-CPU values already combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub key: Vec<Value>,
    pub value: Value,
}

/// Reads every element of `map` from the kernel map `fd`.
pub(crate) fn read(fd: BorrowedFd<'_>, map: &MapInfo) -> io::Result<Vec<MapEntry>> {
    let cpus = if map.percpu { sys::possible_cpus()? } else { 1 };
    let raw = sys::map_entries(fd, map.key_size as usize, stored_value_size(map, cpus), map.max_entries)?;
    Ok(decode(map, raw, cpus))
}

/// The bytes the kernel returns for one value: per-CPU maps give one
/// 8-byte-aligned slot per possible CPU.
pub(crate) fn stored_value_size(map: &MapInfo, cpus: usize) -> usize {
    if map.percpu {
        (map.value_size as usize).next_multiple_of(8) * cpus
    } else {
        map.value_size as usize
    }
}

/// Decodes raw `(key, value)` pairs as the kernel returns them (`cpus`
/// slots per value for a per-CPU map), combines the per-CPU values and
/// sorts the entries as bpftrace prints them.
pub fn decode(map: &MapInfo, raw: Vec<(Vec<u8>, Vec<u8>)>, cpus: usize) -> Vec<MapEntry> {
    let cpus = if map.percpu { cpus.max(1) } else { 1 };
    let stride = if map.percpu { (map.value_size as usize).next_multiple_of(8) } else { map.value_size as usize };
    let mut entries: Vec<(Vec<u8>, MapEntry)> = raw
        .into_iter()
        .filter_map(|(key_bytes, value_bytes)| {
            let slots: Vec<&[u8]> = (0..cpus).filter_map(|cpu| value_bytes.get(cpu * stride..(cpu + 1) * stride)).collect();
            let value = combine(&map.value, &slots)?;
            let key = map.key.iter().map(|f| decode_field(f, &key_bytes)).collect();
            Some((key_bytes, MapEntry { key, value }))
        })
        .collect();
    // A `count()` without keys reads as 0 before anything counted: bpftrace
    // keeps it in an array, which always has its one element.
    if entries.is_empty() && map.key.is_empty() && map.value == MapValue::Count {
        entries.push((Vec::new(), MapEntry { key: Vec::new(), value: Value::Uint(0) }));
    }
    if matches!(map.value, MapValue::Hist { .. } | MapValue::Lhist { .. }) {
        return histograms(map, entries);
    }
    sort(map, &mut entries);
    entries.into_iter().map(|(_, e)| e).collect()
}

/// Gathers the bucket entries of a histogram map by user key (the kernel
/// key without its last 8 bytes, the bucket index), ordered as bpftrace
/// orders histograms: by total count, ties by key.
fn histograms(map: &MapInfo, entries: Vec<(Vec<u8>, MapEntry)>) -> Vec<MapEntry> {
    let split = (map.key_size as usize).saturating_sub(8);
    let mut by_key: std::collections::BTreeMap<Vec<u8>, (Vec<Value>, Vec<(u64, u64)>)> = Default::default();
    for (bytes, entry) in entries {
        let index = bytes.get(split..).map_or(0, |b| read_int(b, false));
        let count = match entry.value {
            Value::Uint(c) => c,
            _ => 0,
        };
        let slot = by_key.entry(bytes[..split.min(bytes.len())].to_vec()).or_insert_with(|| (entry.key, Vec::new()));
        if count > 0 {
            slot.1.push((index, count));
        }
    }
    let mut out: Vec<MapEntry> = by_key
        .into_values()
        .filter(|(_, buckets)| !buckets.is_empty())
        .map(|(key, mut buckets)| {
            buckets.sort_unstable();
            MapEntry { key, value: Value::Hist(buckets) }
        })
        .collect();
    let total = |e: &MapEntry| match &e.value {
        Value::Hist(b) => b.iter().map(|(_, c)| *c).sum::<u64>(),
        _ => 0,
    };
    out.sort_by(|a, b| total(a).cmp(&total(b)).then_with(|| key_order(&a.key, &b.key)));
    out
}

fn decode_field(field: &Field, bytes: &[u8]) -> Value {
    let start = (field.offset as usize).min(bytes.len());
    let end = start.saturating_add(field.ty.size() as usize).min(bytes.len());
    Value::decode(&field.ty, &bytes[start..end])
}

fn u64_at(slot: &[u8], offset: usize) -> u64 {
    slot.get(offset..offset + 8).map_or(0, |b| read_int(b, false))
}

/// Combines the per-CPU slots of one value. `None` for an aggregation no
/// CPU contributed to (it has no value to print).
fn combine(kind: &MapValue, slots: &[&[u8]]) -> Option<Value> {
    let sum = |offset| slots.iter().fold(0u64, |acc, s| acc.wrapping_add(u64_at(s, offset)));
    let number = |v: u64, signed: bool| if signed { Value::Int(v as i64) } else { Value::Uint(v) };
    Some(match kind {
        MapValue::Plain(ty) => Value::decode(ty, slots.first()?),
        MapValue::Count => Value::Uint(sum(0)),
        MapValue::Sum { signed } => number(sum(0), *signed),
        MapValue::Min { signed } | MapValue::Max { signed } => {
            // Each slot is `{ value, set }`; only the CPUs that saw a value count.
            let set = slots.iter().filter(|s| u64_at(s, 8) != 0).map(|s| u64_at(s, 0));
            let pick = if *signed {
                let set = set.map(|v| v as i64);
                (if matches!(kind, MapValue::Min { .. }) { set.min() } else { set.max() })? as u64
            } else if matches!(kind, MapValue::Min { .. }) {
                set.min()?
            } else {
                set.max()?
            };
            number(pick, *signed)
        }
        MapValue::Stats { signed } => {
            let (total, count) = (sum(0), sum(8));
            if count == 0 {
                return None;
            }
            let average = if *signed { (total as i64).wrapping_div(count as i64) } else { (total / count) as i64 };
            Value::Stats { count, average, total: total as i64, signed: *signed }
        }
        // One bucket's count; `decode` gathers the buckets of a key.
        MapValue::Hist { .. } | MapValue::Lhist { .. } => Value::Uint(sum(0)),
        MapValue::Avg { signed } => {
            // Each slot is `{ sum, count }`: the mean of all, in integer
            // division as bpftrace (truncating towards zero).
            let (total, count) = (sum(0), sum(8));
            if count == 0 {
                return None;
            }
            if *signed {
                Value::Int((total as i64).wrapping_div(count as i64))
            } else {
                Value::Uint(total / count)
            }
        }
    })
}

/// bpftrace's order: maps of numbers by value, ascending (ties in key
/// order); maps of strings by key. Keys compare part by part, integers as
/// unsigned 64-bit numbers (so -1 sorts last, as in bpftrace) and strings
/// as strncmp does. bpftrace keeps `avg()` entries in a std::map first, so
/// their ties fall in raw key byte order.
fn sort(map: &MapInfo, entries: &mut [(Vec<u8>, MapEntry)]) {
    if matches!(map.value, MapValue::Avg { .. } | MapValue::Stats { .. }) {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    } else {
        entries.sort_by(|a, b| key_order(&a.1.key, &b.1.key));
    }
    if !matches!(map.value, MapValue::Plain(ValueType::Str { .. })) {
        entries.sort_by(|a, b| value_order(&a.1.value, &b.1.value));
    }
}

fn key_order(a: &[Value], b: &[Value]) -> Ordering {
    let part = |a: &Value, b: &Value| match (a, b) {
        (Value::Str(a), Value::Str(b)) => a.cmp(b),
        (a, b) => as_unsigned(a).cmp(&as_unsigned(b)),
    };
    a.iter().zip(b).map(|(a, b)| part(a, b)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn as_unsigned(v: &Value) -> u64 {
    match v {
        Value::Int(i) => *i as u64,
        Value::Uint(u) => *u,
        _ => 0,
    }
}

fn value_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Str(a), Value::Str(b)) => a.cmp(b),
        (a, b) => as_unsigned(a).cmp(&as_unsigned(b)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
        let value_size = match &value {
            MapValue::Plain(ty) => ty.size().next_multiple_of(8),
            MapValue::Count | MapValue::Sum { .. } => 8,
            _ => 16,
        };
        MapInfo {
            name: name.into(),
            bpf_name: "m".into(),
            percpu: !matches!(value, MapValue::Plain(_)),
            max_entries: 4096,
            key,
            key_size: offset.max(8),
            value,
            value_size,
        }
    }

    const I64: ValueType = ValueType::Int { size: 8, signed: true };
    const U64: ValueType = ValueType::Int { size: 8, signed: false };

    fn str_key(s: &str, size: usize) -> Vec<u8> {
        let mut b = s.as_bytes().to_vec();
        b.resize(size, 0);
        b
    }

    fn per_cpu(slots: &[&[u64]]) -> Vec<u8> {
        slots.iter().flat_map(|s| s.iter().flat_map(|v| v.to_le_bytes())).collect()
    }

    /// Renders entries as `key,key=value` lines.
    fn show(entries: &[MapEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let text = |v: &Value| {
                    let mut out = Vec::new();
                    v.write_text(&mut out);
                    String::from_utf8(out).unwrap()
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
        assert_eq!(show(&decode(&m, raw, 2)), ["a=1", "m=1", "z=1", "c=2"]);
    }

    #[test]
    fn signed_values_sort_signed_and_keys_sort_unsigned() {
        let m = map("@n", vec![I64], MapValue::Plain(I64));
        let raw = vec![
            (3i64.to_le_bytes().to_vec(), (-5i64).to_le_bytes().to_vec()),
            (1i64.to_le_bytes().to_vec(), 7i64.to_le_bytes().to_vec()),
            (2i64.to_le_bytes().to_vec(), (-9i64).to_le_bytes().to_vec()),
        ];
        assert_eq!(show(&decode(&m, raw, 2)), ["2=-9", "3=-5", "1=7"]);

        // Maps of strings print in key order; -2 is a large unsigned key.
        let m = map("@s", vec![I64], MapValue::Plain(ValueType::Str { size: 8 }));
        let raw = [10i64, -2, 3, 200].iter().map(|k| (k.to_le_bytes().to_vec(), str_key("v", 8))).collect();
        assert_eq!(show(&decode(&m, raw, 2)), ["3=v", "10=v", "200=v", "-2=v"]);
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
        assert_eq!(show(&decode(&m, raw, 1)), ["1,a=w", "1,ab=v", "1,z=y", "2,a=z", "2,b=x"]);
    }

    #[test]
    fn min_and_max_combine_only_the_cpus_that_saw_a_value() {
        let m = map("@mx", vec![], MapValue::Max { signed: true });
        let raw = vec![(vec![0; 8], per_cpu(&[&[(-9i64) as u64, 1], &[0, 0], &[(-5i64) as u64, 1]]))];
        assert_eq!(show(&decode(&m, raw, 3)), ["=-5"]);

        let m = map("@mn", vec![], MapValue::Min { signed: false });
        let raw = vec![(vec![0; 8], per_cpu(&[&[0, 0], &[7, 1], &[3, 1]]))];
        assert_eq!(show(&decode(&m, raw, 3)), ["=3"]);

        let raw = vec![(vec![0; 8], per_cpu(&[&[0, 0], &[0, 0]]))];
        assert!(decode(&m, raw, 2).is_empty());
    }

    #[test]
    fn averages_divide_total_sum_by_total_count_truncating() {
        let m = map("@av", vec![I64], MapValue::Avg { signed: true });
        let raw = vec![
            (1i64.to_le_bytes().to_vec(), per_cpu(&[&[7, 1], &[2, 1]])),
            (2i64.to_le_bytes().to_vec(), per_cpu(&[&[1, 1], &[0, 0]])),
            (3i64.to_le_bytes().to_vec(), per_cpu(&[&[(-9i64) as u64, 1], &[0, 1]])),
        ];
        assert_eq!(show(&decode(&m, raw, 2)), ["3=-4", "2=1", "1=4"]);
    }

    #[test]
    fn sums_wrap_and_keep_their_sign() {
        let m = map("@s", vec![], MapValue::Sum { signed: true });
        let raw = vec![(vec![0; 8], per_cpu(&[&[(-3i64) as u64], &[1]]))];
        assert_eq!(show(&decode(&m, raw, 2)), ["=-2"]);
    }

    #[test]
    fn a_keyless_count_reads_zero_before_counting() {
        let m = map("@c", vec![], MapValue::Count);
        assert_eq!(show(&decode(&m, Vec::new(), 2)), ["=0"]);
        let m = map("@s", vec![], MapValue::Sum { signed: false });
        assert!(decode(&m, Vec::new(), 2).is_empty());
    }

    #[test]
    fn per_cpu_slots_are_eight_byte_aligned() {
        let mut m = map("@c", vec![], MapValue::Count);
        m.value_size = 4;
        assert_eq!(stored_value_size(&m, 3), 24);
        m.percpu = false;
        assert_eq!(stored_value_size(&m, 3), 4);
    }
}
