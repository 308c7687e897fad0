//! Kernel tests: objects built by hand with the codegen crate's instruction
//! builder and ELF writer, run by a real Session. They need root; without
//! it they skip with a message, or fail when RBPF_REQUIRE_KERNEL=1.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rbpf_codegen::elf::{map_type, write_elf, ElfMap, ElfProgram, MapDef};
use rbpf_codegen::insn::{Alu, Builder, Code, Cond, Helper, Reg, Size};
use rbpf_codegen::manifest::{
    event, Attach, Field, Manifest, MapInfo, MapValue, Object, PrintfFormat, ProgramInfo, ValueType,
};
use rbpf_lang::target::{Target, TargetError};
use rbpf_lang::Span;
use rbpf_runtime::{HostTarget, MapEntry, Output, RuntimeError, Session, SessionOptions, StopHandle, TextOutput, Value};

/// Whether this process may use the kernel's BPF: true as root. Otherwise
/// the test is skipped with a visible message — or fails, when
/// RBPF_REQUIRE_KERNEL=1 says the kernel tests must run.
fn kernel_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("RBPF_REQUIRE_KERNEL").as_deref() != Ok("1"),
        "{test}: needs root, and RBPF_REQUIRE_KERNEL=1 forbids skipping"
    );
    // Straight to stderr: the test harness captures eprintln!.
    let _ = writeln!(std::io::stderr(), "skipping {test}: needs root");
    false
}

macro_rules! require_kernel {
    ($test:literal) => {
        if !kernel_available($test) {
            return;
        }
    };
}

const EVENTS: &str = "events";
const RINGBUF_SIZE: u32 = 1 << 16;

fn ringbuf_map() -> ElfMap<'static> {
    ElfMap {
        name: EVENTS,
        def: MapDef { map_type: map_type::RINGBUF, key_size: 0, value_size: 0, max_entries: RINGBUF_SIZE, flags: 0 },
    }
}

fn program(index: usize, section: &str, attach: Attach, code: &Code, probe: &str) -> ProgramInfo {
    ProgramInfo {
        name: format!("probe{index}"),
        section: section.to_string(),
        attach,
        spans: code.spans.clone(),
        probe_name: probe.to_string(),
        optional: false,
    }
}

fn object(programs: Vec<(ProgramInfo, Code)>, maps: &[ElfMap], manifest: Manifest) -> Object {
    let elf_programs: Vec<ElfProgram> =
        programs.iter().map(|(info, code)| ElfProgram { section: &info.section, name: &info.name, code }).collect();
    let elf = write_elf(&elf_programs, maps, "GPL").unwrap();
    Object {
        elf,
        manifest: Manifest {
            programs: programs.into_iter().map(|(info, _)| info).collect(),
            ringbuf: Some(EVENTS.to_string()),
            ringbuf_size: RINGBUF_SIZE,
            ..manifest
        },
    }
}

/// Emits `ringbuf_output(events, fp + at, size, 0)` for a record already
/// built on the stack.
fn ringbuf_output(b: &mut Builder, at: i16, size: i32) {
    b.load_map_fd(Reg::R1, EVENTS);
    b.mov64(Reg::R2, Reg::R10);
    b.alu64(Alu::Add, Reg::R2, i32::from(at));
    b.mov64(Reg::R3, size);
    b.mov64(Reg::R4, 0);
    b.call(Helper::RingbufOutput);
}

/// Emits an exit record.
fn emit_exit(b: &mut Builder) {
    b.store(Size::W, Reg::R10, -8, event::EXIT as i32);
    b.store(Size::W, Reg::R10, -4, 0);
    ringbuf_output(b, -8, 8);
}

fn finish(mut b: Builder) -> Code {
    b.mov64(Reg::R0, 0);
    b.exit();
    b.finish().unwrap()
}

fn int_field(offset: u32) -> Field {
    Field { offset, ty: ValueType::Int { size: 8, signed: true } }
}

/// Loads `object` with `options` and runs it to its end: the text it
/// printed and its exit code.
async fn run_with(object: &Object, options: &SessionOptions) -> (String, i32) {
    let mut session = Session::load(object, options).unwrap();
    let mut out = TextOutput::new(Vec::new());
    let code = session.run(&mut out).await.unwrap();
    (String::from_utf8(out.into_inner().unwrap()).unwrap(), code)
}

async fn run(object: &Object) -> String {
    run_with(object, &SessionOptions::default()).await.0
}

/// Emits `bpf_map_lookup_elem(map, fp + key_at)`.
fn emit_lookup(b: &mut Builder, map: &str, key_at: i16) {
    b.load_map_fd(Reg::R1, map);
    b.mov64(Reg::R2, Reg::R10);
    b.alu64(Alu::Add, Reg::R2, i32::from(key_at));
    b.call(Helper::MapLookupElem);
}

/// Emits `bpf_map_update_elem(map, fp + key_at, fp + value_at, BPF_ANY)`.
fn emit_update_at(b: &mut Builder, map: &str, key_at: i16, value_at: i16) {
    b.load_map_fd(Reg::R1, map);
    b.mov64(Reg::R2, Reg::R10);
    b.alu64(Alu::Add, Reg::R2, i32::from(key_at));
    b.mov64(Reg::R3, Reg::R10);
    b.alu64(Alu::Add, Reg::R3, i32::from(value_at));
    b.mov64(Reg::R4, 0);
    b.call(Helper::MapUpdateElem);
}

/// A map of `map_type` with u64 keys and values, 16 of them.
fn u64_map_def(map_type: u32) -> MapDef {
    MapDef { map_type, key_size: 8, value_size: 8, max_entries: 16, flags: 0 }
}

/// The manifest's view of a map [`u64_map_def`] defines.
fn u64_map(name: &str, bpf_name: &str, percpu: bool, key: Vec<Field>, value: MapValue) -> MapInfo {
    MapInfo { name: name.into(), bpf_name: bpf_name.into(), percpu, array: false, max_entries: 16, key, key_size: 8, value, value_size: 8 }
}

/// BEGIN reserves a record, writes a printf header and an int, submits it,
/// stores 5 in a map and exits; END prints too.
#[tokio::test]
async fn begin_printf_map_exit_and_end() {
    require_kernel!("begin_printf_map_exit_and_end");
    let mut b = Builder::new();
    // printf("n=%d\n", 42) through reserve/submit.
    let skip = b.new_label();
    b.load_map_fd(Reg::R1, EVENTS);
    b.mov64(Reg::R2, 16);
    b.mov64(Reg::R3, 0);
    b.call(Helper::RingbufReserve);
    b.jump_if(Cond::Eq, Reg::R0, 0, skip);
    b.store(Size::W, Reg::R0, 0, event::PRINTF as i32);
    b.store(Size::W, Reg::R0, 4, 0);
    b.store(Size::DW, Reg::R0, 8, 42);
    b.mov64(Reg::R1, Reg::R0);
    b.mov64(Reg::R2, 0);
    b.call(Helper::RingbufSubmit);
    b.bind(skip);
    // @x = 5: key u64 0 at fp-16, value at fp-24.
    b.store(Size::DW, Reg::R10, -16, 0);
    b.store(Size::DW, Reg::R10, -24, 5);
    emit_update_at(&mut b, "m_x", -16, -24);
    emit_exit(&mut b);
    let begin = finish(b);

    let mut b = Builder::new();
    b.store(Size::W, Reg::R10, -8, event::PRINTF as i32);
    b.store(Size::W, Reg::R10, -4, 1);
    ringbuf_output(&mut b, -8, 8);
    let end = finish(b);

    let x = u64_map("@x", "m_x", false, vec![], MapValue::Plain(ValueType::Int { size: 8, signed: true }));
    let object = object(
        vec![
            (program(0, "raw_tracepoint/probe0", Attach::Begin, &begin, "BEGIN"), begin),
            (program(1, "raw_tracepoint/probe1", Attach::End, &end, "END"), end),
        ],
        &[ringbuf_map(), ElfMap { name: "m_x", def: u64_map_def(map_type::HASH) }],
        Manifest {
            maps: vec![x],
            printfs: vec![
                PrintfFormat { format: "n=%d\n".into(), args: vec![int_field(8)], size: 16 },
                PrintfFormat { format: "end\n".into(), args: vec![], size: 8 },
            ],
            ..Manifest::default()
        },
    );
    assert_eq!(run(&object).await, "Attaching 2 probes...\nn=42\nend\n\n\n@x: 5\n");
}

/// Counts getppid() calls, stopping once the test has seen enough.
struct Counting {
    hits: Arc<AtomicUsize>,
    stop: StopHandle,
    target: usize,
    maps: Vec<(String, Vec<MapEntry>)>,
}

impl Output for Counting {
    fn attached(&mut self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn printf(&mut self, text: &[u8]) -> std::io::Result<()> {
        assert_eq!(text, b"hit\n");
        if self.hits.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.stop.stop();
        }
        Ok(())
    }
    fn value(&mut self, _: &Value) -> std::io::Result<()> {
        Ok(())
    }
    fn time(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn system(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn cat(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn join(&mut self, _: &[&[u8]], _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn lost_events(&mut self, _: u64) -> std::io::Result<()> {
        Ok(())
    }
    fn stopped(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> std::io::Result<()> {
        self.maps.push((map.name.clone(), entries.to_vec()));
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A tracepoint program counts into a PERCPU_HASH and prints a line per
/// hit; the test calls getppid() until it has seen N lines.
#[tokio::test]
async fn tracepoint_counts_into_a_percpu_hash() {
    require_kernel!("tracepoint_counts_into_a_percpu_hash");
    const N: usize = 20;
    let mut b = Builder::new();
    let have = b.new_label();
    let out = b.new_label();
    b.store(Size::DW, Reg::R10, -8, 0);
    emit_lookup(&mut b, "m_c", -8);
    b.jump_if(Cond::Ne, Reg::R0, 0, have);
    b.store(Size::DW, Reg::R10, -16, 1);
    emit_update_at(&mut b, "m_c", -8, -16);
    b.jump(out);
    b.bind(have);
    b.load(Size::DW, Reg::R1, Reg::R0, 0);
    b.alu64(Alu::Add, Reg::R1, 1);
    b.store(Size::DW, Reg::R0, 0, Reg::R1);
    b.bind(out);
    b.store(Size::W, Reg::R10, -24, event::PRINTF as i32);
    b.store(Size::W, Reg::R10, -20, 0);
    ringbuf_output(&mut b, -24, 8);
    let code = finish(b);

    let c = u64_map("@c", "m_c", true, vec![], MapValue::Count);
    let attach = Attach::Tracepoint { category: "syscalls".into(), name: "sys_enter_getppid".into() };
    let info = program(0, "tracepoint/syscalls/sys_enter_getppid", attach, &code, "tracepoint:syscalls:sys_enter_getppid");
    let object = object(
        vec![(info, code)],
        &[ringbuf_map(), ElfMap { name: "m_c", def: u64_map_def(map_type::PERCPU_HASH) }],
        Manifest {
            maps: vec![c],
            printfs: vec![PrintfFormat { format: "hit\n".into(), args: vec![], size: 8 }],
            ..Manifest::default()
        },
    );

    let mut session = Session::load(&object, &SessionOptions::default()).unwrap();
    assert_eq!(session.probe_count(), 1);
    let hits = Arc::new(AtomicUsize::new(0));
    let mut out = Counting { hits: hits.clone(), stop: session.stop_handle(), target: N, maps: Vec::new() };
    let done = Arc::new(AtomicBool::new(false));
    let caller = {
        let (hits, done) = (hits.clone(), done.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while hits.load(Ordering::SeqCst) < N && !done.load(Ordering::SeqCst) && Instant::now() < deadline {
                // SAFETY: getppid has no preconditions.
                unsafe { libc::getppid() };
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let result = tokio::time::timeout(Duration::from_secs(30), session.run(&mut out)).await;
    done.store(true, Ordering::SeqCst);
    caller.join().unwrap();
    result.expect("the session stops once N hits were printed").unwrap();

    assert!(hits.load(Ordering::SeqCst) >= N);
    assert_eq!(out.maps.len(), 1);
    let (name, entries) = &out.maps[0];
    assert_eq!(name, "@c");
    assert_eq!(entries.len(), 1);
    assert!(entries[0].key.is_empty());
    match entries[0].value {
        Value::Uint(n) => assert!(n >= N as u64, "counted {n} < {N}"),
        ref other => panic!("a count reads as an unsigned number, not {other:?}"),
    }
}

/// An interval probe prints and exits on its first tick.
#[tokio::test]
async fn interval_probe_fires() {
    require_kernel!("interval_probe_fires");
    let mut b = Builder::new();
    b.store(Size::W, Reg::R10, -16, event::PRINTF as i32);
    b.store(Size::W, Reg::R10, -12, 0);
    ringbuf_output(&mut b, -16, 8);
    emit_exit(&mut b);
    let code = finish(b);
    let info = program(0, "perf_event/probe0", Attach::Interval { period_ns: 10_000_000 }, &code, "interval:ms:10");
    let object = object(
        vec![(info, code)],
        &[ringbuf_map()],
        Manifest { printfs: vec![PrintfFormat { format: "tick\n".into(), args: vec![], size: 8 }], ..Manifest::default() },
    );
    let text = tokio::time::timeout(Duration::from_secs(10), run(&object)).await.expect("the interval fires");
    assert_eq!(text, "Attaching 1 probe...\ntick\n\n\n");
}

/// A dry run loads and attaches, then returns without running BEGIN.
#[tokio::test]
async fn dry_run_runs_nothing() {
    require_kernel!("dry_run_runs_nothing");
    let mut b = Builder::new();
    emit_exit(&mut b);
    let begin = finish(b);
    let object = object(
        vec![(program(0, "raw_tracepoint/probe0", Attach::Begin, &begin, "BEGIN"), begin)],
        &[ringbuf_map()],
        Manifest::default(),
    );
    let (text, _) = run_with(&object, &SessionOptions { dry_run: true, quiet: false, ..Default::default() }).await;
    assert_eq!(text, "Attaching 1 probe...\n");
}

/// Emits a ring buffer record of `bytes`, built on the stack at fp-256.
fn emit_record(b: &mut Builder, bytes: &[u8]) {
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().next_multiple_of(4), 0);
    for (i, word) in padded.chunks_exact(4).enumerate() {
        let value = i32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        b.store(Size::W, Reg::R10, -256 + 4 * i as i16, value);
    }
    ringbuf_output(b, -256, bytes.len() as i32);
}

fn header(kind: u32, id: u32) -> Vec<u8> {
    [kind.to_le_bytes(), id.to_le_bytes()].concat()
}

/// `map[key] = value` (this CPU's slot of a per-CPU map), u64 key and value.
fn emit_update(b: &mut Builder, map: &str, key: i32, value: i32) {
    b.store(Size::DW, Reg::R10, -8, key);
    b.store(Size::DW, Reg::R10, -16, value);
    emit_update_at(b, map, -8, -16);
}

/// Every event kind, from BEGIN, against real maps: print, zero and clear
/// a per-CPU count map, print a histogram, print a value, time, system,
/// cat, join, lost events, and exit with a code.
#[tokio::test]
async fn every_event_kind() {
    require_kernel!("every_event_kind");
    let dir = std::env::temp_dir().join(format!("rbpf-kernel-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cat-me");
    std::fs::write(&file, "cat contents\n").unwrap();

    let mut b = Builder::new();
    // @c[1] = 3, then print, zero, print, clear, print.
    emit_update(&mut b, "m_c", 1, 3);
    let print_c = [header(event::PRINT_MAP, 0), 0u64.to_le_bytes().to_vec(), 1u64.to_le_bytes().to_vec()].concat();
    emit_record(&mut b, &print_c);
    emit_record(&mut b, &header(event::ZERO_MAP, 0));
    emit_record(&mut b, &print_c);
    emit_record(&mut b, &header(event::CLEAR_MAP, 0));
    emit_record(&mut b, &print_c);
    // @h: bucket 3 ([2, 4)) counted twice, bucket 5 ([8, 16)) once; print(@h, 0, 2).
    emit_update(&mut b, "m_h", 3, 2);
    emit_update(&mut b, "m_h", 5, 1);
    let print_h = [header(event::PRINT_MAP, 1), 0u64.to_le_bytes().to_vec(), 2u64.to_le_bytes().to_vec()].concat();
    emit_record(&mut b, &print_h);
    // print(-7); time("T\n"); system("echo sys"); cat(file); join(["a", "bc"], ",").
    emit_record(&mut b, &[header(event::PRINT_VALUE, 0), (-7i64).to_le_bytes().to_vec()].concat());
    emit_record(&mut b, &header(event::TIME, 0));
    emit_record(&mut b, &header(event::SYSTEM, 0));
    emit_record(&mut b, &header(event::CAT, 1));
    // A missing file: an error on stderr, nothing in the text output.
    emit_record(&mut b, &header(event::CAT, 2));
    let mut join = [header(event::JOIN, 0), 3u32.to_le_bytes().to_vec(), 4u32.to_le_bytes().to_vec()].concat();
    join.extend_from_slice(b"a\0\0\0bc\0\0\0\0\0\0");
    emit_record(&mut b, &join);
    // Five records lost on this CPU.
    let skip = b.new_label();
    b.store(Size::W, Reg::R10, -4, 0);
    emit_lookup(&mut b, "lost", -4);
    b.jump_if(Cond::Eq, Reg::R0, 0, skip);
    b.load(Size::DW, Reg::R1, Reg::R0, 0);
    b.alu64(Alu::Add, Reg::R1, 5);
    b.store(Size::DW, Reg::R0, 0, Reg::R1);
    b.bind(skip);
    emit_record(&mut b, &header(event::EXIT, 3));
    let begin = finish(b);

    let lost_def = MapDef { map_type: map_type::PERCPU_ARRAY, key_size: 4, value_size: 8, max_entries: 1, flags: 0 };
    let c = u64_map("@c", "m_c", true, vec![int_field(0)], MapValue::Count);
    let h = u64_map("@h", "m_h", true, vec![], MapValue::Hist { bits: 0 });
    let cat_path = file.to_str().unwrap().to_string();
    let object = object(
        vec![(program(0, "raw_tracepoint/probe0", Attach::Begin, &begin, "BEGIN"), begin)],
        &[
            ringbuf_map(),
            ElfMap { name: "m_c", def: u64_map_def(map_type::PERCPU_HASH) },
            ElfMap { name: "m_h", def: u64_map_def(map_type::PERCPU_HASH) },
            ElfMap { name: "lost", def: lost_def },
        ],
        Manifest {
            maps: vec![c, h],
            printfs: vec![
                PrintfFormat { format: "echo sys".into(), args: vec![], size: 8 },
                PrintfFormat { format: cat_path, args: vec![], size: 8 },
                PrintfFormat { format: "/nonexistent/rbpf-missing".into(), args: vec![], size: 8 },
            ],
            print_values: vec![ValueType::Int { size: 8, signed: true }],
            time_formats: vec!["T\n".into()],
            join_separators: vec![",".into()],
            lost_events_map: Some("lost".into()),
            ..Manifest::default()
        },
    );
    let (text, code) = run_with(&object, &SessionOptions::default()).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 3);
    let bar = |n: usize| format!("|{}{}|", "@".repeat(n), " ".repeat(52 - n));
    let hist = format!("@h: \n[2, 4)                 1 {}\n[4, 8)                 0 {}\n[8, 16)                0 {}\n\n", bar(52), bar(0), bar(26));
    let expect = format!(
        "Attaching 1 probe...\n@c[1]: 3\n@c[1]: 0\n\n{hist}-7\nT\nsys\ncat contents\na,bc\nLost 5 events\n\n\n\n@h: \n[2, 4)                 2 {}\n[4, 8)                 0 {}\n[8, 16)                1 {}\n\n",
        bar(52),
        bar(0),
        bar(26)
    );
    assert_eq!(text, expect);
}

/// The verifier's refusal names the program and the refused instruction,
/// which maps back to its source span.
#[test]
fn verifier_rejection_points_at_the_instruction() {
    require_kernel!("verifier_rejection_points_at_the_instruction");
    let mut b = Builder::new();
    b.set_span(Span::new(0, 5));
    b.mov64(Reg::R0, 0);
    b.set_span(Span::new(10, 20));
    // r2 was never written.
    b.load(Size::DW, Reg::R1, Reg::R2, 0);
    b.set_span(Span::new(0, 5));
    let code = finish(b);
    let object = object(
        vec![(program(0, "raw_tracepoint/probe0", Attach::Begin, &code, "BEGIN"), code)],
        &[ringbuf_map()],
        Manifest::default(),
    );
    let e = match Session::load(&object, &SessionOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("the verifier accepted a read through an uninitialised register"),
    };
    assert!(matches!(&e, RuntimeError::Verifier { program, insn: Some(1), .. } if program == "probe0"), "{e:?}");
    assert_eq!(e.verifier_error_span(&object.manifest), Some(Span::new(10, 20)));
    assert_eq!(e.to_string(), "the kernel's verifier refused the program for BEGIN: R2 !read_ok");
    assert!(e.verifier_log().is_some_and(|log| log.contains("1: (79)")));
}

/// Batch reads (in one call or several) and the get-next-key walk see the
/// same elements, per-CPU values as one slot per possible CPU.
#[test]
fn reads_maps_by_batch_and_by_walk() {
    require_kernel!("reads_maps_by_batch_and_by_walk");
    use std::os::fd::AsFd;
    let cpus = rbpf_runtime::sys::possible_cpus().unwrap();
    for (map_type, value_size) in [(map_type::HASH, 8), (map_type::PERCPU_HASH, 8 * cpus)] {
        let map = rbpf_runtime::sys::map_create("rbpf_test", map_type, 16, 8, 64, 0).unwrap();
        let (fd, name) = (map.as_fd(), map_type);
        let mut expect = Vec::new();
        for i in 0..40u64 {
            let key = [i.to_le_bytes(), (!i).to_le_bytes()].concat();
            let value: Vec<u8> = (0..value_size / 8).flat_map(|cpu| (i * 100 + cpu as u64).to_le_bytes()).collect();
            rbpf_runtime::sys::map_update(fd, &key, &value).unwrap();
            expect.push((key, value));
        }
        expect.sort();
        type ReadAll<'r> = &'r dyn Fn(&mut dyn FnMut(&[u8], &[u8])) -> std::io::Result<()>;
        let collect = |read: ReadAll<'_>| {
            let mut got = Vec::new();
            read(&mut |key, value| got.push((key.to_vec(), value.to_vec()))).unwrap();
            got.sort();
            got
        };
        // Batches of 7 take several calls, continued from the kernel's
        // token; batches of one also split every hash bucket.
        for batch in [rbpf_runtime::sys::BATCH_ENTRIES, 7, 1] {
            let got = collect(&|entry| rbpf_runtime::sys::map_entries_batch(fd, 16, value_size, 64, batch, entry));
            assert_eq!(got, expect, "{name}, batches of {batch}");
        }
        assert_eq!(collect(&|entry| rbpf_runtime::sys::map_entries_walk(fd, 16, value_size, 64, entry)), expect, "{name}");
        assert_eq!(collect(&|entry| rbpf_runtime::sys::map_entries(fd, 16, value_size, 64, entry)), expect, "{name}");
        // Never more than max_entries, however the calls fall.
        assert_eq!(collect(&|entry| rbpf_runtime::sys::map_entries_batch(fd, 16, value_size, 10, 7, entry)).len(), 10);
        assert_eq!(collect(&|entry| rbpf_runtime::sys::map_entries_walk(fd, 16, value_size, 10, entry)).len(), 10);
    }
}

/// HostTarget reads tracepoint formats from tracefs, mounting it if needed.
#[test]
fn host_target_reads_tracepoint_formats() {
    require_kernel!("host_target_reads_tracepoint_formats");
    let target = HostTarget::new();
    let format = target.tracepoint_format("syscalls", "sys_enter_openat").unwrap();
    let filename = format.field("filename").expect("openat has a filename");
    assert_eq!(filename.size, 8);
    assert!(format.field("common_pid").is_none());
    assert_eq!(target.tracepoint_format("syscalls", "no_such_tracepoint"), Err(TargetError::NotFound));
    let all = target.tracepoints().unwrap();
    assert!(all.iter().any(|(c, n)| c == "syscalls" && n == "sys_enter_getppid"), "{} tracepoints", all.len());
}

/// A multi-attach kprobe program loads with the map fds
/// patched into its map loads and bpf_get_func_ip allowed; attaching needs
/// a kernel with kprobes and fprobe (the VM lane's 6.12 guest runs that).
#[test]
fn multi_attach_kprobes_load_with_their_maps() {
    require_kernel!("multi_attach_kprobes_load_with_their_maps");
    let mut b = Builder::new();
    b.call(Helper::GetFuncIp);
    b.mov64(Reg::R6, Reg::R0);
    emit_update(&mut b, "hits", 1, 2);
    b.mov64(Reg::R0, 0);
    let code = finish(b);
    let hits = ElfMap { name: "hits", def: MapDef { map_type: map_type::HASH, key_size: 8, value_size: 8, max_entries: 4, flags: 0 } };
    let attach = Attach::KprobeMulti { funcs: vec!["vfs_read".into(), "vfs_write".into()], ret: false };
    let loaded = object(vec![(program(0, "kprobe/probe0", attach, &code, "kprobe:vfs_*"), code)], &[ringbuf_map(), hits], Manifest::default());
    let session = Session::load(&loaded, &SessionOptions::default());
    assert!(session.is_ok(), "{:?}", session.err());

    // A refused one is reported with the verifier's log.
    let mut b = Builder::new();
    b.load(Size::DW, Reg::R1, Reg::R2, 0);
    b.mov64(Reg::R0, 0);
    let code = finish(b);
    let attach = Attach::KprobeMulti { funcs: vec!["vfs_read".into()], ret: true };
    let refused = object(vec![(program(0, "kretprobe/probe0", attach, &code, "kretprobe:vfs_*"), code)], &[ringbuf_map()], Manifest::default());
    match Session::load(&refused, &SessionOptions::default()) {
        Err(e) => assert_eq!(e.to_string(), "the kernel's verifier refused the program for kretprobe:vfs_*: R2 !read_ok"),
        Ok(_) => panic!("the verifier accepted a read through an uninitialised register"),
    }
}
