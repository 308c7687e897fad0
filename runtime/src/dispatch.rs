//! What each event does, in record order: printing (through the
//! [`Output`]), map commands done from userspace on the map's fd (print,
//! clear, zero), running `system()` commands, reading `cat()` files; and
//! accounting for the events the kernel could not deliver.

use std::io::Read;
use std::process::{Command, Stdio};

use aya::maps::{MapData, RingBuf};
use rbpf_codegen::manifest::Manifest;

use crate::error::Action;
use crate::events::{Event, Events};
use crate::loader::Maps;
use crate::output::Output;
use crate::{maps, sys, RuntimeError};

/// bpftrace reads at most this much of a file for `cat()`
/// (BPFTRACE_CAT_BYTES_MAX's default).
pub(crate) const CAT_BYTES_MAX: u64 = 10 * 1024;

/// Handles the events of one session.
pub(crate) struct Dispatch {
    pub(crate) manifest: Manifest,
    events: Events,
    /// The lost-event count already reported.
    lost_reported: u64,
    /// Records dropped unhandled at a stop, not yet reported.
    dropped: u64,
    /// The code of the last `exit()` seen.
    pub(crate) exit_code: i32,
    text: Vec<u8>,
    /// The arguments of the last printf decoded.
    args: Vec<crate::value::Value>,
    /// Per map: an array histogram that `zero()` emptied while it held
    /// counts (see [`maps::read`]).
    zeroed: Vec<bool>,
    /// The most bytes of a file `cat()` prints.
    cat_bytes_max: u64,
    /// A `print(@m, top, div)` held until the next record is seen: when
    /// that is `clear(@m)`, the map is taken in one step ([`maps::take`]).
    print_held: Option<(usize, u64, u64)>,
}

impl Dispatch {
    pub(crate) fn new(manifest: Manifest) -> Result<Dispatch, RuntimeError> {
        let events = Events::new(&manifest)?;
        let zeroed = vec![false; manifest.maps.len()];
        Ok(Dispatch {
            manifest,
            events,
            lost_reported: 0,
            dropped: 0,
            exit_code: 0,
            text: Vec::new(),
            args: Vec::new(),
            zeroed,
            cat_bytes_max: CAT_BYTES_MAX,
            print_held: None,
        })
    }

    /// `cat()` prints at most `bytes` of a file (BPFTRACE_CAT_BYTES_MAX).
    pub(crate) fn set_cat_bytes_max(&mut self, bytes: u64) {
        self.cat_bytes_max = bytes;
    }

    /// Reads `kstack` / `ustack` values from these stack-trace maps.
    pub(crate) fn set_stacks(&mut self, stacks: crate::stacks::Stacks) {
        self.events.decoder_mut().set_stacks(stacks);
    }

    /// The stack-trace maps and symbols values are decoded with.
    pub(crate) fn stacks(&self) -> &crate::stacks::Stacks {
        self.events.decoder().stacks()
    }

    /// Handles the waiting records of `ringbuf`, then reports lost events;
    /// with `stop_at_exit`, stops after an exit record and says so.
    /// `system()` commands run to their end here: for BEGIN and END,
    /// whose records are few; the event loop uses [`Dispatch::drain_batch`].
    pub(crate) fn drain(
        &mut self,
        ringbuf: &mut RingBuf<MapData>,
        maps: &Maps,
        out: &mut dyn Output,
        stop_at_exit: bool,
    ) -> Result<bool, RuntimeError> {
        loop {
            match self.drain_batch(ringbuf, maps, out, usize::MAX)? {
                Batch::Command(command) => {
                    let result = run_command(&command);
                    self.command_done(&command, result, out)?;
                }
                Batch::Exit if stop_at_exit => return Ok(true),
                // Only while streaming is there a process to watch in.
                Batch::Exit | Batch::More | Batch::Watch { .. } | Batch::Unwatch { .. } => {}
                Batch::Empty => return Ok(false),
            }
        }
    }

    /// Handles at most `limit` waiting records, in order, and reports lost
    /// events (not when it stops at a command). Stops early at an `exit()` and before running a `system()`
    /// command, which it hands back: the caller runs it without blocking
    /// (a command may take any time, and a stop must not wait for it).
    pub(crate) fn drain_batch(
        &mut self,
        ringbuf: &mut RingBuf<MapData>,
        maps: &Maps,
        out: &mut dyn Output,
        limit: usize,
    ) -> Result<Batch, RuntimeError> {
        let mut batch = Batch::More;
        for _ in 0..limit {
            let Some(record) = ringbuf.next() else {
                batch = Batch::Empty;
                break;
            };
            self.text.clear();
            let event = self.events.decode_into(&record, &mut self.text, &mut self.args)?;
            drop(record);
            if let Some((map, top, div)) = self.print_held.take() {
                if event == Event::ClearMap(map) && self.print_taken(maps, map, top, div, out)? {
                    continue;
                }
                self.print_map(maps, map, top, div, out)?;
            }
            match event {
                Event::Exit(code) => {
                    self.exit_code = code;
                    batch = Batch::Exit;
                    break;
                }
                Event::System => {
                    // What was printed before shows before the command's
                    // own messages on stderr.
                    out.flush().map_err(RuntimeError::Output)?;
                    // Lost events are reported once the records around
                    // the command are handled, as for any batch.
                    return Ok(Batch::Command(std::mem::take(&mut self.text)));
                }
                // The process may be stopped until it is watched: at once,
                // before the records after it.
                Event::Watch { program, address } => return Ok(Batch::Watch { program, address }),
                // In order with the watches around it.
                Event::Unwatch { address } => return Ok(Batch::Unwatch { address }),
                event => self.handle(event, maps, out)?,
            }
        }
        if let Some((map, top, div)) = self.print_held.take() {
            self.print_map(maps, map, top, div, out)?;
        }
        self.report_lost(maps, out)?;
        Ok(batch)
    }

    /// Prints map number `map` as `print(@m, top, div)` asks.
    fn print_map(&self, maps: &Maps, map: usize, top: u64, div: u64, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let info = &self.manifest.maps[map];
        let entries = self.read_map(maps, map)?;
        out.map(info, &maps::top_and_divide(info, entries, top, div)).map_err(RuntimeError::Output)
    }

    /// `print(@m, top, div)` then `clear(@m)` in one step, where the map
    /// can be taken ([`maps::take`]); false when it cannot, and nothing
    /// was done.
    fn print_taken(&mut self, maps: &Maps, map: usize, top: u64, div: u64, out: &mut dyn Output) -> Result<bool, RuntimeError> {
        let info = &self.manifest.maps[map];
        let taken = maps::take(maps.fd(&info.bpf_name)?, info, self.events.decoder())
            .map_err(|e| RuntimeError::syscall(Action::WriteMaps, "clearing", &info.name, e))?;
        let Some(entries) = taken else { return Ok(false) };
        self.zeroed[map] = false;
        out.map(info, &maps::top_and_divide(info, entries, top, div)).map_err(RuntimeError::Output)?;
        Ok(true)
    }

    /// Prints what a `system()` command wrote, or why it could not run.
    pub(crate) fn command_done(&mut self, command: &[u8], result: std::io::Result<Vec<u8>>, out: &mut dyn Output) -> Result<(), RuntimeError> {
        match result {
            Ok(stdout) => out.system(&stdout),
            Err(e) => out.error(&format!("failed to run {}: {e}", String::from_utf8_lossy(command))),
        }
        .map_err(RuntimeError::Output)
    }

    /// Counts `n` records handled without doing what they ask, to be
    /// reported with the lost events.
    pub(crate) fn count_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Drops the records still waiting in `ringbuf` and counts them as
    /// lost: a stop does not wait for a backlog (they are reported with
    /// the kernel's lost events).
    pub(crate) fn drop_pending(&mut self, ringbuf: &mut RingBuf<MapData>) {
        while ringbuf.next().is_some() {
            self.dropped += 1;
        }
    }

    /// Does what one decoded event (not an exit, not a command) asks.
    fn handle(&mut self, event: Event, maps: &Maps, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let output = RuntimeError::Output;
        let text = self.text.as_slice();
        match event {
            Event::Printf => out.printf_args(text, &self.args).map_err(output)?,
            Event::Exit(_) | Event::System | Event::Noted | Event::Watch { .. } | Event::Unwatch { .. } => {}
            // Printed when the next record is seen (or the batch ends).
            Event::PrintMap { map, top, div } => self.print_held = Some((map, top, div)),
            Event::ClearMap(map) => {
                let info = &self.manifest.maps[map];
                maps::clear(maps.fd(&info.bpf_name)?, info)
                    .map_err(|e| RuntimeError::syscall(Action::WriteMaps, "clearing", &info.name, e))?;
                self.zeroed[map] = false;
            }
            Event::ZeroMap(map) => {
                let info = &self.manifest.maps[map];
                if info.array && maps::is_histogram(info) {
                    // A hash keeps the keys zero() finds; an array's
                    // buckets are there anyway, so remember whether it
                    // held anything.
                    self.zeroed[map] = !self.read_map(maps, map)?.is_empty();
                }
                maps::zero(maps.fd(&info.bpf_name)?, info)
                    .map_err(|e| RuntimeError::syscall(Action::WriteMaps, "zeroing", &info.name, e))?;
            }
            Event::PrintValue(value) => out.value(&value).map_err(output)?,
            Event::HelperError(error) => out.helper_error(&error).map_err(output)?,
            Event::Time => out.time(text).map_err(output)?,
            Event::Cat => {
                let path = String::from_utf8_lossy(text).into_owned();
                match read_file(&path, self.cat_bytes_max) {
                    Ok(contents) => out.cat(&contents).map_err(output)?,
                    // bpftrace reports the failure, then prints the file as
                    // empty: nothing in text, an empty "cat" event in JSON.
                    Err(e) => {
                        out.flush().map_err(output)?;
                        out.error(&format!("failed to open file '{path}': {}", strerror(&e))).map_err(output)?;
                        out.cat(&[]).map_err(output)?;
                    }
                }
            }
            Event::Join { parts, separator } => {
                let mut pieces = Vec::with_capacity(parts.len());
                let mut at = 0;
                for len in parts {
                    pieces.push(text.get(at..at + len).unwrap_or_default());
                    at += len;
                }
                let separator = self.manifest.join_separators.get(separator).map_or("", String::as_str);
                out.join(&pieces, separator.as_bytes()).map_err(output)?;
            }
        }
        Ok(())
    }

    /// Reads map number `map` of the manifest.
    fn read_map(&self, maps: &Maps, map: usize) -> Result<Vec<maps::MapEntry>, RuntimeError> {
        let info = &self.manifest.maps[map];
        maps::read(maps.fd(&info.bpf_name)?, info, self.events.decoder(), self.zeroed[map])
            .map_err(|e| RuntimeError::syscall(Action::ReadMaps, "reading", &info.name, e))
    }

    /// Prints every map, in the manifest's order, after END.
    pub(crate) fn print_maps(&self, maps: &Maps, out: &mut dyn Output) -> Result<(), RuntimeError> {
        for (map, info) in self.manifest.maps.iter().enumerate() {
            let entries = self.read_map(maps, map)?;
            out.map(info, &entries).map_err(RuntimeError::Output)?;
        }
        Ok(())
    }

    /// Warns, naming each map, of the updates the kernel refused because
    /// the map was full: counted in the program (per map, per CPU), so that
    /// none is lost silently. bpftrace reports them only under `-k`.
    pub(crate) fn report_failed_updates(&self, maps: &Maps, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let name = rbpf_codegen::FAILED_UPDATES_MAP;
        // An object compiled without the counters has nothing to report.
        let Ok(fd) = maps.fd(name) else { return Ok(()) };
        let cpus = sys::possible_cpus().map_err(|e| RuntimeError::syscall(Action::ReadMaps, "reading", name, e))?;
        let mut values = vec![0u8; 8 * cpus];
        for (index, info) in self.manifest.maps.iter().enumerate() {
            sys::map_lookup(fd, &(index as u32).to_le_bytes(), &mut values)
                .map_err(|e| RuntimeError::syscall(Action::ReadMaps, "reading", name, e))?;
            let failed = values.chunks_exact(8).fold(0u64, |acc, c| acc.wrapping_add(crate::decode::read_int(c, false)));
            if failed > 0 {
                out.failed_updates(&info.name, failed, info.max_entries).map_err(RuntimeError::Output)?;
            }
        }
        Ok(())
    }

    /// Reports the records the kernel dropped since the last report: the
    /// per-CPU counter of `Manifest::lost_events_map`, summed.
    pub(crate) fn report_lost(&mut self, maps: &Maps, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let Some(name) = &self.manifest.lost_events_map else { return Ok(()) };
        let fd = maps.fd(name)?;
        let read = || -> std::io::Result<u64> {
            let cpus = sys::possible_cpus()?;
            let mut values = vec![0u8; 8 * cpus];
            sys::map_lookup(fd, &0u32.to_le_bytes(), &mut values)?;
            Ok(values.chunks_exact(8).fold(0u64, |acc, c| acc.wrapping_add(crate::decode::read_int(c, false))))
        };
        let lost = read().map_err(|e| RuntimeError::syscall(Action::ReadMaps, "reading", name, e))?;
        let unreported = lost.saturating_sub(self.lost_reported).saturating_add(self.dropped);
        if unreported > 0 {
            out.lost_events(unreported).map_err(RuntimeError::Output)?;
            self.lost_reported = self.lost_reported.max(lost);
            self.dropped = 0;
        }
        Ok(())
    }
}

/// What a batch of records ended on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Batch {
    /// No record is left.
    Empty,
    /// The limit was reached with records left.
    More,
    /// An `exit()`; the records after it are left.
    Exit,
    /// A `system()` command to run next, before the records after it.
    Command(Vec<u8>),
    /// `watchpoint:FUNC+argN`: an address to watch with the program at
    /// `program` next, before the records after it.
    Watch {
        /// The breakpoint's program, an index into `Manifest::programs`.
        program: usize,
        /// The address.
        address: u64,
    },
    /// `unwatch(addr)`: the watchpoints on `address` to remove next,
    /// before the records after it.
    Unwatch {
        /// The address.
        address: u64,
    },
}

/// Runs a `system()` command on a thread of its own: the answer arrives
/// when it ends, and nobody need wait for it. A thread that cannot start
/// drops the sender, which the receiver sees as an error.
pub(crate) fn start_command(command: Vec<u8>) -> tokio::sync::oneshot::Receiver<std::io::Result<Vec<u8>>> {
    let (done, answer) = tokio::sync::oneshot::channel();
    let _ = std::thread::Builder::new().name("rbpf-system".into()).spawn(move || {
        let _ = done.send(run_command(&command));
    });
    answer
}

/// Runs `sh -c command` and returns what it wrote to stdout; its stdin
/// and stderr are ours, as with popen.
fn run_command(command: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(command))
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(child.wait_with_output()?.stdout)
}

/// Up to `max` bytes of a file.
fn read_file(path: &str, max: u64) -> std::io::Result<Vec<u8>> {
    let mut contents = Vec::new();
    std::fs::File::open(path)?.take(max).read_to_end(&mut contents)?;
    Ok(contents)
}

/// The C library's message for an error, without Rust's "(os error N)".
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_run_in_a_shell_and_their_stdout_is_kept() {
        assert_eq!(run_command(b"printf 'a\\nb'; echo err >&2; exit 3").unwrap(), b"a\nb");
        assert_eq!(run_command(b"").unwrap(), b"");
    }

    #[test]
    fn cat_reads_at_most_its_limit_and_says_why_it_cannot() {
        let dir = std::env::temp_dir().join(format!("rbpf-cat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; 30000]).unwrap();
        assert_eq!(read_file(big.to_str().unwrap(), CAT_BYTES_MAX).unwrap().len(), 10240);
        assert_eq!(read_file(big.to_str().unwrap(), 5).unwrap(), b"aaaaa");
        let missing = read_file(dir.join("missing").to_str().unwrap(), CAT_BYTES_MAX).unwrap_err();
        assert_eq!(strerror(&missing), "No such file or directory");
        // A directory opens but cannot be read, as bpftrace reports it.
        assert_eq!(strerror(&read_file(dir.to_str().unwrap(), CAT_BYTES_MAX).unwrap_err()), "Is a directory");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
