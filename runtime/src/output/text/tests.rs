//! Expected bytes come from bpftrace 0.17; the programs that printed them
//! are in each test, their output in `../bpftrace/*.txt` where it is long.

use super::*;
use crate::maps::tests::{hist_raw, map, per_cpu, str_key, I64};
use crate::maps::{decode, top_and_divide};
use crate::decode::Decoder;
use crate::value::Stats;
use rbpf_codegen::manifest::ValueType;

const STR8: ValueType = ValueType::Str { size: 8 };

fn s(text: &str) -> Value {
    Value::Str(text.as_bytes().to_vec())
}

fn entry(key: Vec<Value>, value: Value) -> MapEntry {
    MapEntry { key, value }
}

fn key(k: i64) -> Vec<u8> {
    k.to_le_bytes().to_vec()
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
    assert_eq!(String::from_utf8(out.into_inner().unwrap()).unwrap(), expect);
}

/// A histogram map as the kernel would hold it after the values were
/// counted (on one of two CPUs), decoded.
fn hist_map(name: &str, keyed: bool, value: MapValue, values: &[(i64, i64)]) -> (MapInfo, Vec<MapEntry>) {
    let info = map(name, if keyed { vec![I64] } else { vec![] }, value);
    let values: Vec<(Vec<u8>, i64)> = values.iter().map(|&(k, v)| (if keyed { key(k) } else { vec![] }, v)).collect();
    let entries = decode(&info, hist_raw(&info, &values, 2), 2, &Decoder::default());
    (info, entries)
}

fn stats_map(name: &str, values: &[(i64, &[i64])]) -> (MapInfo, Vec<MapEntry>) {
    let info = map(name, vec![I64], MapValue::Stats { signed: true });
    let raw = values
        .iter()
        .map(|(k, vs)| (key(*k), per_cpu(&[&[vs.iter().sum::<i64>() as u64, vs.len() as u64], &[0, 0]])))
        .collect();
    let entries = decode(&info, raw, 2, &Decoder::default());
    (info, entries)
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
    check(2, &["hi\n", "end\n"], &[(a, vec![entry(vec![], Value::Int(1))])], "Attaching 2 probes...\nhi\nend\n\n\n@a: 1\n");
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
    let av = map("@av", vec![I64], MapValue::Avg { signed: true });
    let av_raw = vec![(key(1), per_cpu(&[9, 2])), (key(2), per_cpu(&[1, 1])), (key(3), per_cpu(&[-9, 2]))];
    let mn = map("@mn", vec![I64], MapValue::Min { signed: true });
    let mn_raw = vec![(key(3), per_cpu(&[5, 1])), (key(1), per_cpu(&[2, 1])), (key(2), per_cpu(&[9, 1]))];
    let av_entries = decode(&av, av_raw, 1, &Decoder::default());
    let mn_entries = decode(&mn, mn_raw, 1, &Decoder::default());
    check(
        1,
        &[],
        &[(av, av_entries), (mn, mn_entries)],
        "Attaching 1 probe...\n\n\n@av[3]: -4\n@av[2]: 1\n@av[1]: 4\n\n@mn[1]: 2\n@mn[3]: 5\n@mn[2]: 9\n",
    );
}

#[test]
fn histogram_with_both_ends() {
    // bpftrace -e 'BEGIN { @h = hist(5); @h = hist(100); @h = hist(0); @h = hist(-1); exit(); }'
    let h = hist_map("@h", false, MapValue::Hist { bits: 0 }, &[(0, 5), (0, 100), (0, 0), (0, -1)]);
    check(1, &[], &[h], include_str!("../bpftrace/hist_ends.txt"));
}

#[test]
fn histogram_bars_scale_to_the_largest_count_and_labels_take_suffixes() {
    // bpftrace -e 'BEGIN { @h = hist(1); (7 times) @h = hist(2); @h = hist(2); @h = hist(5);
    //   @h = hist(1024); @h = hist(3000000000); exit(); }'
    let mut values = vec![(0, 1); 7];
    values.extend([(0, 2), (0, 2), (0, 5), (0, 1024), (0, 3_000_000_000)]);
    let h = hist_map("@h", false, MapValue::Hist { bits: 0 }, &values);
    check(1, &[], &[h], include_str!("../bpftrace/hist_scale.txt"));
}

#[test]
fn keyed_histograms_sort_by_total_and_stats_by_average() {
    // bpftrace -e 'BEGIN { @h[0]=hist(5); @h[0]=hist(5); @h[0]=hist(5); @h[1]=hist(9);
    //   @h[2]=hist(1000); @h[2]=hist(1000); @h[3]=hist(1); @s[1]=stats(10);
    //   @s[2]=stats(3); (4 times) @s[3]=stats(7); @s[3]=stats(8); exit(); }'
    let h = hist_map("@h", true, MapValue::Hist { bits: 0 }, &[(0, 5), (0, 5), (0, 5), (1, 9), (2, 1000), (2, 1000), (3, 1)]);
    let st = stats_map("@s", &[(1, &[10]), (2, &[3, 3, 3, 3]), (3, &[7, 8])]);
    check(1, &[], &[h, st], include_str!("../bpftrace/keyed_order.txt"));
}

#[test]
fn linear_histograms() {
    // bpftrace -e 'BEGIN { @l = lhist(1500000, 0, 10000000, 1000000);
    //   @m = lhist(1, 1024, 4096, 1024); @m = lhist(5000, 1024, 4096, 1024);
    //   @n = lhist(5, 0, 10, 3); @n = lhist(100, 0, 10, 3); @o = lhist(-1, 0, 100, 10);
    //   @o = lhist(5, 0, 100, 10); @o = lhist(200, 0, 100, 10); exit(); }'
    let l = hist_map("@l", false, MapValue::Lhist { min: 0, max: 10_000_000, step: 1_000_000 }, &[(0, 1_500_000)]);
    let m = hist_map("@m", false, MapValue::Lhist { min: 1024, max: 4096, step: 1024 }, &[(0, 1), (0, 5000)]);
    let n = hist_map("@n", false, MapValue::Lhist { min: 0, max: 10, step: 3 }, &[(0, 5), (0, 100)]);
    let o = hist_map("@o", false, MapValue::Lhist { min: 0, max: 100, step: 10 }, &[(0, -1), (0, 5), (0, 200)]);
    check(1, &[], &[l, m, n, o], include_str!("../bpftrace/lhist.txt"));
}

#[test]
fn zeroed_and_cleared_maps() {
    // bpftrace -e 'BEGIN { @z = hist(3); zero(@z); @c[1] = hist(3); clear(@c);
    //   @st[1] = stats(5); zero(@st); @se[1] = stats(1); clear(@se); @mx[1] = max(5);
    //   zero(@mx); @s[1] = "a"; zero(@s); exit(); }'
    // A zeroed map keeps its keys with zero bytes as values.
    let decoder = Decoder::default();
    let c = map("@c", vec![I64], MapValue::Hist { bits: 0 });
    let mx = map("@mx", vec![I64], MapValue::Max { signed: true });
    let mx_entries = decode(&mx, vec![(key(1), vec![0; 32])], 2, &decoder);
    let sm = map("@s", vec![I64], MapValue::Plain(STR8));
    let s_entries = decode(&sm, vec![(key(1), vec![0; 8])], 1, &decoder);
    let se = map("@se", vec![I64], MapValue::Stats { signed: true });
    let st = map("@st", vec![I64], MapValue::Stats { signed: true });
    let st_entries = decode(&st, vec![(key(1), vec![0; 32])], 2, &decoder);
    let z = map("@z", vec![], MapValue::Hist { bits: 0 });
    let mut z_key = Vec::new();
    z_key.extend_from_slice(&3u64.to_le_bytes());
    let z_entries = decode(&z, vec![(z_key, vec![0; 16])], 2, &decoder);
    check(
        1,
        &[],
        &[(c, vec![]), (mx, mx_entries), (sm, s_entries), (se, vec![]), (st, st_entries), (z, z_entries)],
        include_str!("../bpftrace/zero_clear.txt"),
    );
}

#[test]
fn print_with_top_and_div_mid_run() {
    // bpftrace -e 'BEGIN { @h[1]=hist(5); @h[1]=hist(5); @h[2]=hist(5); print(@h, 0, 2);
    //   print(@h, 1); @a[1]=avg(7); @a[2]=avg(9); @a[3]=avg(1); print(@a, 2, 2);
    //   @st[1]=stats(3); @st[2]=stats(5); print(@st, 1, 2); @c[1]=count(); (@c[2] twice,
    //   @c[3] three times) print(@c, 2, 2); @e[1]=1; delete(@e[1]); print(@e); exit(); }'
    // bpftrace draws the bars of a divided histogram from the undivided counts.
    let decoder = Decoder::default();
    let (h, h_entries) = hist_map("@h", true, MapValue::Hist { bits: 0 }, &[(1, 5), (1, 5), (2, 5)]);
    let a = map("@a", vec![I64], MapValue::Avg { signed: true });
    let a_raw = vec![(key(1), per_cpu(&[&[7, 1]])), (key(2), per_cpu(&[&[9, 1]])), (key(3), per_cpu(&[&[1, 1]]))];
    let a_entries = decode(&a, a_raw, 1, &decoder);
    let (st, st_entries) = stats_map("@st", &[(1, &[3]), (2, &[5])]);
    let c = map("@c", vec![I64], MapValue::Count);
    let c_raw = vec![(key(1), per_cpu(&[&[1]])), (key(2), per_cpu(&[&[2]])), (key(3), per_cpu(&[&[3]]))];
    let c_entries = decode(&c, c_raw, 1, &decoder);
    let e = map("@e", vec![I64], MapValue::Plain(I64));

    let mut out = TextOutput::new(Vec::new());
    out.attached(1).unwrap();
    out.map(&h, &top_and_divide(&h, h_entries.clone(), 0, 2)).unwrap();
    out.map(&h, &top_and_divide(&h, h_entries.clone(), 1, 1)).unwrap();
    out.map(&a, &top_and_divide(&a, a_entries.clone(), 2, 2)).unwrap();
    out.map(&st, &top_and_divide(&st, st_entries.clone(), 1, 2)).unwrap();
    out.map(&c, &top_and_divide(&c, c_entries.clone(), 2, 2)).unwrap();
    out.map(&e, &top_and_divide(&e, Vec::new(), 0, 1)).unwrap();
    out.stopped().unwrap();
    for (info, entries) in [(&a, &a_entries), (&c, &c_entries), (&e, &Vec::new()), (&h, &h_entries), (&st, &st_entries)] {
        out.map(info, entries).unwrap();
    }
    let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
    assert_eq!(text, include_str!("../bpftrace/print_top_div.txt"));
}

#[test]
fn finer_histograms_follow_bpftraces_documentation() {
    // hist(n, 2) (newer than bpftrace 0.17; labels as its documentation
    // shows them): four buckets per power of two, suffixes on exact
    // multiples of 1024 only.
    let h = hist_map("@h", false, MapValue::Hist { bits: 2 }, &[(0, 7), (0, 9), (0, 17), (0, 1300), (0, 4100)]);
    let mut out = TextOutput::new(Vec::new());
    out.map(&h.0, &h.1).unwrap();
    let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
    let labels: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split(" ").next()).collect();
    assert_eq!(text.lines().next(), Some("@h: "));
    assert!(text.starts_with("@h: \n[7]                    1 |@@@@"), "{text}");
    assert!(text.contains("\n[8, 10)                1 |"), "{text}");
    assert!(text.contains("\n[16, 20)               1 |"), "{text}");
    assert!(text.contains("\n[1280, 1536)           1 |"), "{text}");
    assert!(text.contains("\n[4K, 5K)               1 |"), "{text}");
    assert!(text.ends_with("|\n\n"), "{text}");
    assert_eq!(labels.first(), Some(&"[7]"));
}

#[test]
fn suffixes_on_exact_multiples() {
    assert_eq!(with_suffix(0), "0");
    assert_eq!(with_suffix(512), "512");
    assert_eq!(with_suffix(1024), "1K");
    assert_eq!(with_suffix(3 << 20), "3M");
    assert_eq!(with_suffix(1_000_000), "1000000");
    assert_eq!(with_suffix(1025 << 10), "1025K");
    assert_eq!(with_suffix(1 << 62), "4E");
    assert_eq!(with_suffix(1 << 64), "16E");
    assert_eq!(with_suffix(-2048), "-2K");
    assert_eq!(bucket_label(true, Some(5), Some(6)), "[5]");
    assert_eq!(bucket_label(false, Some(5), Some(6)), "[5, 6)");
    assert_eq!(bucket_label(true, Some(1 << 63), None), "[8E, ...)");
}

#[test]
fn values_and_builtins_print_as_they_are() {
    // bpftrace --unsafe -e 'BEGIN { print(5); print(-3); print("abc");
    //   print((1, "x", (2, "y"))); time("%Y\n"); system("printf \"a\\nb\\nc\"");
    //   cat("nonl.txt"); printf("x\n"); exit(); }' (join from an execve probe)
    let mut out = TextOutput::new(Vec::new());
    out.value(&Value::Int(5)).unwrap();
    out.value(&Value::Int(-3)).unwrap();
    out.value(&s("abc")).unwrap();
    out.value(&Value::Tuple(vec![Value::Int(1), s("x"), Value::Tuple(vec![Value::Int(2), s("y")])])).unwrap();
    out.value(&Value::Bool(true)).unwrap();
    out.time(b"2026\n").unwrap();
    out.system(b"a\nb\nc").unwrap();
    out.cat(b"abc").unwrap();
    out.printf(b"x\n").unwrap();
    out.join(&[b"ls", b"-l", b"/tmp"], b" ").unwrap();
    out.join(&[], b",").unwrap();
    let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
    assert_eq!(text, "5\n-3\nabc\n(1, x, (2, y))\ntrue\n2026\na\nb\ncabcx\nls -l /tmp\n\n");
}

#[test]
fn map_values_of_every_type() {
    // bpftrace -e 'BEGIN { @t = (1, "two"); @k[1, "a"] = (5, "v"); @b[buf("k", 1)] = buf(...) }'
    let t = map("@t", vec![], MapValue::Plain(ValueType::Str { size: 8 }));
    let b = map("@b", vec![ValueType::Buf { size: 1 }], MapValue::Plain(ValueType::Buf { size: 9 }));
    let st = map("@st", vec![], MapValue::Stats { signed: false });
    check(
        1,
        &[],
        &[
            (t, vec![entry(vec![], Value::Tuple(vec![Value::Int(1), s("two")]))]),
            (b, vec![entry(vec![Value::Buf(b"k".to_vec())], Value::Buf(b"ab\tc\x01\xff\"\\\0".to_vec()))]),
            (st, vec![entry(vec![], Value::Stats(Box::new(Stats { count: 2, total: 15 })))]),
        ],
        "Attaching 1 probe...\n\n\n@t: (1, two)\n@b[k]: ab\\x09c\\x01\\xff\"\\\\x00\n@st: count 2, average 7, total 15\n\n",
    );
}

#[test]
fn lost_events_are_reported() {
    // Lost 7081 events, on stdout, as bpftrace with a full buffer.
    let mut out = TextOutput::new(Vec::new());
    out.lost_events(3).unwrap();
    assert_eq!(out.into_inner().unwrap(), b"Lost 3 events\n");
}

#[test]
fn string_keys_of_histograms() {
    let info = map("@h", vec![STR8], MapValue::Hist { bits: 0 });
    let raw = hist_raw(&info, &[(str_key("b", 8), 1), (str_key("a", 8), 1)], 1);
    let entries = decode(&info, raw, 1, &Decoder::default());
    let mut out = TextOutput::new(Vec::new());
    out.map(&info, &entries).unwrap();
    let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
    assert!(text.starts_with("@h[a]: \n[1] "), "{text}");
    assert!(text.contains("\n\n@h[b]: \n[1] "), "{text}");
}

/// A buffer as the kernel holds it in a map: its u8 count, its bytes, then
/// zeros up to the 8-byte slot.
fn buf_bytes(bytes: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![bytes.len() as u8];
    out.extend_from_slice(bytes);
    out.resize((1 + size).next_multiple_of(8), 0);
    out
}

#[test]
fn buffers_as_keys_and_values_decoded_from_the_kernel() {
    // bpftrace -e 'BEGIN { @k[buf("b\x01", 2)] = 3; @k[buf("a\x02", 2)] = 1; @k[buf("zz", 2)] = 0;
    //   @k[buf("a\x00", 2)] = 2; @v[1] = buf("x\ty\x00z", 5); @v[2] = buf("ab\n~\x7f", 5);
    //   @v[3] = buf("\x1b[0m", 5); exit(); }'
    let k = map("@k", vec![ValueType::Buf { size: 2 }], MapValue::Plain(I64));
    let k_raw = [(&b"b\x01"[..], 3i64), (b"a\x02", 1), (b"zz", 0), (b"a\x00", 2)]
        .iter()
        .map(|(b, v)| (buf_bytes(b, 2), v.to_le_bytes().to_vec()))
        .collect();
    let v = map("@v", vec![I64], MapValue::Plain(ValueType::Buf { size: 5 }));
    let v_raw = [(1, &b"x\ty\x00z"[..]), (2, b"ab\n~\x7f"), (3, b"\x1b[0m\x00")]
        .iter()
        .map(|(k, b)| (key(*k), buf_bytes(b, 5)))
        .collect();
    let k_entries = decode(&k, k_raw, 1, &Decoder::default());
    let v_entries = decode(&v, v_raw, 1, &Decoder::default());
    check(1, &[], &[(k, k_entries), (v, v_entries)], include_str!("../bpftrace/buffers.txt"));
}

#[test]
fn records_print_spaced_as_values_and_compact_as_keys() {
    // struct Q { short s; unsigned char tag; long arr[2]; char name[8]; };
    // bpftrace -e 'uprobe:...' { $s = *$p; print($s); @y[1] = $s; @z[$s] = 1; @a[$s.arr] = 1; }
    let q = Value::Record(vec![
        ("s".into(), Value::Int(-7)),
        ("tag".into(), Value::Uint(9)),
        ("arr".into(), Value::Array(vec![Value::Int(10), Value::Int(20)])),
        ("name".into(), s("first")),
        ("in".into(), Value::Record(vec![("i".into(), Value::Int(7))])),
    ]);
    assert_eq!(String::from_utf8(q.to_text()).unwrap(), "{ .s = -7, .tag = 9, .arr = [10,20], .name = first, .in = { .i = 7 } }");
    let layout = ValueType::Record { members: vec![], size: 40 };
    let y = map("@y", vec![I64], MapValue::Plain(layout.clone()));
    let z = map("@z", vec![layout], MapValue::Plain(I64));
    let arr = Value::Array(vec![Value::Int(10), Value::Int(20)]);
    let a = map("@a", vec![ValueType::Array { element: Box::new(I64), len: 2 }], MapValue::Plain(I64));
    check(
        1,
        &[],
        &[
            (a, vec![entry(vec![arr], Value::Int(1))]),
            (y, vec![entry(vec![Value::Int(1)], q.clone())]),
            (z, vec![entry(vec![q], Value::Int(1))]),
        ],
        "Attaching 1 probe...\n\n\n@a[[10,20]]: 1\n\
         @y[1]: { .s = -7, .tag = 9, .arr = [10,20], .name = first, .in = { .i = 7 } }\n\
         @z[{.s=-7,.tag=9,.arr=[10,20],.name=first,.in={.i=7}}]: 1\n",
    );
}
