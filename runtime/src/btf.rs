//! A reader for the kernel's BTF (/sys/kernel/btf/vmlinux), as far as
//! fentry and fexit need it: the functions it describes, and a function's
//! parameters and return type, resolved to the integer and pointer shapes
//! the checker types them as and spelled in C as `bpftrace -lv` prints them.
//! The format is the kernel's (Documentation/bpf/btf.rst): a header, then
//! the type section (type ids count from 1), then the string section.

use std::collections::HashMap;

use rbpf_lang::target::{FieldKind, KernelFunction, TracepointField, TracepointFormat};

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// One type record: where it starts in the type section, and its header.
#[derive(Clone, Copy)]
struct Record {
    at: usize,
    name_off: u32,
    kind: u32,
    vlen: u32,
    kind_flag: bool,
    /// `size` or `type`, depending on the kind.
    size_or_type: u32,
}

pub struct Btf {
    types: Vec<u8>,
    strings: Vec<u8>,
    /// Indexed by type id; id 0 (void) is a placeholder.
    records: Vec<Record>,
    functions: HashMap<String, u32>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Btf {{ {} types, {} functions }}", self.records.len() - 1, self.functions.len())
    }
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

impl Btf {
    pub fn parse(data: &[u8]) -> Result<Btf, String> {
        let bad = || "not a little-endian BTF file".to_string();
        if data.get(0..2) != Some(&[0x9f, 0xeb]) {
            return Err(bad());
        }
        let field = |i: usize| u32_at(data, 4 + 4 * i).ok_or_else(bad).map(|v| v as usize);
        let (hdr_len, type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
        let section = |off: usize, len: usize| data.get(hdr_len + off..hdr_len + off + len).ok_or_else(bad);
        let types = section(type_off, type_len)?.to_vec();
        let strings = section(str_off, str_len)?.to_vec();
        let void = Record { at: 0, name_off: 0, kind: 0, vlen: 0, kind_flag: false, size_or_type: 0 };
        let mut records = vec![void];
        let mut at = 0;
        while at < types.len() {
            let (name_off, info, size_or_type) =
                (u32_at(&types, at).ok_or_else(bad)?, u32_at(&types, at + 4).ok_or_else(bad)?, u32_at(&types, at + 8).ok_or_else(bad)?);
            let (kind, vlen, kind_flag) = ((info >> 24) & 0x1f, info & 0xffff, info >> 31 == 1);
            records.push(Record { at, name_off, kind, vlen, kind_flag, size_or_type });
            let vlen = vlen as usize;
            let extra = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC | KIND_FLOAT
                | KIND_TYPE_TAG => 0,
                other => return Err(format!("unknown BTF kind {other}")),
            };
            at += 12 + extra;
        }
        let mut btf = Btf { types, strings, records, functions: HashMap::new() };
        for id in 1..btf.records.len() {
            if btf.records[id].kind == KIND_FUNC {
                // Static functions of different files may share a name: the
                // first is the one found by name (as libbpf finds it).
                let name = btf.name(btf.records[id].name_off).to_string();
                btf.functions.entry(name).or_insert(id as u32);
            }
        }
        Ok(btf)
    }

    fn name(&self, off: u32) -> &str {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or("")
    }

    fn record(&self, id: u32) -> Option<Record> {
        self.records.get(id as usize).copied()
    }

    /// Skips typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Option<Record> {
        for _ in 0..32 {
            let r = self.record(id)?;
            match r.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => id = r.size_or_type,
                _ => return Some(r),
            }
        }
        None
    }

    /// The C spelling of a type, as bpftrace prints it: `struct file *`,
    /// `const char * const *`, `int (*)(void *)`, `size_t`.
    fn c_type(&self, id: u32) -> String {
        self.c_type_at(id, 0)
    }

    fn c_type_at(&self, id: u32, depth: u32) -> String {
        // Types may not nest deeper than this; a loop would be a bad file.
        if depth > 32 {
            return "?".into();
        }
        let Some(r) = self.record(id) else { return "?".into() };
        let inner = |id| self.c_type_at(id, depth + 1);
        let name = self.name(r.name_off);
        match r.kind {
            0 => "void".into(),
            KIND_PTR => match self.record(r.size_or_type) {
                Some(p) if p.kind == KIND_FUNC_PROTO => {
                    format!("{} (*)({})", inner(p.size_or_type), self.params(p, depth).join(", "))
                }
                _ => {
                    let pointee = inner(r.size_or_type);
                    if pointee.ends_with('*') { format!("{pointee}*") } else { format!("{pointee} *") }
                }
            },
            KIND_CONST | KIND_VOLATILE => {
                let qualifier = if r.kind == KIND_CONST { "const" } else { "volatile" };
                // A qualified pointer is `T * const`; anything else `const T`.
                match self.record(r.size_or_type) {
                    Some(q) if q.kind == KIND_PTR => format!("{} {qualifier}", inner(r.size_or_type)),
                    _ => format!("{qualifier} {}", inner(r.size_or_type)),
                }
            }
            KIND_RESTRICT | KIND_TYPE_TAG => inner(r.size_or_type),
            KIND_STRUCT => format!("struct {name}"),
            KIND_UNION => format!("union {name}"),
            KIND_FWD if r.kind_flag => format!("union {name}"),
            KIND_FWD => format!("struct {name}"),
            KIND_ENUM | KIND_ENUM64 => format!("enum {name}"),
            KIND_ARRAY => {
                let element = u32_at(&self.types, r.at + 12).unwrap_or(0);
                let count = u32_at(&self.types, r.at + 20).unwrap_or(0);
                format!("{}[{count}]", inner(element))
            }
            KIND_FUNC_PROTO => format!("{} ({})", inner(r.size_or_type), self.params(r, depth).join(", ")),
            _ => name.to_string(),
        }
    }

    /// The parameter types of a function prototype; `...` for varargs.
    fn params(&self, proto: Record, depth: u32) -> Vec<String> {
        (0..proto.vlen as usize)
            .map(|i| match u32_at(&self.types, proto.at + 12 + 8 * i + 4) {
                Some(0) => "...".to_string(),
                Some(ty) => self.c_type_at(ty, depth + 1),
                None => "?".to_string(),
            })
            .collect()
    }

    /// The type id of the FUNC named `name` (the first, if several).
    pub fn function_id(&self, name: &str) -> Option<u32> {
        self.functions.get(name).copied()
    }

    /// Every function the BTF describes, each once.
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// A value of type `id` as a field of the fentry context at `offset`.
    fn field(&self, name: &str, id: u32, offset: u32) -> TracepointField {
        let c_type = self.c_type(id);
        let resolved = self.resolve(id);
        let (size, signed, kind) = match resolved {
            Some(r) if r.kind == KIND_INT => {
                let encoding = u32_at(&self.types, r.at + 12).unwrap_or(0);
                (r.size_or_type, encoding >> 24 & 1 == 1, FieldKind::Int)
            }
            Some(r) if r.kind == KIND_ENUM || r.kind == KIND_ENUM64 => (r.size_or_type, r.kind_flag, FieldKind::Int),
            Some(r) if r.kind == KIND_PTR => {
                let to_char = self
                    .resolve(r.size_or_type)
                    .is_some_and(|p| p.kind == KIND_INT && self.name(p.name_off).ends_with("char"));
                (8, false, FieldKind::Pointer { to_char })
            }
            // Structs by value and the like: typed so the checker refuses them.
            Some(r) => (r.size_or_type.max(1), false, FieldKind::Array { chars: false }),
            None => (8, false, FieldKind::Array { chars: false }),
        };
        TracepointField { name: name.to_string(), c_type, offset, size, signed, kind }
    }

    /// A function's parameters and return value, as fentry's context holds them.
    pub fn function(&self, name: &str) -> Option<KernelFunction> {
        let func = self.record(*self.functions.get(name)?)?;
        let proto = self.record(func.size_or_type).filter(|p| p.kind == KIND_FUNC_PROTO)?;
        let mut fields = Vec::new();
        let mut variadic = false;
        for i in 0..proto.vlen as usize {
            let at = proto.at + 12 + 8 * i;
            let (name_off, ty) = (u32_at(&self.types, at)?, u32_at(&self.types, at + 4)?);
            if ty == 0 {
                // A variadic function's `...`: not an argument one can read.
                variadic = true;
                break;
            }
            fields.push(self.field(self.name(name_off), ty, 8 * i as u32));
        }
        let retval = (proto.size_or_type != 0).then(|| self.field("retval", proto.size_or_type, 8 * fields.len() as u32));
        Some(KernelFunction { args: TracepointFormat { fields }, retval, variadic })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with `int`, `char`, `const char *`, and
    /// `int f(const char *name, long n)`.
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0char\0f\0name\0n\0long\0";
        let off = |s: &str| strings.windows(s.len() + 1).position(|w| &w[..s.len()] == s.as_bytes() && w[s.len()] == 0).unwrap() as u32;
        let mut t = Vec::new();
        let mut push = |words: &[u32]| words.iter().for_each(|w| t.extend_from_slice(&w.to_le_bytes()));
        push(&[off("int"), KIND_INT << 24, 4, 1 << 24 | 32]); // 1: int (signed)
        push(&[off("char"), KIND_INT << 24, 1, 8]); // 2: char
        push(&[0, KIND_CONST << 24, 2]); // 3: const char
        push(&[0, KIND_PTR << 24, 3]); // 4: const char *
        push(&[off("long"), KIND_INT << 24, 8, 1 << 24 | 64]); // 5: long
        push(&[0, KIND_FUNC_PROTO << 24 | 2, 1, off("name"), 4, off("n"), 5]); // 6: proto
        push(&[off("f"), KIND_FUNC << 24, 6]); // 7: f
        blob(&t, strings)
    }

    /// A BTF file of these type records and strings: the header, then
    /// the two sections.
    fn blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut data = vec![0x9f, 0xeb, 1, 0];
        for v in [24u32, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(types);
        data.extend_from_slice(strings);
        data
    }

    #[test]
    fn reads_a_function_prototype() {
        let btf = Btf::parse(&sample()).unwrap();
        let f = btf.function("f").unwrap();
        let args: Vec<_> = f.args.fields.iter().map(|a| (a.name.as_str(), a.c_type.as_str(), a.offset, a.size, a.signed, a.kind)).collect();
        assert_eq!(
            args,
            [("name", "const char *", 0, 8, false, FieldKind::Pointer { to_char: true }), ("n", "long", 8, 8, true, FieldKind::Int)]
        );
        let r = f.retval.unwrap();
        assert_eq!((r.offset, r.size, r.signed), (16, 4, true));
        assert!(btf.function("g").is_none());
    }

    /// `int g(const char *const *names, int (*cb)(void *), ...)` and
    /// `void h(void)`, added to [`sample`].
    fn sample_with_g() -> Vec<u8> {
        let strings = b"\0int\0char\0g\0names\0cb\0h\0";
        let off = |s: &str| strings.windows(s.len() + 1).position(|w| &w[..s.len()] == s.as_bytes() && w[s.len()] == 0).unwrap() as u32;
        let mut t = Vec::new();
        let mut push = |words: &[u32]| words.iter().for_each(|w| t.extend_from_slice(&w.to_le_bytes()));
        push(&[off("int"), KIND_INT << 24, 4, 1 << 24 | 32]); // 1: int
        push(&[off("char"), KIND_INT << 24, 1, 8]); // 2: char
        push(&[0, KIND_CONST << 24, 2]); // 3: const char
        push(&[0, KIND_PTR << 24, 3]); // 4: const char *
        push(&[0, KIND_CONST << 24, 4]); // 5: const char * const
        push(&[0, KIND_PTR << 24, 5]); // 6: const char * const *
        push(&[0, KIND_PTR << 24, 0]); // 7: void *
        push(&[0, KIND_FUNC_PROTO << 24 | 1, 1, 0, 7]); // 8: int (void *)
        push(&[0, KIND_PTR << 24, 8]); // 9: int (*)(void *)
        push(&[0, KIND_FUNC_PROTO << 24 | 3, 1, off("names"), 6, off("cb"), 9, 0, 0]); // 10: g's proto
        push(&[off("g"), KIND_FUNC << 24, 10]); // 11: g
        push(&[0, KIND_FUNC_PROTO << 24, 0]); // 12: void (void)
        push(&[off("h"), KIND_FUNC << 24, 12]); // 13: h
        blob(&t, strings)
    }

    #[test]
    fn spells_types_as_bpftrace_lists_them() {
        let btf = Btf::parse(&sample_with_g()).unwrap();
        let g = btf.function("g").unwrap();
        let args: Vec<_> = g.args.fields.iter().map(|a| format!("{} {}", a.c_type, a.name)).collect();
        assert_eq!(args, ["const char * const * names", "int (*)(void *) cb"]);
        assert!(g.variadic);
        assert_eq!(g.retval.unwrap().c_type, "int");
        let h = btf.function("h").unwrap();
        assert!(h.args.fields.is_empty() && h.retval.is_none() && !h.variadic);
        let mut names: Vec<&str> = btf.function_names().collect();
        names.sort();
        assert_eq!(names, ["g", "h"]);
    }

    #[test]
    fn reads_this_kernels_btf() {
        let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipping: no /sys/kernel/btf/vmlinux");
            return;
        };
        let btf = Btf::parse(&data).unwrap();
        let f = btf.function("do_nanosleep").expect("do_nanosleep in BTF");
        assert_eq!(f.args.fields.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["t", "mode"]);
    }
}
