//! End-to-end tests of the command line: the output options (-q, -o,
//! -f json, -B), usage and version, -k, -v, --info, warnings and the
//! BPFTRACE_* environment, each against what bpftrace 0.17 prints for the
//! same program (and, where bpftrace is installed, against bpftrace itself).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{kernel_tests_enabled, rbpf, run, Scratch};

const MAPS: &str = r#"BEGIN { printf("hi %d\n", 5); @c["b"] = count(); @c["a"] = count(); @c["a"] = count(); @s = sum(-5); @mn = min(2); @mx = max(9); @a = avg(3); @a = avg(4); @x[1, "k"] = 7; exit(); }"#;

fn stdout(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// bpftrace's stdout for the same arguments, if it is installed.
fn bpftrace(args: &[&str]) -> Option<String> {
    let out = Command::new("bpftrace").args(args).stderr(Stdio::null()).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn quiet_drops_the_attaching_line() {
    if !kernel_tests_enabled("quiet_drops_the_attaching_line") {
        return;
    }
    let program = r#"BEGIN { printf("x\n"); exit(); }"#;
    assert_eq!(stdout(&run(&["-q", "-e", program])), "x\n\n\n");
    let json = stdout(&run(&["-q", "-f", "json", "-e", program]));
    assert_eq!(json, "{\"type\": \"printf\", \"data\": \"x\\n\"}\n\n\n");
}

#[test]
fn json_output_of_printf_and_aggregations() {
    if !kernel_tests_enabled("json_output_of_printf_and_aggregations") {
        return;
    }
    let ours = stdout(&run(&["-f", "json", "-e", MAPS]));
    // bpftrace -f json -e "$MAPS" (0.17)
    let expect = concat!(
        "{\"type\": \"attached_probes\", \"data\": {\"probes\": 1}}\n",
        "{\"type\": \"printf\", \"data\": \"hi 5\\n\"}\n",
        "\n\n",
        "{\"type\": \"stats\", \"data\": {\"@a\": 3}}\n",
        "{\"type\": \"map\", \"data\": {\"@c\": {\"b\": 1, \"a\": 2}}}\n",
        "{\"type\": \"map\", \"data\": {\"@mn\": 2}}\n",
        "{\"type\": \"map\", \"data\": {\"@mx\": 9}}\n",
        "{\"type\": \"map\", \"data\": {\"@s\": -5}}\n",
        "{\"type\": \"map\", \"data\": {\"@x\": {\"1,k\": 7}}}\n",
    );
    assert_eq!(ours, expect);
    // Every line that is not blank is one JSON object with a type and data.
    for line in ours.lines().filter(|l| !l.is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(value["type"].is_string() && !value["data"].is_null(), "{line}");
    }
    if let Some(theirs) = bpftrace(&["-f", "json", "-e", MAPS]) {
        assert_eq!(ours, theirs);
    }
}

#[test]
fn text_output_matches_with_and_without_quiet() {
    if !kernel_tests_enabled("text_output_matches_with_and_without_quiet") {
        return;
    }
    for flags in [&[][..], &["-q"][..]] {
        let args: Vec<&str> = flags.iter().copied().chain(["-e", MAPS]).collect();
        let ours = stdout(&run(&args));
        assert!(ours.contains("@c[b]: 1\n@c[a]: 2\n"), "{ours}");
        if let Some(theirs) = bpftrace(&args) {
            assert_eq!(ours, theirs, "{args:?}");
        }
    }
}

#[test]
fn output_file_gets_everything_but_the_closing_newlines() {
    if !kernel_tests_enabled("output_file_gets_everything_but_the_closing_newlines") {
        return;
    }
    let dir = Scratch::new("cli-o");
    let program = r#"BEGIN { printf("x\n"); @a = 1; exit(); }"#;
    for (format, expect) in [
        ("text", "Attaching 1 probe...\nx\n@a: 1\n"),
        (
            "json",
            "{\"type\": \"attached_probes\", \"data\": {\"probes\": 1}}\n{\"type\": \"printf\", \"data\": \"x\\n\"}\n{\"type\": \"map\", \"data\": {\"@a\": 1}}\n",
        ),
    ] {
        let path = dir.join(format!("out.{format}"));
        let path = path.to_str().unwrap();
        // bpftrace -o FILE still prints the two newlines that end tracing on stdout.
        assert_eq!(stdout(&run(&["-f", format, "-o", path, "-e", program])), "\n\n");
        assert_eq!(std::fs::read_to_string(path).unwrap(), expect);
    }
}

#[test]
fn bad_output_options_are_refused_as_bpftrace_does() {
    let cases: [(&[&str], &str); 3] = [
        (&["-f", "xml", "-e", "BEGIN { exit(); }"], "ERROR: Invalid output format \"xml\"\nValid formats: 'text', 'json'\n"),
        (&["-B", "bogus", "-e", "BEGIN { exit(); }"], "ERROR: USAGE: -B must be either 'line', 'full', or 'none'.\n"),
        (
            &["-o", "/nonexistent-rbpf-dir/out", "-e", "BEGIN { exit(); }"],
            "ERROR: Failed to open output file: \"/nonexistent-rbpf-dir/out\": No such file or directory\n",
        ),
    ];
    for (args, expect) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expect, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// When each line of a ticking program reaches a reader, relative to the
/// SIGINT that stops it 600 ms after the start.
fn arrivals(buffering: &str) -> Vec<(String, bool)> {
    let mut child = rbpf()
        .args(["-B", buffering, "-e", r#"interval:ms:50 { printf("tick\n"); }"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rbpf");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send((line, Instant::now()));
        }
    });
    // Signalled once the interval probe is attached and has had time to
    // tick a few times (every 50 ms), however slowly rbpf started.
    assert!(common::wait_for_links(child.id(), 1), "rbpf -B {buffering} did not attach");
    std::thread::sleep(Duration::from_millis(400));
    let signalled = Instant::now();
    // SAFETY: kill on the pid of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    assert!(status.success());
    rx.try_iter().map(|(line, at)| (line, at < signalled)).collect()
}

#[test]
fn buffering_modes_decide_when_lines_arrive() {
    if !kernel_tests_enabled("buffering_modes_decide_when_lines_arrive") {
        return;
    }
    for mode in ["line", "none"] {
        let lines = arrivals(mode);
        assert!(lines.iter().any(|(l, early)| l == "tick" && *early), "-B {mode}: {lines:?}");
    }
    // Fully buffered: the ticks come out at the end; the "Attaching" line
    // is written at once in every mode, as bpftrace does.
    let lines = arrivals("full");
    assert_eq!(lines.first(), Some(&("Attaching 1 probe...".to_string(), true)), "{lines:?}");
    let ticks: Vec<_> = lines.iter().filter(|(l, _)| l == "tick").collect();
    assert!(!ticks.is_empty() && ticks.iter().all(|(_, early)| !early), "-B full: {lines:?}");
}

#[test]
fn positional_parameters_follow_the_program() {
    // `rbpf -e PROG a b` and `rbpf script a b` both hand a and b to the
    // checker; a script path is not taken for a parameter.
    let dir = Scratch::new("cli-params");
    let script = dir.join("s.bt");
    std::fs::write(&script, "BEGIN { exit(); }\n").unwrap();
    for args in [vec!["--dry-run", "-q", "-e", "BEGIN { exit(); }", "a", "b"], vec!["--dry-run", "-q", script.to_str().unwrap(), "a", "b"]] {
        if !kernel_tests_enabled("positional_parameters_follow_the_program") {
            break;
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn usage_goes_to_standard_error_with_bpftrace_s_exit_status() {
    // -h: exit 0; a bad option or no program at all: exit 1. The text is
    // bpftrace's layout (USAGE, OPTIONS, ..., EXAMPLES) on standard error.
    let cases: [(&[&str], i32, &str); 5] = [
        (&["-h"], 0, ""),
        (&["--help"], 0, ""),
        (&[], 1, ""),
        (&["--bogus"], 1, "rbpf: unrecognized option '--bogus'\n"),
        (&["-x"], 1, "rbpf: invalid option -- 'x'\n"),
    ];
    for (args, status, first) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(status), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let usage = stderr.strip_prefix(first).unwrap_or_else(|| panic!("{args:?}: {stderr}"));
        assert!(usage.starts_with("USAGE:\n    rbpf [options] filename"), "{args:?}: {stderr}");
        for section in ["\nOPTIONS:\n", "\nTROUBLESHOOTING OPTIONS:\n", "\nENVIRONMENT:\n", "\nEXAMPLES:\n"] {
            assert!(usage.contains(section), "{args:?}: {section}");
        }
        // Every option the usage names is one the parser takes.
        for flag in ["-k", "-kk", "--info", "--no-warnings", "-V,", "-v", "--unsafe", "-q"] {
            assert!(usage.contains(&format!("    {flag} ")), "{flag} missing from usage");
        }
    }
}

#[test]
fn version_has_bpftrace_s_shape() {
    for flag in ["-V", "--version"] {
        let out = run(&[flag]);
        assert_eq!(stdout(&out), format!("rbpf v{}\n", env!("CARGO_PKG_VERSION")));
    }
    // bpftrace's is `bpftrace vX.Y.Z`: the same two words, name first.
    if let Some(theirs) = bpftrace(&["-V"]) {
        assert!(theirs.starts_with("bpftrace v"), "{theirs}");
    }
}

#[test]
fn a_missing_script_file_is_named_in_bpftrace_s_words() {
    let out = run(&["/nonexistent-rbpf-dir/script.bt"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: failed to open file '/nonexistent-rbpf-dir/script.bt': No such file or directory\n  = cannot read script file /nonexistent-rbpf-dir/script.bt: the first argument is the script (or give the program with -e)\n"
    );
}

#[test]
fn a_missing_tracepoint_is_named_in_bpftrace_s_words() {
    let out = run(&["-e", "tracepoint:nosuchcategory:nosuchevent { }"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // bpftrace: `stdin:1:1-41: ERROR: tracepoint not found: nosuchcategory:nosuchevent`.
    assert!(stderr.starts_with("error: tracepoint not found: nosuchcategory:nosuchevent\n"), "{stderr}");
    assert!(stderr.contains("-e:1:1"), "the span is kept: {stderr}");
}

#[test]
fn map_keys_from_the_environment_are_checked() {
    for (value, first) in [
        ("abc", "error: Env var 'BPFTRACE_MAP_KEYS_MAX' did not contain a valid uint64_t, or was zero-valued.\n"),
        ("0", "error: Env var 'BPFTRACE_MAP_KEYS_MAX' did not contain a valid uint64_t, or was zero-valued.\n"),
        ("99999999999", "error: BPFTRACE_MAP_KEYS_MAX=99999999999 is more than the 16777216 keys a map can hold\n"),
    ] {
        let out = rbpf().env("BPFTRACE_MAP_KEYS_MAX", value).args(["-e", "BEGIN { @[1] = 1; exit(); }"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(first), "{value}: {stderr}");
    }
}

/// A failed read of address 0 and a delete of a missing key: -k reports
/// the delete, -kk the read too, at their source lines; without -k,
/// nothing. JSON is bpftrace's `helper_error` event, byte for byte.
#[test]
fn failed_helper_calls_are_reported_with_k_and_kk() {
    if !kernel_tests_enabled("failed_helper_calls_are_reported_with_k_and_kk") {
        return;
    }
    let program = r#"BEGIN { printf("%s|\n", str(0)); @x[1] = 1; delete(@x[2]); exit(); }"#;
    let read = r#"{"type": "helper_error", "helper": "probe_read_str", "retcode": -14, "line": 1, "col": 25}"#;
    let delete = r#"{"type": "helper_error", "helper": "map_delete_elem", "retcode": -2, "line": 1, "col": 45}"#;
    // Also on Linux 6.1, whose map operations return an int: the check
    // looks at r0's low half (codegen's `returns_int`).
    let deletes = vec![delete];
    let both = [vec![read], deletes.clone()].concat();
    for (flags, expect) in [(&[][..], vec![]), (&["-k"][..], deletes.clone()), (&["-kk"][..], both)] {
        let args: Vec<&str> = flags.iter().copied().chain(["-f", "json", "-e", program]).collect();
        let out = stdout(&run(&args));
        let errors: Vec<&str> = out.lines().filter(|l| l.contains("helper_error")).collect();
        assert_eq!(errors, expect, "{flags:?}");
        if let Some(theirs) = bpftrace(&args) {
            assert_eq!(out, theirs, "{flags:?}");
        }
    }
    // Text: bpftrace 0.17's warning, source line and marker, in the
    // output itself, before what the program printed after the call.
    let out = run(&["-kk", "-e", program]);
    let expect = concat!(
        "Attaching 1 probe...\n",
        "stdin:1:25-31: WARNING: Failed to probe_read_str: Bad address (-14)\n",
        "BEGIN { printf(\"%s|\\n\", str(0)); @x[1] = 1; delete(@x[2]); exit(); }\n",
        "                        ~~~~~~\n",
        "|\n",
        "stdin:1:45-58: WARNING: Failed to map_delete_elem: No such file or directory (-2)\n",
        "BEGIN { printf(\"%s|\\n\", str(0)); @x[1] = 1; delete(@x[2]); exit(); }\n",
        "                                            ~~~~~~~~~~~~~\n",
        "\n\n@x[1]: 1\n",
    );
    assert_eq!(stdout(&out), expect);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    if let Some(theirs) = bpftrace(&["-kk", "-e", program]) {
        assert_eq!(expect, theirs);
    }
    // --no-warnings silences them in text; JSON keeps its events.
    let quiet = run(&["--no-warnings", "-kk", "-e", program]);
    assert_eq!(stdout(&quiet), "Attaching 1 probe...\n|\n\n\n@x[1]: 1\n");
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    let quiet_json = stdout(&run(&["--no-warnings", "-kk", "-f", "json", "-e", program]));
    assert_eq!(quiet_json.lines().filter(|l| l.contains("helper_error")).count(), 2, "{quiet_json}");
    // In a tracepoint, as it fires in a child command.
    let traced = r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s|\n", str(0)); exit(); }"#;
    let out = run(&["-kk", "-f", "json", "-c", "/bin/cat /etc/hostname", "-e", traced]);
    let text = stdout(&out);
    let expect = r#"{"type": "helper_error", "helper": "probe_read_str", "retcode": -14, "line": 1, "col": 70}"#;
    assert!(text.lines().any(|l| l == expect), "{text}");
}

#[test]
fn warnings_are_printed_unless_no_warnings() {
    if !kernel_tests_enabled("warnings_are_printed_unless_no_warnings") {
        return;
    }
    let program = "BEGIN { $a = -1; $b = (uint32)2; if ($a < $b) { printf(\"less\\n\"); } exit(); }";
    // Compared as unsigned numbers, as bpftrace compares them: -1 is not less.
    let out = run(&["-e", program]);
    assert_eq!(stdout(&out), "Attaching 1 probe...\n\n\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // bpftrace: `stdin:1:37-38: WARNING: comparison of integers of different signs: ...`.
    assert!(
        stderr.starts_with("warning: comparison of integers of different signs: 'int64' and 'unsigned int32' can lead to undefined behavior\n  ┌─ -e:1:38\n"),
        "{stderr}"
    );
    let quiet = run(&["--no-warnings", "-e", program]);
    assert_eq!(stdout(&quiet), "Attaching 1 probe...\n\n\n");
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
}

#[test]
fn verbose_prints_each_program_s_verifier_statistics() {
    if !kernel_tests_enabled("verbose_prints_each_program_s_verifier_statistics") {
        return;
    }
    // BEGIN's `for` is a callback: a program of two functions, whose
    // load carries BTF func_info.
    let program = "BEGIN { @a[1] = 1; for ($kv : @a) { @n = $kv.1; } exit(); } tracepoint:syscalls:sys_enter_getpid { @ = count(); }";
    let out = run(&["-v", "-e", program]);
    // The trace's output is as without -v; the statistics go to stderr.
    assert_eq!(stdout(&out), "Attaching 2 probes...\n\n\n@: 0\n@a[1]: 1\n@n: 1\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let blocks: Vec<&str> = stderr.split("\nProgram ID: ").skip(1).collect();
    assert_eq!(blocks.len(), 2, "{stderr}");
    for (block, probe) in blocks.iter().zip(["BEGIN", "tracepoint:syscalls:sys_enter_getpid"]) {
        let (id, rest) = block.split_once("\n\nThe verifier log: \n").unwrap_or_else(|| panic!("{stderr}"));
        assert!(id.parse::<u32>().is_ok_and(|id| id > 0), "{stderr}");
        let processed = rest.lines().find(|l| l.starts_with("processed ")).unwrap_or_else(|| panic!("{stderr}"));
        assert!(processed.contains(" insns (limit "), "{processed}");
        assert!(rest.ends_with(&format!("\n\nAttaching {probe}\n")), "{stderr}");
    }
}

/// The `name: value` lines of each section of an `--info` text.
fn info_sections(text: &str) -> Vec<(String, Vec<String>)> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let mut lines = s.lines();
            let title = lines.next().unwrap_or_default().to_string();
            (title, lines.map(|l| l.trim().split(':').next().unwrap_or_default().to_string()).collect())
        })
        .collect()
}

#[test]
fn info_reports_what_the_kernel_supports_in_bpftrace_s_layout() {
    if !kernel_tests_enabled("info_reports_what_the_kernel_supports_in_bpftrace_s_layout") {
        return;
    }
    let out = run(&["--info"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let ours = info_sections(&text);
    let titles: Vec<&str> = ours.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["System", "Build", "Kernel helpers", "Kernel features", "Map types", "Probe types"], "{text}");
    // What rbpf itself needs is found on this kernel.
    for line in ["  tracepoint: yes", "  raw_tp_special: yes", "  Loop support: yes", "  btf: yes", "  ringbuf: yes", "  probe_read_user: yes"] {
        assert!(text.contains(&format!("{line}\n")), "{line}: {text}");
    }
    assert!(text.contains("  Instruction limit: 1000000\n"), "{text}");
    // Every helper, map and probe type bpftrace reports, rbpf reports too.
    let Ok(theirs) = Command::new("bpftrace").arg("--info").output() else { return };
    for (title, keys) in info_sections(&String::from_utf8_lossy(&theirs.stderr)) {
        if ["Kernel helpers", "Map types", "Probe types"].contains(&title.as_str()) {
            let (_, mine) = ours.iter().find(|(t, _)| *t == title).unwrap();
            for key in keys {
                assert!(mine.contains(&key), "{title}: {key} missing from:\n{text}");
            }
        }
    }
}

#[test]
fn numeric_environment_variables_are_checked_as_bpftrace_checks_them() {
    for name in ["BPFTRACE_MAX_PROBES", "BPFTRACE_LOG_SIZE", "BPFTRACE_PERF_RB_PAGES"] {
        for value in ["abc", "0", "-3", ""] {
            let out = rbpf().env(name, value).args(["-e", "BEGIN { exit(); }"]).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{name}={value}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                format!("ERROR: Env var '{name}' did not contain a valid uint64_t, or was zero-valued.\n"),
                "{name}={value}"
            );
        }
    }
}

#[test]
fn max_probes_limits_the_probes_attached() {
    let program = "BEGIN { exit(); } END { }";
    let out = rbpf().env("BPFTRACE_MAX_PROBES", "1").args(["-e", program]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("ERROR: Can't attach to 2 probes because it exceeds the current limit of 1 probes.\n"), "{stderr}");
    if !kernel_tests_enabled("max_probes_limits_the_probes_attached") {
        return;
    }
    let out = rbpf().env("BPFTRACE_MAX_PROBES", "2").args(["-e", program]).output().unwrap();
    assert_eq!(stdout(&out), "Attaching 2 probes...\n\n\n");
}

#[test]
fn perf_rb_pages_sizes_the_ring_buffer() {
    if !kernel_tests_enabled("perf_rb_pages_sizes_the_ring_buffer") {
        return;
    }
    // One page per CPU, in one ring buffer: a power of two of pages.
    let out = rbpf().env("BPFTRACE_PERF_RB_PAGES", "1").args(["-d", "--dry-run", "-e", "BEGIN { exit(); }"]).output().unwrap();
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("rbpf_events: ringbuf, ")).unwrap_or_else(|| panic!("{text}"));
    let bytes: u64 = line.trim_start_matches("rbpf_events: ringbuf, ").trim_end_matches(" bytes").parse().unwrap();
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    let last: u64 = cpus.trim().rsplit(['-', ',']).next().unwrap().parse().unwrap();
    assert_eq!(bytes, ((last + 1) * 4096).next_power_of_two(), "{line}");
    // The verifier's log size is taken too (a program that loads needs none).
    let out = rbpf().env("BPFTRACE_LOG_SIZE", "4096").args(["-e", "BEGIN { exit(); }"]).output().unwrap();
    assert_eq!(stdout(&out), "Attaching 1 probe...\n\n\n");
}

#[test]
fn config_keys_set_what_the_environment_does_and_lose_to_it() {
    let program = "config = { max_probes = 1 } BEGIN { exit(); } END { }";
    let out = rbpf().args(["-e", program]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("ERROR: Can't attach to 2 probes because it exceeds the current limit of 1 probes.\n"), "{stderr}");
    if !kernel_tests_enabled("config_keys_set_what_the_environment_does_and_lose_to_it") {
        return;
    }
    let out = rbpf().env("BPFTRACE_MAX_PROBES", "5").args(["-e", program]).output().unwrap();
    assert_eq!(stdout(&out), "Attaching 2 probes...\n\n\n");
    let size = |env: Option<&str>| {
        let mut cmd = rbpf();
        if let Some(pages) = env {
            cmd.env("BPFTRACE_PERF_RB_PAGES", pages);
        }
        let out = cmd.args(["-d", "--dry-run", "-e", "config = { perf_rb_pages = 1 } BEGIN { exit(); }"]).output().unwrap();
        let text = stdout(&out);
        text.lines().find(|l| l.starts_with("rbpf_events: ringbuf, ")).unwrap_or_default().to_string()
    };
    let (configured, overridden) = (size(None), size(Some("64")));
    assert!(configured.ends_with(" bytes") && configured != overridden, "{configured} / {overridden}");
}

/// `-p` is checked as bpftrace 0.17 checks it, and refused in its words,
/// also with -l; a pid in range that no process has is named.
#[test]
fn pids_are_checked_as_bpftrace_checks_them() {
    for (pid, message) in [
        ("abc", "ERROR: pid 'abc' is not a valid decimal number\n"),
        ("12x", "ERROR: pid '12x' is not a valid decimal number\n"),
        ("", "ERROR: pid '' is not a valid decimal number\n"),
        ("0", "ERROR: pid '0' out of valid pid range [1,4194304]\n"),
        ("-1", "ERROR: pid '-1' out of valid pid range [1,4194304]\n"),
        ("4194305", "ERROR: pid '4194305' out of valid pid range [1,4194304]\n"),
        ("99999999999", "ERROR: pid '99999999999' out of valid pid range [1,4194304]\n"),
        ("99999999999999999999", "ERROR: pid '99999999999999999999' outside of integer range\n"),
    ] {
        for args in [vec!["-p", pid, "-e", "BEGIN { exit(); }"], vec!["-l", "-p", pid]] {
            let out = run(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), message, "{args:?}");
        }
    }
    let out = run(&["-l", "usdt:*", "-p", "4194304"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "ERROR: there is no process with pid 4194304\n");
}

/// bpftrace's refusal of -c with -p, in its words, before anything runs.
#[test]
fn c_and_p_together_are_refused() {
    let out = rbpf().args(["-p", "1", "-c", "/bin/true", "-e", "BEGIN { exit(); }"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("ERROR: USAGE: Cannot use both -c and -p.\nUSAGE:\n"), "{stderr}");
}

/// bpftrace's --emit-llvm is known, and refused with why: rbpf has no
/// LLVM IR, and what to use instead.
#[test]
fn emit_llvm_says_there_is_no_llvm_ir() {
    let scratch = Scratch::new("emit_llvm");
    let file = scratch.path("x.ll");
    let out = rbpf().args(["--emit-llvm", &file, "-e", "BEGIN { exit(); }"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("ERROR: --emit-llvm: rbpf has no LLVM IR to write"), "{stderr}");
    assert!(stderr.contains("--emit-elf") && stderr.contains("-d"), "{stderr}");
    assert!(!std::path::Path::new(&file).exists());
}

/// -dd is accepted (bpftrace's more verbose debug): -d's output, and the
/// verifier's log of each program.
#[test]
fn dd_prints_the_debug_output_and_the_verifier_log() {
    if !kernel_tests_enabled("dd_prints_the_debug_output_and_the_verifier_log") {
        return;
    }
    let out = run(&["-dd", "-e", "BEGIN { exit(); }"]);
    let text = stdout(&out);
    assert!(text.contains("AST\n---\n") && text.contains("Maps\n----"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Program ID: ") && stderr.contains("The verifier log:"), "{stderr}");
}

/// --no-warnings silences rbpf's own warnings of a run too: a map that
/// filled up. Text stays as without it.
#[test]
fn no_warnings_silences_the_full_map_warning() {
    if !kernel_tests_enabled("no_warnings_silences_the_full_map_warning") {
        return;
    }
    let program = "BEGIN { @[1] = 1; @[2] = 2; exit(); }";
    let loud = rbpf().env("BPFTRACE_MAP_KEYS_MAX", "1").args(["-e", program]).output().unwrap();
    assert!(String::from_utf8_lossy(&loud.stderr).contains("WARNING: 1 update(s) of map @ failed"));
    let quiet = rbpf().env("BPFTRACE_MAP_KEYS_MAX", "1").args(["--no-warnings", "-e", program]).output().unwrap();
    assert_eq!(stdout(&quiet), "Attaching 1 probe...\n\n\n@[1]: 1\n");
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
}
