//! Times parse, check and code generation of a script, with no kernel
//! loading: the compile-only half of the benchmarks' compile measure.
//! rbpf's command line has no compile-only mode (`--dry-run` also loads
//! and attaches), so bench/run builds this as an example of the library.
//!
//! Usage: bench_compile SCRIPT [REPEAT]; prints one line per compile, the
//! nanoseconds each took, in this process.

use std::time::Instant;

use rbpf::runtime::HostTarget;
use rbpf::Source;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: bench_compile SCRIPT [REPEAT]");
        std::process::exit(2);
    };
    let repeat: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let source = Source::new(path.clone(), text);
    for _ in 0..repeat {
        let start = Instant::now();
        // A new target each time: it reads the host's facts lazily, and a
        // real compile pays for those reads.
        let target = HostTarget::new();
        if let Err(e) = rbpf::compile(&source, &target) {
            eprintln!("{}", e.render(&source));
            std::process::exit(1);
        }
        println!("{}", start.elapsed().as_nanos());
    }
}
