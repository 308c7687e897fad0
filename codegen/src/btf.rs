//! The `.BTF` section every object with maps carries, and the `.BTF.ext`
//! section an object with callbacks needs.
//!
//! Maps are declared the way libbpf 1.x requires (it refuses the legacy
//! `maps` section): each is a global variable in `.maps` whose BTF type is
//! a struct of pointers to arrays, the array lengths being the map's type,
//! key size, value size, capacity and flags (`__uint(type, N)`), and a
//! `DATASEC` lists them. So bpftool, libbpf and aya read an rbpf object.
//!
//! The verifier accepts a callback (an `ld_imm64` with `BPF_PSEUDO_FUNC`,
//! passed to bpf_for_each_map_elem) only in a program that comes with BTF
//! `func_info`: one record per function, the program's own at instruction
//! 0 included, each naming a `FUNC` type; a callback's must be
//! `BTF_FUNC_STATIC`. So every function gets a `FUNC` of one of two
//! prototypes, `long f(void *ctx)` for programs and `long f(void *map,
//! void *key, void *value, void *ctx)` for callbacks, and `.BTF.ext`
//! lists them by section. rbpf's loader (like aya-obj) reads the records
//! per function symbol and rebases them as it links the callbacks into
//! each program. No line
//! info and no CO-RE relocations: rbpf needs neither.

/// `BTF_MAGIC`, in the first two bytes of both sections.
const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
/// `BTF_INT_SIGNED`, in bits 24-27 of an INT's extra word.
const INT_SIGNED: u32 = 1 << 24;
const LINKAGE_STATIC: u32 = 0;
const LINKAGE_GLOBAL: u32 = 1;
/// The type ids of the fixed part, in the order [`Builder::new`] adds them.
const TYPE_LONG: u32 = 1;
const TYPE_VOID_PTR: u32 = 2;
const PROTO_PROGRAM: u32 = 3;
const PROTO_CALLBACK: u32 = 4;

/// What a function is, for its prototype and linkage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncKind {
    /// A program: global, `long f(void *ctx)`.
    Program,
    /// A callback: static, `long f(void *map, void *key, void *value, void *ctx)`.
    Callback,
}

/// One function: its symbol, its section and where it starts there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func<'a> {
    /// Its symbol name.
    pub name: &'a str,
    /// Its section's name.
    pub section: &'a str,
    /// Byte offset of the function in its section.
    pub offset: u32,
    /// Program or callback: which prototype.
    pub kind: FuncKind,
}

/// One map of `.maps`: its symbol, where its definition lies in the
/// section, and the definition's five numbers (type, key size, value
/// size, max entries, flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapVar<'a> {
    /// Its symbol name.
    pub name: &'a str,
    /// Byte offset of its definition in `.maps`.
    pub offset: u32,
    /// type, key_size, value_size, max_entries, map_flags.
    pub def: [u32; 5],
}

/// The bytes of a map's definition in `.maps`: five pointers.
pub const MAP_VAR_SIZE: u32 = 40;

/// The two sections' contents.
pub struct Sections {
    /// `.BTF`: the types and their names.
    pub btf: Vec<u8>,
    /// `.BTF.ext`: the func_info records.
    pub btf_ext: Vec<u8>,
}

/// Builds `.BTF` and `.BTF.ext` for `funcs` and the maps of `.maps`.
pub fn build(funcs: &[Func], maps: &[MapVar]) -> Sections {
    let mut b = Builder::new();
    b.maps(maps);
    let func_types: Vec<u32> = funcs.iter().map(|f| b.func(f.name, f.kind)).collect();
    // func_info, grouped by section in order of first appearance.
    let mut sections: Vec<(&str, Vec<(u32, u32)>)> = Vec::new();
    for (f, type_id) in funcs.iter().zip(func_types) {
        let record = (f.offset, type_id);
        match sections.iter_mut().find(|(name, _)| *name == f.section) {
            Some((_, records)) => records.push(record),
            None => sections.push((f.section, vec![record])),
        }
    }
    let mut func_info = Vec::new();
    // bpf_func_info: insn_off (bytes, in the ELF), type_id.
    put(&mut func_info, 8);
    for (section, mut records) in sections {
        records.sort();
        put(&mut func_info, b.string(section));
        put(&mut func_info, records.len() as u32);
        for (offset, type_id) in records {
            put(&mut func_info, offset);
            put(&mut func_info, type_id);
        }
    }
    Sections { btf: b.finish(), btf_ext: ext(&func_info) }
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `struct btf_type`'s `info`: kind in bits 24-28, vlen in bits 0-15.
fn info(kind: u32, vlen: u32) -> u32 {
    (kind << 24) | vlen
}

/// Appends types and strings; ids start at 1 (0 is `void`).
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn new() -> Self {
        // The string section starts with the empty string.
        let mut b = Builder { types: Vec::new(), strings: vec![0], next_id: 1 };
        let long = b.string("long");
        b.add(&[long, info(KIND_INT, 0), 8, INT_SIGNED | 64]);
        b.add(&[0, info(KIND_PTR, 0), 0]);
        let ctx = b.string("ctx");
        b.add(&[0, info(KIND_FUNC_PROTO, 1), TYPE_LONG, ctx, TYPE_VOID_PTR]);
        let mut proto = vec![0, info(KIND_FUNC_PROTO, 4), TYPE_LONG];
        for param in ["map", "key", "value", "ctx"] {
            proto.push(b.string(param));
            proto.push(TYPE_VOID_PTR);
        }
        b.add(&proto);
        b
    }

    /// Adds a type given as its u32 words; returns its id.
    fn add(&mut self, words: &[u32]) -> u32 {
        for w in words {
            put(&mut self.types, *w);
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn string(&mut self, s: &str) -> u32 {
        let at = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        at
    }

    /// The map definitions' types, their variables and the `.maps` DATASEC.
    fn maps(&mut self, maps: &[MapVar]) {
        if maps.is_empty() {
            return;
        }
        let int_name = self.string("int");
        let int = self.add(&[int_name, info(KIND_INT, 0), 4, INT_SIGNED | 32]);
        let mut pointers = std::collections::HashMap::new();
        let fields = ["type", "key_size", "value_size", "max_entries", "map_flags"].map(|f| self.string(f));
        let mut section = vec![self.string(".maps"), info(KIND_DATASEC, maps.len() as u32), 0];
        let mut end = 0;
        for map in maps {
            // `int (*field)[N]`: one array and pointer per distinct N.
            let mut members = Vec::with_capacity(15);
            for (i, (&field, &n)) in fields.iter().zip(&map.def).enumerate() {
                let ptr = *pointers.entry(n).or_insert_with(|| {
                    let array = self.add(&[0, info(KIND_ARRAY, 0), 0, int, int, n]);
                    self.add(&[0, info(KIND_PTR, 0), array])
                });
                members.extend([field, ptr, 64 * i as u32]);
            }
            let mut strukt = vec![0, info(KIND_STRUCT, 5), MAP_VAR_SIZE];
            strukt.extend(members);
            let strukt = self.add(&strukt);
            let name = self.string(map.name);
            let var = self.add(&[name, info(KIND_VAR, 0), strukt, LINKAGE_GLOBAL]);
            section.extend([var, map.offset, MAP_VAR_SIZE]);
            end = end.max(map.offset + MAP_VAR_SIZE);
        }
        section[2] = end;
        self.add(&section);
    }

    fn func(&mut self, name: &str, kind: FuncKind) -> u32 {
        let name = self.string(name);
        let (proto, linkage) = match kind {
            FuncKind::Program => (PROTO_PROGRAM, LINKAGE_GLOBAL),
            FuncKind::Callback => (PROTO_CALLBACK, LINKAGE_STATIC),
        };
        self.add(&[name, info(KIND_FUNC, linkage), proto])
    }

    /// `struct btf_header` (24 bytes), the types, then the strings.
    fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        put(&mut out, 24); // hdr_len
        put(&mut out, 0); // type_off
        put(&mut out, self.types.len() as u32);
        put(&mut out, self.types.len() as u32); // str_off
        put(&mut out, self.strings.len() as u32);
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// `struct btf_ext_header` as clang writes it (32 bytes, with empty line
/// info and CO-RE relocation subsections), then the func_info subsection.
fn ext(func_info: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(1); // version
    out.push(0); // flags
    put(&mut out, 32); // hdr_len
    put(&mut out, 0); // func_info_off, from the end of the header
    put(&mut out, func_info.len() as u32);
    put(&mut out, func_info.len() as u32); // line_info_off
    put(&mut out, 0); // line_info_len
    put(&mut out, func_info.len() as u32); // core_relo_off
    put(&mut out, 0); // core_relo_len
    out.extend_from_slice(func_info);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aya_reads_the_types_and_func_info() {
        let funcs = [
            Func { name: "probe0", section: "raw_tracepoint/probe0", offset: 0, kind: FuncKind::Program },
            Func { name: "probe0_loop0", section: ".text", offset: 0, kind: FuncKind::Callback },
            Func { name: "rbpf_len", section: ".text", offset: 48, kind: FuncKind::Callback },
        ];
        let s = build(&funcs, &[]);
        let btf = aya_obj::btf::Btf::parse(&s.btf, object::Endianness::Little).expect("parses");
        for (name, id) in [("probe0", 5), ("probe0_loop0", 6), ("rbpf_len", 7)] {
            assert_eq!(btf.id_by_type_name_kind(name, aya_obj::btf::BtfKind::Func).expect(name), id);
        }
        // Linkage, in the vlen bits of each FUNC's info word: the FUNCs are
        // the last three types, 12 bytes each, before the strings.
        let word = |at: usize| u32::from_le_bytes(s.btf[at..at + 4].try_into().unwrap());
        let types_end = 24 + word(12) as usize;
        let linkage: Vec<u32> = (0..3).map(|i| word(types_end - 36 + 12 * i + 4) & 0xffff).collect();
        assert_eq!(linkage, [LINKAGE_GLOBAL, LINKAGE_STATIC, LINKAGE_STATIC]);
        // The .BTF.ext header: magic, hdr_len 32, func_info right after it.
        assert_eq!(&s.btf_ext[..2], &MAGIC.to_le_bytes());
        let word = |at: usize| u32::from_le_bytes(s.btf_ext[at..at + 4].try_into().unwrap());
        assert_eq!(word(4), 32);
        assert_eq!(word(32), 8, "func_info record size");
        // Two sections: the program's (1 record), .text (2 records).
        assert_eq!(word(40), 1);
        assert_eq!((word(44), word(48)), (0, 5));
        assert_eq!(word(56), 2);
        assert_eq!((word(60), word(64), word(68), word(72)), (0, 6, 48, 7));
    }
}
