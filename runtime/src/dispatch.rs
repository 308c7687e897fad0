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
const CAT_BYTES_MAX: u64 = 10 * 1024;

/// Handles the events of one session.
pub(crate) struct Dispatch {
    pub(crate) manifest: Manifest,
    events: Events,
    /// The lost-event count already reported.
    lost_reported: u64,
    /// The code of the last `exit()` seen.
    pub(crate) exit_code: i32,
    text: Vec<u8>,
    /// Per map: an array histogram that `zero()` emptied while it held
    /// counts (see [`maps::read`]).
    zeroed: Vec<bool>,
}

impl Dispatch {
    pub(crate) fn new(manifest: Manifest) -> Result<Dispatch, RuntimeError> {
        let events = Events::new(&manifest)?;
        let zeroed = vec![false; manifest.maps.len()];
        Ok(Dispatch { manifest, events, lost_reported: 0, exit_code: 0, text: Vec::new(), zeroed })
    }

    /// Handles the waiting records of `ringbuf`, then reports lost events;
    /// with `stop_at_exit`, stops after an exit record and says so.
    pub(crate) fn drain(
        &mut self,
        ringbuf: &mut RingBuf<MapData>,
        maps: &Maps,
        out: &mut dyn Output,
        stop_at_exit: bool,
    ) -> Result<bool, RuntimeError> {
        let mut exited = false;
        while let Some(record) = ringbuf.next() {
            if self.handle(&record, maps, out)? && stop_at_exit {
                exited = true;
                break;
            }
        }
        self.report_lost(maps, out)?;
        Ok(exited)
    }

    /// Handles one record; `Ok(true)` for an exit.
    fn handle(&mut self, record: &[u8], maps: &Maps, out: &mut dyn Output) -> Result<bool, RuntimeError> {
        let output = RuntimeError::Output;
        self.text.clear();
        let event = self.events.decode(record, &mut self.text)?;
        let text = self.text.as_slice();
        match event {
            Event::Printf => out.printf(text).map_err(output)?,
            Event::Exit(code) => {
                self.exit_code = code;
                return Ok(true);
            }
            Event::PrintMap { map, top, div } => {
                let info = &self.manifest.maps[map];
                let entries = self.read_map(maps, map)?;
                out.map(info, &maps::top_and_divide(info, entries, top, div)).map_err(output)?;
            }
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
            Event::Time => out.time(text).map_err(output)?,
            Event::System => {
                // What was printed before shows before the command's own
                // messages on stderr.
                out.flush().map_err(output)?;
                match run_command(text) {
                    Ok(stdout) => out.system(&stdout).map_err(output)?,
                    Err(e) => out.error(&format!("failed to run {}: {e}", String::from_utf8_lossy(text))).map_err(output)?,
                }
            }
            Event::Cat => {
                let path = String::from_utf8_lossy(text).into_owned();
                match read_file(&path) {
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
        Ok(false)
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

    /// Reports the records the kernel dropped since the last report: the
    /// per-CPU counter of `Manifest::lost_events_map`, summed.
    pub(crate) fn report_lost(&mut self, maps: &Maps, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let Some(name) = &self.manifest.lost_events_map else { return Ok(()) };
        let fd = maps.fd(name)?;
        let read = || -> std::io::Result<u64> {
            let cpus = sys::possible_cpus()?;
            let mut values = vec![0u8; 8 * cpus];
            sys::map_lookup(fd, &0u32.to_le_bytes(), &mut values)?;
            Ok(values.chunks_exact(8).fold(0u64, |acc, c| acc.wrapping_add(crate::printf::read_int(c, false))))
        };
        let lost = read().map_err(|e| RuntimeError::syscall(Action::ReadMaps, "reading", name, e))?;
        if lost > self.lost_reported {
            out.lost_events(lost - self.lost_reported).map_err(RuntimeError::Output)?;
            self.lost_reported = lost;
        }
        Ok(())
    }
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

/// Up to [`CAT_BYTES_MAX`] bytes of a file.
fn read_file(path: &str) -> std::io::Result<Vec<u8>> {
    let mut contents = Vec::new();
    std::fs::File::open(path)?.take(CAT_BYTES_MAX).read_to_end(&mut contents)?;
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
    fn cat_reads_at_most_10k_and_says_why_it_cannot() {
        let dir = std::env::temp_dir().join(format!("rbpf-cat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; 30000]).unwrap();
        assert_eq!(read_file(big.to_str().unwrap()).unwrap().len(), 10240);
        let missing = read_file(dir.join("missing").to_str().unwrap()).unwrap_err();
        assert_eq!(strerror(&missing), "No such file or directory");
        // A directory opens but cannot be read, as bpftrace reports it.
        assert_eq!(strerror(&read_file(dir.to_str().unwrap()).unwrap_err()), "Is a directory");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
