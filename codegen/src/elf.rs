//! Writes a BPF ELF relocatable object in the shape aya 0.14 loads: one
//! executable section per program with a global function symbol, a legacy
//! `maps` section of `bpf_map_def`s, a `license` section, and an
//! `R_BPF_64_64` relocation on every ld_imm64 that loads a map.

use object::write::{Object, Relocation, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

use crate::insn::Code;
use crate::CodegenError;

/// Kernel map types (`enum bpf_map_type`).
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const RINGBUF: u32 = 27;
}

/// `R_BPF_64_64`: the loader patches a map's fd into an ld_imm64.
const R_BPF_64_64: u32 = 1;
/// `struct bpf_map_def`: five u32s.
const MAP_DEF_SIZE: u64 = 20;

pub struct ElfProgram<'a> {
    /// e.g. `tracepoint/syscalls/sys_enter_execve`; aya infers the program
    /// type from the part before the first `/`.
    pub section: &'a str,
    /// The function symbol aya looks the program up by.
    pub name: &'a str,
    pub code: &'a Code,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

pub struct ElfMap<'a> {
    pub name: &'a str,
    pub def: MapDef,
}

pub fn write_elf(programs: &[ElfProgram], maps: &[ElfMap], license: &str) -> Result<Vec<u8>, CodegenError> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let maps_section = obj.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data);
    let mut map_symbols = std::collections::HashMap::new();
    for map in maps {
        let d = map.def;
        let bytes: Vec<u8> = [d.map_type, d.key_size, d.value_size, d.max_entries, d.flags]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let offset = obj.append_section_data(maps_section, &bytes, 4);
        let symbol = obj.add_symbol(Symbol {
            name: map.name.as_bytes().to_vec(),
            value: offset,
            size: MAP_DEF_SIZE,
            kind: SymbolKind::Data,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(maps_section),
            flags: SymbolFlags::None,
        });
        map_symbols.insert(map.name, symbol);
    }

    for program in programs {
        // A section without the exec flag is silently skipped by aya:
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
        for reloc in &program.code.relocations {
            let symbol = *map_symbols
                .get(reloc.map.as_str())
                .ok_or_else(|| CodegenError::Elf(format!("program {} uses undefined map {}", program.name, reloc.map)))?;
            // object writes SHT_REL for BPF: a nonzero addend would land in
            // the instruction bytes.
            obj.add_relocation(
                section,
                Relocation {
                    offset: reloc.insn_index as u64 * 8,
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf { r_type: R_BPF_64_64 },
                },
            )
            .map_err(|e| CodegenError::Elf(e.to_string()))?;
        }
    }

    let license_section = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    obj.append_section_data(license_section, &text, 1);

    obj.write().map_err(|e| CodegenError::Elf(e.to_string()))
}

/// Reads the programs back out of an object written by [`write_elf`]: each
/// program's code with its map relocations (for disassembling a saved object).
pub fn read_programs(elf: &[u8]) -> Result<Vec<(String, Code)>, CodegenError> {
    use object::{Object as _, ObjectSection, ObjectSymbol, RelocationTarget};
    let err = |e: object::Error| CodegenError::ReadElf(e.to_string());
    let file = object::File::parse(elf).map_err(err)?;
    let mut out = Vec::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text {
            continue;
        }
        let Some(index) = symbol.section_index() else { continue };
        let section = file.section_by_index(index).map_err(err)?;
        let data = section.data().map_err(err)?;
        let insns = data
            .chunks_exact(8)
            .map(|c| crate::insn::Insn::from_bytes(c.try_into().unwrap_or([0; 8])))
            .collect::<Vec<_>>();
        let mut relocations = Vec::new();
        for (offset, reloc) in section.relocations() {
            if let RelocationTarget::Symbol(s) = reloc.target() {
                let name = file.symbol_by_index(s).and_then(|s| s.name().map(str::to_string)).map_err(err)?;
                relocations.push(crate::insn::MapRelocation { insn_index: offset as usize / 8, map: name });
            }
        }
        let spans = vec![rbpf_lang::Span::default(); insns.len()];
        out.push((symbol.name().map_err(err)?.to_string(), Code { insns, relocations, spans }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Builder, Helper, Reg};

    #[test]
    fn round_trips_programs_maps_and_relocations() {
        let mut b = Builder::new();
        b.load_map_fd(Reg::R1, "counts");
        b.call(Helper::MapLookupElem);
        b.mov64(Reg::R0, 0);
        b.exit();
        let code = b.finish().unwrap();
        let elf = write_elf(
            &[ElfProgram { section: "tracepoint/syscalls/sys_enter_getppid", name: "probe0", code: &code }],
            &[ElfMap { name: "counts", def: MapDef { map_type: map_type::HASH, key_size: 8, value_size: 8, max_entries: 16, flags: 0 } }],
            "GPL",
        )
        .unwrap();
        let programs = read_programs(&elf).unwrap();
        assert_eq!(programs.len(), 1);
        assert_eq!(programs[0].0, "probe0");
        assert_eq!(programs[0].1.insns, code.insns);
        assert_eq!(programs[0].1.relocations, code.relocations);

        let parsed = aya_obj::Object::parse(&elf).unwrap();
        assert!(parsed.programs.contains_key("probe0"));
        assert!(parsed.maps.contains_key("counts"));
    }
}
