//! Where a session's output goes: one trait, one implementation per format
//! ([`TextOutput`]: bpftrace's text; [`JsonOutput`]: `bpftrace -f json`),
//! so an embedder can receive the same events as typed values; and
//! [`FlameOutput`], which passes everything on and draws one map's stacks
//! as a flame graph when the run ends.

mod background;
mod flame;
mod json;
mod sink;
mod text;

use std::io;

use rbpf_codegen::manifest::MapInfo;

pub use crate::maps::{MapEntry, Value};
pub use background::{Backlog, BackgroundWriter};
pub use flame::{flame_map, fold, write_svg, FlameFiles, FlameOutput};
pub use json::JsonOutput;
pub use sink::{Buffering, Sink};
pub use text::TextOutput;

/// Receives everything a running program prints, in order. Every method may
/// fail with the writer's error (a closed pipe, a full disk); the session
/// then stops and returns it.
pub trait Output {
    /// Before anything runs: how many probes are about to be attached
    /// (BEGIN and END count). Not called with `SessionOptions::quiet`.
    fn attached(&mut self, probes: usize) -> io::Result<()>;

    /// The text of one printf, exactly as formatted. Bytes, not `str`: a
    /// `%s` of a kernel string or a `%c` may print any byte, as bpftrace
    /// does.
    fn printf(&mut self, text: &[u8]) -> io::Result<()>;

    /// `print(value)` of a value that is not a map.
    fn value(&mut self, value: &Value) -> io::Result<()>;

    /// `time()`: the wall-clock time formatted by its strftime format.
    fn time(&mut self, text: &[u8]) -> io::Result<()>;

    /// `system()`: what the command wrote to its standard output.
    fn system(&mut self, output: &[u8]) -> io::Result<()>;

    /// `cat()`: the file's contents.
    fn cat(&mut self, contents: &[u8]) -> io::Result<()>;

    /// `join()`: the argument strings and the separator to put between
    /// them.
    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()>;

    /// Something a builtin could not do (e.g. `cat()` of a missing file).
    /// bpftrace prints these as `ERROR: ...` on standard error, in every
    /// output format; so does this default.
    fn error(&mut self, message: &str) -> io::Result<()> {
        use io::Write;
        writeln!(io::stderr(), "ERROR: {message}")
    }

    /// Something the program runs without: a probe of a list that could
    /// not attach, a function of a wildcard the kernel would not probe. In
    /// one line, as bpftrace prints its warnings, `WARNING: ...` on
    /// standard error in every output format, by this default.
    fn warning(&mut self, message: &str) -> io::Result<()> {
        use io::Write;
        writeln!(io::stderr(), "WARNING: {message}")
    }

    /// A helper call failed (`-k`, `-kk`). bpftrace warns on standard
    /// error in text mode; so does this default, without the source line,
    /// which the caller, who has the source, can add (`error.location`).
    fn helper_error(&mut self, error: &HelperError) -> io::Result<()> {
        use io::Write;
        writeln!(io::stderr(), "WARNING: {}", error.message())
    }

    /// Events the kernel could not deliver since the last report.
    fn lost_events(&mut self, count: u64) -> io::Result<()>;

    /// Tracing has stopped and END has run; the maps follow, if any.
    fn stopped(&mut self) -> io::Result<()>;

    /// One map, its entries decoded, combined across CPUs and sorted in
    /// bpftrace's order: after `stopped` for every map of
    /// `Manifest::maps` (also the empty ones), and whenever the program
    /// runs `print(@map)` (the entries then already cut to its `top` and
    /// divided by its `div`).
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()>;

    /// The end of a batch of events: make what was written visible (as
    /// far as the output's buffering mode says).
    fn flush(&mut self) -> io::Result<()>;

    /// The run is over: everything written must be visible now, whatever
    /// the buffering mode.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// A helper call that failed while tracing, reported with `-k`/`-kk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperError {
    /// The helper's name without `bpf_`, as bpftrace names it (`probe_read_user`).
    pub helper: String,
    /// What it returned: a negative errno.
    pub retcode: i64,
    /// Where it was called, in the checked program's text.
    pub span: rbpf_lang::Span,
    /// The call's line and column (from 1) in the source, once known.
    pub location: Option<(usize, usize)>,
}

impl HelperError {
    /// bpftrace's words: `Failed to probe_read_user: Bad address (-14)`.
    pub fn message(&self) -> String {
        let errno = i32::try_from(-self.retcode).unwrap_or(0);
        let reason = io::Error::from_raw_os_error(errno).to_string();
        let reason = reason.split(" (os error").next().unwrap_or_default();
        format!("Failed to {}: {reason} ({})", self.helper, self.retcode)
    }
}
