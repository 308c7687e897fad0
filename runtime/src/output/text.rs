//! bpftrace's text output, byte for byte (checked against bpftrace 0.17):
//!
//! ```text
//! Attaching 2 probes...
//! hello                      <- printf output, as formatted
//!                            <- two newlines once tracing stopped
//!
//! @c[a]: 1                   <- each map in name order, entries sorted,
//! @c[b]: 2                      no quotes around string keys or values
//! @x: 5
//! ```
//!
//! An empty map prints one empty line; an `avg()` or `stats()` map ends
//! with one more. Histograms print a header line (`@h[key]: `, the space
//! included) then one line per bucket and an empty line:
//!
//! ```text
//! @h:
//! (..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! [0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! [1]                    0 |                                                    |
//! [2, 4)                 0 |                                                    |
//! [4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! ```

use std::io::{self, Stdout, Write};

use rbpf_codegen::manifest::{MapInfo, MapValue};

use super::sink::MAP_PIECE;
use super::{Buffering, MapEntry, Output, Sink, Value};
use crate::histogram::Histogram;

/// Writes bpftrace's text format to any writer; by default stdout, made
/// visible after each batch of events (`-B line`).
pub struct TextOutput<W: Write = Stdout> {
    out: Sink<W>,
}

impl TextOutput<Stdout> {
    /// bpftrace's text format on standard output, line-buffered.
    pub fn stdout() -> Self {
        TextOutput::new(io::stdout())
    }
}

impl<W: Write> TextOutput<W> {
    /// bpftrace's text format into `out`, line-buffered (bpftrace's default).
    pub fn new(out: W) -> Self {
        TextOutput::with_buffering(out, Buffering::Line)
    }

    /// Into `out`, flushed as `mode` says (`-B`).
    pub fn with_buffering(out: W, mode: Buffering) -> Self {
        TextOutput { out: Sink::new(out, mode) }
    }

    /// The writer, for tests that read what was written.
    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Flushes what is left and hands the writer back.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner()
    }
}

impl<W: Write> Output for TextOutput<W> {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        let plural = if probes == 1 { "" } else { "s" };
        writeln!(self.out, "Attaching {probes} probe{plural}...")?;
        self.out.flush_now()
    }

    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.out.write_all(text)
    }

    fn value(&mut self, value: &Value) -> io::Result<()> {
        let mut text = value.to_text();
        text.push(b'\n');
        self.out.write_all(&text)
    }

    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        self.out.write_all(text)
    }

    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        self.out.write_all(output)
    }

    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        self.out.write_all(contents)
    }

    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        let mut text = parts.join(separator);
        text.push(b'\n');
        self.out.write_all(&text)
    }

    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        writeln!(self.out, "Lost {count} events")
    }

    fn stopped(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n\n")
    }

    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        let mut text = Vec::new();
        for entry in entries {
            write_name(&map.name, &entry.key, &mut text);
            text.extend_from_slice(b": ");
            match &entry.value {
                Value::Hist(h) => {
                    text.push(b'\n');
                    write_histogram(h, &mut text);
                    text.push(b'\n');
                }
                value => {
                    value.write_text(&mut text);
                    text.push(b'\n');
                }
            }
            if text.len() >= MAP_PIECE {
                self.out.write_all(&text)?;
                text.clear();
            }
        }
        // An empty map prints an empty line; bpftrace prints `avg()` and
        // `stats()` maps as statistics, which end with one more.
        if entries.is_empty() {
            text.push(b'\n');
        }
        if matches!(map.value, MapValue::Avg { .. } | MapValue::Stats { .. }) {
            text.push(b'\n');
        }
        self.out.write_all(&text)
    }

    /// bpftrace 0.17 writes these warnings into its output (standard
    /// output, or the -o file), between the lines the program prints.
    fn helper_error(&mut self, error: &super::HelperError) -> io::Result<()> {
        let message = error.message();
        let text = match &error.location {
            Some(location) => location.render_warning(&message),
            None => format!("WARNING: {message}\n"),
        };
        self.out.write_all(text.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.batch_end()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush_now()
    }
}

/// `@name` or `@name[k1, k2]`.
fn write_name(name: &str, key: &[Value], out: &mut Vec<u8>) {
    out.extend_from_slice(name.as_bytes());
    if !key.is_empty() {
        out.push(b'[');
        crate::value::write_key_list(key, out);
        out.push(b']');
    }
}

/// The width of a histogram's bar, between the `|`s.
const BAR_WIDTH: u128 = 52;

/// One line per bucket: the range left-aligned in 16 columns, the count
/// right-aligned in 8, and a bar scaled to the largest count (bpftrace
/// scales to the counts before `print()`'s division).
fn write_histogram(h: &Histogram, out: &mut Vec<u8>) {
    let max = h.buckets.iter().map(|b| b.raw).max().unwrap_or(0);
    for b in &h.buckets {
        let label = bucket_label(h.log2, b.lo, b.hi);
        let bar = if max == 0 { 0 } else { (u128::from(b.raw) * BAR_WIDTH / u128::from(max)) as usize };
        let line = format!("{label:<16}{:>8} |{}{}|\n", b.count, "@".repeat(bar), " ".repeat(BAR_WIDTH as usize - bar));
        out.extend_from_slice(line.as_bytes());
    }
}

/// `[lo, hi)`, `[v]` for a `hist()` bucket of one value, `(..., hi)` and
/// `[lo, ...)` for the open ends.
fn bucket_label(log2: bool, lo: Option<i128>, hi: Option<i128>) -> String {
    match (lo, hi) {
        (None, Some(hi)) => format!("(..., {})", with_suffix(hi)),
        (Some(lo), None) => format!("[{}, ...)", with_suffix(lo)),
        (Some(lo), Some(hi)) if log2 && hi == lo + 1 => format!("[{lo}]"),
        (Some(lo), Some(hi)) => format!("[{}, {})", with_suffix(lo), with_suffix(hi)),
        (None, None) => "(..., ...)".to_string(),
    }
}

/// A number as bpftrace labels buckets: a multiple of a power of 1024
/// takes its suffix (`1K`, `3M`, `4E`), any other stays as it is.
fn with_suffix(n: i128) -> String {
    const SUFFIXES: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n == 0 {
        return "0".to_string();
    }
    for (power, suffix) in SUFFIXES.iter().enumerate().rev() {
        let unit = 1i128 << (10 * (power + 1));
        if n % unit == 0 {
            return format!("{}{suffix}", n / unit);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests;
