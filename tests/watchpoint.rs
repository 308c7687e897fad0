//! Watchpoints end to end: a small C program built without PIE (so a
//! global's address is the same in every run) writes a global variable N
//! times; rbpf watches it with `-p PID` and with `-c CMD` and must count
//! exactly N writes. And the refusals that need no kernel.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, run_ok, Built, Ready};

/// Prints the address of `target`, waits for a line on stdin (unless a
/// second argument says not to), then writes `target` N times. `target` is
/// initialised so that it lives in .data: exec clears .bss from the kernel,
/// and that write would be watched too.
const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
volatile unsigned long target = 1;
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    printf("%p\n", (void *)&target);
    fflush(stdout);
    char line[16];
    if (argc < 3 && !fgets(line, sizeof line, stdin)) return 1;
    for (int i = 0; i < n; i++) target = i;
    return 0;
}
"#;

/// Builds the program, not position-independent so that its global's
/// address is fixed; `None` (after saying why) where kernel tests cannot
/// run or gcc is missing, unless RBPF_REQUIRE_KERNEL=1.
fn build(test: &str) -> Option<Built> {
    Built::for_kernel(test, "the watchpoint test program (needs gcc)", "watched", &[("main.c", PROGRAM)], &["-O1", "-no-pie"])
}

/// The address the program prints, from a run that does not wait and
/// writes nothing worth watching.
fn address_of_target(binary: &Path) -> String {
    let out = Command::new(binary).args(["0", "go"]).output().expect("run the test program");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().expect("the program prints an address").trim().to_string()
}

fn parse_address(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex address")
}

#[test]
fn a_watchpoint_on_a_running_process_counts_each_write() {
    let Some(binary) = build("a_watchpoint_on_a_running_process_counts_each_write") else { return };
    // It prints the address, then writes once let go; rbpf stops when it exits.
    let app = Ready::start(&binary, &["5"]);
    let program = format!("watchpoint:{}:8:w {{ @ = count(); }}", app.line);
    let output = app.trace(&program);
    assert!(output.lines().any(|l| l == "@: 5"), "expected 5 writes:\n{output}");
}

#[test]
fn a_watchpoint_on_a_command_counts_each_write_and_names_its_probe() {
    let Some(binary) = build("a_watchpoint_on_a_command_counts_each_write_and_names_its_probe") else { return };
    let address = address_of_target(&binary);
    let command = format!("{} 7 go", binary.display());
    // The mode is `rw`: the loop only writes, so reads add nothing.
    let program = format!("w:{address}:8:rw {{ @[probe] = count(); }}");
    let (text, _) = run_ok(&["-c", &command, "-e", &program]);
    let expected = format!("@[watchpoint:{}:8:rw]: 7", parse_address(&address));
    assert!(text.lines().any(|l| l == expected), "expected `{expected}`:\n{text}");
}

#[test]
fn a_user_address_without_a_process_is_refused_before_loading() {
    let output = run(&["-e", "watchpoint:0x10000000:8:w { @ = count(); }"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("watching the user-space address 0x10000000 needs a process"), "{stderr}");
    assert!(stderr.contains("-e:1:1"), "{stderr}");
}

#[test]
fn bad_watchpoints_exit_1_with_a_spanned_message() {
    for (program, message, at) in [
        ("watchpoint:0x1000:3:w {}", "a watchpoint's length is 1, 2, 4 or 8 bytes, not `3`", "-e:1:19"),
        ("watchpoint:0x1000:8:q {}", "`q` is not a watchpoint mode", "-e:1:21"),
        ("watchpoint:nowhere:8:w {}", "`nowhere` is not an address", "-e:1:12"),
    ] {
        let output = run(&["-p", "1", "-e", program]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{program}: {stderr}");
        assert!(stderr.contains(message) && stderr.contains(at), "{program}: {stderr}");
    }
}
