//! Output as typed values: [`EventOutput`] turns every call of the
//! [`Output`] trait into an [`Event`] and sends it down a channel, so that
//! a program embedding rbpf receives a run's output in its own task.

use std::io;

use rbpf_codegen::manifest::MapInfo;
use tokio::sync::mpsc;

use super::{HelperError, Output};
use crate::maps::{MapEntry, Value};

/// One thing a running program printed, as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The probes are about to be attached (BEGIN and END count).
    Attached {
        /// How many.
        probes: usize,
    },
    /// One `printf`.
    Printf {
        /// The text exactly as formatted (bytes: a `%s` of a kernel string
        /// may hold any byte).
        text: Vec<u8>,
        /// The arguments, in the order of the format's conversions.
        args: Vec<Value>,
    },
    /// `print(value)` of a value that is not a map.
    Value(Value),
    /// `time()`: the wall-clock time as its format made it.
    Time(Vec<u8>),
    /// `system()`: what the command wrote to its standard output.
    System(Vec<u8>),
    /// `cat()`: the file's contents.
    Cat(Vec<u8>),
    /// `join()`: the strings and the separator to put between them.
    Join {
        /// The strings.
        parts: Vec<Vec<u8>>,
        /// The separator.
        separator: Vec<u8>,
    },
    /// Something a builtin could not do (`cat()` of a missing file).
    Error(String),
    /// Something the program runs without (a probe of a list that could
    /// not attach).
    Warning(String),
    /// A helper call failed (with helper checks on).
    HelperError(HelperError),
    /// Events the kernel could not deliver since the last report.
    Lost(u64),
    /// Tracing has stopped and END has run; the maps follow.
    Stopped,
    /// A map printed: by `print(@map)` (cut to its `top`, divided by its
    /// `div`), or at the end, every map (also the empty ones).
    Map {
        /// Its name, `@` included.
        name: String,
        /// Its entries, sorted as bpftrace prints them.
        entries: Vec<MapEntry>,
    },
    /// The run is over: the code of the last `exit(code)` (0 if none). The
    /// last event.
    Exit(i32),
}

/// An [`Output`] that sends every event to a channel. Sending never
/// blocks, and a closed receiver is no error: the run goes on.
#[derive(Debug)]
pub struct EventOutput {
    events: mpsc::UnboundedSender<Event>,
}

impl EventOutput {
    /// An output and the receiving end of its events. Events queue until
    /// received: a receiver that falls behind holds them in memory.
    pub fn channel() -> (EventOutput, mpsc::UnboundedReceiver<Event>) {
        let (events, receiver) = mpsc::unbounded_channel();
        (EventOutput { events }, receiver)
    }

    /// Sends `event` (e.g. [`Event::Exit`] when the run has returned).
    pub fn send(&self, event: Event) {
        // A receiver that is gone wants no more events.
        let _ = self.events.send(event);
    }
}

impl Output for EventOutput {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.send(Event::Attached { probes });
        Ok(())
    }
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.printf_args(text, &[])
    }
    fn printf_args(&mut self, text: &[u8], args: &[Value]) -> io::Result<()> {
        self.send(Event::Printf { text: text.to_vec(), args: args.to_vec() });
        Ok(())
    }
    fn value(&mut self, value: &Value) -> io::Result<()> {
        self.send(Event::Value(value.clone()));
        Ok(())
    }
    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        self.send(Event::Time(text.to_vec()));
        Ok(())
    }
    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        self.send(Event::System(output.to_vec()));
        Ok(())
    }
    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        self.send(Event::Cat(contents.to_vec()));
        Ok(())
    }
    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        self.send(Event::Join { parts: parts.iter().map(|p| p.to_vec()).collect(), separator: separator.to_vec() });
        Ok(())
    }
    fn error(&mut self, message: &str) -> io::Result<()> {
        self.send(Event::Error(message.to_string()));
        Ok(())
    }
    fn warning(&mut self, message: &str) -> io::Result<()> {
        self.send(Event::Warning(message.to_string()));
        Ok(())
    }
    fn helper_error(&mut self, error: &HelperError) -> io::Result<()> {
        self.send(Event::HelperError(error.clone()));
        Ok(())
    }
    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        self.send(Event::Lost(count));
        Ok(())
    }
    fn stopped(&mut self) -> io::Result<()> {
        self.send(Event::Stopped);
        Ok(())
    }
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        self.send(Event::Map { name: map.name.clone(), entries: entries.to_vec() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_becomes_one_event_in_order() {
        let (mut out, mut events) = EventOutput::channel();
        out.printf_args(b"hi 42\n", &[Value::Int(42)]).unwrap();
        out.lost_events(3).unwrap();
        out.join(&[b"a", b"b"], b",").unwrap();
        out.stopped().unwrap();
        out.send(Event::Exit(0));
        drop(out);
        let mut got = Vec::new();
        while let Ok(event) = events.try_recv() {
            got.push(event);
        }
        assert_eq!(
            got,
            [
                Event::Printf { text: b"hi 42\n".to_vec(), args: vec![Value::Int(42)] },
                Event::Lost(3),
                Event::Join { parts: vec![b"a".to_vec(), b"b".to_vec()], separator: b",".to_vec() },
                Event::Stopped,
                Event::Exit(0),
            ]
        );
    }

    #[test]
    fn a_closed_receiver_does_not_fail_the_run() {
        let (mut out, events) = EventOutput::channel();
        drop(events);
        assert!(out.printf(b"x\n").is_ok());
    }
}
