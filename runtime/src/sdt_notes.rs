//! A binary's USDT probes, from its SystemTap SDT notes: `.note.stapsdt`
//! notes of owner `stapsdt` and type 3, each giving the probe's address,
//! the address `.stapsdt.base` had when the note was written (to follow
//! prelinking), its semaphore's address, and three NUL-terminated strings:
//! provider, name and argument specifications. Addresses become the file
//! offsets that uprobes and their reference counters attach at.

use object::elf::FileHeader64;
use object::read::elf::NoteIterator;
use object::{Endianness, Object, ObjectSection, ObjectSegment};

use rbpf_lang::target::UsdtProbe;

/// The note type of SDT probe descriptors.
const NT_STAPSDT: u32 = 3;

/// One note as written, before its addresses are adjusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SdtNote {
    pub pc: u64,
    pub base: u64,
    /// Zero when the probe has no semaphore.
    pub semaphore: u64,
    pub provider: String,
    pub name: String,
    pub args: String,
}

/// The USDT probes of an ELF file's bytes; an empty list when it has no
/// SDT notes. The error says in one sentence what is wrong with the file.
pub(crate) fn usdt_probes(data: &[u8]) -> Result<Vec<UsdtProbe>, String> {
    let file = object::File::parse(data).map_err(|e| format!("not an ELF binary or library: {e}"))?;
    let Some(section) = file.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let bytes = section.data().map_err(|e| format!("cannot read its .note.stapsdt section: {e}"))?;
    let endian = if file.is_little_endian() { Endianness::Little } else { Endianness::Big };
    let notes = parse_notes(bytes, endian, if file.is_64() { 8 } else { 4 })?;
    // Where `.stapsdt.base` is now; a note written before prelinking moved
    // the file records where it was, and every address moved as much.
    let base_now = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let segments: Vec<Segment> = file
        .segments()
        .map(|s| {
            let (offset, file_size) = s.file_range();
            Segment { address: s.address(), file_size, offset }
        })
        .collect();
    notes
        .into_iter()
        .map(|note| {
            let shift = base_now.map_or(0, |now| now.wrapping_sub(note.base));
            let address = note.pc.wrapping_add(shift);
            let offset = file_offset(&segments, address)
                .ok_or_else(|| format!("probe {}:{} is at {address:#x}, outside the file's loaded segments", note.provider, note.name))?;
            let semaphore_offset = match note.semaphore {
                0 => None,
                s => Some(file_offset(&segments, s.wrapping_add(shift)).ok_or_else(|| {
                    format!("the semaphore of probe {}:{} is outside the file's loaded segments", note.provider, note.name)
                })?),
            };
            Ok(UsdtProbe { provider: note.provider, name: note.name, address, offset, semaphore_offset, args: note.args })
        })
        .collect()
}

/// A loadable segment: `file_size` bytes at `offset` in the file are
/// mapped at `address`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    pub address: u64,
    pub file_size: u64,
    pub offset: u64,
}

/// The file offset of a virtual address, through the loadable segment
/// whose file-backed part holds it (a semaphore must be file-backed: the
/// kernel's reference counter is an offset in the file too).
pub(crate) fn file_offset(segments: &[Segment], address: u64) -> Option<u64> {
    segments
        .iter()
        .find(|s| address >= s.address && address - s.address < s.file_size)
        .map(|s| address - s.address + s.offset)
}

/// The `stapsdt` notes of a `.note.stapsdt` section's bytes; other notes
/// are skipped. `address_size` is 8 for ELF64 and 4 for ELF32.
pub(crate) fn parse_notes(section: &[u8], endian: Endianness, address_size: usize) -> Result<Vec<SdtNote>, String> {
    let bad = |e: object::Error| format!("its .note.stapsdt section is malformed: {e}");
    // The note header (three 4-byte words) is the same in ELF32 and ELF64.
    let mut iter = NoteIterator::<FileHeader64<Endianness>>::new(endian, 4, section).map_err(bad)?;
    let mut notes = Vec::new();
    while let Some(note) = iter.next().map_err(bad)? {
        if note.name() != b"stapsdt" || note.n_type(endian) != NT_STAPSDT {
            continue;
        }
        let desc = note.desc();
        let malformed = || "its .note.stapsdt section has a truncated probe descriptor".to_string();
        let address = |i: usize| -> Option<u64> {
            let bytes = desc.get(i * address_size..(i + 1) * address_size)?;
            let mut word = [0u8; 8];
            match endian {
                Endianness::Little => {
                    word[..address_size].copy_from_slice(bytes);
                    Some(u64::from_le_bytes(word))
                }
                Endianness::Big => {
                    word[8 - address_size..].copy_from_slice(bytes);
                    Some(u64::from_be_bytes(word))
                }
            }
        };
        let (Some(pc), Some(base), Some(semaphore)) = (address(0), address(1), address(2)) else {
            return Err(malformed());
        };
        let mut strings = desc[3 * address_size..].split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned());
        let (Some(provider), Some(name), Some(args)) = (strings.next(), strings.next(), strings.next()) else {
            return Err(malformed());
        };
        notes.push(SdtNote { pc, base, semaphore, provider, name, args });
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ELF note: header, name and descriptor, each padded to 4 bytes.
    fn note(name: &[u8], n_type: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((name.len() as u32 + 1).to_le_bytes());
        out.extend((desc.len() as u32).to_le_bytes());
        out.extend(n_type.to_le_bytes());
        out.extend(name);
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend(desc);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn sdt_desc(pc: u64, base: u64, semaphore: u64, strings: &str) -> Vec<u8> {
        let mut desc = Vec::new();
        for word in [pc, base, semaphore] {
            desc.extend(word.to_le_bytes());
        }
        desc.extend(strings.as_bytes());
        desc
    }

    #[test]
    fn parses_stapsdt_notes_and_skips_others() {
        let mut section = note(b"stapsdt", 3, &sdt_desc(0x10a3, 0x200f, 0, "app\0start\0-4@%edi 8@-16(%rbp)\0"));
        section.extend(note(b"GNU", 3, b"\x01\x02\x03\x04"));
        section.extend(note(b"stapsdt", 3, &sdt_desc(0x10b0, 0x200f, 0x4020, "app\0ready\0\0")));
        let notes = parse_notes(&section, Endianness::Little, 8).unwrap();
        assert_eq!(
            notes,
            [
                SdtNote { pc: 0x10a3, base: 0x200f, semaphore: 0, provider: "app".into(), name: "start".into(), args: "-4@%edi 8@-16(%rbp)".into() },
                SdtNote { pc: 0x10b0, base: 0x200f, semaphore: 0x4020, provider: "app".into(), name: "ready".into(), args: "".into() },
            ]
        );
    }

    #[test]
    fn refuses_truncated_descriptors() {
        let section = note(b"stapsdt", 3, &sdt_desc(1, 2, 3, "app\0")[..20]);
        assert!(parse_notes(&section, Endianness::Little, 8).is_err());
        let section = note(b"stapsdt", 3, &sdt_desc(1, 2, 3, "app\0name"));
        assert!(parse_notes(&section, Endianness::Little, 8).is_err());
    }

    #[test]
    fn addresses_become_offsets_through_their_segment() {
        let segments = [
            Segment { address: 0, file_size: 0x1000, offset: 0 },
            Segment { address: 0x1000, file_size: 0x2000, offset: 0x1000 },
            Segment { address: 0x3df0, file_size: 0x238, offset: 0x2df0 },
        ];
        assert_eq!(file_offset(&segments, 0x10a3), Some(0x10a3));
        assert_eq!(file_offset(&segments, 0x4020), Some(0x3020));
        // Past the file-backed part of the last segment (its .bss).
        assert_eq!(file_offset(&segments, 0x5100), None);
    }
}
