//! bpftrace's text output, byte for byte (checked against bpftrace 0.17):
//!
//! ```text
//! Attaching 2 probes...
//! hello                      <- printf output, as formatted
//!                            <- two newlines once tracing stopped
//!
//! @c[a]: 1                   <- each map in name order, entries sorted,
//! @c[b]: 2                      no quotes around string keys or values
//! @x: 5
//! ```
//!
//! An empty map prints one empty line; an `avg()` map ends with one more.

use std::io::{self, BufWriter, Stdout, Write};

use rbpf_codegen::manifest::{hist_bounds, MapInfo, MapValue};

use super::{MapEntry, Output};

/// Writes bpftrace's text format to any writer; by default a buffered
/// stdout that the session flushes after each batch of events.
pub struct TextOutput<W: Write = BufWriter<Stdout>> {
    out: W,
}

impl TextOutput<BufWriter<Stdout>> {
    pub fn stdout() -> Self {
        TextOutput { out: BufWriter::new(io::stdout()) }
    }
}

impl<W: Write> TextOutput<W> {
    pub fn new(out: W) -> Self {
        TextOutput { out }
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Output for TextOutput<W> {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        let plural = if probes == 1 { "" } else { "s" };
        writeln!(self.out, "Attaching {probes} probe{plural}...")
    }

    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.out.write_all(text)
    }

    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        writeln!(self.out, "Lost {count} events")
    }

    fn stopped(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n\n")
    }

    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        let mut text = Vec::new();
        if matches!(map.value, MapValue::Hist { .. } | MapValue::Lhist { .. }) {
            for entry in entries {
                write_key(&mut text, map, entry);
                text.extend_from_slice(b": \n");
                if let super::Value::Hist(buckets) = &entry.value {
                    draw_histogram(&mut text, &map.value, buckets);
                }
                text.push(b'\n');
            }
            if entries.is_empty() {
                text.push(b'\n');
            }
            return self.out.write_all(&text);
        }
        for entry in entries {
            text.extend_from_slice(map.name.as_bytes());
            if !entry.key.is_empty() {
                text.push(b'[');
                for (i, part) in entry.key.iter().enumerate() {
                    if i > 0 {
                        text.extend_from_slice(b", ");
                    }
                    part.write_text(&mut text);
                }
                text.push(b']');
            }
            text.extend_from_slice(b": ");
            entry.value.write_text(&mut text);
            text.push(b'\n');
        }
        // An empty map prints an empty line; bpftrace prints `avg()` maps
        // as statistics, which end with one more.
        if entries.is_empty() {
            text.push(b'\n');
        }
        if matches!(map.value, MapValue::Avg { .. } | MapValue::Stats { .. }) {
            text.push(b'\n');
        }
        self.out.write_all(&text)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn write_key(text: &mut Vec<u8>, map: &MapInfo, entry: &MapEntry) {
    text.extend_from_slice(map.name.as_bytes());
    if !entry.key.is_empty() {
        text.push(b'[');
        for (i, part) in entry.key.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(b", ");
            }
            part.write_text(text);
        }
        text.push(b']');
    }
}

/// The bar width bpftrace draws histograms with.
const BAR_WIDTH: u64 = 52;

/// One row per bucket from the first to the last that counted something:
/// the range left-aligned in 16 columns, the count right-aligned in 8, and
/// a bar scaled to the largest count.
fn draw_histogram(text: &mut Vec<u8>, kind: &MapValue, buckets: &[(u64, u64)]) {
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else { return };
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    for index in first.0..=last.0 {
        let count = buckets.iter().find(|b| b.0 == index).map_or(0, |b| b.1);
        let label = bucket_label(kind, index);
        let bar = (count * BAR_WIDTH / max) as usize;
        let row = format!("{label:<16}{count:>8} |{}{}|\n", "@".repeat(bar), " ".repeat(BAR_WIDTH as usize - bar));
        text.extend_from_slice(row.as_bytes());
    }
}

fn bucket_label(kind: &MapValue, index: u64) -> String {
    match *kind {
        MapValue::Hist { bits } => match hist_bounds(index, bits) {
            None => "(..., 0)".to_string(),
            Some((lo, Some(hi))) if hi == lo + 1 => format!("[{}]", with_unit(lo)),
            Some((lo, Some(hi))) => format!("[{}, {})", with_unit(lo), with_unit(hi)),
            Some((lo, None)) => format!("[{}, ...)", with_unit(lo)),
        },
        MapValue::Lhist { min, max, step } => {
            let last = ((max - min) / step + 1) as u64;
            if index == 0 {
                format!("(..., {min})")
            } else if index >= last {
                format!("[{max}, ...)")
            } else {
                let lo = min + (index as i64 - 1) * step;
                format!("[{lo}, {})", lo + step)
            }
        }
        _ => String::new(),
    }
}

/// A power-of-two bucket bound with bpftrace's suffixes: 1024 is `1K`,
/// 1048576 `1M`, and so on while the number divides evenly.
fn with_unit(n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let (mut n, mut unit) = (n, 0);
    while n >= 1024 && n % 1024 == 0 && unit < UNITS.len() - 1 {
        n /= 1024;
        unit += 1;
    }
    format!("{n}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::tests::map;
    use crate::maps::{decode, Value};
    use rbpf_codegen::manifest::ValueType;

    const I64: ValueType = ValueType::Int { size: 8, signed: true };
    const STR8: ValueType = ValueType::Str { size: 8 };

    fn s(text: &str) -> Value {
        Value::Str(text.as_bytes().to_vec())
    }

    fn entry(key: Vec<Value>, value: Value) -> MapEntry {
        MapEntry { key, value }
    }

    /// Runs a session's worth of output calls and compares the bytes.
    fn check(probes: usize, printfs: &[&str], maps: &[(MapInfo, Vec<MapEntry>)], expect: &str) {
        let mut out = TextOutput::new(Vec::new());
        out.attached(probes).unwrap();
        for p in printfs {
            out.printf(p.as_bytes()).unwrap();
        }
        out.stopped().unwrap();
        for (info, entries) in maps {
            out.map(info, entries).unwrap();
        }
        out.flush().unwrap();
        assert_eq!(String::from_utf8(out.into_inner()).unwrap(), expect);
    }

    #[test]
    fn nothing_but_the_banner_and_the_stop() {
        // bpftrace -e 'BEGIN { exit(); }'
        check(1, &[], &[], "Attaching 1 probe...\n\n\n");
    }

    #[test]
    fn printf_then_maps_in_order() {
        // bpftrace -e 'BEGIN { printf("hi\n"); @a=1; exit(); } END { printf("end\n"); }'
        let a = map("@a", vec![], MapValue::Plain(I64));
        check(
            2,
            &["hi\n", "end\n"],
            &[(a, vec![entry(vec![], Value::Int(1))])],
            "Attaching 2 probes...\nhi\nend\n\n\n@a: 1\n",
        );
    }

    #[test]
    fn keys_unquoted_and_no_blank_line_between_maps() {
        // bpftrace -e 'BEGIN { @a=1; @b[1,"x"]=2; }' (interrupted)
        let a = map("@a", vec![], MapValue::Plain(I64));
        let b = map("@b", vec![I64, STR8], MapValue::Plain(I64));
        let s_map = map("@s", vec![STR8], MapValue::Plain(STR8));
        check(
            2,
            &[],
            &[
                (a, vec![entry(vec![], Value::Int(1))]),
                (b, vec![entry(vec![Value::Int(1), s("x")], Value::Int(2))]),
                (s_map, vec![entry(vec![s("a")], s("zz")), entry(vec![s("b")], s("aa"))]),
            ],
            "Attaching 2 probes...\n\n\n@a: 1\n@b[1, x]: 2\n@s[a]: zz\n@s[b]: aa\n",
        );
    }

    #[test]
    fn averages_end_with_a_blank_line_and_empty_maps_print_one() {
        // bpftrace -e 'BEGIN { @a=avg(5); @b=1; exit(); } interval:s:5 { @c[1]=count(); @d=avg(1); }'
        let a = map("@a", vec![], MapValue::Avg { signed: true });
        let b = map("@b", vec![], MapValue::Plain(I64));
        let c = map("@c", vec![I64], MapValue::Count);
        let d = map("@d", vec![], MapValue::Avg { signed: true });
        check(
            2,
            &[],
            &[
                (a, vec![entry(vec![], Value::Int(5))]),
                (b, vec![entry(vec![], Value::Int(1))]),
                (c, vec![]),
                (d, vec![]),
            ],
            "Attaching 2 probes...\n\n\n@a: 5\n\n@b: 1\n\n\n\n",
        );
    }

    #[test]
    fn decoded_aggregations_print_as_bpftrace() {
        // bpftrace -e 'BEGIN { @av[1]=avg(7); @av[1]=avg(2); @av[2]=avg(1); @av[3]=avg(-9);
        //   @av[3]=avg(0); @mn[3]=min(5); @mn[1]=min(2); @mn[2]=min(9); exit(); }'
        let per_cpu = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let key = |k: i64| k.to_le_bytes().to_vec();
        let av = map("@av", vec![I64], MapValue::Avg { signed: true });
        let av_raw = vec![(key(1), per_cpu(&[9, 2])), (key(2), per_cpu(&[1, 1])), (key(3), per_cpu(&[-9, 2]))];
        let mn = map("@mn", vec![I64], MapValue::Min { signed: true });
        let mn_raw = vec![(key(3), per_cpu(&[5, 1])), (key(1), per_cpu(&[2, 1])), (key(2), per_cpu(&[9, 1]))];
        let av_entries = decode(&av, av_raw, 1);
        let mn_entries = decode(&mn, mn_raw, 1);
        check(
            1,
            &[],
            &[(av, av_entries), (mn, mn_entries)],
            "Attaching 1 probe...\n\n\n@av[3]: -4\n@av[2]: 1\n@av[1]: 4\n\n@mn[1]: 2\n@mn[3]: 5\n@mn[2]: 9\n",
        );
    }

    #[test]
    fn lost_events_are_reported() {
        let mut out = TextOutput::new(Vec::new());
        out.lost_events(3).unwrap();
        assert_eq!(out.into_inner(), b"Lost 3 events\n");
    }
}
