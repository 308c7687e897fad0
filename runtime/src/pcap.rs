//! `skboutput()`: the packets bpf_skb_output sends through the
//! [`SKB_OUTPUT_MAP`] (a perf event array: the helper writes to no other
//! kind of map), written to pcap files as bpftrace writes them: raw IP
//! (`LINKTYPE_RAW`, no link-layer header: an offset of 14 leaves out an
//! Ethernet one), each packet stamped with its capture time (the
//! monotonic clock, `nsecs`, plus the boot time).
//!
//! One `PERF_COUNT_SW_BPF_OUTPUT` event per online CPU fills the map's
//! slot of that CPU; the session reads their ring buffers when the kernel
//! wakes it and once more after the probes are detached.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, BorrowedFd};

use rbpf_codegen::manifest::{skb_output, SKB_OUTPUT_MAP};

use crate::mmap_track::Ring;
use crate::sys::{self, perf_type, PerfEventAttr};
use crate::RuntimeError;

/// `LINKTYPE_RAW`: each packet begins with its IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;
/// The largest packet a record holds whole.
const SNAPLEN: u32 = 65535;
/// `PERF_COUNT_SW_BPF_OUTPUT`.
const SW_BPF_OUTPUT: u64 = 10;
/// `PERF_SAMPLE_RAW`: a sample carries what the program sent.
const SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_RECORD_SAMPLE` and `PERF_RECORD_LOST`.
const RECORD_SAMPLE: u32 = 9;
const RECORD_LOST: u32 = 2;

/// The pcap global header: microsecond timestamps, version 2.4.
pub fn header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// Writes one pcap record of `packet`, captured at `time_ns` nanoseconds
/// since the epoch.
pub fn write_record(out: &mut impl Write, time_ns: u64, packet: &[u8]) -> io::Result<()> {
    let len = u32::try_from(packet.len()).unwrap_or(u32::MAX).min(SNAPLEN);
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&((time_ns / 1_000_000_000) as u32).to_le_bytes());
    h[4..8].copy_from_slice(&((time_ns % 1_000_000_000 / 1000) as u32).to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    out.write_all(&h)?;
    out.write_all(&packet[..len as usize])
}

/// The packet of a sample's raw data: the file's index, the capture time
/// (monotonic) and the bytes from the offset on; `None` when the data is
/// shorter than its header.
pub fn packet_of(raw: &[u8]) -> Option<(usize, u64, &[u8])> {
    let header = raw.get(..skb_output::HEADER_SIZE as usize)?;
    let time = u64::from_ne_bytes(header[..8].try_into().ok()?);
    let file = u32::from_ne_bytes(header[8..12].try_into().ok()?) as usize;
    let offset = u32::from_ne_bytes(header[12..16].try_into().ok()?) as usize;
    let data = &raw[header.len()..];
    Some((file, time, data.get(offset..).unwrap_or_default()))
}

/// The pcap files of a session and the events their packets come through.
pub(crate) struct SkbOutputs {
    rings: Vec<Ring>,
    files: Vec<(String, BufWriter<File>)>,
    /// Nanoseconds from the monotonic clock's zero to the epoch.
    boot_time_ns: u64,
    wrapped: Vec<u8>,
    /// Samples the kernel could not write for want of room.
    lost: u64,
}

impl std::fmt::Debug for SkbOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkbOutputs").field("files", &self.files.len()).field("lost", &self.lost).finish_non_exhaustive()
    }
}

impl SkbOutputs {
    /// Creates the files at `paths` (each with its header) and the events
    /// of every online CPU, each with a ring of `pages` pages (a power of
    /// two), put in `map`.
    pub(crate) fn open(paths: &[String], pages: u32, map: BorrowedFd<'_>) -> Result<SkbOutputs, RuntimeError> {
        let create = |path: &String| {
            let mut file = BufWriter::new(File::create(path)?);
            file.write_all(&header())?;
            Ok((path.clone(), file))
        };
        let files = paths
            .iter()
            .map(|p| create(p).map_err(|source| RuntimeError::Syscall { call: "create", object: p.clone(), source }))
            .collect::<Result<Vec<_>, _>>()?;
        let event_error = |source| RuntimeError::Syscall { call: "perf_event_open", object: SKB_OUTPUT_MAP.into(), source };
        let cpus = aya::util::online_cpus().map_err(|(_, e)| event_error(e))?;
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let mut rings = Vec::with_capacity(cpus.len());
        for cpu in cpus {
            let mut attr = PerfEventAttr {
                type_: perf_type::SOFTWARE,
                config: SW_BPF_OUTPUT,
                sample_type: SAMPLE_RAW,
                sample_period: 1,
                wakeup_events: 1,
                ..PerfEventAttr::default()
            };
            let event = sys::perf_event_open(&mut attr, -1, i32::try_from(cpu).unwrap_or(0)).map_err(event_error)?;
            let fd = event.as_raw_fd() as u32;
            let ring = Ring::map(event, page, pages as usize).map_err(|source| RuntimeError::Syscall { call: "mmap", object: SKB_OUTPUT_MAP.into(), source })?;
            sys::map_update(map, &cpu.to_ne_bytes(), &fd.to_ne_bytes())
                .map_err(|source| RuntimeError::Syscall { call: "BPF_MAP_UPDATE_ELEM", object: SKB_OUTPUT_MAP.into(), source })?;
            rings.push(ring);
        }
        Ok(SkbOutputs { rings, files, boot_time_ns: boot_time_ns(), wrapped: Vec::new(), lost: 0 })
    }

    /// The events' fds: readable when a packet came.
    pub(crate) fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.rings.iter().map(Ring::fd)
    }

    /// Writes the packets that came to their files.
    pub(crate) fn read(&mut self) -> Result<(), RuntimeError> {
        let (files, boot, lost) = (&mut self.files, self.boot_time_ns, &mut self.lost);
        let mut failed = None;
        for ring in &self.rings {
            ring.read(&mut self.wrapped, &mut |record| {
                let kind = record.get(..4).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                match kind {
                    RECORD_SAMPLE => {
                        let size = record.get(8..12).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize);
                        let Some((file, time, packet)) = record.get(12..12 + size).and_then(packet_of) else { return };
                        if let Some((path, out)) = files.get_mut(file) {
                            if let Err(e) = write_record(out, boot + time, packet) {
                                failed.get_or_insert((path.clone(), e));
                            }
                        }
                    }
                    RECORD_LOST => *lost += record.get(16..24).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default())),
                    _ => {}
                }
            });
        }
        for (path, out) in files.iter_mut() {
            if let Err(e) = out.flush() {
                failed.get_or_insert((path.clone(), e));
            }
        }
        match failed {
            Some((path, source)) => Err(RuntimeError::Syscall { call: "write", object: path, source }),
            None => Ok(()),
        }
    }

    /// Packets the kernel dropped for want of room in a ring, so far.
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }
}

/// The epoch's distance from the monotonic clock's zero (which
/// bpf_ktime_get_ns counts from), in nanoseconds.
fn boot_time_ns() -> u64 {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid timespec to write.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
    };
    now(libc::CLOCK_REALTIME).wrapping_sub(now(libc::CLOCK_MONOTONIC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_says_raw_ip_in_microseconds() {
        let h = header();
        assert_eq!(&h[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!((u16::from_le_bytes([h[4], h[5]]), u16::from_le_bytes([h[6], h[7]])), (2, 4));
        assert_eq!(u32::from_le_bytes(h[20..24].try_into().unwrap()), 101);
    }

    #[test]
    fn a_record_is_its_time_lengths_and_bytes() {
        let mut out = Vec::new();
        write_record(&mut out, 1_700_000_000_123_456_789, &[0x45, 0, 0, 20]).unwrap();
        let word = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
        assert_eq!((word(0), word(4), word(8), word(12)), (1_700_000_000, 123_456, 4, 4));
        assert_eq!(&out[16..], &[0x45, 0, 0, 20]);
    }

    #[test]
    fn a_sample_gives_its_file_time_and_the_bytes_after_the_offset() {
        let mut raw = Vec::new();
        raw.extend(77u64.to_ne_bytes());
        raw.extend(1u32.to_ne_bytes());
        raw.extend(2u32.to_ne_bytes());
        raw.extend([9, 9, 0x45, 1]);
        assert_eq!(packet_of(&raw), Some((1, 77, &[0x45, 1][..])));
        assert_eq!(packet_of(&raw[..10]), None);
        // An offset past the bytes captured leaves none.
        raw[12..16].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(packet_of(&raw), Some((1, 77, &[][..])));
    }
}
