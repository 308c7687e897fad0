//! The writer under the text and JSON outputs, with bpftrace's `-B`
//! buffering modes: `line` (the default) makes each batch of events
//! visible as it is handled, `full` only when the buffer fills and at the
//! end, `none` every write at once.

use std::io::{self, BufWriter, Write};
use std::str::FromStr;

/// A map's text goes to the sink in pieces of about this size, so printing
/// a big map holds no more of its text at once (and a fully buffered sink
/// takes each piece straight through).
pub(super) const MAP_PIECE: usize = 64 * 1024;

/// bpftrace's `-B` modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Buffering {
    /// Flushed after every batch of events (`-B line`, the default).
    #[default]
    Line,
    /// Flushed when the buffer fills, and at the end (`-B full`).
    Full,
    /// Flushed after every batch too: each event is written whole anyway
    /// (`-B none`).
    None,
}

impl FromStr for Buffering {
    type Err = String;

    fn from_str(s: &str) -> Result<Buffering, String> {
        match s {
            "line" => Ok(Buffering::Line),
            "full" => Ok(Buffering::Full),
            "none" => Ok(Buffering::None),
            _ => Err("-B must be either 'line', 'full', or 'none'".into()),
        }
    }
}

/// A buffered writer that flushes as its [`Buffering`] mode says.
/// Outputs write each event in one `write_all`, so an unbuffered sink
/// still never splits one; only a map longer than `MAP_PIECE` goes in
/// several, each ending where an entry ends.
#[derive(Debug)]
pub struct Sink<W: Write> {
    out: BufWriter<W>,
    mode: Buffering,
}

impl<W: Write> Sink<W> {
    /// A sink into `out`, flushed as `mode` says.
    pub fn new(out: W, mode: Buffering) -> Sink<W> {
        Sink { out: BufWriter::new(out), mode }
    }

    /// The end of a batch of events: visible now unless fully buffered.
    pub fn batch_end(&mut self) -> io::Result<()> {
        match self.mode {
            Buffering::Full => Ok(()),
            Buffering::Line | Buffering::None => self.out.flush(),
        }
    }

    /// Everything written so far, visible now, whatever the mode (the
    /// "Attaching" line, the end of the run).
    pub fn flush_now(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Flushes and hands the writer back.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(io::IntoInnerError::into_error)
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)?;
        if self.mode == Buffering::None {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Flushing through `Write` follows the mode, as [`Sink::batch_end`].
    fn flush(&mut self) -> io::Result<()> {
        self.batch_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Records what reached the underlying writer.
    #[derive(Clone, Default)]
    struct Seen(Rc<RefCell<Vec<u8>>>);

    impl Write for Seen {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(mode: Buffering) -> (usize, usize, usize) {
        let seen = Seen::default();
        let mut sink = Sink::new(seen.clone(), mode);
        sink.write_all(b"one\n").unwrap();
        let after_write = seen.0.borrow().len();
        sink.batch_end().unwrap();
        let after_batch = seen.0.borrow().len();
        sink.write_all(b"two\n").unwrap();
        sink.flush_now().unwrap();
        let at_end = seen.0.borrow().len();
        (after_write, after_batch, at_end)
    }

    #[test]
    fn modes_decide_when_bytes_leave() {
        assert_eq!(run(Buffering::None), (4, 4, 8));
        assert_eq!(run(Buffering::Line), (0, 4, 8));
        assert_eq!(run(Buffering::Full), (0, 0, 8));
    }

    #[test]
    fn parses_bpftraces_mode_names() {
        assert_eq!("line".parse(), Ok(Buffering::Line));
        assert_eq!("full".parse(), Ok(Buffering::Full));
        assert_eq!("none".parse(), Ok(Buffering::None));
        assert!("bogus".parse::<Buffering>().is_err());
    }
}
