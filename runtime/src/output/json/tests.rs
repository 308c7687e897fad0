//! Expected lines come from `bpftrace -f json` 0.17 (the program is in
//! each test); every line must also parse as JSON with the shape its type
//! promises.

use super::*;
use crate::maps::tests::{hist_raw, map, per_cpu, str_key, I64};
use crate::maps::{decode, top_and_divide};
use crate::decode::Decoder;
use crate::value::Stats;
use rbpf_codegen::manifest::ValueType;
use serde_json::json;

const STR8: ValueType = ValueType::Str { size: 8 };

fn s(text: &[u8]) -> Value {
    Value::Str(text.to_vec())
}

fn key(k: i64) -> Vec<u8> {
    k.to_le_bytes().to_vec()
}

/// The text one output call prints.
fn print(call: impl FnOnce(&mut JsonOutput<Vec<u8>>)) -> String {
    let mut out = JsonOutput::new(Vec::new());
    call(&mut out);
    String::from_utf8(out.into_inner().unwrap()).unwrap()
}

/// Checks the exact line, and that it parses to `{"type": kind, "data": data}`.
fn check(line: &str, expect: &str, data: serde_json::Value) {
    assert_eq!(line, format!("{expect}\n"));
    let parsed: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(parsed["data"], data, "{line}");
    assert_eq!(parsed.as_object().map(|o| o.len()), Some(2));
    assert!(parsed["type"].is_string());
}

fn map_line(info: &MapInfo, entries: &[MapEntry]) -> String {
    print(|o| o.map(info, entries).unwrap())
}

fn hist_entries(info: &MapInfo, values: &[(Vec<u8>, i64)]) -> Vec<MapEntry> {
    decode(info, hist_raw(info, values, 2), 2, &Decoder::default())
}

#[test]
fn session_events() {
    // bpftrace -f json --unsafe -e 'BEGIN { printf("hi %d\n", 5); print(7); print("str");
    //   print((1,"z")); time(); system("echo sys"); cat("/etc/hostname"); exit(); }'
    check(&print(|o| o.attached(1).unwrap()), r#"{"type": "attached_probes", "data": {"probes": 1}}"#, json!({"probes": 1}));
    check(&print(|o| o.printf(b"hi 5\n").unwrap()), r#"{"type": "printf", "data": "hi 5\n"}"#, json!("hi 5\n"));
    check(&print(|o| o.value(&Value::Int(7)).unwrap()), r#"{"type": "value", "data": 7}"#, json!(7));
    check(&print(|o| o.value(&s(b"str")).unwrap()), r#"{"type": "value", "data": "str"}"#, json!("str"));
    let tuple = Value::Tuple(vec![Value::Int(1), s(b"z")]);
    check(&print(|o| o.value(&tuple).unwrap()), r#"{"type": "value", "data": [1,"z"]}"#, json!([1, "z"]));
    check(&print(|o| o.time(b"08:42:40\n").unwrap()), r#"{"type": "time", "data": "08:42:40\n"}"#, json!("08:42:40\n"));
    check(&print(|o| o.system(b"sys\n").unwrap()), r#"{"type": "syscall", "data": "sys\n"}"#, json!("sys\n"));
    check(&print(|o| o.cat(b"vm\n").unwrap()), r#"{"type": "cat", "data": "vm\n"}"#, json!("vm\n"));
    // bpftrace -f json -e 'tracepoint:syscalls:sys_enter_execve { join(args->argv); exit(); }'
    check(
        &print(|o| o.join(&[b"bash", b"-c", b"x \"y\""], b" ").unwrap()),
        r#"{"type": "join", "data": "bash -c x \"y\""}"#,
        json!("bash -c x \"y\""),
    );
    check(&print(|o| o.lost_events(5086).unwrap()), r#"{"type": "lost_events", "data": {"events": 5086}}"#, json!({"events": 5086}));
    // The end of tracing prints the same two newlines as the text output.
    assert_eq!(print(|o| o.stopped().unwrap()), "\n\n");
    check(&print(|o| o.value(&Value::Bool(false)).unwrap()), r#"{"type": "value", "data": false}"#, json!(false));
}

#[test]
fn strings_escape_as_bpftrace_escapes_them() {
    // bpftrace -f json -e 'BEGIN { printf("q\"\\\t\x01é\n"); printf("[\r\x08\x0c\x1b/]\n"); }'
    check(
        &print(|o| o.printf("q\"\\\t\x01é\n".as_bytes()).unwrap()),
        r#"{"type": "printf", "data": "q\"\\\t\u0001\uffffffc3\uffffffa9\n"}"#,
        json!("q\"\\\t\u{1}\u{ffff}ffc3\u{ffff}ffa9\n"),
    );
    check(
        &print(|o| o.printf(b"[\r\x08\x0c\x1b/]\n").unwrap()),
        r#"{"type": "printf", "data": "[\r\u0008\u000c\u001b/]\n"}"#,
        json!("[\r\u{8}\u{c}\u{1b}/]\n"),
    );
}

#[test]
fn maps_of_numbers_strings_and_tuples() {
    // bpftrace -f json -e 'BEGIN { @c[1]=count(); @c[2]=count(); @mn = min(-3);
    //   @str[1, "k"] = "v"; @t = (1, "a", (2,"b")); @k["a\"b"] = 1; @s["x"] = "q\"\n";
    //   @e[1]=1; delete(@e[1]); @buf = buf("ab\x01", 3); exit(); }'
    let c = map("@c", vec![I64], MapValue::Count);
    let c_entries = decode(&c, vec![(key(1), per_cpu(&[&[1]])), (key(2), per_cpu(&[&[1]]))], 1, &Decoder::default());
    check(&map_line(&c, &c_entries), r#"{"type": "map", "data": {"@c": {"1": 1, "2": 1}}}"#, json!({"@c": {"1": 1, "2": 1}}));

    let mn = map("@mn", vec![], MapValue::Min { signed: true });
    let e = [MapEntry { key: vec![], value: Value::Int(-3) }];
    check(&map_line(&mn, &e), r#"{"type": "map", "data": {"@mn": -3}}"#, json!({"@mn": -3}));

    let st = map("@str", vec![I64, STR8], MapValue::Plain(STR8));
    let e = [MapEntry { key: vec![Value::Int(1), s(b"k")], value: s(b"v") }];
    check(&map_line(&st, &e), r#"{"type": "map", "data": {"@str": {"1,k": "v"}}}"#, json!({"@str": {"1,k": "v"}}));

    let t = map("@t", vec![], MapValue::Plain(STR8));
    let tuple = Value::Tuple(vec![Value::Int(1), s(b"a"), Value::Tuple(vec![Value::Int(2), s(b"b")])]);
    let e = [MapEntry { key: vec![], value: tuple }];
    check(&map_line(&t, &e), r#"{"type": "map", "data": {"@t": [1,"a",[2,"b"]]}}"#, json!({"@t": [1, "a", [2, "b"]]}));

    let k = map("@k", vec![STR8], MapValue::Plain(I64));
    let e = [MapEntry { key: vec![s(b"a\"b")], value: Value::Int(1) }];
    check(&map_line(&k, &e), r#"{"type": "map", "data": {"@k": {"a\"b": 1}}}"#, json!({"@k": {"a\"b": 1}}));

    let sm = map("@s", vec![STR8], MapValue::Plain(STR8));
    let e = [MapEntry { key: vec![s("é\t".as_bytes())], value: s("é".as_bytes()) }];
    check(
        &map_line(&sm, &e),
        r#"{"type": "map", "data": {"@s": {"\uffffffc3\uffffffa9\t": "\uffffffc3\uffffffa9"}}}"#,
        json!({"@s": {"\u{ffff}ffc3\u{ffff}ffa9\t": "\u{ffff}ffc3\u{ffff}ffa9"}}),
    );

    let b = map("@buf", vec![], MapValue::Plain(ValueType::Buf { size: 3 }));
    let e = [MapEntry { key: vec![], value: Value::Buf(b"ab\x01".to_vec()) }];
    check(&map_line(&b, &e), r#"{"type": "map", "data": {"@buf": "ab\\x01"}}"#, json!({"@buf": "ab\\x01"}));

    // Empty maps print nothing at all.
    assert_eq!(map_line(&c, &[]), "");
    assert_eq!(map_line(&mn, &decode(&mn, vec![], 2, &Decoder::default())), "");
}

#[test]
fn averages_and_stats_are_stats() {
    // bpftrace -f json -e 'BEGIN { @a = avg(5); @st = stats(5); @st2[3] = stats(6);
    //   @s2[1] = stats(3); zero(@s2); exit(); }'
    let a = map("@a", vec![], MapValue::Avg { signed: true });
    let e = [MapEntry { key: vec![], value: Value::Int(5) }];
    check(&map_line(&a, &e), r#"{"type": "stats", "data": {"@a": 5}}"#, json!({"@a": 5}));

    let st = map("@st", vec![], MapValue::Stats { signed: true });
    let e = [MapEntry { key: vec![], value: Value::Stats(Box::new(Stats { count: 1, total: 5 })) }];
    check(
        &map_line(&st, &e),
        r#"{"type": "stats", "data": {"@st": {"count": 1, "average": 5, "total": 5}}}"#,
        json!({"@st": {"count": 1, "average": 5, "total": 5}}),
    );
    let st2 = map("@st2", vec![I64], MapValue::Stats { signed: true });
    let e = [MapEntry { key: vec![Value::Int(3)], value: Value::Stats(Box::new(Stats { count: 1, total: 6 })) }];
    check(
        &map_line(&st2, &e),
        r#"{"type": "stats", "data": {"@st2": {"3": {"count": 1, "average": 6, "total": 6}}}}"#,
        json!({"@st2": {"3": {"count": 1, "average": 6, "total": 6}}}),
    );
    let zeroed = decode(&st2, vec![(key(1), vec![0; 32])], 2, &Decoder::default());
    check(
        &map_line(&st2, &zeroed),
        r#"{"type": "stats", "data": {"@st2": {"1": {"count": 0, "average": 0, "total": 0}}}}"#,
        json!({"@st2": {"1": {"count": 0, "average": 0, "total": 0}}}),
    );
}

#[test]
fn histograms_list_their_buckets() {
    // bpftrace -f json -e 'BEGIN { @h = hist(-1); @h = hist(0); @h = hist(1); @h = hist(2000);
    //   @k[1] = hist(5); @k[2] = hist(100); @m[1, "a"] = hist(3); @m[2, "b"] = hist(5);
    //   @l = lhist(-1, 0, 100, 10); @l = lhist(5, 0, 100, 10); @l = lhist(1000, 0, 100, 10);
    //   @q = lhist(1, 1024, 4096, 1024); @q = lhist(5000, 1024, 4096, 1024);
    //   @z = hist(3); zero(@z); @y[1] = hist(5); zero(@y); exit(); }'
    let h = map("@h", vec![], MapValue::Hist { bits: 0 });
    let entries = hist_entries(&h, &[(vec![], -1), (vec![], 0), (vec![], 1), (vec![], 2000)]);
    let line = map_line(&h, &entries);
    let mut expect = String::from(r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 1}, {"min": 2, "max": 3, "count": 0}"#);
    for p in 2..10 {
        expect.push_str(&format!(r#", {{"min": {}, "max": {}, "count": 0}}"#, 1 << p, (2 << p) - 1));
    }
    expect.push_str(r#", {"min": 1024, "max": 2047, "count": 1}]}}"#);
    assert_eq!(line, format!("{expect}\n"));
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["data"]["@h"].as_array().map(Vec::len), Some(13));

    let k = map("@k", vec![I64], MapValue::Hist { bits: 0 });
    let entries = hist_entries(&k, &[(key(1), 5), (key(2), 100)]);
    check(
        &map_line(&k, &entries),
        r#"{"type": "hist", "data": {"@k": {"1": [{"min": 4, "max": 7, "count": 1}], "2": [{"min": 64, "max": 127, "count": 1}]}}}"#,
        json!({"@k": {"1": [{"min": 4, "max": 7, "count": 1}], "2": [{"min": 64, "max": 127, "count": 1}]}}),
    );

    let m = map("@m", vec![I64, STR8], MapValue::Hist { bits: 0 });
    let mk = |n: i64, s: &str| [key(n), str_key(s, 8)].concat();
    let entries = hist_entries(&m, &[(mk(1, "a"), 3), (mk(2, "b"), 5)]);
    check(
        &map_line(&m, &entries),
        r#"{"type": "hist", "data": {"@m": {"1,a": [{"min": 2, "max": 3, "count": 1}], "2,b": [{"min": 4, "max": 7, "count": 1}]}}}"#,
        json!({"@m": {"1,a": [{"min": 2, "max": 3, "count": 1}], "2,b": [{"min": 4, "max": 7, "count": 1}]}}),
    );

    let l = map("@l", vec![], MapValue::Lhist { min: 0, max: 100, step: 10 });
    let entries = hist_entries(&l, &[(vec![], -1), (vec![], 5), (vec![], 1000)]);
    let mut expect = String::from(r#"{"type": "hist", "data": {"@l": [{"max": -1, "count": 1}, {"min": 0, "max": 9, "count": 1}"#);
    for lo in (10..100).step_by(10) {
        expect.push_str(&format!(r#", {{"min": {lo}, "max": {}, "count": 0}}"#, lo + 9));
    }
    expect.push_str(r#", {"min": 100, "count": 1}]}}"#);
    assert_eq!(map_line(&l, &entries), format!("{expect}\n"));

    let q = map("@q", vec![], MapValue::Lhist { min: 1024, max: 4096, step: 1024 });
    let entries = hist_entries(&q, &[(vec![], 1), (vec![], 5000)]);
    check(
        &map_line(&q, &entries),
        r#"{"type": "hist", "data": {"@q": [{"max": 1023, "count": 1}, {"min": 1024, "max": 2047, "count": 0}, {"min": 2048, "max": 3071, "count": 0}, {"min": 3072, "max": 4095, "count": 0}, {"min": 4096, "count": 1}]}}"#,
        json!({"@q": [{"max": 1023, "count": 1}, {"min": 1024, "max": 2047, "count": 0}, {"min": 2048, "max": 3071, "count": 0}, {"min": 3072, "max": 4095, "count": 0}, {"min": 4096, "count": 1}]}),
    );

    // Zeroed: the keys stay, the buckets go.
    let z = map("@z", vec![], MapValue::Hist { bits: 0 });
    let zeroed = decode(&z, vec![(3u64.to_le_bytes().to_vec(), vec![0; 16])], 2, &Decoder::default());
    check(&map_line(&z, &zeroed), r#"{"type": "hist", "data": {"@z": []}}"#, json!({"@z": []}));
    let y = map("@y", vec![I64], MapValue::Hist { bits: 0 });
    let zeroed = decode(&y, vec![([key(1), 4u64.to_le_bytes().to_vec()].concat(), vec![0; 16])], 2, &Decoder::default());
    check(&map_line(&y, &zeroed), r#"{"type": "hist", "data": {"@y": {"1": []}}}"#, json!({"@y": {"1": []}}));
}

#[test]
fn print_with_top_and_div() {
    // bpftrace -f json -e 'BEGIN { @a[1]=avg(3); @a[2]=avg(9); print(@a, 1, 2);
    //   @c[1]=count(); @c[2]=count(); @c[2]=count(); print(@c, 1, 2); exit(); }'
    let a = map("@a", vec![I64], MapValue::Avg { signed: true });
    let entries = decode(&a, vec![(key(1), per_cpu(&[&[3, 1]])), (key(2), per_cpu(&[&[9, 1]]))], 1, &Decoder::default());
    check(&map_line(&a, &top_and_divide(&a, entries.clone(), 1, 2)), r#"{"type": "stats", "data": {"@a": {"2": 4}}}"#, json!({"@a": {"2": 4}}));
    let c = map("@c", vec![I64], MapValue::Count);
    let entries = decode(&c, vec![(key(1), per_cpu(&[&[1]])), (key(2), per_cpu(&[&[2]]))], 1, &Decoder::default());
    check(&map_line(&c, &top_and_divide(&c, entries.clone(), 1, 2)), r#"{"type": "map", "data": {"@c": {"2": 1}}}"#, json!({"@c": {"2": 1}}));
}

#[test]
fn cat_keeps_one_byte_less_than_text() {
    let line = print(|o| o.cat(&[b'a'; 10240]).unwrap());
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["data"].as_str().map(str::len), Some(10239));
}

#[test]
fn buffers_as_keys_and_values() {
    // bpftrace -f json -e 'BEGIN { @k[buf("zz", 2)] = 0; @k[buf("a\x02", 2)] = 1;
    //   @v[1] = buf("x\ty\x00z", 5); @v[3] = buf("\x1b[0m", 5); exit(); }'
    let k = map("@k", vec![ValueType::Buf { size: 2 }], MapValue::Plain(I64));
    let e = [
        MapEntry { key: vec![Value::Buf(b"zz".to_vec())], value: Value::Int(0) },
        MapEntry { key: vec![Value::Buf(b"a\x02".to_vec())], value: Value::Int(1) },
    ];
    check(&map_line(&k, &e), r#"{"type": "map", "data": {"@k": {"zz": 0, "a\\x02": 1}}}"#, json!({"@k": {"zz": 0, "a\\x02": 1}}));
    let v = map("@v", vec![I64], MapValue::Plain(ValueType::Buf { size: 5 }));
    let e = [
        MapEntry { key: vec![Value::Int(1)], value: Value::Buf(b"x\ty\x00z".to_vec()) },
        MapEntry { key: vec![Value::Int(3)], value: Value::Buf(b"\x1b[0m\x00".to_vec()) },
    ];
    check(
        &map_line(&v, &e),
        r#"{"type": "map", "data": {"@v": {"1": "x\\x09y\\x00z", "3": "\\x1b[0m\\x00"}}}"#,
        json!({"@v": {"1": "x\\x09y\\x00z", "3": "\\x1b[0m\\x00"}}),
    );
}

#[test]
fn records_and_arrays_as_keys_and_values() {
    // struct Q { short s; unsigned char tag; long arr[2]; };
    // bpftrace -f json -e 'BEGIN { $s = *(struct Q *)0; @y[1] = $s; @z[$s] = 1;
    //   @x = $s.arr; print($s); exit(); }'
    let q = Value::Record(vec![
        ("s".into(), Value::Int(0)),
        ("tag".into(), Value::Uint(0)),
        ("arr".into(), Value::Array(vec![Value::Int(0), Value::Int(0)])),
    ]);
    check(&print(|o| o.value(&q).unwrap()), r#"{"type": "value", "data": { "s": 0, "tag": 0, "arr": [0,0] }}"#, json!({"s": 0, "tag": 0, "arr": [0, 0]}));
    let layout = ValueType::Record { members: vec![], size: 24 };
    let y = map("@y", vec![I64], MapValue::Plain(layout.clone()));
    let e = [MapEntry { key: vec![Value::Int(1)], value: q.clone() }];
    check(&map_line(&y, &e), r#"{"type": "map", "data": {"@y": {"1": { "s": 0, "tag": 0, "arr": [0,0] }}}}"#, json!({"@y": {"1": {"s": 0, "tag": 0, "arr": [0, 0]}}}));
    let z = map("@z", vec![layout], MapValue::Plain(I64));
    let e = [MapEntry { key: vec![q], value: Value::Int(1) }];
    check(&map_line(&z, &e), r#"{"type": "map", "data": {"@z": {"{.s=0,.tag=0,.arr=[0,0]}": 1}}}"#, json!({"@z": {"{.s=0,.tag=0,.arr=[0,0]}": 1}}));
    // A char array member is a quoted string.
    let named = Value::Record(vec![("name".into(), s(b"first"))]);
    check(&print(|o| o.value(&named).unwrap()), r#"{"type": "value", "data": { "name": "first" }}"#, json!({"name": "first"}));
}
