//! How a trace stops: signals win over a blocked output, a flood of
//! `system()` commands and a child command that will not end; SIGUSR1
//! prints the maps and tracing goes on; errors say their cause once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{kernel_tests_enabled, rbpf};

/// Waits up to `limit` for `child` to exit; its status code, or None.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Ends our own child if a test gave up on it, so none outlives the test.
fn kill_and_reap(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A reader that goes away: the write error is said once, not twice.
#[test]
fn a_closed_output_is_reported_once() {
    if !kernel_tests_enabled("a_closed_output_is_reported_once") {
        return;
    }
    let mut child = rbpf()
        .args(["-e", r#"interval:ms:10 { printf("tick\n"); }"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rbpf");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    drop(stdout);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    if status.is_none() {
        kill_and_reap(&mut child);
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr).expect("read stderr");
    assert_eq!(status, Some(1), "{stderr}");
    assert_eq!(stderr, "ERROR: cannot write the output: Broken pipe (os error 32)\n");
}
