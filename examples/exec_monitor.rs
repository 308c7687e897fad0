//! A small monitor built on rbpf: counts the programs started (execs) per
//! command and prints one JSON line per second, read straight from the
//! map while the program runs.
//!
//! ```text
//! cargo run --example exec_monitor [SECONDS]
//! {"time":1,"execs":{"sh":2,"true":1}}
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use rbpf::{Program, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(u64::MAX);
    if !rbpf::kernel_allows_bpf()? {
        eprintln!("exec_monitor: this process may not load BPF programs (run it as root)");
        return Ok(());
    }
    let program = Program::compile("tracepoint:sched:sched_process_exec { @execs[comm] = count(); }")?;
    // Attached now: the probes count from here, whether or not the
    // handle is awaited (this program prints nothing).
    let running = program.start()?;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    for second in 1..=seconds {
        ticks.tick().await;
        // The counts since the last line: read, then cleared.
        let mut execs = BTreeMap::new();
        for entry in running.read_map("@execs")? {
            // count() is unsigned; comm, a string.
            if let ([Value::Str(comm)], Value::Uint(count)) = (entry.key.as_slice(), &entry.value) {
                execs.insert(String::from_utf8_lossy(comm).into_owned(), *count);
            }
        }
        running.clear_map("@execs")?;
        println!("{}", serde_json::json!({ "time": second, "execs": execs }));
    }
    Ok(())
}
