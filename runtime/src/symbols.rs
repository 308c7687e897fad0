//! User addresses to symbols. A process's file-backed mappings are read
//! from /proc/PID/maps the first time one of its addresses is captured
//! (the program tells the runtime of each new pid) and kept, so that its
//! frames are still named after it exits: an address becomes a file
//! offset in the file mapped there, which stays on disk (an address
//! outside the mappings read reads them again while the process lives: a
//! library it loaded since). blazesym names
//! that offset: ELF symbol tables, DWARF, separate debug files found by
//! debug link or build id (under /usr/lib/debug), as gdb and perf find
//! them. Its symbolizer is built on the first user frame printed, and it
//! parses each file once.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};

use crate::stacks::Symbol;

/// The mappings of the processes seen so far, and the symbols of their
/// files.
#[derive(Default)]
pub struct UserSymbols {
    processes: HashMap<u32, Process>,
    symbolizer: OnceCell<Symbolizer>,
    /// Names found so far, by (file, file offset): a stack's frames repeat
    /// in many stacks, and demangling is per name.
    names: HashMap<(String, u64), Option<(String, u64)>>,
}

impl std::fmt::Debug for UserSymbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSymbols").field("processes", &self.processes).finish_non_exhaustive()
    }
}

/// What is known of one process's address space.
#[derive(Debug)]
struct Process {
    /// Its file-backed mappings, the latest read first.
    mappings: Vec<Mapping>,
    /// When they were last read.
    read_at: Instant,
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
    path: String,
}

impl UserSymbols {
    /// Reads `pid`'s mappings now, while the process lives, so that its
    /// addresses are named after it exits.
    pub fn remember(&mut self, pid: u32) {
        self.mappings(pid);
    }

    /// The symbol `addr` is in, in process `pid`.
    pub fn symbol(&mut self, pid: u32, addr: u64) -> Option<Symbol> {
        let within = |m: &&Mapping| (m.start..m.end).contains(&addr);
        if !self.mappings(pid).iter().any(|m| within(&m)) {
            self.reread(pid);
        }
        let mapping = self.mappings(pid).iter().find(within)?;
        let (path, file_offset) = (mapping.path.clone(), addr - mapping.start + mapping.offset);
        let key = (path, file_offset);
        if !self.names.contains_key(&key) {
            let name = self.name_at(&key.0, file_offset);
            self.names.insert(key.clone(), name);
        }
        let (name, offset) = self.names.get(&key)?.clone()?;
        Some(Symbol { name, offset, module: Some(key.0) })
    }

    /// The symbol at `file_offset` in the ELF file at `path`, demangled,
    /// and the offset into it.
    fn name_at(&self, path: &str, file_offset: u64) -> Option<(String, u64)> {
        let symbolizer = self.symbolizer.get_or_init(|| {
            // Names as the symbol tables spell them (demangled below as
            // bpftrace demangles them); no source lines, no inlined frames.
            Symbolizer::builder()
                .enable_code_info(false)
                .enable_inlined_fns(false)
                .enable_demangling(false)
                // The files stay as they were for the session: no stat per lookup.
                .enable_auto_reload(false)
                .build()
        });
        let source = Source::Elf(Elf::new(path));
        match symbolizer.symbolize_single(&source, Input::FileOffset(file_offset)).ok()? {
            Symbolized::Sym(sym) => Some((demangle(&sym.name), sym.offset as u64)),
            Symbolized::Unknown(_) => None,
        }
    }

    /// The mappings of `pid`, read on the first question about it.
    fn mappings(&mut self, pid: u32) -> &[Mapping] {
        &self.processes.entry(pid).or_insert_with(|| Process { mappings: read_maps(pid), read_at: Instant::now() }).mappings
    }

    /// Reads the mappings of `pid` again, if it still lives and they were
    /// not read a moment ago: the new ones first, then those it has
    /// unmapped since (its earlier values may be in them).
    fn reread(&mut self, pid: u32) {
        let Some(process) = self.processes.get_mut(&pid) else { return };
        if process.read_at.elapsed() < REREAD_AFTER {
            return;
        }
        process.read_at = Instant::now();
        let mut mappings = read_maps(pid);
        if mappings.is_empty() {
            return;
        }
        mappings.extend(process.mappings.drain(..).filter(|m| !mappings.contains(m)).collect::<Vec<_>>());
        process.mappings = mappings;
    }
}

/// The file-backed mappings of process `pid` now; none when it is gone.
fn read_maps(pid: u32) -> Vec<Mapping> {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).map(|text| parse_maps(&text)).unwrap_or_default()
}

/// A C++ (or legacy Rust) symbol's name demangled, as bpftrace shows it by
/// default (through the C++ runtime's `__cxa_demangle`); another name as
/// it is. Done per frame printed, not for every symbol read.
fn demangle(name: &str) -> String {
    if name.starts_with("_Z") {
        if let Some(text) = cpp_demangle::Symbol::new(name).ok().and_then(|s| s.demangle().ok()) {
            return text;
        }
    }
    name.to_string()
}

/// The file-backed mappings in the text of /proc/PID/maps
/// (`start-end perms offset dev inode path`).
fn parse_maps(text: &str) -> Vec<Mapping> {
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
                path: path.to_string(),
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
        let maps = parse_maps(text);
        assert_eq!(maps, [Mapping { start: 0x55d0c000, end: 0x55d0d000, offset: 0x1000, path: "/usr/bin/cat".into() }]);
    }

    #[test]
    fn cpp_and_rust_names_are_demangled_as_cxa_demangle_does() {
        assert_eq!(demangle("_ZN2ns3fooEi"), "ns::foo(int)");
        assert_eq!(demangle("_ZN3std2rt10lang_start17h0123456789abcdefE"), "std::rt::lang_start::h0123456789abcdef");
        assert_eq!(demangle("leaf"), "leaf");
        assert_eq!(demangle("_Zbad"), "_Zbad");
    }

    #[test]
    fn a_library_mapped_after_the_first_read_is_found() {
        let mut symbols = UserSymbols::default();
        let pid = std::process::id();
        symbols.processes.insert(pid, Process { mappings: Vec::new(), read_at: Instant::now() - REREAD_AFTER });
        let addr = a_library_mapped_after_the_first_read_is_found as *const () as u64;
        let symbol = symbols.symbol(pid, addr).expect("a symbol after reading the mappings again");
        assert!(symbol.name.contains("a_library_mapped_after_the_first_read_is_found"), "{symbol:?}");
        // Not again a moment later: an address outside every mapping.
        symbols.processes.get_mut(&pid).expect("read").mappings.clear();
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
}
