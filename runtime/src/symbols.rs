//! User addresses to symbols. An address becomes a file offset in the
//! file mapped there, which stays on disk after the process exits; blazesym
//! names that offset from ELF symbol tables, as bpftrace (through bcc)
//! does: those of the separate debug file installed for the file, found by
//! build id or debug link under /usr/lib/debug as gdb finds it, else the
//! file's own. DWARF is read only for an address no symbol table names
//! (a binary whose table was stripped of it): names rarely need it, and
//! Debian's debug files compress theirs (blazesym would hold megabytes of
//! it decompressed). Its symbolizer is built on the first user frame printed,
//! and it maps each file and sorts its symbols once.
//!
//! Where a process's mappings come from: for a program that captures user
//! addresses the session records every executable mapping, exec, fork and
//! exit as the kernel makes them (`mmap_track`), from before the probes
//! are attached; so the mappings of a process started during the trace are
//! known however soon it exits. A process already running when the trace
//! started is read from /proc/PID/maps when its first captured address is
//! reported (the program tells the runtime of each new pid): one that
//! exits at once after that first event can still be gone before it is
//! read, and its frames then print as addresses. Without the records (a
//! kernel refusing system-wide perf events) every process is read that way.
//!
//! A process's mappings are append-only, each stamped with the time it was
//! made, until an exec (or the fork that created the process) starts a
//! new address space: a stack is named with the mappings of the last
//! program its process ran. A mapping recorded with its file's build id is
//! named only while the file at its path still has that id (a binary
//! rebuilt since is not misread).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};

use crate::mmap_track::{BuildId, MappingRecords, Record};
use crate::stacks::Symbol;

/// How user addresses are named: bpftrace's environment variables and
/// `config = { }` keys for symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolOptions {
    /// Whether user addresses are named at all: BPFTRACE_NO_USER_SYMBOLS=1
    /// prints them in hex, and nothing of the processes is read.
    pub resolve: bool,
    /// Whether C++ (and legacy Rust) names are demangled
    /// (BPFTRACE_NO_CPP_DEMANGLE=1, `cpp_demangle = 0` turn it off).
    pub demangle: bool,
    /// Whether what was read of a file's symbols is kept for the session
    /// (BPFTRACE_CACHE_USER_SYMBOLS). Names are kept by file and file
    /// offset, which stay right across processes and address layouts, so
    /// bpftrace's per-program and per-pid caches are the same here; with
    /// no cache, every lookup checks the file again and reads it anew when
    /// it changed on disk.
    pub cache: bool,
}

impl Default for SymbolOptions {
    fn default() -> SymbolOptions {
        SymbolOptions { resolve: true, demangle: true, cache: true }
    }
}

/// The mappings of the processes seen so far, and the symbols of their
/// files.
#[derive(Default)]
pub struct UserSymbols {
    options: SymbolOptions,
    processes: HashMap<u32, Process>,
    /// The kernel's records of mappings, when the program captures user
    /// addresses and the kernel lets them be read.
    records: Option<MappingRecords>,
    /// Records the kernel could not write: processes whose mappings seem
    /// complete may miss some, and are read from /proc again on a miss.
    lost: u64,
    /// Processes whose exit was read and of which no address was
    /// reported: forgotten once the program's events are read past it.
    exited: Vec<u32>,
    symbolizer: OnceCell<Symbolizer>,
    /// Names found so far, by (file, file offset): a stack's frames repeat
    /// in many stacks, and demangling is per name.
    names: HashMap<(Arc<str>, u64), Option<Name>>,
    /// Where the names of each file mapped are read.
    name_files: HashMap<Arc<str>, NameFile>,
    /// Whether the file at a path still has the build id it was mapped with.
    same_file: HashMap<(Arc<str>, BuildId), bool>,
}

impl std::fmt::Debug for UserSymbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSymbols")
            .field("processes", &self.processes)
            .field("records", &self.records)
            .field("lost", &self.lost)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A symbol's name (demangled) and an address's offset into it.
type Name = (String, u64);

/// Where the names of one mapped file are read.
#[derive(Debug)]
enum NameFile {
    /// The file's own symbol tables.
    Itself,
    /// The separate debug file installed for it: its full symbol table,
    /// where a distribution's library keeps only its dynamic symbols (and
    /// the file's own when it lacks a name). A debug file's segments hold
    /// no bytes, so the file's loadable segments turn a file offset into
    /// the address its symbols have.
    Debug { path: PathBuf, segments: Vec<Segment> },
}

/// A loadable segment: `size` bytes of the file from `offset`, at `address`.
#[derive(Debug)]
struct Segment {
    offset: u64,
    size: u64,
    address: u64,
}

impl NameFile {
    /// Where the names of the ELF file at `path` are read. Reads its
    /// headers and notes only.
    fn of(path: &str) -> NameFile {
        Self::debug_file(path).unwrap_or(NameFile::Itself)
    }

    fn debug_file(path: &str) -> Option<NameFile> {
        use object::{Object, ObjectSegment};
        let cache = object::ReadCache::new(std::fs::File::open(path).ok()?);
        let elf = object::File::parse(&cache).ok()?;
        let debug = crate::target::separate_debug_file(path, &elf)?;
        if !is_debug_file_of(&elf, &debug) {
            return None;
        }
        let segments = elf
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                Segment { offset, size, address: s.address() }
            })
            .collect();
        Some(NameFile::Debug { path: debug, segments })
    }

    /// The address in the debug file of `file_offset` in the file (None
    /// when names come from the file itself, or no segment holds it).
    fn debug_address(&self, file_offset: u64) -> Option<(&Path, u64)> {
        let NameFile::Debug { path, segments } = self else { return None };
        let segment = segments.iter().find(|s| (s.offset..s.offset.saturating_add(s.size)).contains(&file_offset))?;
        Some((path, segment.address + (file_offset - segment.offset)))
    }
}

/// Whether `debug` holds the symbols of `elf`, as gdb checks it: the same
/// build id, or for a file without one, the checksum its debug link names.
fn is_debug_file_of<'d, R: object::ReadRef<'d>>(elf: &object::File<'d, R>, debug: &Path) -> bool {
    use object::Object;
    if let Ok(Some(id)) = elf.build_id() {
        return matches!(blazesym::helper::read_elf_build_id(debug), Ok(Some(read)) if *read == *id);
    }
    matches!(elf.gnu_debuglink(), Ok(Some((_, crc))) if file_crc32(debug) == Some(crc))
}

/// The CRC-32 of the file at `path` (the `.gnu_debuglink` checksum, zlib's
/// CRC-32), read in pieces rather than mapped: the pages read are not the
/// process's.
fn file_crc32(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut crc = crc32fast::Hasher::new();
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(crc.finalize()),
            Ok(n) => crc.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// What is known of one process's address space.
#[derive(Debug, Default)]
struct Process {
    /// Its file-backed mappings, in the order they were learnt.
    mappings: Vec<Mapping>,
    /// When its address space began (its exec or fork): mappings made
    /// before belong to an earlier program.
    since: u64,
    /// Whether every mapping since `since` is known: its exec or fork was
    /// recorded (and its parent's mappings known), or /proc/PID/maps read.
    complete: bool,
    /// The parent it was forked from, when the parent's mappings were not
    /// known then (it ran before the trace): read from it when needed.
    parent: Option<u32>,
    /// Whether the program reported one of its addresses.
    noticed: bool,
    /// Whether its exit was recorded.
    exited: bool,
    /// When /proc/PID/maps was last read.
    read_at: Option<Instant>,
}

/// How long after reading a process's mappings an address outside them
/// reads them again (a library it loaded since): at most once per burst
/// of lookups, as printing a map is.
const REREAD_AFTER: Duration = Duration::from_millis(100);

/// One file-backed mapping of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
    /// The file offset mapped at `start`.
    offset: u64,
    path: Arc<str>,
    /// The file's build id, when the kernel recorded it.
    build_id: Option<BuildId>,
    /// When it was made (CLOCK_MONOTONIC ns), or when /proc showed it.
    time: u64,
}

impl Mapping {
    /// The same mapping of the same file, whenever learnt.
    fn same(&self, other: &Mapping) -> bool {
        (self.start, self.end, self.offset, &self.path) == (other.start, other.end, other.offset, &other.path)
    }
}

impl UserSymbols {
    /// Symbols of processes whose mappings the kernel records from now
    /// on; those of processes read from /proc alone when it refuses.
    pub fn tracking(options: SymbolOptions) -> UserSymbols {
        UserSymbols { records: MappingRecords::open().ok(), ..UserSymbols::with_options(options) }
    }

    /// Symbols of processes read from /proc alone, named as `options` say.
    pub fn with_options(options: SymbolOptions) -> UserSymbols {
        UserSymbols { options, ..UserSymbols::default() }
    }

    /// Whether the kernel's mapping records are read.
    pub fn is_tracking(&self) -> bool {
        self.records.is_some()
    }

    /// The fds that turn readable when mapping records wait to be read
    /// ([`UserSymbols::read_records`]).
    pub fn record_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.records.iter().flat_map(MappingRecords::fds).collect()
    }

    /// Applies the mapping records written so far.
    pub fn read_records(&mut self) {
        let Some(mut records) = self.records.take() else { return };
        records.read(|record| self.apply(record));
        self.records = Some(records);
    }

    /// Process `pid`'s first address was captured: its mappings are made
    /// known now, while it lives (or, if it started during the trace, from
    /// the records), so that its addresses are named after it exits.
    pub fn remember(&mut self, pid: u32) {
        if !self.options.resolve {
            return;
        }
        self.read_records();
        self.processes.entry(pid).or_default().noticed = true;
        if !self.is_known(pid) {
            self.learn(pid);
        }
    }

    /// Forgets the processes that exited without an address captured.
    /// Call only once every event the program sent before now has been
    /// read: a process's report of its first address is sent before it
    /// exits, so none is pending for those exits.
    pub fn forget_exited(&mut self) {
        for pid in std::mem::take(&mut self.exited) {
            if self.processes.get(&pid).is_some_and(|p| p.exited && !p.noticed) {
                self.processes.remove(&pid);
            }
        }
    }

    /// The symbol `addr` is in, in process `pid`.
    pub fn symbol(&mut self, pid: u32, addr: u64) -> Option<Symbol> {
        if !self.options.resolve {
            return None;
        }
        // The records are read when a process is first reported; again
        // only for an address outside the mappings known (a library it
        // loaded since), not per frame.
        if self.mapping(pid, addr).is_none() {
            self.read_records();
            if self.mapping(pid, addr).is_none() {
                self.learn(pid);
            }
        }
        let mapping = self.mapping(pid, addr)?;
        let (path, file_offset, build_id) = (mapping.path.clone(), addr - mapping.start + mapping.offset, mapping.build_id);
        if let Some(id) = build_id {
            let same = match self.options.cache {
                true => *self.same_file.entry((path.clone(), id)).or_insert_with(|| has_build_id(&path, &id)),
                false => has_build_id(&path, &id),
            };
            if !same {
                return None;
            }
        }
        let key = (path, file_offset);
        if !self.options.cache {
            let (name, offset) = self.name_at(&key.0, file_offset)?;
            return Some(Symbol { name, offset, module: Some(key.0.to_string()) });
        }
        if !self.names.contains_key(&key) {
            let name = self.name_at(&key.0, file_offset);
            self.names.insert(key.clone(), name);
        }
        let (name, offset) = self.names.get(&key)?.clone()?;
        Some(Symbol { name, offset, module: Some(key.0.to_string()) })
    }

    /// The symbol at `file_offset` in the ELF file at `path` (demangled
    /// unless the options say not to),
    /// and the offset into it: from its debug file's symbol table, else
    /// from its own.
    fn name_at(&mut self, path: &Arc<str>, file_offset: u64) -> Option<(String, u64)> {
        let symbolizer = self.symbolizer.get_or_init(|| {
            // Names as the symbol tables spell them (demangled below as
            // bpftrace demangles them); no source lines, no inlined frames.
            Symbolizer::builder()
                .enable_code_info(false)
                .enable_inlined_fns(false)
                .enable_demangling(false)
                // With the cache, the files stay as they were for the
                // session: no stat per lookup.
                .enable_auto_reload(!self.options.cache)
                .build()
        });
        let file = self.name_files.entry(path.clone()).or_insert_with(|| NameFile::of(path));
        let in_debug = file.debug_address(file_offset).and_then(|(debug, addr)| elf_symbol(symbolizer, debug, Input::VirtOffset(addr), false));
        in_debug
            .or_else(|| elf_symbol(symbolizer, Path::new(&**path), Input::FileOffset(file_offset), false))
            // An address no symbol table covers (a stripped table with
            // DWARF kept): DWARF's name for it, read only then.
            .or_else(|| elf_symbol(symbolizer, Path::new(&**path), Input::FileOffset(file_offset), true))
            .map(|(name, offset)| if self.options.demangle { (demangle(&name), offset) } else { (name, offset) })
    }

    /// The mapping `addr` is in, in process `pid`: the latest made, when
    /// the process mapped the same place again.
    fn mapping(&self, pid: u32, addr: u64) -> Option<&Mapping> {
        let process = self.processes.get(&pid)?;
        process.mappings.iter().filter(|m| (m.start..m.end).contains(&addr)).max_by_key(|m| m.time)
    }

    /// Whether every mapping of `pid` is known (so an address outside
    /// them is in no file).
    fn is_known(&self, pid: u32) -> bool {
        self.records.is_some() && self.lost == 0 && self.processes.get(&pid).is_some_and(|p| p.complete)
    }

    /// Learns `pid`'s mappings from /proc/PID/maps, if it still lives and
    /// they were not read a moment ago, or else from the parent it was
    /// forked from (a process that ran before the trace).
    fn learn(&mut self, pid: u32) {
        if self.is_known(pid) {
            return;
        }
        let process = self.processes.entry(pid).or_default();
        if process.read_at.is_some_and(|at| at.elapsed() < REREAD_AFTER) {
            return;
        }
        process.read_at = Some(Instant::now());
        let read = read_maps(pid, monotonic_ns());
        if !read.is_empty() {
            add_new(&mut process.mappings, read);
            process.complete = true;
            return;
        }
        let (Some(parent), since) = (process.parent, process.since) else { return };
        if !self.is_known(parent) {
            self.learn(parent);
        }
        let inherited = self.processes.get(&parent).map(|p| inherit(&p.mappings, since)).unwrap_or_default();
        if let Some(process) = self.processes.get_mut(&pid) {
            add_new(&mut process.mappings, inherited);
        }
    }

    /// One record of the kernel's, applied: mappings are added to their
    /// process's; an exec (or the fork that made the process) starts a new
    /// address space, whatever order the CPUs' records are read in (the
    /// times decide).
    fn apply(&mut self, record: Record<'_>) {
        match record {
            Record::Mmap { pid, time, start, len, offset, build_id, path } => {
                // Anonymous executable memory ("//anon", JIT code) and the
                // kernel's own pages ("[vdso]") are no file.
                if !path.starts_with('/') || path.starts_with("//") {
                    return;
                }
                let process = self.processes.entry(pid).or_default();
                if time >= process.since {
                    let end = start.saturating_add(len);
                    process.mappings.push(Mapping { start, end, offset, path: path.into(), build_id, time });
                }
            }
            Record::Exec { pid, time } => {
                let process = self.processes.entry(pid).or_default();
                if time >= process.since {
                    process.start_over(time, true);
                }
            }
            Record::Fork { pid, parent, time } => {
                let inherited = match self.processes.get(&parent) {
                    Some(p) if p.complete => Some(inherit(&p.mappings, time)),
                    _ => None,
                };
                let process = self.processes.entry(pid).or_default();
                if time >= process.since {
                    process.start_over(time, inherited.is_some());
                    process.parent = inherited.is_none().then_some(parent);
                    process.mappings.extend(inherited.unwrap_or_default());
                }
            }
            Record::Exit { pid, time } => {
                if let Some(process) = self.processes.get_mut(&pid).filter(|p| time >= p.since) {
                    process.exited = true;
                    if !process.noticed {
                        self.exited.push(pid);
                    }
                }
            }
            Record::Lost(n) => self.lost += n,
        }
    }
}

impl Process {
    /// A new address space from `time` on (the mappings already recorded
    /// since then are kept: another CPU's records may come first).
    fn start_over(&mut self, time: u64, complete: bool) {
        self.since = time;
        self.mappings.retain(|m| m.time >= time);
        self.complete = complete;
        self.parent = None;
        self.exited = false;
        self.read_at = None;
    }
}

/// A forked child's copies of its parent's `mappings`, made at `time`.
fn inherit(mappings: &[Mapping], time: u64) -> Vec<Mapping> {
    mappings.iter().map(|m| Mapping { time, ..m.clone() }).collect()
}

/// Adds to `mappings` those of `read` it does not hold yet.
fn add_new(mappings: &mut Vec<Mapping>, read: Vec<Mapping>) {
    let new: Vec<Mapping> = read.into_iter().filter(|m| !mappings.iter().any(|known| known.same(m))).collect();
    mappings.extend(new);
}

/// The symbol at `input` in the symbol tables of the ELF file at `path`
/// (and with `dwarf`, in its DWARF too), as spelled there, and the offset
/// into it.
fn elf_symbol(symbolizer: &Symbolizer, path: &Path, input: Input<u64>, dwarf: bool) -> Option<(String, u64)> {
    let mut elf = Elf::new(path);
    elf.debug_syms = dwarf;
    match symbolizer.symbolize_single(&Source::Elf(elf), input).ok()? {
        Symbolized::Sym(sym) => Some((sym.name.to_string(), sym.offset as u64)),
        Symbolized::Unknown(_) => None,
    }
}

/// Whether the ELF file at `path` has build id `id`.
fn has_build_id(path: &str, id: &BuildId) -> bool {
    matches!(blazesym::helper::read_elf_build_id(path), Ok(Some(read)) if *read == *id.bytes())
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of the kernel's records.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(now.tv_nsec as u64)
}

/// The file-backed mappings of process `pid` now, stamped `time`; none
/// when it is gone.
fn read_maps(pid: u32, time: u64) -> Vec<Mapping> {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).map(|text| parse_maps(&text, time)).unwrap_or_default()
}

/// A C++ (or legacy Rust) symbol's name demangled, as bpftrace shows it by
/// default; another name as it is. Done per frame printed, not for every
/// symbol read.
fn demangle(name: &str) -> String {
    rbpf_lang::probes::demangle(name)
}

/// The file-backed mappings in the text of /proc/PID/maps
/// (`start-end perms offset dev inode path`), stamped `time`.
fn parse_maps(text: &str, time: u64) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (start, end) = words.next()?.split_once('-')?;
            let _perms = words.next()?;
            let offset = u64::from_str_radix(words.next()?, 16).ok()?;
            let (_dev, _inode) = (words.next()?, words.next()?);
            let path = words.next().filter(|p| p.starts_with('/'))?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset,
                path: path.into(),
                build_id: None,
                time,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_backed_mappings_of_proc_maps() {
        let text = "55d0c000-55d0d000 r-xp 00001000 08:01 123 /usr/bin/cat\n\
                    7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]\n\
                    7f000000-7f001000 rw-p 00000000 00:00 0\n";
        let maps = parse_maps(text, 5);
        let cat = Mapping { start: 0x55d0c000, end: 0x55d0d000, offset: 0x1000, path: "/usr/bin/cat".into(), build_id: None, time: 5 };
        assert_eq!(maps, [cat]);
    }

    #[test]
    fn local_functions_of_a_stripped_library_are_named_from_its_debug_file() {
        use object::{Object, ObjectSegment, ObjectSymbol};
        // This process's C library; Debian's keeps only its dynamic symbols.
        let Some(libc) = read_maps(std::process::id(), 0).into_iter().map(|m| m.path).find(|p| p.contains("/libc.so")) else { return };
        let NameFile::Debug { path: debug, .. } = NameFile::of(&libc) else {
            eprintln!("skipped: no debug file installed for {libc}");
            return;
        };
        // A local function, in the debug file's symbol table alone.
        let data = std::fs::read(&debug).expect("read the debug file");
        let symbols = object::File::parse(&*data).expect("parse the debug file");
        let Some(local) = symbols.symbols().find(|s| s.is_local() && s.kind() == object::SymbolKind::Text && s.size() > 8) else { return };
        let name = local.name().expect("a name").to_string();
        let lib = std::fs::read(&*libc).expect("read libc");
        let lib = object::File::parse(&*lib).expect("parse libc");
        assert!(lib.symbols().chain(lib.dynamic_symbols()).all(|s| s.name() != Ok(&name)), "{name} is in {libc} itself");
        let segment = lib.segments().find(|s| (s.address()..s.address() + s.size()).contains(&local.address())).expect("a segment");
        let file_offset = local.address() - segment.address() + segment.file_range().0 + 4;
        let mut user = UserSymbols::default();
        let libc: Arc<str> = libc;
        assert_eq!(user.name_at(&libc, file_offset), Some((name, 4)));
    }


    #[test]
    fn cpp_and_rust_names_are_demangled_as_cxa_demangle_does() {
        assert_eq!(demangle("_ZN2ns3fooEi"), "ns::foo(int)");
        assert_eq!(demangle("_ZN3std2rt10lang_start17h0123456789abcdefE"), "std::rt::lang_start::h0123456789abcdef");
        assert_eq!(demangle("leaf"), "leaf");
        assert_eq!(demangle("_Zbad"), "_Zbad");
    }

    #[test]
    fn options_turn_off_naming_demangling_and_the_cache() {
        let pid = std::process::id();
        let addr = options_turn_off_naming_demangling_and_the_cache as *const () as u64;
        let mut off = UserSymbols::with_options(SymbolOptions { resolve: false, ..SymbolOptions::default() });
        assert_eq!(off.symbol(pid, addr), None);
        assert!(off.processes.is_empty(), "nothing is read without naming");
        let mut mangled = UserSymbols::with_options(SymbolOptions { demangle: false, cache: false, ..SymbolOptions::default() });
        let symbol = mangled.symbol(pid, addr).expect("a symbol");
        assert!(symbol.name.starts_with("_ZN") && symbol.name.contains("options_turn_off_naming"), "{symbol:?}");
        assert!(mangled.names.is_empty(), "no cache: {:?}", mangled.names.keys());
        let mut named = UserSymbols::default();
        let symbol = named.symbol(pid, addr).expect("a symbol");
        assert!(symbol.name.contains("::options_turn_off_naming_demangling_and_the_cache::h"), "{symbol:?}");
        assert_eq!(named.names.len(), 1);
    }

    #[test]
    fn a_library_mapped_after_the_first_read_is_found() {
        let mut symbols = UserSymbols::default();
        let pid = std::process::id();
        symbols.processes.insert(pid, Process { read_at: Some(Instant::now() - REREAD_AFTER), ..Process::default() });
        let addr = a_library_mapped_after_the_first_read_is_found as *const () as u64;
        let symbol = symbols.symbol(pid, addr).expect("a symbol after reading the mappings again");
        assert!(symbol.name.contains("a_library_mapped_after_the_first_read_is_found"), "{symbol:?}");
        // Not again a moment later: an address outside every mapping.
        let process = symbols.processes.get_mut(&pid).expect("read");
        process.mappings.clear();
        // (Reading the test binary's symbols may take longer than that.)
        process.read_at = Some(Instant::now());
        assert_eq!(symbols.symbol(pid, addr), None);
    }

    #[test]
    fn names_a_function_of_this_test_binary() {
        let mut symbols = UserSymbols::default();
        let addr = names_a_function_of_this_test_binary as *const () as u64;
        let symbol = symbols.symbol(std::process::id(), addr + 1).expect("a symbol");
        assert!(symbol.name.contains("names_a_function_of_this_test_binary"), "{symbol:?}");
        assert_eq!(symbol.offset, 1);
    }

    /// A record of an executable mapping of `path` at `start` in `pid`.
    fn mmap(pid: u32, time: u64, start: u64, path: &str) -> Record<'_> {
        Record::Mmap { pid, time, start, len: 0x1000, offset: 0, build_id: None, path }
    }

    /// The path mapped at `addr` in `pid`.
    fn path_at(symbols: &UserSymbols, pid: u32, addr: u64) -> Option<&str> {
        symbols.mapping(pid, addr).map(|m| &*m.path)
    }

    #[test]
    fn an_exec_starts_a_new_address_space_whatever_order_the_cpus_are_read_in() {
        let records = || [mmap(7, 10, 0x1000, "/old"), Record::Exec { pid: 7, time: 20 }, mmap(7, 30, 0x1000, "/new")];
        let mut forward = UserSymbols::default();
        records().into_iter().for_each(|r| forward.apply(r));
        let mut backward = UserSymbols::default();
        records().into_iter().rev().for_each(|r| backward.apply(r));
        for symbols in [&forward, &backward] {
            assert_eq!(path_at(symbols, 7, 0x1800), Some("/new"));
            assert_eq!(symbols.processes[&7].mappings.len(), 1);
            assert!(symbols.processes[&7].complete);
        }
        // Anonymous and kernel pages are no file.
        forward.apply(mmap(7, 40, 0x5000, "//anon"));
        forward.apply(mmap(7, 40, 0x6000, "[vdso]"));
        assert_eq!(forward.processes[&7].mappings.len(), 1);
    }

    #[test]
    fn a_forked_child_has_its_parents_mappings_then_its_own() {
        let mut symbols = UserSymbols::default();
        symbols.apply(Record::Exec { pid: 7, time: 1 });
        symbols.apply(mmap(7, 2, 0x1000, "/parent"));
        symbols.apply(Record::Fork { pid: 8, parent: 7, time: 3 });
        symbols.apply(mmap(8, 4, 0x2000, "/lib"));
        // The parent's later mappings are its own.
        symbols.apply(mmap(7, 5, 0x3000, "/later"));
        assert_eq!(path_at(&symbols, 8, 0x1000), Some("/parent"));
        assert_eq!(path_at(&symbols, 8, 0x2000), Some("/lib"));
        assert_eq!(path_at(&symbols, 8, 0x3000), None);
        assert!(symbols.processes[&8].complete);
        // A child of a process that ran before the trace learns its
        // parent's mappings when needed.
        symbols.apply(Record::Fork { pid: 9, parent: 1_000_000, time: 6 });
        assert_eq!(symbols.processes[&9].parent, Some(1_000_000));
        assert!(!symbols.processes[&9].complete);
    }

    #[test]
    fn exited_processes_are_forgotten_unless_an_address_was_reported() {
        let mut symbols = UserSymbols::default();
        for pid in [7, 8] {
            symbols.apply(Record::Exec { pid, time: 1 });
            symbols.apply(mmap(pid, 2, 0x1000, "/bin"));
        }
        symbols.processes.get_mut(&7).expect("7").noticed = true;
        for pid in [7, 8] {
            symbols.apply(Record::Exit { pid, time: 3 });
        }
        symbols.forget_exited();
        assert_eq!(path_at(&symbols, 7, 0x1000), Some("/bin"));
        assert!(!symbols.processes.contains_key(&8));
        // A pid used again is a new process.
        symbols.apply(Record::Exec { pid: 7, time: 4 });
        assert_eq!(path_at(&symbols, 7, 0x1000), None);
    }

    #[test]
    fn a_file_rebuilt_since_it_was_mapped_is_not_named() {
        let exe = std::env::current_exe().expect("the test binary");
        let path = exe.to_str().expect("a UTF-8 path");
        // Rust test binaries carry a GNU build id on Linux.
        let id = blazesym::helper::read_elf_build_id(path).expect("read the test binary").expect("a build id");
        let mut other = id.to_vec();
        other[0] ^= 1;
        let pid = std::process::id();
        let addr = a_file_rebuilt_since_it_was_mapped_is_not_named as *const () as u64;
        for (id, named) in [(BuildId::new(&id), true), (BuildId::new(&other), false)] {
            let mut symbols = UserSymbols::default();
            let mut mappings = read_maps(pid, 1);
            mappings.iter_mut().for_each(|m| m.build_id = Some(id));
            symbols.processes.insert(pid, Process { mappings, complete: true, ..Process::default() });
            assert_eq!(symbols.symbol(pid, addr).is_some(), named, "{id:?}");
        }
    }

    #[test]
    fn a_child_of_a_process_older_than_the_trace_is_named_from_its_parent() {
        let mut symbols = UserSymbols::default();
        // A child of this process that is gone (no such pid).
        let child = u32::MAX - 1;
        symbols.apply(Record::Fork { pid: child, parent: std::process::id(), time: monotonic_ns() });
        let addr = a_child_of_a_process_older_than_the_trace_is_named_from_its_parent as *const () as u64;
        let symbol = symbols.symbol(child, addr).expect("a symbol from the parent's mappings");
        assert!(symbol.name.contains("a_child_of_a_process_older_than_the_trace"), "{symbol:?}");
    }
}
