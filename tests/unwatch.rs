//! `unwatch(addr)` end to end: a watchpoint on a function's argument that
//! removes itself at its first hit sees none of the writes that come
//! long after, and the function passed the same address again watches it
//! again.

mod common;

use std::path::Path;

use common::{build_c, entries, kernel_tests_enabled, run};

/// `fill(cell, base)` writes base, base + 1 and base + 2 into one cell;
/// `main` calls it with base 0, then 200 ms later writes the cell three
/// times itself, then calls it with base 100, then writes it three times
/// more, each step 200 ms after the last.
const PROGRAM: &str = r#"
#include <unistd.h>

static volatile int cell;

__attribute__((noinline)) void fill(volatile int *p, int base) {
    for (int i = 0; i < 3; i++)
        *p = base + i;
}

int main(void) {
    fill(&cell, 0);
    usleep(200000);
    for (int i = 0; i < 3; i++)
        cell = 10 + i;
    usleep(200000);
    fill(&cell, 100);
    usleep(200000);
    for (int i = 0; i < 3; i++)
        cell = 20 + i;
    return 0;
}
"#;

#[test]
fn an_unwatched_address_is_no_longer_seen_until_watched_again() {
    let test = "an_unwatched_address_is_no_longer_seen_until_watched_again";
    if !kernel_tests_enabled(test) {
        return;
    }
    let Some(binary) = build_c(test, "the unwatch test program (needs gcc)", "unwatcher", &[("main.c", PROGRAM)], &["-O1"]) else {
        return;
    };
    // The uprobe numbers the calls and keeps the address; each hit counts
    // under the call it follows and asks for the breakpoint to come off.
    let program = format!(
        "uprobe:{}:fill {{ @addr = arg0; @call = @call + 1; }} \
         watchpoint:fill+arg0:4:w {{ @hits[@call] = count(); unwatch(@addr); }} \
         END {{ clear(@addr); clear(@call); }}",
        binary.display()
    );
    let output = run(&["-c", &binary.display().to_string(), "-e", &program]);
    let _ = std::fs::remove_dir_all(binary.parent().unwrap_or(Path::new("/nonexistent")));
    let text = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{text}{stderr}");
    // Watched, each call's own writes come before rbpf reads the request
    // (at most three); never main's, 200 ms later: six for each call if
    // unwatch() did nothing. The second call is seen at all only if the
    // address was forgotten and watched again.
    let hits = entries(&text, "@hits");
    assert_eq!(hits.len(), 2, "{text}");
    for (call, n) in hits {
        assert!(["1", "2"].contains(&call) && (1..=3).contains(&n), "call {call}: {n} hits\n{text}");
    }
}
