//! `bpftrace -f json`, byte for byte (checked against bpftrace 0.17): one
//! object per line, `{"type": KIND, "data": ...}`, with bpftrace's spacing
//! (`": "` and `", "` in objects, none in tuples) and string escapes:
//!
//! ```text
//! {"type": "attached_probes", "data": {"probes": 1}}
//! {"type": "printf", "data": "hi 5\n"}
//! {"type": "value", "data": [1,"z"]}            <- print((1, "z"))
//!                                               <- two newlines once stopped
//!
//! {"type": "map", "data": {"@c": {"1": 1, "2": 1}}}
//! {"type": "stats", "data": {"@a": 5}}          <- avg() maps too
//! {"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 1}]}}
//! ```
//!
//! Empty maps print nothing. One choice differs from bpftrace 0.17 on
//! purpose: a `strftime()` value is a quoted string (bpftrace prints it
//! bare, which is not JSON). Bools, which bpftrace 0.17 does not have,
//! are `true`/`false`.
//!
//! Written by hand rather than through a serializer: bpftrace's bytes
//! (its spacing, and `\uffffffXX` for each byte above 0x7f, since it
//! escapes a signed `char`) are not what a serializer emits, and kernel
//! strings need not be UTF-8.

use std::io::{self, Stdout, Write};

use rbpf_codegen::manifest::{MapInfo, MapValue};

use super::sink::MAP_PIECE;
use super::{Buffering, MapEntry, Output, Sink, Value};
use crate::value::{escape_buffer, BufferStyle};

/// Writes bpftrace's JSON format to any writer; by default stdout.
pub struct JsonOutput<W: Write = Stdout> {
    out: Sink<W>,
}

impl JsonOutput<Stdout> {
    /// bpftrace's JSON format (`-f json`) on standard output, line-buffered.
    pub fn stdout() -> Self {
        JsonOutput::new(io::stdout())
    }
}

impl<W: Write> JsonOutput<W> {
    /// bpftrace's JSON format (`-f json`) into `out`, line-buffered (bpftrace's default).
    pub fn new(out: W) -> Self {
        JsonOutput::with_buffering(out, Buffering::Line)
    }

    /// Into `out`, flushed as `mode` says (`-B`).
    pub fn with_buffering(out: W, mode: Buffering) -> Self {
        JsonOutput { out: Sink::new(out, mode) }
    }

    /// The writer, for tests that read what was written.
    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Flushes what is left and hands the writer back.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner()
    }

    /// Writes `{"type": "KIND", "data": DATA}` and a newline.
    fn event(&mut self, kind: &str, data: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let mut line = event_start(kind);
        data(&mut line);
        self.event_end(line)
    }

    /// Ends the line [`event_start`] began, after its data, and writes it.
    fn event_end(&mut self, mut line: Vec<u8>) -> io::Result<()> {
        line.extend_from_slice(b"}\n");
        self.out.write_all(&line)
    }

    fn string_event(&mut self, kind: &str, text: &[u8]) -> io::Result<()> {
        self.event(kind, |out| string(text, out))
    }
}

impl<W: Write> Output for JsonOutput<W> {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.event("attached_probes", |out| out.extend_from_slice(format!("{{\"probes\": {probes}}}").as_bytes()))?;
        self.out.flush_now()
    }

    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.string_event("printf", text)
    }

    fn value(&mut self, value: &Value) -> io::Result<()> {
        self.event("value", |out| write_value(value, out))
    }

    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        self.string_event("time", text)
    }

    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        self.string_event("syscall", output)
    }

    /// bpftrace's JSON output keeps one byte less of a file than its text
    /// output: 10239 of the 10240 it reads (the last one becomes the end
    /// of a C string).
    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        self.string_event("cat", &contents[..contents.len().min(10239)])
    }

    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        self.string_event("join", &parts.join(separator))
    }

    /// bpftrace's event has no `data`: the fields are the event's own.
    fn helper_error(&mut self, error: &super::HelperError) -> io::Result<()> {
        let (line, col) = error.location.as_ref().map_or((0, 0), |l| (l.lines.0, l.columns.0));
        let mut out = b"{\"type\": \"helper_error\", \"helper\": ".to_vec();
        string(error.helper.as_bytes(), &mut out);
        out.extend_from_slice(format!(", \"retcode\": {}, \"line\": {line}, \"col\": {col}}}\n", error.retcode).as_bytes());
        self.out.write_all(&out)
    }

    /// A record of its own (bpftrace has none: it drops such updates
    /// silently), `{"type": "failed_updates", "data": {"map": "@m",
    /// "failed": N, "max_entries": M}}`.
    fn failed_updates(&mut self, map: &str, failed: u64, max_entries: u32) -> io::Result<()> {
        self.event("failed_updates", |out| {
            out.extend_from_slice(b"{\"map\": ");
            string(map.as_bytes(), out);
            out.extend_from_slice(format!(", \"failed\": {failed}, \"max_entries\": {max_entries}}}").as_bytes());
        })
    }

    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        self.event("lost_events", |out| out.extend_from_slice(format!("{{\"events\": {count}}}").as_bytes()))
    }

    /// bpftrace prints the same two newlines as in text mode.
    fn stopped(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n\n")
    }

    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let kind = match map.value {
            MapValue::Avg { .. } | MapValue::Stats { .. } => "stats",
            MapValue::Hist { .. } | MapValue::Lhist { .. } => "hist",
            _ => "map",
        };
        // One line, written in pieces: a big map's text is never held whole.
        let mut out = event_start(kind);
        out.push(b'{');
        string(map.name.as_bytes(), &mut out);
        out.extend_from_slice(b": ");
        if map.key.is_empty() {
            write_value(&entries[0].value, &mut out);
        } else {
            out.push(b'{');
            let mut key = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                // Key parts as text, joined by commas: `"1,k"`.
                key.clear();
                for (j, part) in entry.key.iter().enumerate() {
                    if j > 0 {
                        key.push(b',');
                    }
                    part.write_key_text(&mut key);
                }
                string(&key, &mut out);
                out.extend_from_slice(b": ");
                write_value(&entry.value, &mut out);
                if out.len() >= MAP_PIECE {
                    self.out.write_all(&out)?;
                    out.clear();
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
        self.event_end(out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.batch_end()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush_now()
    }
}

/// The start of one event's line, `{"type": "KIND", "data": `, for the
/// data to follow and [`JsonOutput::event_end`] to close.
fn event_start(kind: &str) -> Vec<u8> {
    format!("{{\"type\": \"{kind}\", \"data\": ").into_bytes()
}

/// A value as bpftrace's JSON output writes it.
fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Value::Uint(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // JSON has no NaN or infinity: those are strings.
        Value::Float(bits) => match f64::from_bits(*bits) {
            f if f.is_finite() => out.extend_from_slice(f.to_string().as_bytes()),
            f => string(f.to_string().as_bytes(), out),
        },
        Value::Str(s) => string(s, out),
        Value::Pointer(addr) => string(format!("{addr:#x}").as_bytes(), out),
        Value::Buf(bytes) => {
            let mut text = Vec::new();
            escape_buffer(bytes, BufferStyle::Printable, &mut text);
            string(&text, out);
        }
        // bpftrace writes tuples without spaces.
        Value::Tuple(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        // bpftrace's spacing: `{ "x": 1, "q": { "s": 2 } }`, `[1,2]`.
        Value::Record(members) => {
            out.push(b'{');
            for (i, (name, value)) in members.iter().enumerate() {
                out.extend_from_slice(if i > 0 { b", " } else { b" " });
                string(name.as_bytes(), out);
                out.extend_from_slice(b": ");
                write_value(value, out);
            }
            out.extend_from_slice(b" }");
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Stats(s) => {
            let text = format!("{{\"count\": {}, \"average\": {}, \"total\": {}}}", s.count, s.average(), s.total);
            out.extend_from_slice(text.as_bytes());
        }
        // Each bucket: `min` and `max` inclusive; the open ends lack one.
        Value::Hist(h) => {
            out.push(b'[');
            for (i, b) in h.buckets.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                let text = match (b.lo, b.hi) {
                    (Some(lo), Some(hi)) => format!("{{\"min\": {lo}, \"max\": {}, \"count\": {}}}", hi - 1, b.count),
                    (None, Some(hi)) => format!("{{\"max\": {}, \"count\": {}}}", hi - 1, b.count),
                    (Some(lo), None) => format!("{{\"min\": {lo}, \"count\": {}}}", b.count),
                    (None, None) => format!("{{\"count\": {}}}", b.count),
                };
                out.extend_from_slice(text.as_bytes());
            }
            out.push(b']');
        }
    }
}

/// A JSON string as bpftrace escapes it: `"`, `\`, newline, carriage
/// return and tab by their short escapes, other control bytes as
/// `\u00XX`, bytes above 0x7f as `\uffffffXX`.
fn string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            0x80.. => out.extend_from_slice(format!("\\uffffff{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
