//! Streams a program's printf events into the caller's own logic: each
//! exec's file name and pid arrive as typed arguments, which this program
//! filters and tallies itself; after EVENTS execs (of FILE, if given) it
//! stops the trace and prints what it saw.
//!
//! ```text
//! cargo run --example printf_stream [EVENTS [FILE]]
//! exec of /bin/true by pid 4242
//! seen: 1 execs, 1 distinct files
//! ```

use std::collections::BTreeSet;

use rbpf::{Event, Program, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let wanted: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let only = args.next();
    if !rbpf::kernel_allows_bpf()? {
        eprintln!("printf_stream: this process may not load BPF programs (run it as root)");
        return Ok(());
    }
    let program = Program::compile(r#"tracepoint:sched:sched_process_exec { printf("%s %d\n", str(args.filename), pid); }"#)?;
    let mut running = program.start()?;
    let mut files = BTreeSet::new();
    let mut seen = 0;
    while let Some(event) = running.recv().await {
        let Event::Printf { args, .. } = event else { continue };
        // The arguments as values, not the formatted text to parse again
        // (`pid` is unsigned).
        let [Value::Str(file), Value::Uint(pid)] = args.as_slice() else { continue };
        let file = String::from_utf8_lossy(file).into_owned();
        if only.as_ref().is_some_and(|only| *only != file) || seen == wanted {
            continue;
        }
        println!("exec of {file} by pid {pid}");
        files.insert(file);
        seen += 1;
        if seen == wanted {
            // END runs and the maps print (as events, ignored here).
            running.stop();
        }
    }
    running.wait().await?;
    println!("seen: {seen} execs, {} distinct files", files.len());
    Ok(())
}
