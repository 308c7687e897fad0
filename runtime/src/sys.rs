//! The bpf(2) and perf_event_open(2) calls rbpf makes itself: creating
//! maps, loading BTF and programs (keeping the verifier's log on failure),
//! attaching them (perf events, raw tracepoints, trampolines, multi-attach
//! kprobes), running a program once (BPF_PROG_TEST_RUN, for BEGIN and END),
//! and reading, zeroing and clearing maps whose key and value sizes are
//! known only at run time.

use std::io;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;

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

/// `bpf_attr` for BPF_MAP_CREATE, up to `map_extra`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

/// `bpf_attr` for BPF_PROG_LOAD, up to the fields rbpf sets.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_btf_obj_fd: u32,
    /// Always 0, and a field so that the struct has no padding: the
    /// kernel reads these bytes, and uninitialised padding there was a
    /// count of CO-RE relocations it refused with EINVAL, without a log.
    core_relo_cnt: u32,
}

/// `bpf_attr` for BPF_BTF_LOAD.
#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    _pad: u32,
}

/// `bpf_attr` for BPF_RAW_TRACEPOINT_OPEN.
#[repr(C)]
#[derive(Default)]
struct RawTracepointOpenAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

/// `bpf_attr` for BPF_LINK_CREATE of a kprobe multi link.
#[repr(C)]
#[derive(Default)]
struct KprobeMultiLinkAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    multi_flags: u32,
    cnt: u32,
    syms: u64,
    addrs: u64,
    cookies: u64,
}

/// `bpf_attr` for BPF_LINK_CREATE of a uprobe multi link.
#[repr(C)]
#[derive(Default)]
struct UprobeMultiLinkAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    path: u64,
    offsets: u64,
    ref_ctr_offsets: u64,
    cookies: u64,
    cnt: u32,
    multi_flags: u32,
    pid: u32,
    _pad: u32,
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_BTF_LOAD: libc::c_long = 18;

/// `enum bpf_prog_type`, the program types rbpf loads.
pub mod prog_type {
    /// kprobes, uprobes and USDT.
    pub const KPROBE: u32 = 2;
    /// Tracepoints.
    pub const TRACEPOINT: u32 = 5;
    /// Perf events: profile, interval, software, hardware, watchpoints.
    pub const PERF_EVENT: u32 = 7;
    /// Raw tracepoints, and BEGIN and END (run by BPF_PROG_TEST_RUN).
    pub const RAW_TRACEPOINT: u32 = 17;
    /// fentry and fexit (BTF-typed trampolines).
    pub const TRACING: u32 = 26;
}

/// `enum bpf_attach_type`, the expected attach types rbpf loads with.
pub mod attach_type {
    /// A function's entry through a trampoline.
    pub const TRACE_FENTRY: u32 = 24;
    /// A function's return through a trampoline.
    pub const TRACE_FEXIT: u32 = 25;
    /// Many kprobes through one link.
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    /// Many uprobes of one file through one link.
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    /// A BPF iterator.
    pub const TRACE_ITER: u32 = 28;
}

const BPF_F_KPROBE_MULTI_RETURN: u32 = 1;
const BPF_F_UPROBE_MULTI_RETURN: u32 = 1;

/// The kernel's name for an object: at most 15 bytes of `[A-Za-z0-9_.]`.
fn object_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let valid = name.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'.' { b } else { b'_' });
    for (dst, src) in out.iter_mut().zip(valid.take(15)) {
        *dst = src;
    }
    out
}

/// Creates a map (BPF_MAP_CREATE) named `name` (cut to what the kernel
/// keeps).
pub fn map_create(name: &str, map_type: u32, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr { map_type, key_size, value_size, max_entries, map_flags: flags, map_name: object_name(name), ..MapCreateAttr::default() };
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: BPF_MAP_CREATE returns a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A program the kernel refused, with the verifier's log.
#[derive(Debug)]
pub struct LoadFailure {
    /// bpf(2)'s error.
    pub error: io::Error,
    /// The verifier's log (empty if it wrote none).
    pub log: String,
}

/// One program for BPF_PROG_LOAD.
pub struct ProgramLoad<'a> {
    /// The program's name (cut to what the kernel keeps).
    pub name: &'a str,
    /// One of [`prog_type`].
    pub prog_type: u32,
    /// One of [`attach_type`], or 0.
    pub expected_attach_type: u32,
    /// The kernel function's BTF id, for fentry and fexit.
    pub attach_btf_id: u32,
    /// The kernel module's BTF object `attach_btf_id` is an id of, for
    /// fentry and fexit on a module's function; `None` for vmlinux's.
    pub attach_btf_obj: Option<BorrowedFd<'a>>,
    /// 8-byte instructions with map fds and function offsets in place.
    pub insns: &'a [u8],
    /// The license (GPL-compatible, for the helpers rbpf calls).
    pub license: &'a CStr,
    /// The object's BTF and one `(insn_off, FUNC type id)` per function,
    /// for programs with callbacks.
    pub btf: Option<BorrowedFd<'a>>,
    /// The func_info records; empty without callbacks.
    pub func_info: &'a [[u32; 2]],
}

/// The bytes of verifier log kept for a refused program (1 MiB unless
/// [`set_verifier_log_size`] says otherwise).
static LOG_SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1 << 20);

/// Keeps `bytes` of the verifier's log of a refused program
/// (bpftrace's BPFTRACE_LOG_SIZE); the kernel takes at most `u32::MAX >> 8`.
pub fn set_verifier_log_size(bytes: usize) {
    LOG_SIZE.store(bytes.clamp(128, (u32::MAX >> 8) as usize), std::sync::atomic::Ordering::Relaxed);
}

/// Runs `load` without a log (fast), and again with one if it failed, to
/// say why: the verifier's log is kept only on failure.
fn with_log(mut load: impl FnMut(u32, &mut [u8]) -> io::Result<libc::c_long>) -> Result<OwnedFd, LoadFailure> {
    match load(0, &mut []) {
        // SAFETY: the load commands return a new file descriptor we own.
        Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EACCES | libc::E2BIG | libc::ENOSPC | libc::EFAULT)) => {
            return Err(LoadFailure { error: e, log: String::new() });
        }
        Err(_) => {}
    }
    let mut log = vec![0u8; LOG_SIZE.load(std::sync::atomic::Ordering::Relaxed)];
    let error = match load(1, &mut log) {
        // SAFETY: as above.
        Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(error) => error,
    };
    let trace = until_nul(&log);
    // A log that overflows fails with ENOSPC. Kernels from 6.4 on keep its
    // end, with the instruction the verifier stopped at and why; older ones
    // keep its start, and the reason is lost. The statistics level logs
    // the verifier's messages without the instruction trace, so the reason
    // fits: where the trace does not end with it, it is all there is.
    if error.raw_os_error() == Some(libc::ENOSPC) {
        let mut stats = vec![0u8; 1 << 16];
        if let Err(error) = load(BPF_LOG_STATS, &mut stats) {
            let stats = until_nul(&stats);
            let reason = stats.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            if error.raw_os_error() != Some(libc::ENOSPC) && !reason.is_empty() {
                let log = if trace.contains(reason) { trace } else { stats };
                return Err(LoadFailure { error, log });
            }
        }
    }
    Err(LoadFailure { error, log: trace })
}

/// The verifier's statistics log level (BPF_LOG_STATS).
const BPF_LOG_STATS: u32 = 4;

fn until_nul(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end]).into_owned()
}

/// Loads a program as [`load_program`] does, and returns the verifier's
/// statistics with it (`processed N insns (limit ...) ...`, bpftrace's
/// `-v`): a load at the statistics log level, whose log is a few lines.
/// A refused program is loaded again by [`load_program`] for its full log.
pub fn load_program_with_stats(program: &ProgramLoad<'_>) -> Result<(OwnedFd, String), LoadFailure> {
    let mut log = vec![0u8; 1 << 16];
    match prog_load(program, BPF_LOG_STATS, &mut log) {
        // SAFETY: BPF_PROG_LOAD returns a new file descriptor we own.
        Ok(fd) => Ok((unsafe { OwnedFd::from_raw_fd(fd as i32) }, until_nul(&log))),
        Err(_) => load_program(program).map(|fd| (fd, String::new())),
    }
}

/// The kernel's id of a loaded program (`bpftool prog show id N`).
pub fn program_id(prog: BorrowedFd<'_>) -> io::Result<u32> {
    // The head of `struct bpf_prog_info`: the kernel fills as much as asked.
    let mut head = [0u32; 2];
    let mut get = InfoAttr { bpf_fd: prog.as_raw_fd() as u32, info_len: 8, info: head.as_mut_ptr() as u64 };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut get)?;
    Ok(head[1])
}

/// Loads a program (the verifier runs here).
pub fn load_program(program: &ProgramLoad<'_>) -> Result<OwnedFd, LoadFailure> {
    with_log(|log_level, log| prog_load(program, log_level, log))
}

/// One BPF_PROG_LOAD of `program` with the log at `log_level` in `log`.
fn prog_load(program: &ProgramLoad<'_>, log_level: u32, log: &mut [u8]) -> io::Result<libc::c_long> {
    let mut attr = ProgLoadAttr {
        prog_type: program.prog_type,
        insn_cnt: (program.insns.len() / 8) as u32,
        insns: program.insns.as_ptr() as u64,
        license: program.license.as_ptr() as u64,
        log_level,
        log_size: log.len() as u32,
        log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
        prog_name: object_name(program.name),
        expected_attach_type: program.expected_attach_type,
        attach_btf_id: program.attach_btf_id,
        attach_btf_obj_fd: program.attach_btf_obj.map_or(0, |fd| fd.as_raw_fd() as u32),
        ..ProgLoadAttr::default()
    };
    if let Some(btf) = program.btf {
        attr.prog_btf_fd = btf.as_raw_fd() as u32;
        attr.func_info_rec_size = 8;
        attr.func_info = program.func_info.as_ptr() as u64;
        attr.func_info_cnt = program.func_info.len() as u32;
    }
    bpf(BPF_PROG_LOAD, &mut attr)
}

/// Loads an object's BTF (BPF_BTF_LOAD), for its programs' func_info.
pub fn btf_load(btf: &[u8]) -> Result<OwnedFd, LoadFailure> {
    with_log(|log_level, log| {
        let mut attr = BtfLoadAttr {
            btf: btf.as_ptr() as u64,
            btf_size: btf.len() as u32,
            btf_log_level: log_level,
            btf_log_size: log.len() as u32,
            btf_log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
            ..BtfLoadAttr::default()
        };
        bpf(BPF_BTF_LOAD, &mut attr)
    })
}

const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_BTF_GET_FD_BY_ID: libc::c_long = 19;
const BPF_BTF_GET_NEXT_ID: libc::c_long = 23;

/// `bpf_attr` for BPF_BTF_GET_NEXT_ID and BPF_BTF_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct IdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf_attr` for BPF_OBJ_GET_INFO_BY_FD.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The kernel's `struct bpf_btf_info`.
#[repr(C)]
#[derive(Default)]
struct BtfInfo {
    btf: u64,
    btf_size: u32,
    id: u32,
    name: u64,
    name_len: u32,
    kernel_btf: u32,
}

/// The kernel BTF object (vmlinux's or a module's) named `name`, opened:
/// the attach target of fentry and fexit on a module's function. Walks the
/// kernel's BTF objects by id, as libbpf does; `Ok(None)` when none has
/// that name.
pub fn kernel_btf_object(name: &str) -> io::Result<Option<OwnedFd>> {
    let mut attr = IdAttr::default();
    loop {
        match bpf(BPF_BTF_GET_NEXT_ID, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
        attr.id = attr.next_id;
        let mut open = IdAttr { id: attr.id, ..IdAttr::default() };
        let fd = match bpf(BPF_BTF_GET_FD_BY_ID, &mut open) {
            // SAFETY: BPF_BTF_GET_FD_BY_ID returns a new file descriptor we own.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
            // Freed since it was listed (a program's BTF, a module unloaded).
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let mut buf = [0u8; 64];
        let mut info = BtfInfo { name: buf.as_mut_ptr() as u64, name_len: buf.len() as u32, ..BtfInfo::default() };
        let mut get = InfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: std::mem::size_of::<BtfInfo>() as u32,
            info: &mut info as *mut BtfInfo as u64,
        };
        bpf(BPF_OBJ_GET_INFO_BY_FD, &mut get)?;
        if info.kernel_btf != 0 && until_nul(&buf) == name {
            return Ok(Some(fd));
        }
    }
}

/// Attaches a raw tracepoint program to the tracepoint `name`, or a
/// tracing (fentry, fexit) program to the function it was loaded for when
/// `name` is `None`; closing the returned fd detaches it.
pub fn raw_tracepoint_open(name: Option<&CStr>, prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = RawTracepointOpenAttr { name: name.map_or(0, |n| n.as_ptr() as u64), prog_fd: prog.as_raw_fd() as u32, _pad: 0 };
    let fd = bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr)?;
    // SAFETY: BPF_RAW_TRACEPOINT_OPEN returns a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches a kprobe program loaded for multi-attach (expected attach
/// type TRACE_KPROBE_MULTI) to the entries (or, with `ret`, the returns)
/// of every function in `funcs`, through one link; closing the link
/// detaches them all.
pub fn attach_kprobe_multi(prog: BorrowedFd<'_>, funcs: &[String], ret: bool) -> io::Result<OwnedFd> {
    let names: Vec<CString> = funcs
        .iter()
        .map(|f| CString::new(f.as_str()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput)))
        .collect::<Result<_, _>>()?;
    let pointers: Vec<u64> = names.iter().map(|n| n.as_ptr() as u64).collect();
    let mut attr = KprobeMultiLinkAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: attach_type::TRACE_KPROBE_MULTI,
        multi_flags: if ret { BPF_F_KPROBE_MULTI_RETURN } else { 0 },
        cnt: pointers.len() as u32,
        syms: pointers.as_ptr() as u64,
        ..KprobeMultiLinkAttr::default()
    };
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: BPF_LINK_CREATE returns a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `r0 = 0; exit`: the program the feature probes load.
const TRIVIAL_PROGRAM: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

/// Loads `r0 = 0; exit` as a program of `prog_type`, expected to attach
/// as `expected_attach_type` (to the kernel function of BTF id
/// `attach_btf_id`, for fentry and fexit): whether the kernel knows that
/// kind of program, and a program to try an attach with.
pub fn load_trivial_probe(prog_type: u32, expected_attach_type: u32, attach_btf_id: u32) -> Result<OwnedFd, LoadFailure> {
    load_program(&ProgramLoad {
        name: "rbpf_probe",
        prog_type,
        expected_attach_type,
        attach_btf_id,
        attach_btf_obj: None,
        insns: &TRIVIAL_PROGRAM,
        license: c"GPL",
        btf: None,
        func_info: &[],
    })
}

/// Whether this kernel has kprobe multi-attach links: a trivial program
/// linked to a function that does not exist fails with ESRCH where it
/// has them (the symbol lookup ran), and with EINVAL or EOPNOTSUPP where
/// it does not, as libbpf probes it.
pub fn has_kprobe_multi() -> bool {
    let Ok(prog) = load_trivial_probe(prog_type::KPROBE, attach_type::TRACE_KPROBE_MULTI, 0) else { return false };
    let missing = ["rbpf_no_such_function_for_a_probe".to_string()];
    matches!(attach_kprobe_multi(prog.as_fd(), &missing, false), Err(e) if e.raw_os_error() == Some(libc::ESRCH))
}

/// Attaches a kprobe program loaded for multi-attach (expected attach
/// type TRACE_UPROBE_MULTI) to the file offsets `offsets` of `path`, at
/// entry or, with `ret`, on return, through one link; with `pid`, in that
/// process alone. The kernel registers every offset or none: one it
/// cannot probe fails the whole link.
/// `cookies`, when given, holds one per offset: what `bpf_get_attach_cookie`
/// returns when the program runs for that offset.
pub fn attach_uprobe_multi(prog: BorrowedFd<'_>, path: &str, offsets: &[u64], cookies: &[u64], ret: bool, pid: Option<u32>) -> io::Result<OwnedFd> {
    if !cookies.is_empty() && cookies.len() != offsets.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let path = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut attr = UprobeMultiLinkAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: attach_type::TRACE_UPROBE_MULTI,
        path: path.as_ptr() as u64,
        offsets: offsets.as_ptr() as u64,
        cookies: if cookies.is_empty() { 0 } else { cookies.as_ptr() as u64 },
        cnt: offsets.len() as u32,
        multi_flags: if ret { BPF_F_UPROBE_MULTI_RETURN } else { 0 },
        pid: pid.unwrap_or(0),
        ..UprobeMultiLinkAttr::default()
    };
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: BPF_LINK_CREATE returns a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether this kernel has uprobe multi-attach links: a trivial program
/// linked to an offset of `/`, which is no regular file, fails with EBADF
/// where it has them, as libbpf probes it.
pub fn has_uprobe_multi() -> bool {
    let Ok(prog) = load_trivial_probe(prog_type::KPROBE, attach_type::TRACE_UPROBE_MULTI, 0) else { return false };
    matches!(attach_uprobe_multi(prog.as_fd(), "/", &[0], &[], false, None), Err(e) if e.raw_os_error() == Some(libc::EBADF))
}

/// `struct perf_event_attr` up to `config2` and the fields after it that
/// make PERF_ATTR_SIZE_VER5 (112 bytes), all left zero. For a breakpoint,
/// `config1` is `bp_addr` and `config2` is `bp_len`; with the `FREQ` flag,
/// `sample_period` is `sample_freq`.
#[repr(C)]
#[derive(Default)]
pub struct PerfEventAttr {
    /// One of [`perf_type`], or a PMU's dynamic type.
    pub type_: u32,
    /// The struct's size, for the kernel's versioning.
    pub size: u32,
    /// The event within its type.
    pub config: u64,
    /// Events between samples, or samples a second with the `FREQ` flag.
    pub sample_period: u64,
    /// `PERF_SAMPLE_*` bits.
    pub sample_type: u64,
    /// `PERF_FORMAT_*` bits.
    pub read_format: u64,
    /// The bit fields (`disabled`, `freq`, ...).
    pub flags: u64,
    /// Events between wakeups.
    pub wakeup_events: u32,
    /// `HW_BREAKPOINT_*` for a breakpoint.
    pub bp_type: u32,
    /// The breakpoint's address; for a kprobe or uprobe PMU, a pointer to
    /// the function's name or the file's path.
    pub config1: u64,
    /// The breakpoint's length; for a kprobe or uprobe PMU, the offset.
    pub config2: u64,
    /// branch_sample_type, sample_regs_user: always zero here.
    pub rest: [u64; 2],
    /// The user stack bytes a sample copies: always zero here.
    pub sample_stack_user: u32,
    /// The clock of the records' times, with the `USE_CLOCKID` flag.
    pub clockid: i32,
    /// sample_regs_intr, aux_watermark, sample_max_stack: always zero here.
    pub rest2: [u64; 2],
}

/// `enum perf_type_id`.
pub mod perf_type {
    /// CPU counters: cycles, instructions, cache misses.
    pub const HARDWARE: u32 = 0;
    /// Kernel counters: cpu-clock, page faults, context switches.
    pub const SOFTWARE: u32 = 1;
    /// A tracepoint, by its id.
    pub const TRACEPOINT: u32 = 2;
    /// A hardware breakpoint (watchpoint).
    pub const BREAKPOINT: u32 = 5;
}

/// `perf_event_attr` flag bits.
pub mod perf_flag {
    /// Opened stopped: nothing fires before a program is attached.
    pub const DISABLED: u64 = 1;
    /// `sample_period` is a frequency (samples per second).
    pub const FREQ: u64 = 1 << 10;
    /// `precise_ip = 2`: zero skid, what a breakpoint reports exactly.
    pub const PRECISE_IP_ZERO_SKID: u64 = 2 << 15;
    /// Records of executable mappings (PERF_RECORD_MMAP).
    pub const MMAP: u64 = 1 << 8;
    /// Records of a task's name changes (PERF_RECORD_COMM).
    pub const COMM: u64 = 1 << 9;
    /// Records of forks and exits (PERF_RECORD_FORK, PERF_RECORD_EXIT).
    pub const TASK: u64 = 1 << 13;
    /// `wakeup_events` counts bytes (`wakeup_watermark`), not events.
    pub const WATERMARK: u64 = 1 << 14;
    /// The sample type's id fields (the time) end every record.
    pub const SAMPLE_ID_ALL: u64 = 1 << 18;
    /// Mapping records carry the file's identity (PERF_RECORD_MMAP2).
    pub const MMAP2: u64 = 1 << 23;
    /// A name change by exec is marked PERF_RECORD_MISC_COMM_EXEC.
    pub const COMM_EXEC: u64 = 1 << 24;
    /// Times are read from `clockid`.
    pub const USE_CLOCKID: u64 = 1 << 25;
    /// Mapping records carry the file's build id (Linux 5.12).
    pub const BUILD_ID: u64 = 1 << 34;
}

/// `PERF_COUNT_SW_DUMMY`: a software event that never counts, opened for
/// its side-band records alone.
const PERF_COUNT_SW_DUMMY: u64 = 9;
/// `PERF_SAMPLE_TIME`.
const PERF_SAMPLE_TIME: u64 = 1 << 2;

/// Opens a dummy software event on `cpu` for every process, as `perf
/// record` opens its tracking event: it records every executable mapping
/// (with the file's build id when `build_id` and the kernel has it, its
/// device and inode otherwise), exec, fork and exit on that CPU, each
/// stamped with CLOCK_MONOTONIC, and wakes its reader once
/// `wakeup_bytes` are waiting. The event is enabled.
pub fn perf_event_open_mapping_tracker(cpu: i32, wakeup_bytes: u32, build_id: bool) -> io::Result<OwnedFd> {
    use perf_flag::*;
    let mut attr = PerfEventAttr {
        type_: perf_type::SOFTWARE,
        config: PERF_COUNT_SW_DUMMY,
        sample_period: 1,
        sample_type: PERF_SAMPLE_TIME,
        flags: MMAP | COMM | TASK | WATERMARK | SAMPLE_ID_ALL | MMAP2 | COMM_EXEC | USE_CLOCKID | if build_id { BUILD_ID } else { 0 },
        wakeup_events: wakeup_bytes,
        clockid: libc::CLOCK_MONOTONIC,
        ..PerfEventAttr::default()
    };
    perf_event_open(&mut attr, -1, cpu)
}

/// `_IO('$', 0)`.
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
/// `_IOW('$', 8, __u32)`.
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// Opens a perf event (`attr.size` is filled in) for process `pid` (-1:
/// every process) on `cpu` (-1: any).
pub fn perf_event_open(attr: &mut PerfEventAttr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    // SAFETY: `attr` is a valid perf_event_attr of the size it states, and
    // the pointers in it (a probe's path or function name) are the
    // caller's and outlive the call.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr as *mut PerfEventAttr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: perf_event_open returned a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Opens a uprobe (or kprobe) perf event of the PMU `pmu_type` on
/// `target` (a path, or a function name) at `offset`, for every process or,
/// with `pid`, that one alone (every thread of it). `config` carries the
/// PMU's flag bits (retprobe, the reference counter's offset) already
/// shifted into place. The event starts disabled.
pub fn perf_event_open_probe(pmu_type: u32, target: &str, offset: u64, config: u64, pid: Option<u32>) -> io::Result<OwnedFd> {
    let target = CString::new(target).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut attr = PerfEventAttr {
        type_: pmu_type,
        config,
        flags: perf_flag::DISABLED,
        config1: target.as_ptr() as u64,
        config2: offset,
        ..PerfEventAttr::default()
    };
    // pid -1 with cpu 0 is how probes are opened for every process (the
    // program runs on every CPU regardless); a pid with cpu -1 for one.
    let (pid, cpu) = match pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        Some(pid) => (pid, -1),
        None => (-1, 0),
    };
    perf_event_open(&mut attr, pid, cpu)
}

/// `bpf_attr` for BPF_LINK_CREATE of an iterator link (no `iter_info`:
/// the task iterators walk every task).
#[repr(C)]
#[derive(Default)]
struct IterLinkAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// `bpf_attr` for BPF_ITER_CREATE.
#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

/// `bpf_attr` for BPF_OBJ_PIN.
#[repr(C)]
#[derive(Default)]
struct ObjPinAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// Links an iterator program (loaded with expected attach type
/// TRACE_ITER against its `bpf_iter_NAME` function); the link makes
/// iterators and can be pinned.
pub fn iter_link(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = IterLinkAttr { prog_fd: prog.as_raw_fd() as u32, attach_type: attach_type::TRACE_ITER, ..IterLinkAttr::default() };
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: BPF_LINK_CREATE returns a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A new iterator of an iterator link: reading it runs the program once
/// per object, and yields what the program printed.
pub fn iter_create(link: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = IterCreateAttr { link_fd: link.as_raw_fd() as u32, flags: 0 };
    let fd = bpf(BPF_ITER_CREATE, &mut attr)?;
    // SAFETY: BPF_ITER_CREATE returns a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Pins a BPF object (a link) at `path` in a bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut attr = ObjPinAttr { pathname: path.as_ptr() as u64, bpf_fd: fd.as_raw_fd() as u32, file_flags: 0 };
    bpf(BPF_OBJ_PIN, &mut attr).map(|_| ())
}

/// `bpf_attr` for BPF_LINK_CREATE of a perf event link.
#[repr(C)]
#[derive(Default)]
struct PerfEventLinkAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    bpf_cookie: u64,
}

const BPF_PERF_EVENT: u32 = 41;

/// A program held on a perf event: [`perf_event_attach`]'s result.
#[derive(Debug)]
pub struct PerfAttachment {
    /// Closing it takes the program off the event: a BPF link, or where
    /// the kernel has no perf links the event itself.
    pub hold: OwnedFd,
    /// The event, held apart from its link (`None` when `hold` is the
    /// event). Closing the last fd of a trace event (tracepoint, kprobe,
    /// uprobe) waits out an RCU grace period under the kernel's
    /// `event_mutex`, so a hundred of them take seconds even from many
    /// threads; closing a link while the event stays open takes the
    /// program off at once.
    pub event: Option<OwnedFd>,
}

/// Runs `prog` on every hit of the perf event, and enables the event,
/// until the attachment is closed: a BPF link where the kernel has perf
/// links (5.15+), kept apart from the event; else the event itself with
/// the program set on it.
pub fn perf_event_attach(event: OwnedFd, prog: BorrowedFd<'_>) -> io::Result<PerfAttachment> {
    let mut attr = PerfEventLinkAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: event.as_raw_fd() as u32,
        attach_type: BPF_PERF_EVENT,
        ..PerfEventLinkAttr::default()
    };
    let hold = match bpf(BPF_LINK_CREATE, &mut attr) {
        // SAFETY: BPF_LINK_CREATE returns a new file descriptor we own.
        Ok(fd) => Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTTY | libc::EOPNOTSUPP)) => {
            // SAFETY: a live perf event fd and a live program fd.
            if unsafe { libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_SET_BPF as _, prog.as_raw_fd()) } < 0 {
                // The link's error says more than the older call's.
                return Err(e);
            }
            None
        }
        Err(e) => return Err(e),
    };
    // SAFETY: a live perf event fd; ENABLE takes no argument.
    if unsafe { libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match hold {
        Some(hold) => PerfAttachment { hold, event: Some(event) },
        None => PerfAttachment { hold: event, event: None },
    })
}

/// Lifts the soft limit on open files to the hard one, as the Go runtime
/// does for every program: a probe on a perf event holds a program, a link
/// and the event, and a wildcard of a few hundred functions (kprobes
/// without multi links) passes the usual soft limit of 1024. Best effort.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill, and a valid
    // one for setrlimit to read; failure changes nothing.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Waits until every program running now on any CPU has returned: one RCU
/// grace period (`membarrier(MEMBARRIER_CMD_GLOBAL)` is the kernel's
/// `synchronize_rcu`), which a BPF program on a tracepoint, kprobe or
/// uprobe runs inside.
pub fn wait_for_running_programs() -> io::Result<()> {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    if unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// How many elements one BPF_MAP_LOOKUP_BATCH call reads: the buffers
/// for them are all that reading a map holds at once (about 100 KiB for
/// 8-byte keys and per-CPU counts on 2 CPUs), whatever the map's size.
pub const BATCH_ENTRIES: u32 = 4096;

/// Hands every `(key, value)` of a map, as raw bytes, to `entry`, one at a
/// time and never more than `max_entries` of them. `value_size` is the size
/// the kernel returns per element (for a per-CPU map, the 8-aligned value
/// size times [`possible_cpus`]). BPF_MAP_LOOKUP_BATCH in calls of
/// [`BATCH_ENTRIES`] where the kernel has it (5.6+), else a walk with
/// BPF_MAP_GET_NEXT_KEY.
pub fn map_entries(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    mut entry: impl FnMut(&[u8], &[u8]),
) -> io::Result<()> {
    let mut started = false;
    let batched = map_entries_batch(map, key_size, value_size, max_entries, BATCH_ENTRIES, |key, value| {
        started = true;
        entry(key, value);
    });
    match batched {
        Err(e) if !started && !is_permission(&e) => {
            // EINVAL before Linux 5.6, ENOTSUPP for map types without
            // batch support: walk, as nothing was handed over yet.
            map_entries_walk(map, key_size, value_size, max_entries, entry)
        }
        other => other,
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// [`map_entries`] with BPF_MAP_LOOKUP_BATCH only, `batch` elements per
/// call (more when one hash bucket holds more).
pub fn map_entries_batch(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    batch: u32,
    entry: impl FnMut(&[u8], &[u8]),
) -> io::Result<()> {
    batch_walk(BPF_MAP_LOOKUP_BATCH, map, key_size, value_size, max_entries, batch, entry)
}

/// Takes every element out of a hash map: hands each `(key, value)` to
/// `entry` as [`map_entries`] does, and deletes it in the same step
/// (BPF_MAP_LOOKUP_AND_DELETE_BATCH, Linux 5.6, hash maps only; an error
/// before any element is handed over where the kernel or the map type
/// lacks it). An update made after an element was taken makes a new one:
/// nothing is lost between the read and the delete.
pub fn map_take(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    entry: impl FnMut(&[u8], &[u8]),
) -> io::Result<()> {
    batch_walk(BPF_MAP_LOOKUP_AND_DELETE_BATCH, map, key_size, value_size, max_entries, BATCH_ENTRIES, entry)
}

/// The batch walk of [`map_entries_batch`] and [`map_take`], with `cmd`.
fn batch_walk(
    cmd: libc::c_long,
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    batch: u32,
    mut entry: impl FnMut(&[u8], &[u8]),
) -> io::Result<()> {
    let mut batch = batch.clamp(1, max_entries.max(1)) as usize;
    let mut keys = vec![0u8; key_size * batch];
    let mut values = vec![0u8; value_size * batch];
    // The batch token is a bucket index for hash maps and a key for
    // arrays: key-sized, and at least a u32.
    let token_size = key_size.max(8);
    let (mut in_batch, mut out_batch) = (vec![0u8; token_size], vec![0u8; token_size]);
    let mut read = 0usize;
    let mut first = true;
    while read < max_entries as usize {
        let mut attr = MapBatchAttr {
            in_batch: if first { 0 } else { in_batch.as_ptr() as u64 },
            out_batch: out_batch.as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            // Always the whole buffer: asking for fewer than a hash bucket
            // holds would fail even when the buffer has room for it.
            count: batch as u32,
            map_fd: map.as_raw_fd() as u32,
            ..MapBatchAttr::default()
        };
        let result = bpf(cmd, &mut attr);
        let done = match result {
            Ok(_) => false,
            // The end; the kernel still reports what it copied.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
            // One hash bucket holds more elements than fit: read it again
            // with room for twice as many (nothing of it was copied),
            // unless the buffer already holds max_entries: then the map
            // grew while it was read, and what fits was read.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && attr.count == 0 && batch >= max_entries as usize => break,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && attr.count == 0 => {
                batch = (batch * 2).min(max_entries as usize);
                keys.resize(key_size * batch, 0);
                values.resize(value_size * batch, 0);
                continue;
            }
            Err(e) => return Err(e),
        };
        // Past max_entries only if the map grew while it was read.
        let count = (attr.count as usize).min(batch).min(max_entries as usize - read);
        for (key, value) in keys.chunks_exact(key_size.max(1)).zip(values.chunks_exact(value_size.max(1))).take(count) {
            entry(&key[..key_size], &value[..value_size]);
        }
        read += count;
        if done {
            break;
        }
        first = false;
        std::mem::swap(&mut in_batch, &mut out_batch);
    }
    Ok(())
}

/// [`map_entries`] with BPF_MAP_GET_NEXT_KEY and BPF_MAP_LOOKUP_ELEM only.
pub fn map_entries_walk(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    mut entry: impl FnMut(&[u8], &[u8]),
) -> io::Result<()> {
    let mut key = vec![0u8; key_size];
    let mut next = vec![0u8; key_size];
    let mut value = vec![0u8; value_size];
    let mut first = true;
    // A map that changes while it is walked can restart the walk; never
    // read more than it can hold.
    let mut read = 0;
    while read < max_entries && map_next_key(map, (!first).then_some(key.as_slice()), &mut next)? {
        if map_lookup(map, &next, &mut value)? {
            entry(&next, &value);
            read += 1;
        }
        std::mem::swap(&mut key, &mut next);
        first = false;
    }
    Ok(())
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
    /// The kernel reads every byte of an attribute struct up to the size
    /// passed with it: none may be padding, whose bytes are left
    /// uninitialised. (Each struct's fields are laid out without gaps;
    /// this checks that nothing follows its last field.)
    #[test]
    fn attribute_structs_end_at_their_last_field() {
        use std::mem::{offset_of, size_of};
        macro_rules! ends_at {
            ($($t:ident.$last:ident: $size:expr;)*) => {
                $(assert_eq!(size_of::<super::$t>(), offset_of!(super::$t, $last) + $size, stringify!($t));)*
            };
        }
        ends_at! {
            MapElemAttr.flags: 8;
            MapBatchAttr.flags: 8;
            TestRunAttr._pad: 4;
            MapCreateAttr.map_extra: 8;
            ProgLoadAttr.core_relo_cnt: 4;
            BtfLoadAttr._pad: 4;
            RawTracepointOpenAttr._pad: 4;
            KprobeMultiLinkAttr.cookies: 8;
            UprobeMultiLinkAttr._pad: 4;
            IdAttr.open_flags: 4;
            InfoAttr.info: 8;
            BtfInfo.kernel_btf: 4;
            PerfEventAttr.rest2: 16;
            PerfEventLinkAttr.bpf_cookie: 8;
            IterLinkAttr.flags: 4;
            IterCreateAttr.flags: 4;
            ObjPinAttr.file_flags: 4;
        }
    }

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
        assert_eq!(std::mem::size_of::<PerfEventAttr>(), 112);
        assert_eq!(std::mem::offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(std::mem::offset_of!(PerfEventAttr, clockid), 92);
    }
}
