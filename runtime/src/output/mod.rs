//! Where a session's output goes: one trait, one implementation per format
//! ([`TextOutput`]: bpftrace's text; [`JsonOutput`]: `bpftrace -f json`),
//! so an embedder can receive the same events as typed values
//! ([`EventOutput`] sends them down a channel as [`Event`]s); and
//! [`FlameOutput`], which passes everything on and draws one map's stacks
//! as a flame graph when the run ends.

mod background;
mod events;
mod flame;
mod json;
mod sink;
mod text;

use std::io;

use rbpf_codegen::manifest::MapInfo;

pub use crate::maps::{MapEntry, Value};
pub use background::{Backlog, BackgroundWriter};
pub use events::{Event, EventOutput};
pub use flame::{flame_map, fold, write_svg, FlameFiles, FlameOutput};
pub use json::JsonOutput;
pub use sink::{Buffering, Sink};
pub use text::TextOutput;


/// Receives everything a running program prints, in order. Every method may
/// fail with the writer's error (a closed pipe, a full disk); the session
/// then stops and returns it.
///
/// Every method has a default: ignoring the event (or, for `error`,
/// `warning` and `helper_error`, saying it on standard error as bpftrace
/// does), so an implementation writes only the methods it needs. An output
/// that passes events on to another implements [`Forward`] instead.
pub trait Output {
    /// Before anything runs: how many probes are about to be attached
    /// (BEGIN and END count). Not called with `SessionOptions::quiet`.
    fn attached(&mut self, _probes: usize) -> io::Result<()> {
        Ok(())
    }

    /// The text of one printf, exactly as formatted. Bytes, not `str`: a
    /// `%s` of a kernel string or a `%c` may print any byte, as bpftrace
    /// does.
    fn printf(&mut self, _text: &[u8]) -> io::Result<()> {
        Ok(())
    }

    /// One printf with the arguments its text was formatted from, in the
    /// order of the format's conversions: what the session calls. By
    /// default, hands the text to [`Output::printf`]; an output that wants
    /// the arguments as values implements this one instead.
    fn printf_args(&mut self, text: &[u8], _args: &[Value]) -> io::Result<()> {
        self.printf(text)
    }

    /// `print(value)` of a value that is not a map.
    fn value(&mut self, _value: &Value) -> io::Result<()> {
        Ok(())
    }

    /// `time()`: the wall-clock time formatted by its strftime format.
    fn time(&mut self, _text: &[u8]) -> io::Result<()> {
        Ok(())
    }

    /// `system()`: what the command wrote to its standard output.
    fn system(&mut self, _output: &[u8]) -> io::Result<()> {
        Ok(())
    }

    /// `cat()`: the file's contents.
    fn cat(&mut self, _contents: &[u8]) -> io::Result<()> {
        Ok(())
    }

    /// `join()`: the argument strings and the separator to put between
    /// them.
    fn join(&mut self, _parts: &[&[u8]], _separator: &[u8]) -> io::Result<()> {
        Ok(())
    }

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

    /// `failed` updates of map `map` were refused because it held its
    /// maximum of `max_entries` keys: reported once per map at exit. By
    /// this default, a warning on standard error.
    fn failed_updates(&mut self, map: &str, failed: u64, max_entries: u32) -> io::Result<()> {
        self.warning(&format!(
            "{failed} update(s) of map {map} failed: the map is full ({max_entries} keys; BPFTRACE_MAP_KEYS_MAX sets the limit)"
        ))
    }

    /// A helper call failed (`-k`, `-kk`). By this default, a warning on
    /// standard error without the source line; [`TextOutput`] writes
    /// bpftrace's lines (place, source line, `~~~` marker) into its own
    /// output, as bpftrace 0.17 does, once the caller, who has the source,
    /// has filled in `error.location`.
    fn helper_error(&mut self, error: &HelperError) -> io::Result<()> {
        use io::Write;
        writeln!(io::stderr(), "WARNING: {}", error.message())
    }

    /// Events the kernel could not deliver since the last report.
    fn lost_events(&mut self, _count: u64) -> io::Result<()> {
        Ok(())
    }

    /// Tracing has stopped and END has run; the maps follow, if any.
    fn stopped(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// One map, its entries decoded, combined across CPUs and sorted in
    /// bpftrace's order: after `stopped` for every map of
    /// `Manifest::maps` (also the empty ones), and whenever the program
    /// runs `print(@map)` (the entries then already cut to its `top` and
    /// divided by its `div`).
    fn map(&mut self, _map: &MapInfo, _entries: &[MapEntry]) -> io::Result<()> {
        Ok(())
    }

    /// The end of a batch of events: make what was written visible (as
    /// far as the output's buffering mode says).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The run is over: everything written must be visible now, whatever
    /// the buffering mode.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// An [`Output`] that passes events on to another ([`Forward::inner`]) and
/// changes only some of them: each method passes its event on unchanged
/// unless the implementation says otherwise. Every `Forward` is an
/// `Output`.
///
/// ```
/// use std::io;
/// use rbpf_runtime::output::{Forward, Output};
///
/// /// Counts the printf lines on their way to another output.
/// struct Counting<'a> {
///     inner: &'a mut dyn Output,
///     lines: usize,
/// }
///
/// impl Forward for Counting<'_> {
///     fn inner(&mut self) -> &mut dyn Output {
///         self.inner
///     }
///     fn printf(&mut self, text: &[u8]) -> io::Result<()> {
///         self.lines += 1;
///         self.inner.printf(text)
///     }
/// }
/// ```
pub trait Forward {
    /// The output events go on to.
    fn inner(&mut self) -> &mut dyn Output;

    /// See [`Output::attached`].
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.inner().attached(probes)
    }
    /// See [`Output::printf`].
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.inner().printf(text)
    }
    /// See [`Output::printf_args`].
    fn printf_args(&mut self, text: &[u8], args: &[Value]) -> io::Result<()> {
        self.inner().printf_args(text, args)
    }
    /// See [`Output::value`].
    fn value(&mut self, value: &Value) -> io::Result<()> {
        self.inner().value(value)
    }
    /// See [`Output::time`].
    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        self.inner().time(text)
    }
    /// See [`Output::system`].
    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        self.inner().system(output)
    }
    /// See [`Output::cat`].
    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        self.inner().cat(contents)
    }
    /// See [`Output::join`].
    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        self.inner().join(parts, separator)
    }
    /// See [`Output::error`].
    fn error(&mut self, message: &str) -> io::Result<()> {
        self.inner().error(message)
    }
    /// See [`Output::warning`].
    fn warning(&mut self, message: &str) -> io::Result<()> {
        self.inner().warning(message)
    }
    /// See [`Output::failed_updates`].
    fn failed_updates(&mut self, map: &str, failed: u64, max_entries: u32) -> io::Result<()> {
        self.inner().failed_updates(map, failed, max_entries)
    }
    /// See [`Output::helper_error`].
    fn helper_error(&mut self, error: &HelperError) -> io::Result<()> {
        self.inner().helper_error(error)
    }
    /// See [`Output::lost_events`].
    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        self.inner().lost_events(count)
    }
    /// See [`Output::stopped`].
    fn stopped(&mut self) -> io::Result<()> {
        self.inner().stopped()
    }
    /// See [`Output::map`].
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        self.inner().map(map, entries)
    }
    /// See [`Output::flush`].
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
    /// See [`Output::finish`].
    fn finish(&mut self) -> io::Result<()> {
        self.inner().finish()
    }
}

/// A boxed output is an output: it passes every event to what it holds.
/// (Not a [`Forward`], whose methods would make every call on a box
/// ambiguous.)
macro_rules! boxed_output {
    ($($boxed:ty),*) => {$(
        impl<'o> Output for $boxed {
            fn attached(&mut self, probes: usize) -> io::Result<()> {
                (**self).attached(probes)
            }
            fn printf(&mut self, text: &[u8]) -> io::Result<()> {
                (**self).printf(text)
            }
            fn printf_args(&mut self, text: &[u8], args: &[Value]) -> io::Result<()> {
                (**self).printf_args(text, args)
            }
            fn value(&mut self, value: &Value) -> io::Result<()> {
                (**self).value(value)
            }
            fn time(&mut self, text: &[u8]) -> io::Result<()> {
                (**self).time(text)
            }
            fn system(&mut self, output: &[u8]) -> io::Result<()> {
                (**self).system(output)
            }
            fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
                (**self).cat(contents)
            }
            fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
                (**self).join(parts, separator)
            }
            fn error(&mut self, message: &str) -> io::Result<()> {
                (**self).error(message)
            }
            fn warning(&mut self, message: &str) -> io::Result<()> {
                (**self).warning(message)
            }
            fn failed_updates(&mut self, map: &str, failed: u64, max_entries: u32) -> io::Result<()> {
                (**self).failed_updates(map, failed, max_entries)
            }
            fn helper_error(&mut self, error: &HelperError) -> io::Result<()> {
                (**self).helper_error(error)
            }
            fn lost_events(&mut self, count: u64) -> io::Result<()> {
                (**self).lost_events(count)
            }
            fn stopped(&mut self) -> io::Result<()> {
                (**self).stopped()
            }
            fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
                (**self).map(map, entries)
            }
            fn flush(&mut self) -> io::Result<()> {
                (**self).flush()
            }
            fn finish(&mut self) -> io::Result<()> {
                (**self).finish()
            }
        }
    )*};
}

boxed_output!(Box<dyn Output + 'o>, Box<dyn Output + Send + 'o>);

impl<T: Forward + ?Sized> Output for T {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        Forward::attached(self, probes)
    }
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        Forward::printf(self, text)
    }
    fn printf_args(&mut self, text: &[u8], args: &[Value]) -> io::Result<()> {
        Forward::printf_args(self, text, args)
    }
    fn value(&mut self, value: &Value) -> io::Result<()> {
        Forward::value(self, value)
    }
    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        Forward::time(self, text)
    }
    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        Forward::system(self, output)
    }
    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        Forward::cat(self, contents)
    }
    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        Forward::join(self, parts, separator)
    }
    fn error(&mut self, message: &str) -> io::Result<()> {
        Forward::error(self, message)
    }
    fn warning(&mut self, message: &str) -> io::Result<()> {
        Forward::warning(self, message)
    }
    fn helper_error(&mut self, error: &HelperError) -> io::Result<()> {
        Forward::helper_error(self, error)
    }
    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        Forward::lost_events(self, count)
    }
    fn stopped(&mut self) -> io::Result<()> {
        Forward::stopped(self)
    }
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        Forward::map(self, map, entries)
    }
    fn flush(&mut self) -> io::Result<()> {
        Forward::flush(self)
    }
    fn finish(&mut self) -> io::Result<()> {
        Forward::finish(self)
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
    /// Where the call is in the source, once known.
    pub location: Option<SourceLocation>,
}

/// Where a failed helper call is in the source, as bpftrace reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    /// The source's name as bpftrace gives it: `stdin` for `-e` and
    /// standard input, else the script's path.
    pub file: String,
    /// The first and last line of the call (from 1).
    pub lines: (usize, usize),
    /// On a call within one line, its first column and the column past
    /// its end (from 1, in bytes, a tab counting one).
    pub columns: (usize, usize),
    /// The text of its first line.
    pub text: String,
}

impl SourceLocation {
    /// bpftrace's text: `file:line:start-end: WARNING: message`, the
    /// source line and a `~` under the call; a call over several lines
    /// is `file:first-last: WARNING: message` alone. Tabs print as four
    /// spaces, in the marker too.
    pub fn render_warning(&self, message: &str) -> String {
        let SourceLocation { file, lines: (first, last), columns: (start, end), text } = self;
        if first != last {
            return format!("{file}:{first}-{last}: WARNING: {message}\n");
        }
        let expand = |c: char| if c == '\t' { 4 } else { 1 };
        let mut marker = String::new();
        for (at, c) in text.char_indices() {
            let fill = match at + 1 {
                column if column < *start => ' ',
                column if column < *end => '~',
                _ => break,
            };
            marker.extend(std::iter::repeat_n(fill, expand(c)));
        }
        let shown = text.replace('\t', "    ");
        format!("{file}:{first}:{start}-{end}: WARNING: {message}\n{shown}\n{marker}\n")
    }
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
