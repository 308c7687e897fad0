//! User addresses to symbols: a process's mappings from /proc/PID/maps,
//! then the function symbols (symtab and dynsym) of the ELF file mapped
//! there and of its separate debug file, read with the `object` crate
//! (already a dependency). Both are read on first need and
//! kept, so a process's frames stay named once its mappings were read,
//! also after it exits ([`UserSymbols::remember`] reads them early).

use std::collections::HashMap;

use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::stacks::Symbol;

/// The symbols of the processes and files seen so far.
#[derive(Debug, Default)]
pub struct UserSymbols {
    processes: HashMap<u32, Vec<Mapping>>,
    files: HashMap<String, Option<ElfSymbols>>,
}

/// One file-backed mapping of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
    /// The file offset mapped at `start`.
    offset: u64,
    path: String,
}

/// The function symbols of one ELF file, and where its segments load.
#[derive(Debug, Default)]
struct ElfSymbols {
    /// (address, size, name), sorted by address.
    symbols: Vec<(u64, u64, String)>,
    /// (file offset, file size, address) of each loadable segment.
    segments: Vec<(u64, u64, u64)>,
}

impl UserSymbols {
    /// Reads `pid`'s mappings and the symbols of its files now, while the
    /// process lives, so that its stacks are named after it exits.
    pub fn remember(&mut self, pid: u32) {
        let mappings = self.mappings(pid).to_vec();
        for m in mappings {
            self.file(&m.path);
        }
    }

    /// The symbol `addr` is in, in process `pid`.
    pub fn symbol(&mut self, pid: u32, addr: u64) -> Option<Symbol> {
        let mapping = self.mappings(pid).iter().find(|m| (m.start..m.end).contains(&addr))?.clone();
        let file_offset = addr - mapping.start + mapping.offset;
        let elf = self.file(&mapping.path).as_ref()?;
        let &(seg_offset, _, seg_addr) =
            elf.segments.iter().find(|&&(off, size, _)| (off..off + size.max(1)).contains(&file_offset))?;
        let vaddr = file_offset - seg_offset + seg_addr;
        let i = elf.symbols.partition_point(|&(a, _, _)| a <= vaddr);
        let (start, size, name) = elf.symbols.get(i.checked_sub(1)?)?;
        if *size != 0 && vaddr >= start + size {
            return None;
        }
        Some(Symbol { name: demangle(name), offset: vaddr - start, module: Some(mapping.path) })
    }

    fn mappings(&mut self, pid: u32) -> &[Mapping] {
        self.processes.entry(pid).or_insert_with(|| {
            std::fs::read_to_string(format!("/proc/{pid}/maps")).map(|text| parse_maps(&text)).unwrap_or_default()
        })
    }

    fn file(&mut self, path: &str) -> &Option<ElfSymbols> {
        self.files.entry(path.to_string()).or_insert_with(|| std::fs::read(path).ok().and_then(|data| read_elf(path, &data)))
    }
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

/// The function symbols and loadable segments of the ELF file at `path`,
/// with the symbols of its separate debug file (found by build id, then by
/// debug link, where gdb looks) when it has one: a distribution's libc
/// keeps only its exported symbols, its debug file has the others.
fn read_elf(path: &str, data: &[u8]) -> Option<ElfSymbols> {
    let elf = ElfFile64::<Endianness>::parse(data).ok()?;
    let mut symbols = function_symbols(&elf);
    if let Some(debug) = debug_file(path, &elf).and_then(|p| std::fs::read(p).ok()) {
        if let Ok(debug) = ElfFile64::<Endianness>::parse(&debug[..]) {
            symbols.extend(function_symbols(&debug));
        }
    }
    symbols.sort();
    symbols.dedup_by_key(|s| s.0);
    let segments = elf
        .segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (offset, size, s.address())
        })
        .collect();
    Some(ElfSymbols { symbols, segments })
}

/// The named function symbols (symtab and dynsym) of an ELF file.
fn function_symbols(elf: &ElfFile64<'_, Endianness>) -> Vec<(u64, u64, String)> {
    elf.symbols()
        .chain(elf.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .filter(|(_, _, name)| !name.is_empty())
        .collect()
}

/// The separate debug file of the ELF file at `path`, if there is one:
/// /usr/lib/debug/.build-id/NN/REST.debug, or the debug link's name next
/// to the file, in its .debug directory or under /usr/lib/debug.
fn debug_file(path: &str, elf: &ElfFile64<'_, Endianness>) -> Option<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(Some(id)) = elf.build_id() {
        if id.len() > 1 {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            candidates.push(PathBuf::from(format!("/usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..])));
        }
    }
    if let Ok(Some((name, _crc))) = elf.gnu_debuglink() {
        let name = String::from_utf8_lossy(name).into_owned();
        let dir = Path::new(path).parent().unwrap_or(Path::new("/"));
        candidates.push(dir.join(&name));
        candidates.push(dir.join(".debug").join(&name));
        candidates.push(Path::new("/usr/lib/debug").join(dir.strip_prefix("/").unwrap_or(dir)).join(&name));
    }
    candidates.into_iter().find(|c| c.as_path() != Path::new(path) && c.is_file())
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
    fn names_a_function_of_this_test_binary() {
        let mut symbols = UserSymbols::default();
        let addr = names_a_function_of_this_test_binary as *const () as u64;
        let symbol = symbols.symbol(std::process::id(), addr + 1).expect("a symbol");
        assert!(symbol.name.contains("names_a_function_of_this_test_binary"), "{symbol:?}");
        assert_eq!(symbol.offset, 1);
    }
}
