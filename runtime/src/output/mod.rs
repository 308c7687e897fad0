//! Where a session's output goes: one trait, one implementation per format
//! (text as bpftrace prints it; JSON as `bpftrace -f json`), so an embedder
//! can receive the same events as plain values.

mod text;

use std::io;

use rbpf_codegen::manifest::MapInfo;

pub use crate::maps::{MapEntry, Value};
pub use text::TextOutput;

/// Receives everything a running program prints, in order. Every method may
/// fail with the writer's error (a closed pipe, a full disk); the session
/// then stops and returns it.
pub trait Output {
    /// Before anything runs: how many probes are about to be attached
    /// (BEGIN and END count).
    fn attached(&mut self, probes: usize) -> io::Result<()>;

    /// The text of one printf, exactly as formatted. Bytes, not `str`: a
    /// `%s` of a kernel string or a `%c` may print any byte, as bpftrace
    /// does.
    fn printf(&mut self, text: &[u8]) -> io::Result<()>;

    /// Events the kernel could not deliver since the last report.
    fn lost_events(&mut self, count: u64) -> io::Result<()>;

    /// Tracing has stopped and END has run; the maps follow, if any.
    fn stopped(&mut self) -> io::Result<()>;

    /// One map, its entries decoded, combined across CPUs and sorted in
    /// bpftrace's order. Called for every map in `Manifest::maps` order,
    /// also for the empty ones.
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()>;

    /// The end of a batch of events: make what was written visible.
    fn flush(&mut self) -> io::Result<()>;
}
