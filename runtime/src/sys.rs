//! The few bpf(2) commands aya 0.14 does not expose in the form rbpf needs:
//! running a program once (BPF_PROG_TEST_RUN, for BEGIN and END) and
//! reading, zeroing and clearing maps whose key and value sizes are known
//! only at run time.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// `bpf_attr` for the BPF_MAP_*_ELEM commands.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `bpf_attr` for the BPF_MAP_*_BATCH commands.
#[repr(C)]
#[derive(Default)]
struct MapBatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `bpf_attr` for BPF_PROG_TEST_RUN.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of the
    // kernel's `union bpf_attr` for `cmd`, and its size is passed with it;
    // the pointers inside it are set by the callers to buffers that outlive
    // the call and are as large as the kernel will write.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Runs a raw tracepoint program once on this CPU with a zeroed context
/// (12 zero arguments, the most a raw tracepoint has) and returns what it
/// returned. Nothing needs to be attached.
pub fn prog_test_run(prog: BorrowedFd<'_>) -> io::Result<u32> {
    let ctx = [0u64; 12];
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        ctx_size_in: std::mem::size_of_val(&ctx) as u32,
        ctx_in: ctx.as_ptr() as u64,
        ..TestRunAttr::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(attr.retval)
}

/// Writes one element (flags: BPF_ANY).
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Reads one element into `value` (which must hold the stored value size).
/// `Ok(false)` when the key is absent.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..MapElemAttr::default()
    };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes one element; `Ok(false)` when the key was already absent.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr { map_fd: map.as_raw_fd() as u32, key: key.as_ptr() as u64, ..MapElemAttr::default() };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every key of a map (at most `max_entries` of them), walked with
/// BPF_MAP_GET_NEXT_KEY.
pub fn map_keys(map: BorrowedFd<'_>, key_size: usize, max_entries: u32) -> io::Result<Vec<Vec<u8>>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut next = vec![0u8; key_size];
    while keys.len() < max_entries as usize && map_next_key(map, keys.last().map(Vec::as_slice), &mut next)? {
        keys.push(next.clone());
    }
    Ok(keys)
}

/// Writes the key after `key` (the first key when `None`) into `next`;
/// `Ok(false)` at the end.
pub fn map_next_key(map: BorrowedFd<'_>, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        ..MapElemAttr::default()
    };
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every `(key, value)` of a map, as raw bytes. `value_size` is the size the
/// kernel returns per element (for a per-CPU map, the 8-aligned value size
/// times [`possible_cpus`]). One BPF_MAP_LOOKUP_BATCH call where the kernel
/// has it (5.6+), else a walk with BPF_MAP_GET_NEXT_KEY.
pub fn map_entries(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    match map_entries_batch(map, key_size, value_size, max_entries) {
        Ok(entries) => Ok(entries),
        Err(e) if is_permission(&e) => Err(e),
        // EINVAL before Linux 5.6, ENOTSUPP for map types without batch
        // support, ENOSPC when a hash bucket outgrows the buffer: walk.
        Err(_) => map_entries_walk(map, key_size, value_size, max_entries),
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// [`map_entries`] with BPF_MAP_LOOKUP_BATCH only.
pub fn map_entries_batch(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let capacity = max_entries.max(1) as usize;
    let mut keys = vec![0u8; key_size * capacity];
    let mut values = vec![0u8; value_size * capacity];
    // The batch token is a bucket index for hash maps and a key for
    // arrays: key-sized, and at least a u32.
    let token_size = key_size.max(8);
    let (mut in_batch, mut out_batch) = (vec![0u8; token_size], vec![0u8; token_size]);
    let mut read = 0usize;
    let mut first = true;
    loop {
        let mut attr = MapBatchAttr {
            in_batch: if first { 0 } else { in_batch.as_ptr() as u64 },
            out_batch: out_batch.as_mut_ptr() as u64,
            keys: keys[read * key_size..].as_mut_ptr() as u64,
            values: values[read * value_size..].as_mut_ptr() as u64,
            count: (capacity - read) as u32,
            map_fd: map.as_raw_fd() as u32,
            ..MapBatchAttr::default()
        };
        let result = bpf(BPF_MAP_LOOKUP_BATCH, &mut attr);
        // On ENOENT (the end) the kernel still reports what it copied.
        read += attr.count as usize;
        match result {
            Ok(_) if read < capacity => {}
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(e),
        }
        first = false;
        std::mem::swap(&mut in_batch, &mut out_batch);
    }
    Ok((0..read)
        .map(|i| {
            (keys[i * key_size..(i + 1) * key_size].to_vec(), values[i * value_size..(i + 1) * value_size].to_vec())
        })
        .collect())
}

/// [`map_entries`] with BPF_MAP_GET_NEXT_KEY and BPF_MAP_LOOKUP_ELEM only.
pub fn map_entries_walk(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; key_size];
    // A map that changes while it is walked can restart the walk; never
    // read more than it can hold.
    while entries.len() < max_entries as usize && map_next_key(map, key.as_deref(), &mut next)? {
        let mut value = vec![0u8; value_size];
        if map_lookup(map, &next, &mut value)? {
            entries.push((next.clone(), value));
        }
        key = Some(next.clone());
    }
    Ok(entries)
}

/// The number of possible CPUs: per-CPU maps hold one slot for each.
pub fn possible_cpus() -> io::Result<usize> {
    static CPUS: OnceLock<usize> = OnceLock::new();
    if let Some(n) = CPUS.get() {
        return Ok(*n);
    }
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let n = parse_cpu_list(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse the CPU list {:?}", text.trim())))?;
    Ok(*CPUS.get_or_init(|| n))
}

/// Counts the CPUs of a list such as `0-3,8,10-11`.
fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut count = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()?.checked_sub(a.trim().parse::<usize>().ok()?)? + 1,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (count > 0).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn attrs_have_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<MapElemAttr>(), 32);
        assert_eq!(std::mem::size_of::<MapBatchAttr>(), 56);
        assert_eq!(std::mem::size_of::<TestRunAttr>(), 80);
    }
}
