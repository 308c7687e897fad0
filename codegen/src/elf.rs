//! Writes a BPF ELF relocatable object in the conventional shape: one
//! executable section per program with a global function symbol, maps
//! defined in BTF in a `.maps` section (as libbpf 1.x requires), a
//! `license` section, and an `R_BPF_64_64` relocation on every ld_imm64
//! that loads a map; and reads it back ([`read_object`]) for rbpf's own
//! loader (rbpf-runtime's `loader`), which loads it with bpf(2). The tests
//! check that aya-obj 0.3 parses it too (and tests/emit_elf.rs that
//! bpftool opens it), so a saved object stays readable by other tools.
//!
//! The `.maps` bytes repeat each definition as a legacy `bpf_map_def`, so
//! rbpf's loader parses no BTF for them; rbpf resolves kernel types
//! itself, so the object needs no CO-RE relocations. Callbacks (static
//! functions in `.text`, whose address an ld_imm64 loads) need BTF
//! func_info for the verifier, so an object with callbacks carries
//! `.BTF.ext` too ([`crate::btf`]), and only then is the BTF loaded into
//! the kernel.

use std::collections::{HashMap, HashSet};

use object::write::{Object, Relocation, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

use crate::btf;
use crate::insn::Code;
use crate::CodegenError;

/// Kernel map types (`enum bpf_map_type` in uapi `bpf.h`), those a
/// tracing program may use.
pub mod map_type {
    /// A hash table.
    pub const HASH: u32 = 1;
    /// An array indexed by a u32, every element present.
    pub const ARRAY: u32 = 2;
    /// Programs, for tail calls.
    pub const PROG_ARRAY: u32 = 3;
    /// One perf event per CPU (`max_entries` 0: as many as CPUs).
    pub const PERF_EVENT_ARRAY: u32 = 4;
    /// A hash table with one value per CPU.
    pub const PERCPU_HASH: u32 = 5;
    /// An array with one value per CPU.
    pub const PERCPU_ARRAY: u32 = 6;
    /// Key u32 (the stack id), value `max_depth` u64 addresses.
    pub const STACK_TRACE: u32 = 7;
    /// A hash table that evicts the least recently used element when full.
    pub const LRU_HASH: u32 = 9;
    /// [`LRU_HASH`] with one value per CPU.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// A FIFO of values, no keys.
    pub const QUEUE: u32 = 22;
    /// A LIFO of values, no keys.
    pub const STACK: u32 = 23;
    /// Key and value size 0; `max_entries` is the size in bytes (a power
    /// of two and a multiple of the page size). Kernel 5.8+.
    pub const RINGBUF: u32 = 27;
}

/// `R_BPF_64_64`: the loader patches a map's fd into an ld_imm64.
const R_BPF_64_64: u32 = 1;

/// One program: its own section, so that a loader can infer each
/// program's type from its section name (rbpf's takes it from the
/// manifest).
pub struct ElfProgram<'a> {
    /// e.g. `tracepoint/syscalls/sys_enter_execve`; ELF loaders (aya-obj,
    /// libbpf) infer the program type from the part before the first `/`.
    pub section: &'a str,
    /// The function symbol the program is looked up by.
    pub name: &'a str,
    /// Its instructions.
    pub code: &'a Code,
}

/// The legacy `struct bpf_map_def` (five u32s, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// One of [`map_type`].
    pub map_type: u32,
    /// Key bytes.
    pub key_size: u32,
    /// Value bytes (per CPU for a per-CPU map).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` map flags.
    pub flags: u32,
}

/// A callback: a static function in `.text`, linked by the loader into
/// each program that references it.
pub struct ElfFunction<'a> {
    /// Its (local) symbol name.
    pub name: &'a str,
    /// Its instructions.
    pub code: &'a Code,
}

/// A map of the `.maps` section.
pub struct ElfMap<'a> {
    /// The symbol name, which names the map.
    pub name: &'a str,
    /// Its definition.
    pub def: MapDef,
}

/// Writes the object. `license` must be GPL-compatible for the helpers
/// tracing uses (bpf_probe_read*, bpf_get_stackid... are GPL-only).
pub fn write_elf(programs: &[ElfProgram], maps: &[ElfMap], license: &str) -> Result<Vec<u8>, CodegenError> {
    write_object(programs, &[], maps, license)
}

/// [`write_elf`], with callbacks in `.text` and the BTF they need.
pub fn write_object(
    programs: &[ElfProgram],
    functions: &[ElfFunction],
    maps: &[ElfMap],
    license: &str,
) -> Result<Vec<u8>, CodegenError> {
    check_names(programs, functions, maps, license)?;
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let mut map_symbols = HashMap::new();
    let mut map_vars = Vec::with_capacity(maps.len());
    if !maps.is_empty() {
        // BTF-defined maps, as libbpf 1.x wants them ([`btf`]): the BTF
        // holds the definitions, and the section's bytes repeat each one
        // as a legacy `bpf_map_def`, which rbpf's loader reads without
        // parsing BTF (BTF loaders ignore the bytes of `.maps`).
        let maps_section = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
        for map in maps {
            let d = map.def;
            let def = [d.map_type, d.key_size, d.value_size, d.max_entries, d.flags];
            let mut bytes: Vec<u8> = def.iter().flat_map(|v| v.to_le_bytes()).collect();
            bytes.resize(btf::MAP_VAR_SIZE as usize, 0);
            let offset = obj.append_section_data(maps_section, &bytes, 8);
            let symbol = obj.add_symbol(Symbol {
                name: map.name.as_bytes().to_vec(),
                value: offset,
                size: u64::from(btf::MAP_VAR_SIZE),
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(maps_section),
                flags: SymbolFlags::None,
            });
            map_symbols.insert(map.name, symbol);
            map_vars.push(btf::MapVar { name: map.name, offset: offset as u32, def });
        }
    }

    // Callbacks first, so that programs' references find their symbols.
    // Static (local) symbols, one after another in `.text`: aya-obj wants
    // every byte of `.text` covered by a function symbol.
    let mut func_symbols = HashMap::new();
    let mut btf_funcs = Vec::new();
    let text = (!functions.is_empty()).then(|| obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text));
    if let Some(text) = text {
        for function in functions {
            let bytes = function.code.to_bytes();
            let offset = obj.append_section_data(text, &bytes, 8);
            obj.add_symbol(Symbol {
                name: function.name.as_bytes().to_vec(),
                value: offset,
                size: bytes.len() as u64,
                kind: SymbolKind::Text,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Section(text),
                flags: SymbolFlags::None,
            });
            // References name the callback through `.text`'s section symbol
            // and its byte offset in the ld_imm64's imm, as clang writes
            // them: libbpf takes no other form for a static function.
            func_symbols.insert(function.name, (obj.section_symbol(text), offset));
            btf_funcs.push(btf::Func { name: function.name, section: ".text", offset: offset as u32, kind: btf::FuncKind::Callback });
        }
        for (function, offset) in functions.iter().zip(btf_funcs.iter().map(|f| u64::from(f.offset))) {
            relocate(&mut obj, text, offset, function.name, function.code, &map_symbols, &func_symbols)?;
        }
    }

    for program in programs {
        // A section without the exec flag is silently skipped by aya-obj:
        // SectionKind::Text gives SHF_ALLOC | SHF_EXECINSTR.
        let section = obj.add_section(Vec::new(), program.section.as_bytes().to_vec(), SectionKind::Text);
        let bytes = program.code.to_bytes();
        obj.append_section_data(section, &bytes, 8);
        obj.add_symbol(Symbol {
            name: program.name.as_bytes().to_vec(),
            value: 0,
            size: bytes.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
        btf_funcs.push(btf::Func { name: program.name, section: program.section, offset: 0, kind: btf::FuncKind::Program });
        relocate(&mut obj, section, 0, program.name, program.code, &map_symbols, &func_symbols)?;
    }

    // Programs' func_info only for callbacks, whose verification needs it.
    let funcs = if text.is_some() { btf_funcs.as_slice() } else { &[] };
    if !funcs.is_empty() || !map_vars.is_empty() {
        let sections = btf::build(funcs, &map_vars);
        let btf_section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
        obj.append_section_data(btf_section, &sections.btf, 4);
        if !funcs.is_empty() {
            let ext_section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Metadata);
            obj.append_section_data(ext_section, &sections.btf_ext, 4);
        }
    }

    // Loaders read the license as a C string from the whole section.
    let license_section = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    obj.append_section_data(license_section, &text, 1);

    obj.write().map_err(|e| CodegenError::Elf(e.to_string()))
}

/// Adds the relocations of one function's map and function references;
/// the function starts at byte `offset` of `section`.
fn relocate(
    obj: &mut Object,
    section: object::write::SectionId,
    offset: u64,
    name: &str,
    code: &Code,
    map_symbols: &HashMap<&str, object::write::SymbolId>,
    func_symbols: &HashMap<&str, (object::write::SymbolId, u64)>,
) -> Result<(), CodegenError> {
    let maps = code.relocations.iter().map(|r| (r.insn_index, r.map.as_str(), map_symbols.get(r.map.as_str()).map(|&s| (s, None)), "map"));
    let funcs = code
        .func_relocations
        .iter()
        .map(|r| (r.insn_index, r.func.as_str(), func_symbols.get(r.func.as_str()).map(|&(s, at)| (s, Some(at))), "function"));
    for (insn_index, target, symbol, what) in maps.chain(funcs) {
        // The relocation must sit on an ld_imm64, or loaders refuse the object.
        if !code.insns.get(insn_index).is_some_and(|i| i.is_ld_imm64()) {
            return Err(CodegenError::Elf(format!(
                "program {name}: {what} {target} relocated at instruction {insn_index}, which is no ld_imm64"
            )));
        }
        let (symbol, text_offset) = symbol.ok_or_else(|| CodegenError::Elf(format!("program {name} uses undefined {what} {target}")))?;
        if let Some(text_offset) = text_offset {
            let imm = usize::try_from(offset).unwrap_or(usize::MAX).saturating_add(insn_index * 8 + 4);
            let bytes = u32::try_from(text_offset).map_err(|_| CodegenError::Elf(format!("{target} lies too far into .text")))?.to_le_bytes();
            match obj.section_mut(section).data_mut().get_mut(imm..imm + 4) {
                Some(slot) => slot.copy_from_slice(&bytes),
                None => return Err(CodegenError::Elf(format!("program {name}: a reference to {target} lies past its end"))),
            }
        }
        // object writes SHT_REL for BPF: a nonzero addend would land in
        // the instruction bytes.
        obj.add_relocation(
            section,
            Relocation {
                offset: offset + insn_index as u64 * 8,
                symbol,
                addend: 0,
                flags: RelocationFlags::Elf { r_type: R_BPF_64_64 },
            },
        )
        .map_err(|e| CodegenError::Elf(e.to_string()))?;
    }
    Ok(())
}

/// Duplicate symbols would make a loader load one program or map in place of
/// another without a word; an empty name or a NUL cannot be written.
fn check_names(programs: &[ElfProgram], functions: &[ElfFunction], maps: &[ElfMap], license: &str) -> Result<(), CodegenError> {
    let mut seen = HashSet::new();
    let names = programs.iter().map(|p| p.name).chain(functions.iter().map(|f| f.name)).chain(maps.iter().map(|m| m.name));
    for name in names {
        if name.is_empty() || name.contains('\0') {
            return Err(CodegenError::Elf(format!("invalid symbol name {name:?}")));
        }
        if !seen.insert(name) {
            return Err(CodegenError::Elf(format!("two programs or maps are named {name}")));
        }
    }
    if let Some(p) = programs.iter().find(|p| p.section.is_empty() || p.section.contains('\0')) {
        return Err(CodegenError::Elf(format!("program {} has an invalid section name {:?}", p.name, p.section)));
    }
    if license.contains('\0') {
        return Err(CodegenError::Elf("the license contains a NUL byte".to_string()));
    }
    Ok(())
}

/// One function read back from an object: a program (its own section,
/// global) or a callback (`.text`, local).
#[derive(Clone, Debug)]
pub struct ReadFunction {
    /// Its symbol name.
    pub name: String,
    /// Its section's name.
    pub section: String,
    /// Its instructions, with its relocations; no spans.
    pub code: Code,
}

/// What a loader needs of an object written by [`write_object`].
#[derive(Clone, Debug, Default)]
pub struct ReadObject {
    /// Programs and callbacks, in symbol order.
    pub functions: Vec<ReadFunction>,
    /// The maps by symbol name, in symbol order.
    pub maps: Vec<(String, MapDef)>,
    /// The `license` section's string.
    pub license: String,
    /// The `.BTF` section, present when the object has callbacks.
    pub btf: Option<Vec<u8>>,
}

/// Reads the programs back out of an object written by [`write_elf`]: each
/// program's code with its map relocations (for disassembling a saved object).
pub fn read_programs(elf: &[u8]) -> Result<Vec<(String, Code)>, CodegenError> {
    Ok(read_object(elf)?.functions.into_iter().map(|f| (f.name, f.code)).collect())
}

/// Reads an object written by [`write_object`]: every function with its
/// relocations, the map definitions, the license and the BTF.
pub fn read_object(elf: &[u8]) -> Result<ReadObject, CodegenError> {
    use object::{Object as _, ObjectSection, ObjectSymbol, RelocationTarget};
    let err = |e: object::Error| CodegenError::ReadElf(e.to_string());
    let file = object::File::parse(elf).map_err(err)?;
    let mut out = ReadObject::default();
    for symbol in file.symbols() {
        let Some(index) = symbol.section_index() else { continue };
        let section = file.section_by_index(index).map_err(err)?;
        let data = section.data().map_err(err)?;
        let name = symbol.name().map_err(err)?;
        // The symbol's bytes: its range of the section (all of it for
        // objects whose symbols have no size).
        let start = symbol.address().saturating_sub(section.address());
        let end = match symbol.size() {
            0 => data.len() as u64,
            size => start.saturating_add(size),
        };
        let bytes = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| data.get(start..end))
            .ok_or_else(|| CodegenError::ReadElf(format!("symbol {name} lies outside its section")))?;
        if symbol.kind() == SymbolKind::Data && matches!(section.name(), Ok("maps" | ".maps")) {
            let word = |i: usize| bytes.get(4 * i..4 * i + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            let def = (|| Some(MapDef { map_type: word(0)?, key_size: word(1)?, value_size: word(2)?, max_entries: word(3)?, flags: word(4)? }))()
                .ok_or_else(|| CodegenError::ReadElf(format!("map {name} is shorter than a bpf_map_def")))?;
            out.maps.push((name.to_string(), def));
            continue;
        }
        if symbol.kind() != SymbolKind::Text {
            continue;
        }
        let insns = bytes
            .chunks_exact(8)
            .map(|c| crate::insn::Insn::from_bytes(c.try_into().unwrap_or([0; 8])))
            .collect::<Vec<_>>();
        let mut relocations = Vec::new();
        let mut func_relocations = Vec::new();
        for (offset, reloc) in section.relocations() {
            let Some(at) = offset.checked_sub(start).filter(|at| *at < bytes.len() as u64) else { continue };
            if let RelocationTarget::Symbol(s) = reloc.target() {
                let mut target = file.symbol_by_index(s).map_err(err)?;
                let insn_index = at as usize / 8;
                if target.kind() == SymbolKind::Section {
                    // A static function by its section and byte offset (imm).
                    let imm = insns.get(insn_index).map_or(0, |i| i.imm as u32 as u64);
                    target = file
                        .symbols()
                        .find(|f| f.kind() == SymbolKind::Text && f.section_index() == target.section_index() && f.address() == imm)
                        .ok_or_else(|| CodegenError::ReadElf(format!("{name}: a reference to no function, at {imm} in its section")))?;
                }
                let target_name = target.name().map_err(err)?.to_string();
                if target.kind() == SymbolKind::Text {
                    func_relocations.push(crate::insn::FuncRelocation { insn_index, func: target_name });
                } else {
                    relocations.push(crate::insn::MapRelocation { insn_index, map: target_name });
                }
            }
        }
        let spans = vec![rbpf_lang::Span::default(); insns.len()];
        out.functions.push(ReadFunction {
            name: name.to_string(),
            section: section.name().map_err(err)?.to_string(),
            code: Code { insns, relocations, func_relocations, spans },
        });
    }
    if let Some(license) = file.section_by_name("license") {
        let data = license.data().map_err(err)?;
        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
        out.license = String::from_utf8_lossy(&data[..end]).into_owned();
    }
    if let Some(btf) = file.section_by_name(".BTF") {
        out.btf = Some(btf.data().map_err(err)?.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use object::elf;
    use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
    use object::{Object as _, ObjectSection, ObjectSymbol};

    use super::*;
    use crate::insn::{Builder, Helper, Reg};

    const HASH: MapDef = MapDef { map_type: map_type::HASH, key_size: 8, value_size: 8, max_entries: 16, flags: 0 };
    const RINGBUF: MapDef = MapDef { map_type: map_type::RINGBUF, key_size: 0, value_size: 0, max_entries: 1 << 16, flags: 0 };

    /// `@counts[...]++`-shaped: a lookup in `counts`, then output to `events`.
    fn counting_program() -> Code {
        let mut b = Builder::new();
        b.mov64(Reg::R6, Reg::R1);
        b.load_map_fd(Reg::R1, "counts");
        b.call(Helper::MapLookupElem);
        b.load_map_fd(Reg::R1, "events");
        b.call(Helper::RingbufOutput);
        b.mov64(Reg::R0, 0);
        b.exit();
        b.finish().unwrap()
    }

    fn trivial_program() -> Code {
        let mut b = Builder::new();
        b.mov64(Reg::R0, 0);
        b.exit();
        b.finish().unwrap()
    }

    fn sample_object(counting: &Code, trivial: &Code) -> Vec<u8> {
        write_elf(
            &[
                ElfProgram { section: "tracepoint/syscalls/sys_enter_getppid", name: "probe0", code: counting },
                ElfProgram { section: "raw_tracepoint/rbpf_begin", name: "begin", code: trivial },
                ElfProgram { section: "perf_event", name: "interval0", code: trivial },
            ],
            &[ElfMap { name: "counts", def: HASH }, ElfMap { name: "events", def: RINGBUF }],
            "GPL",
        )
        .unwrap()
    }

    #[test]
    fn aya_finds_programs_maps_and_relocations() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let elf = sample_object(&counting, &trivial);
        let mut parsed = aya_obj::Object::parse(&elf).unwrap();

        assert_eq!(parsed.license.to_str(), Ok("GPL"));
        let section = |name: &str| format!("{:?}", parsed.programs[name].section);
        assert_eq!(section("probe0"), "TracePoint");
        assert_eq!(section("begin"), "RawTracePoint");
        assert_eq!(section("interval0"), "PerfEvent");

        let counts = &parsed.maps["counts"];
        assert_eq!((counts.map_type(), counts.key_size(), counts.value_size(), counts.max_entries()), (1, 8, 8, 16));
        let events = &parsed.maps["events"];
        assert_eq!((events.map_type(), events.key_size(), events.value_size(), events.max_entries()), (27, 0, 0, 1 << 16));

        // What the loader does after creating the maps: patch each fd into
        // its ld_imm64. Wrong relocations fail here or patch the wrong slot.
        let maps = [("counts", 40), ("events", 41)].map(|(name, fd)| (name, fd, parsed.maps[name].clone()));
        parsed.relocate_maps(maps.iter().map(|(name, fd, map)| (*name, *fd, map)), &HashSet::new()).unwrap();
        let key = parsed.programs["probe0"].function_key();
        let insns = &parsed.functions[&key].instructions;
        assert_eq!(insns.len(), counting.insns.len());
        let patched: Vec<(usize, u8, i32)> =
            insns.iter().enumerate().filter(|(_, i)| i.code == 0x18).map(|(at, i)| (at, i.src_reg(), i.imm)).collect();
        assert_eq!(patched, [(1, 1, 40), (4, 1, 41)]);
    }

    /// The ELF facts aya 0.14 depends on, checked on the raw headers.
    #[test]
    fn writes_the_shape_aya_expects() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let elf = sample_object(&counting, &trivial);
        let file = ElfFile64::<object::Endianness>::parse(&*elf).unwrap();
        let endian = file.endian();
        assert_eq!(file.elf_header().e_machine(endian), elf::EM_BPF);
        assert_eq!(file.elf_header().e_type(endian), elf::ET_REL);

        let program = file.section_by_name("tracepoint/syscalls/sys_enter_getppid").unwrap();
        let flags = program.elf_section_header().sh_flags(endian);
        assert_eq!(flags & u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR), u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR));
        assert_eq!(program.data().unwrap(), counting.to_bytes());

        let symbol = |name: &str| file.symbols().find(|s| s.name() == Ok(name)).unwrap();
        let probe = symbol("probe0");
        assert!(probe.is_global());
        assert_eq!((probe.kind(), probe.address(), probe.size()), (SymbolKind::Text, 0, counting.insns.len() as u64 * 8));
        let events = symbol("events");
        assert!(events.is_global());
        assert_eq!((events.kind(), events.address(), events.size()), (SymbolKind::Data, 40, 40));
        assert_eq!(file.section_by_index(events.section_index().unwrap()).unwrap().name(), Ok(".maps"));

        let relocations: Vec<_> = program.relocations().collect();
        assert_eq!(relocations.len(), 2);
        for (offset, reloc) in &relocations {
            assert!(*offset == 8 || *offset == 32);
            assert_eq!(reloc.flags(), RelocationFlags::Elf { r_type: R_BPF_64_64 });
            // SHT_REL: the addend lives in the instruction's imm, which is 0.
            assert!(reloc.has_implicit_addend());
        }
        let rel = file.section_by_name(".reltracepoint/syscalls/sys_enter_getppid").unwrap();
        assert_eq!(rel.elf_section_header().sh_type(endian), elf::SHT_REL);

        assert_eq!(file.section_by_name("license").unwrap().data().unwrap(), b"GPL\0");
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let elf = sample_object(&counting, &trivial);
        let mut programs = read_programs(&elf).unwrap();
        programs.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = programs.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["begin", "interval0", "probe0"]);
        assert_eq!(programs[2].1.insns, counting.insns);
        assert_eq!(programs[2].1.relocations, counting.relocations);
        assert_eq!(programs[0].1.insns, trivial.insns);
    }

    #[test]
    fn reads_back_maps_license_and_sections() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let object = read_object(&sample_object(&counting, &trivial)).unwrap();
        assert_eq!(object.maps, [("counts".to_string(), HASH), ("events".to_string(), RINGBUF)]);
        assert_eq!(object.license, "GPL");
        // The maps' BTF definitions.
        assert!(object.btf.is_some());
        let probe = object.functions.iter().find(|f| f.name == "probe0").unwrap();
        assert_eq!(probe.section, "tracepoint/syscalls/sys_enter_getppid");
    }

    #[test]
    fn a_program_without_maps_loads() {
        let trivial = trivial_program();
        let elf = write_elf(&[ElfProgram { section: "raw_tracepoint/rbpf_end", name: "end", code: &trivial }], &[], "GPL").unwrap();
        let file = object::File::parse(&*elf).unwrap();
        assert!(file.section_by_name("maps").is_none() && file.section_by_name(".maps").is_none() && file.section_by_name(".BTF").is_none());
        let parsed = aya_obj::Object::parse(&elf).unwrap();
        assert!(parsed.programs.contains_key("end"));
        assert!(parsed.maps.is_empty());
    }

    /// A program whose callback aya must link in: both reference a map.
    #[test]
    fn aya_links_callbacks_with_their_func_info() {
        let mut b = Builder::new();
        b.load_map_fd(Reg::R1, "counts");
        b.load_func(Reg::R2, "cb");
        b.mov64(Reg::R3, 0);
        b.mov64(Reg::R4, 0);
        b.call(Helper::ForEachMapElem);
        b.mov64(Reg::R0, 0);
        b.exit();
        let program = b.finish().unwrap();
        let mut b = Builder::new();
        b.load_map_fd(Reg::R1, "counts");
        b.mov64(Reg::R0, 0);
        b.exit();
        let callback = b.finish().unwrap();
        let elf = write_object(
            &[ElfProgram { section: "raw_tracepoint/p", name: "p", code: &program }],
            &[ElfFunction { name: "cb", code: &callback }, ElfFunction { name: "unused", code: &callback }],
            &[ElfMap { name: "counts", def: HASH }],
            "GPL",
        )
        .unwrap();
        let file = object::File::parse(&*elf).unwrap();
        let cb = file.symbols().find(|s| s.name() == Ok("cb")).unwrap();
        assert!(cb.is_local() && cb.kind() == SymbolKind::Text);
        assert!(file.section_by_name(".BTF").is_some() && file.section_by_name(".BTF.ext").is_some());

        let mut parsed = aya_obj::Object::parse(&elf).unwrap();
        let text_sections: HashSet<usize> = parsed.functions.keys().map(|(section, _)| *section).collect();
        let map = parsed.maps["counts"].clone();
        parsed.relocate_maps([("counts", 40, &map)].into_iter(), &text_sections).unwrap();
        parsed.relocate_calls(&text_sections).unwrap();
        let linked = &parsed.functions[&parsed.programs["p"].function_key()];
        let n = program.insns.len();
        assert_eq!(linked.instructions.len(), n + callback.insns.len(), "the callback, once, after the program");
        let func_ref = linked.instructions[2];
        assert_eq!((func_ref.src_reg(), func_ref.imm), (4, n as i32 - 3), "BPF_PSEUDO_FUNC, relative to the next slot");
        assert_eq!((linked.instructions[n].src_reg(), linked.instructions[n].imm), (1, 40), "the callback's map");
        let func_info: Vec<u32> = linked.func_info.func_info.iter().map(|f| f.insn_off).collect();
        assert_eq!(func_info, [0, n as u32], "one record per function, the program's at 0");
    }

    #[test]
    fn objects_without_callbacks_have_no_func_info() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let elf = sample_object(&counting, &trivial);
        let file = object::File::parse(&*elf).unwrap();
        assert!(file.section_by_name(".BTF.ext").is_none() && file.section_by_name(".text").is_none());
    }

    /// The maps are BTF-defined, as libbpf 1.x requires: aya-obj reads
    /// their definitions from the BTF alone.
    #[test]
    fn maps_are_defined_in_btf() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let elf = sample_object(&counting, &trivial);
        let parsed = aya_obj::Object::parse(&elf).unwrap();
        let counts = &parsed.maps["counts"];
        assert!(matches!(counts, aya_obj::Map::Btf(_)), "{counts:?}");
        assert_eq!((counts.map_type(), counts.key_size(), counts.value_size(), counts.max_entries()), (map_type::HASH, 8, 8, 16));
        let events = &parsed.maps["events"];
        assert_eq!((events.map_type(), events.max_entries()), (map_type::RINGBUF, 1 << 16));
    }

    #[test]
    fn refuses_what_aya_would_misread() {
        let (counting, trivial) = (counting_program(), trivial_program());
        let program = |name, code| ElfProgram { section: "tracepoint/a/b", name, code };
        let error = |programs: &[ElfProgram], maps: &[ElfMap]| write_elf(programs, maps, "GPL").unwrap_err().to_string();

        assert_eq!(
            error(&[program("p", &counting)], &[ElfMap { name: "counts", def: HASH }]),
            "cannot write the ELF object: program p uses undefined map events"
        );
        assert_eq!(
            error(&[program("p", &trivial), program("p", &trivial)], &[]),
            "cannot write the ELF object: two programs or maps are named p"
        );
        assert_eq!(
            error(&[program("m", &trivial)], &[ElfMap { name: "m", def: HASH }]),
            "cannot write the ELF object: two programs or maps are named m"
        );
        let mut misplaced = trivial.clone();
        misplaced.relocations.push(crate::insn::MapRelocation { insn_index: 1, map: "m".into() });
        assert_eq!(
            error(&[program("p", &misplaced)], &[ElfMap { name: "m", def: HASH }]),
            "cannot write the ELF object: program p: map m relocated at instruction 1, which is no ld_imm64"
        );
        assert!(write_elf(&[program("p", &trivial)], &[], "G\0PL").is_err());
    }
}
