//! Fuzzing the compiler (issue #25): random well-typed programs must either
//! get a checker diagnostic or pass the kernel's verifier; those bpftrace
//! 0.17 also runs must print what it prints; and random edits of every
//! program in the repository, and inputs built to be huge or deeply
//! nested, must be compiled or refused without a panic, a stack overflow or
//! a second's wait.
//!
//! Environment (the defaults are what `cargo test` runs):
//! - `RBPF_FUZZ_CASES=N`: how many programs the load test generates (300)
//!   and how many mutants of each input the mutation test makes (3, or
//!   N / 100 when N is given).
//! - `RBPF_FUZZ_SEED=N`: the seed of all of them (a fixed one by default).
//! - `RBPF_FUZZ_DIFF=N`: how many programs the differential test compares
//!   with bpftrace (20).
//! - `RBPF_FUZZ_SHOW=1`: print every generated program and its outcome.
//!
//! Compile times are held to a second of CPU per input in an optimised
//! build (`cargo test --release --test fuzz`), twenty in the unoptimised
//! one; programs of 100,000 statements are compiled in the optimised
//! build or when RBPF_FUZZ_CASES is set, 10,000 otherwise.

mod common;
#[allow(dead_code)]
#[path = "differential/corpus.rs"]
mod corpus;
#[path = "fuzz/grammar.rs"]
mod grammar;
#[path = "fuzz/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "differential/normalise.rs"]
mod normalise;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rbpf::runtime::{HostTarget, RuntimeError, Session, SessionOptions};
use rbpf::{CompileError, Source};

use grammar::{Generated, Profile};

/// The seed when RBPF_FUZZ_SEED is not set.
const DEFAULT_SEED: u64 = 25;

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a number")),
    )
}

fn seed() -> u64 {
    env_number("RBPF_FUZZ_SEED").unwrap_or(DEFAULT_SEED)
}

fn show() -> bool {
    std::env::var("RBPF_FUZZ_SHOW").as_deref() == Ok("1")
}

/// A proptest runner whose randomness comes from `seed` alone.
fn runner(cases: u32, seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        max_shrink_iters: 64,
        max_shrink_time: 60_000,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// What became of one generated program.
enum Outcome {
    /// The verifier accepted every program of it.
    Loaded,
    /// The checker refused it: its first diagnostic.
    Refused(String),
}

/// Compiles `text` in process and loads it without attaching. A program
/// the checker accepts and the kernel (or codegen) refuses is an error,
/// with the program and the verifier's log.
fn compile_and_load(target: &HostTarget, text: &str) -> Result<Outcome, String> {
    let source = Source::new("generated.bt", text.to_string());
    let compiled = match rbpf::compile(&source, target) {
        Ok(c) => c,
        Err(CompileError::Program(diags)) => {
            return Ok(Outcome::Refused(
                diags.first().map(|d| d.message.clone()).unwrap_or_default(),
            ))
        }
        Err(e) => {
            return Err(format!(
                "the checker accepted this program, but code generation failed: {e}\n{text}"
            ))
        }
    };
    match Session::load(&compiled.object, &SessionOptions::default()) {
        Ok(_) => Ok(Outcome::Loaded),
        Err(RuntimeError::Verifier { probe, reason, log, .. } | RuntimeError::TooComplex { probe, reason, log, .. }) => Err(format!(
            "the checker accepted this program, but the verifier refused {probe}: {reason}\n--- program\n{text}\n--- verifier log\n{log}"
        )),
        Err(e) => Err(format!("the checker accepted this program, but it did not load: {e}\n--- program\n{text}")),
    }
}

/// Counts of outcomes, with the checker's reasons, for the summary.
#[derive(Default)]
struct Tally {
    loaded: usize,
    refused: BTreeMap<String, usize>,
}

impl Tally {
    fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }

    fn summary(&self) -> String {
        let mut reasons: Vec<(&String, &usize)> = self.refused.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        let mut out = format!(
            "{} loaded, {} refused by the checker",
            self.loaded,
            self.refused_total()
        );
        for (reason, n) in reasons.iter().take(8) {
            out.push_str(&format!("\n  {n:5}  {reason}"));
        }
        out
    }
}

fn record(tally: &RefCell<Tally>, outcome: &Outcome) {
    let mut tally = tally.borrow_mut();
    match outcome {
        Outcome::Loaded => tally.loaded += 1,
        Outcome::Refused(reason) => *tally.refused.entry(reason.clone()).or_default() += 1,
    }
}

#[test]
fn generated_programs_load_or_get_a_diagnostic() {
    if !common::kernel_tests_enabled("generated_programs_load_or_get_a_diagnostic") {
        return;
    }
    on_main_stack(load_generated_programs);
}

fn load_generated_programs() {
    let cases = env_number("RBPF_FUZZ_CASES").unwrap_or(300) as u32;
    let seed = seed();
    let target = HostTarget::new();
    let tally = RefCell::new(Tally::default());
    let started = Instant::now();
    let result = runner(cases, seed).run(&grammar::program(Profile::Full), |program| {
        if show() {
            // Before compiling, so that a hang shows its program.
            eprintln!("{}", program.text);
        }
        let outcome = compile_and_load(&target, &program.text).map_err(TestCaseError::fail)?;
        if show() {
            match &outcome {
                Outcome::Loaded => eprintln!("=> loaded\n"),
                Outcome::Refused(reason) => eprintln!("=> refused: {reason}\n"),
            }
        }
        record(&tally, &outcome);
        Ok(())
    });
    let tally = tally.into_inner();
    eprintln!(
        "generated programs (seed {seed}, {:.1} s): {}",
        started.elapsed().as_secs_f64(),
        tally.summary()
    );
    if let Err(e) = result {
        panic!("seed {seed}: {e}");
    }
    // A generator whose programs the checker mostly refuses tests little.
    let total = tally.loaded + tally.refused_total();
    assert!(
        tally.loaded * 10 >= total * 7,
        "too few generated programs pass the checker: {}",
        tally.summary()
    );
}

/// Every program of tests/fuzz/regressions.bt loads: each once failed to.
#[test]
fn regressions_load() {
    if !common::kernel_tests_enabled("regressions_load") {
        return;
    }
    let target = HostTarget::new();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regressions.bt"),
    )
    .expect("read regressions.bt");
    let programs = regression_programs(&text);
    assert!(!programs.is_empty(), "regressions.bt holds no program");
    for (name, program) in programs {
        match compile_and_load(&target, &program) {
            Ok(Outcome::Loaded) => {}
            Ok(Outcome::Refused(reason)) => {
                panic!("{name}: the checker refuses it: {reason}\n{program}")
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// The programs of the regression file: `=== NAME` lines start each,
/// lines starting with `#` before a program are comments.
fn regression_programs(text: &str) -> Vec<(String, String)> {
    let mut programs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            programs.push((name.trim().to_string(), String::new()));
        } else if let Some((_, program)) = programs.last_mut() {
            if !(program.is_empty() && line.starts_with('#')) {
                program.push_str(line);
                program.push('\n');
            }
        }
    }
    programs
}

fn bpftrace_available() -> bool {
    let found = Command::new("bpftrace")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("RBPF_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "bpftrace is not installed"
        );
        eprintln!("skipping the differential fuzz test: bpftrace is not installed");
    }
    found
}

/// Runs a tracer on `program`: its standard output and exit status.
fn trace(tracer: &mut Command, program: &str) -> (String, Option<i32>) {
    let mut child = tracer
        .arg("-e")
        .arg(program)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tracer");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("tracer output");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn generated_programs_print_what_bpftrace_prints() {
    if !common::kernel_tests_enabled("generated_programs_print_what_bpftrace_prints")
        || !bpftrace_available()
    {
        return;
    }
    let cases = env_number("RBPF_FUZZ_DIFF").unwrap_or(20) as u32;
    let seed = seed();
    // Programs, not runs: a failing one is run again as it shrinks.
    let compared = RefCell::new(std::collections::HashSet::new());
    let result = runner(cases, seed).run(&grammar::program(Profile::Deterministic), |program: Generated| {
        let (theirs, their_status) = trace(&mut Command::new("bpftrace"), &program.text);
        if their_status != Some(0) {
            // bpftrace 0.17 refuses it (or fails on it): nothing to compare.
            if show() {
                eprintln!("{}\n=> bpftrace refuses it\n", program.text);
            }
            return Ok(());
        }
        let (ours, our_status) = trace(&mut common::rbpf(), &program.text);
        let (theirs_cmp, ours_cmp) = if program.keyed_maps {
            // Entries that tie on value print in hash order in bpftrace.
            let facts = normalise::Facts { tracer_name: "", pids: Vec::new() };
            (normalise::text(&[normalise::Rule::Sort], &facts, &theirs), normalise::text(&[normalise::Rule::Sort], &facts, &ours))
        } else {
            (theirs.clone(), ours.clone())
        };
        if show() {
            eprintln!("{}\n=> {}\n", program.text, if theirs_cmp == ours_cmp { "same output" } else { "different" });
        }
        compared.borrow_mut().insert(program.text.clone());
        if their_status != our_status || theirs_cmp != ours_cmp {
            return Err(TestCaseError::fail(format!(
                "rbpf and bpftrace differ on\n{}\n--- bpftrace (status {their_status:?})\n{theirs}\n--- rbpf (status {our_status:?})\n{ours}",
                program.text
            )));
        }
        Ok(())
    });
    let compared = compared.into_inner().len();
    eprintln!("differential (seed {seed}): {compared} of {cases} programs compared");
    if let Err(e) = result {
        panic!("seed {seed}: {e}");
    }
    assert!(
        compared * 2 >= cases as usize,
        "bpftrace ran too few of the generated programs ({compared} of {cases})"
    );
}

/// The stack size of the CLI's main thread, which compiles: the
/// compiler must do with what users get.
fn main_thread_stack() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return 8 << 20;
    }
    (limit.rlim_cur as usize).min(64 << 20)
}

/// The CPU time one input may take to compile: a second in an optimised
/// build, as users run rbpf (`cargo test --release --test fuzz` holds the
/// compiler to that); the unoptimised builds of `cargo test` run the
/// parser about twenty times slower, and get twenty.
fn budget() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(1)
    }
}

/// The CPU time this thread has used: what compiling costs, whatever
/// else the machine runs meanwhile.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Compiles every input on a thread with the main thread's stack; fails
/// with the input when one panics or takes longer than [`budget`].
fn compile_all_quickly(inputs: Vec<(String, String)>) {
    on_main_stack(move || {
        let target = HostTarget::new();
        let mut slowest = (Duration::ZERO, String::new());
        for (origin, text) in &inputs {
            if show() {
                // Before compiling: a stack overflow aborts the process.
                eprintln!("compiling {origin}");
            }
            let source = Source::new("input.bt", text.clone());
            let started = thread_cpu_time();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rbpf::compile(&source, &target).map(|_| ())
            }));
            let took = thread_cpu_time().saturating_sub(started);
            if result.is_err() {
                panic!("the compiler panicked on {origin}:\n{}", excerpt(text));
            }
            assert!(
                took < budget(),
                "compiling {origin} took {took:?} of CPU time:\n{}",
                excerpt(text)
            );
            if took > slowest.0 {
                slowest = (took, origin.clone());
            }
        }
        eprintln!(
            "{} inputs compiled; the slowest, {}, took {:?} of CPU time",
            inputs.len(),
            slowest.1,
            slowest.0
        );
    });
}

/// Runs `f` on a thread with the CLI's main thread's stack, where rbpf
/// compiles (the test harness's threads have less).
fn on_main_stack(f: impl FnOnce() + Send + 'static) {
    let handle = std::thread::Builder::new()
        .stack_size(main_thread_stack())
        .spawn(f)
        .expect("start a thread");
    if let Err(e) = handle.join() {
        std::panic::resume_unwind(e);
    }
}

/// The start of a long input, enough to see what it is.
fn excerpt(text: &str) -> String {
    if text.len() <= 1000 {
        return text.to_string();
    }
    let mut end = 1000;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n... ({} bytes in all)", &text[..end], text.len())
}

#[test]
fn mutated_programs_compile_or_fail_quickly() {
    let per_input = env_number("RBPF_FUZZ_CASES").map_or(3, |n| (n / 100).max(1)) as usize;
    let seed = seed();
    let originals = mutate::corpus(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        originals.len() > 100,
        "found only {} programs to mutate",
        originals.len()
    );
    let inputs: Vec<(String, String)> = mutate::mutants(&originals, per_input, seed)
        .into_iter()
        .map(|(origin, text)| (format!("a mutant of {origin}"), text))
        .collect();
    eprintln!(
        "mutation test (seed {seed}): {} originals, {} mutants",
        originals.len(),
        inputs.len()
    );
    compile_all_quickly(inputs);
}

#[test]
fn huge_and_deeply_nested_programs_compile_or_fail_quickly() {
    // 100,000 statements take a minute of CPU in all in an unoptimised
    // build: `cargo test` compiles 10,000; optimised or on demand
    // (RBPF_FUZZ_CASES), the full size.
    let long = if cfg!(debug_assertions) && env_number("RBPF_FUZZ_CASES").is_none() {
        10_000
    } else {
        100_000
    };
    compile_all_quickly(mutate::extremes(long, 5_000));
}
