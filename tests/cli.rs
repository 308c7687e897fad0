//! End-to-end tests of the output options: -q, -o, -f json and -B, each
//! against what bpftrace 0.17 prints for the same program (and, where
//! bpftrace is installed, against bpftrace itself).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{kernel_tests_enabled, rbpf, run};

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
    let dir = std::env::temp_dir().join(format!("rbpf-cli-o-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    std::fs::remove_dir_all(&dir).unwrap();
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
    let dir = std::env::temp_dir().join(format!("rbpf-cli-params-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("s.bt");
    std::fs::write(&script, "BEGIN { exit(); }\n").unwrap();
    for args in [vec!["--dry-run", "-q", "-e", "BEGIN { exit(); }", "a", "b"], vec!["--dry-run", "-q", script.to_str().unwrap(), "a", "b"]] {
        if !kernel_tests_enabled("positional_parameters_follow_the_program") {
            break;
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::remove_dir_all(&dir).unwrap();
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
