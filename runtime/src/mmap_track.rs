//! The kernel's own account of executable mappings, execs, forks and
//! exits, read as `perf record` reads it: one dummy software event per
//! online CPU (it never counts; it is opened for its side-band records),
//! opened before any probe is attached, each with a small ring buffer the
//! runtime drains when a stack's process is first seen, before stacks are
//! printed, and whenever the kernel wakes it. A process that maps its
//! libraries, hits a probe and exits within a millisecond has left its
//! mappings here, stamped with the time they were made: nothing depends
//! on reading /proc/PID/maps while it still lives.
//!
//! Only programs that capture user addresses (`ustack`, `usym`) open
//! these events. Each record costs a few hundred nanoseconds to read.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys;

/// Pages of records per CPU (a power of two): about 200 new processes'
/// worth of records between two reads.
const DATA_PAGES: usize = 32;

/// `perf_event_mmap_page`: where the kernel's write position and the
/// reader's position lie in the first page.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;

/// `enum perf_event_type`.
const RECORD_LOST: u32 = 2;
const RECORD_COMM: u32 = 3;
const RECORD_EXIT: u32 = 4;
const RECORD_FORK: u32 = 7;
const RECORD_MMAP2: u32 = 10;
/// `PERF_RECORD_MISC_COMM_EXEC`: the name changed because of an exec.
const MISC_COMM_EXEC: u16 = 1 << 13;
/// `PERF_RECORD_MISC_MMAP_BUILD_ID`: an MMAP2 record carries a build id
/// in place of the device and inode.
const MISC_MMAP_BUILD_ID: u16 = 1 << 14;

/// One record, as the kernel wrote it; times are CLOCK_MONOTONIC
/// nanoseconds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// Process `pid` mapped `len` bytes of `path` from file offset `offset`
    /// at `start`, executable.
    Mmap { pid: u32, time: u64, start: u64, len: u64, offset: u64, build_id: Option<BuildId>, path: &'a str },
    /// Process `pid` ran exec: a new address space.
    Exec { pid: u32, time: u64 },
    /// Process `pid` was forked by process `parent`: a copy of its
    /// address space.
    Fork { pid: u32, parent: u32, time: u64 },
    /// Process `pid` exited.
    Exit { pid: u32, time: u64 },
    /// The kernel could not write this many records: the reader was late.
    Lost(u64),
}

/// An ELF file's build id (GNU note), at most 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BuildId {
    len: u8,
    bytes: [u8; 20],
}

impl BuildId {
    /// The id made of `bytes` (the first 20).
    pub(crate) fn new(bytes: &[u8]) -> BuildId {
        let mut id = BuildId { len: bytes.len().min(20) as u8, bytes: [0; 20] };
        id.bytes[..usize::from(id.len)].copy_from_slice(&bytes[..usize::from(id.len)]);
        id
    }

    /// The id's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(20)]
    }
}

/// The per-CPU events and their ring buffers.
pub(crate) struct MappingRecords {
    rings: Vec<Ring>,
    /// A record that wraps around the end of its ring, copied whole.
    wrapped: Vec<u8>,
}

impl std::fmt::Debug for MappingRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappingRecords").field("cpus", &self.rings.len()).finish_non_exhaustive()
    }
}

/// One CPU's event and its mapped ring buffer: a page of control fields,
/// then a power of two of pages of records (also `skboutput()`'s).
pub(crate) struct Ring {
    event: OwnedFd,
    base: NonNull<u8>,
    mapped: usize,
    page: usize,
}

// SAFETY: the mapping is the process's, not a thread's; only the reader
// (who holds `&mut`) writes the tail, and the kernel writes the rest.
unsafe impl Send for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base` and `mapped` are what mmap returned; nothing
        // borrows the mapping past the ring.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.mapped) };
    }
}

impl MappingRecords {
    /// Opens an event on every online CPU and maps its ring buffer. Fails
    /// where the kernel refuses system-wide perf events.
    pub(crate) fn open() -> std::io::Result<MappingRecords> {
        let cpus = aya::util::online_cpus().map_err(|(_, e)| e)?;
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let wakeup = u32::try_from(DATA_PAGES * page / 2).unwrap_or(u32::MAX);
        let mut build_id = true;
        let mut rings = Vec::with_capacity(cpus.len());
        for cpu in cpus {
            let cpu = i32::try_from(cpu).unwrap_or(0);
            let event = match sys::perf_event_open_mapping_tracker(cpu, wakeup, build_id) {
                // Before Linux 5.12 the build-id bit is unknown: the
                // device and inode then come in its place.
                Err(e) if build_id && e.raw_os_error() == Some(libc::EINVAL) => {
                    build_id = false;
                    sys::perf_event_open_mapping_tracker(cpu, wakeup, false)?
                }
                event => event?,
            };
            rings.push(Ring::map(event, page, DATA_PAGES)?);
        }
        Ok(MappingRecords { rings, wrapped: Vec::new() })
    }

    /// The events' fds: each turns readable when half its ring is full.
    pub(crate) fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.rings.iter().map(Ring::fd)
    }

    /// Hands every record written so far to `apply`, CPU by CPU (each
    /// CPU's in its order; the times order them across CPUs), and frees
    /// their room.
    pub(crate) fn read(&mut self, mut apply: impl FnMut(Record<'_>)) {
        for ring in &self.rings {
            ring.read(&mut self.wrapped, &mut |bytes| {
                if let Some(record) = parse(bytes) {
                    apply(record);
                }
            });
        }
    }
}

impl Ring {
    /// Maps the ring buffer of `event`: `data_pages` (a power of two)
    /// pages of `page` bytes after the control page.
    pub(crate) fn map(event: OwnedFd, page: usize, data_pages: usize) -> std::io::Result<Ring> {
        use std::os::fd::AsRawFd;
        let mapped = (1 + data_pages) * page;
        // SAFETY: a fresh shared mapping of the event's ring buffer, of the
        // size the kernel expects (one page and a power of two of pages).
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), mapped, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, event.as_raw_fd(), 0)
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast()).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Ring { event, base, mapped, page })
    }

    /// The control word at `offset` of the first page.
    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `offset` is DATA_HEAD or DATA_TAIL, 8-aligned within the
        // mapped first page, which lives as long as `self`.
        unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    /// The event's fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }

    /// Hands each record between the reader's position and the kernel's
    /// (header included) to `apply`, then frees their room.
    pub(crate) fn read(&self, wrapped: &mut Vec<u8>, apply: &mut impl FnMut(&[u8])) {
        // Acquire: the records before `head` are written (the kernel
        // publishes head after writing them).
        let head = self.word(DATA_HEAD).load(Ordering::Acquire);
        let mut tail = self.word(DATA_TAIL).load(Ordering::Relaxed);
        let size = self.mapped - self.page;
        // SAFETY: the data pages follow the first page in the mapping,
        // `size` bytes, alive as long as `self`; the kernel does not write
        // between tail and head until the tail moves past them.
        let data = unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(self.page), size) };
        while tail < head {
            let at = (tail % size as u64) as usize;
            let byte = |i: usize| data[(at + i) % size];
            let len = usize::from(u16::from_le_bytes([byte(6), byte(7)]));
            if len < 8 {
                // A corrupt header: nothing after it can be trusted.
                tail = head;
                break;
            }
            let record = if at + len <= size {
                &data[at..at + len]
            } else {
                wrapped.clear();
                wrapped.extend((0..len).map(byte));
                &wrapped[..]
            };
            apply(record);
            tail += len as u64;
        }
        // Release: the room is free only after the records were read.
        self.word(DATA_TAIL).store(tail, Ordering::Release);
    }
}

/// The record in `bytes` (header included), or None for a kind not asked
/// for or a record too short. Every record ends with its time (the sample
/// id fields hold the time alone).
pub(crate) fn parse(bytes: &[u8]) -> Option<Record<'_>> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let kind = u32_at(0)?;
    let misc = u16_at(4)?;
    let time = u64_at(bytes.len().checked_sub(8)?)?;
    let (pid, second) = (u32_at(8)?, u32_at(12)?);
    match kind {
        RECORD_MMAP2 if bytes.len() >= 80 => {
            let build_id = (misc & MISC_MMAP_BUILD_ID != 0).then(|| BuildId::new(&bytes[44..44 + usize::from(bytes[40].min(20))]));
            let name = bytes.get(72..bytes.len() - 8)?;
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            Some(Record::Mmap {
                pid,
                time,
                start: u64_at(16)?,
                len: u64_at(24)?,
                offset: u64_at(32)?,
                build_id,
                path: std::str::from_utf8(name).ok()?,
            })
        }
        RECORD_COMM if misc & MISC_COMM_EXEC != 0 => Some(Record::Exec { pid, time }),
        // A new thread has its process's pid: only a new process counts.
        RECORD_FORK if pid != second => Some(Record::Fork { pid, parent: second, time }),
        // A thread's exit is not its process's (`tid` follows `ppid`).
        RECORD_EXIT if pid == u32_at(16)? => Some(Record::Exit { pid, time }),
        RECORD_LOST => Some(Record::Lost(u64_at(16)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of `kind` with `misc`, body `body`, ending with `time`.
    fn record(kind: u32, misc: u16, body: &[u8], time: u64) -> Vec<u8> {
        let len = 8 + body.len() + 8;
        let mut bytes = kind.to_le_bytes().to_vec();
        bytes.extend(misc.to_le_bytes());
        bytes.extend((len as u16).to_le_bytes());
        bytes.extend(body);
        bytes.extend(time.to_le_bytes());
        bytes
    }

    fn words(values: &[(u64, usize)]) -> Vec<u8> {
        values.iter().flat_map(|&(v, size)| v.to_le_bytes()[..size].to_vec()).collect()
    }

    #[test]
    fn mmap2_records_give_the_mapping_and_the_build_id_when_marked() {
        let mut body = words(&[(7, 4), (8, 4), (0x5000, 8), (0x2000, 8), (0x1000, 8)]);
        let mut id = vec![20u8, 0, 0, 0];
        id.extend(1..=20u8);
        body.extend(&id);
        body.extend(words(&[(5, 4), (2, 4)]));
        body.extend(b"/usr/bin/cat\0\0\0\0");
        let bytes = record(RECORD_MMAP2, MISC_MMAP_BUILD_ID, &body, 99);
        let Some(Record::Mmap { pid, time, start, len, offset, build_id, path }) = parse(&bytes) else { panic!("{bytes:?}") };
        assert_eq!((pid, time, start, len, offset, path), (7, 99, 0x5000, 0x2000, 0x1000, "/usr/bin/cat"));
        assert_eq!(build_id.expect("a build id").bytes(), (1..=20).collect::<Vec<u8>>());
        // Without the mark, the same bytes are a device and an inode.
        let Some(Record::Mmap { build_id, .. }) = parse(&record(RECORD_MMAP2, 0, &body, 99)) else { panic!() };
        assert_eq!(build_id, None);
    }

    #[test]
    fn task_records_of_processes_not_threads() {
        let task = |pid: u64, ppid: u64, tid: u64| words(&[(pid, 4), (ppid, 4), (tid, 4), (ppid, 4), (0, 8)]);
        assert_eq!(parse(&record(RECORD_FORK, 0, &task(10, 9, 10), 5)), Some(Record::Fork { pid: 10, parent: 9, time: 5 }));
        assert_eq!(parse(&record(RECORD_FORK, 0, &task(9, 9, 11), 5)), None);
        assert_eq!(parse(&record(RECORD_EXIT, 0, &task(10, 9, 10), 6)), Some(Record::Exit { pid: 10, time: 6 }));
        assert_eq!(parse(&record(RECORD_EXIT, 0, &task(9, 1, 11), 6)), None);
        let comm = [words(&[(10, 4), (10, 4)]), b"cat\0\0\0\0\0".to_vec()].concat();
        assert_eq!(parse(&record(RECORD_COMM, MISC_COMM_EXEC, &comm, 7)), Some(Record::Exec { pid: 10, time: 7 }));
        assert_eq!(parse(&record(RECORD_COMM, 0, &comm, 7)), None);
        assert_eq!(parse(&record(RECORD_LOST, 0, &words(&[(1, 8), (12, 8)]), 8)), Some(Record::Lost(12)));
        assert_eq!(parse(&[1, 2, 3]), None);
    }

    #[test]
    fn records_this_process_mapping_a_file() {
        // Needs perf events for every process (root).
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mut records = match MappingRecords::open() {
            Ok(records) => records,
            Err(e) if root => panic!("cannot open the mapping records as root: {e}"),
            Err(_) => return,
        };
        let file = std::env::current_exe().expect("the test binary");
        let file = std::fs::File::open(&file).expect("open");
        // SAFETY: a private read-only, executable mapping of a file we keep open.
        let at = unsafe {
            use std::os::fd::AsRawFd;
            libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_EXEC, libc::MAP_PRIVATE, file.as_raw_fd(), 0)
        };
        assert_ne!(at, libc::MAP_FAILED);
        let mut seen = false;
        records.read(|record| {
            if let Record::Mmap { pid, start, .. } = record {
                seen |= pid == std::process::id() && start == at as u64;
            }
        });
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(at, 4096) };
        assert!(seen, "no record of the mapping");
    }
}
