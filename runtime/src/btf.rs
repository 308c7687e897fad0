//! A reader for the kernel's BTF (/sys/kernel/btf/vmlinux): the functions
//! it describes, and a function's parameters and return type, resolved to
//! the integer and pointer shapes the checker types them as and spelled in
//! C as `bpftrace -lv` prints them (for fentry and fexit); and named types
//! and enumerators converted to [`CType`]s (for `sizeof`, `offsetof`, enum
//! constants), through indexes built on the first lookup of each kind.
//! The format is the kernel's (Documentation/bpf/btf.rst): a header, then
//! the type section (type ids count from 1), then the string section.
//!
//! What reading it costs: the kernel's file (5 MiB) is mapped, not read,
//! where the kernel allows it (Linux 6.16 and later), which copies nothing
//! and adds none of its pages to the process's resident memory; the one
//! pass over the type section that numbers the types keeps 4 bytes per
//! type; and a lookup converts only the type it finds (and what that
//! holds by value).

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};

use rbpf_lang::ctypes::{AddrSpace, BitField, CType, Enum, Member, Record, RecordKind};
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
struct RecordHeader {
    at: usize,
    /// Whether the record is the base's (a split BTF's vmlinux), whose type
    /// section `at` is an offset in.
    in_base: bool,
    name_off: u32,
    kind: u32,
    vlen: u32,
    kind_flag: bool,
    /// `size` or `type`, depending on the kind.
    size_or_type: u32,
}

/// The bytes of a BTF file: mapped read-only, or read into memory.
pub enum Bytes {
    /// A private read-only mapping of a whole file, unmapped on drop.
    Mapped { addr: std::ptr::NonNull<u8>, len: usize },
    /// The file read (or a blob built) in memory.
    Owned(Vec<u8>),
}

// SAFETY: a read-only private mapping is plain immutable memory.
unsafe impl Send for Bytes {}
// SAFETY: as above; nothing writes through it.
unsafe impl Sync for Bytes {}

impl Bytes {
    /// The file at `path`: mapped where its file system allows mapping it
    /// (sysfs's BTF files since Linux 6.16), else read.
    pub fn read(path: &Path) -> std::io::Result<Bytes> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len > 0 {
            // SAFETY: a fresh read-only private mapping of an open file; the
            // kernel's BTF files refuse writable or shared ones.
            let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
            if let Some(addr) = std::ptr::NonNull::new(addr.cast::<u8>()).filter(|_| addr != libc::MAP_FAILED) {
                return Ok(Bytes::Mapped { addr, len });
            }
        }
        let mut data = Vec::with_capacity(len);
        std::io::Read::read_to_end(&mut &file, &mut data)?;
        Ok(Bytes::Owned(data))
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: the mapping is `len` readable bytes until drop.
            Bytes::Mapped { addr, len } => unsafe { std::slice::from_raw_parts(addr.as_ptr(), *len) },
            Bytes::Owned(data) => data,
        }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        if let Bytes::Mapped { addr, len } = self {
            // SAFETY: the mapping made in `read`, unmapped once.
            unsafe { libc::munmap(addr.as_ptr().cast(), *len) };
        }
    }
}

/// One parsed BTF file: vmlinux's, an object's, or a kernel module's split
/// BTF, whose type ids and string offsets continue its base's (vmlinux's).
pub struct Btf {
    /// The whole file; the sections are ranges of it, not copies.
    data: Bytes,
    types_at: std::ops::Range<usize>,
    strings_at: std::ops::Range<usize>,
    /// The BTF this one's ids and strings continue, for split BTF.
    base: Option<Arc<Btf>>,
    /// The id of `offsets[0]`: 0 (void, a placeholder) for a base, the
    /// base's type count plus one for split BTF.
    start_id: u32,
    /// The offset of this file's first string: the base's string section
    /// length for split BTF.
    start_str: u32,
    /// Where each of this file's own records starts in its type section,
    /// by type id less `start_id`; a base's id 0 (void) is a placeholder
    /// (`u32::MAX`). Headers are decoded when asked for: 4 bytes a type
    /// rather than 24 (the kernel has 130,000 types).
    offsets: Vec<u32>,
    /// Function ids by name, built on the first function lookup: a
    /// program naming a type or two should not pay for 60,000 names.
    functions: OnceLock<HashMap<String, u32>>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Btf {{ {} types from id {} }}", self.offsets.len(), self.start_id)
    }
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

impl Btf {
    /// Parses a copy of `data`.
    pub fn parse(data: &[u8]) -> Result<Btf, String> {
        Btf::from_vec(data.to_vec())
    }

    /// Parses `data`, keeping it: the sections are read in place.
    pub fn from_vec(data: Vec<u8>) -> Result<Btf, String> {
        Btf::from_parts(Bytes::Owned(data), None)
    }

    /// Parses the file at `path`, mapped where the kernel allows it (see
    /// [`Bytes::read`]); `Err` holds why it cannot be read, or is no BTF.
    pub fn open(path: &Path) -> Result<Btf, OpenError> {
        Btf::from_bytes(Bytes::read(path).map_err(OpenError::Io)?).map_err(OpenError::Format)
    }

    /// Parses `data`, keeping it: the sections are read in place.
    pub fn from_bytes(data: Bytes) -> Result<Btf, String> {
        Btf::from_parts(data, None)
    }

    /// Parses a kernel module's split BTF (`/sys/kernel/btf/MODULE`), whose
    /// type ids continue after `base`'s and whose string offsets count
    /// from the start of `base`'s string section.
    #[cfg(test)]
    pub fn split_from_vec(data: Vec<u8>, base: Arc<Btf>) -> Result<Btf, String> {
        Btf::from_parts(Bytes::Owned(data), Some(base))
    }

    fn from_parts(data: Bytes, base: Option<Arc<Btf>>) -> Result<Btf, String> {
        let bad = || "not a little-endian BTF file".to_string();
        if data.get(0..2) != Some(&[0x9f, 0xeb]) {
            return Err(bad());
        }
        let field = |i: usize| u32_at(&data, 4 + 4 * i).ok_or_else(bad).map(|v| v as usize);
        let (hdr_len, type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
        let section = |off: usize, len: usize| {
            let range = hdr_len + off..hdr_len + off + len;
            data.get(range.clone()).map(|_| range).ok_or_else(bad)
        };
        let (types_at, strings_at) = (section(type_off, type_len)?, section(str_off, str_len)?);
        let types = &data[types_at.clone()];
        if u32::try_from(types.len()).is_err() {
            return Err(bad());
        }
        let mut offsets = if base.is_some() { Vec::new() } else { vec![u32::MAX] };
        let mut at = 0;
        while at < types.len() {
            let info = u32_at(types, at + 4).ok_or_else(bad)?;
            u32_at(types, at + 8).ok_or_else(bad)?;
            let (kind, vlen) = ((info >> 24) & 0x1f, info & 0xffff);
            offsets.push(at as u32);
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
        let (start_id, start_str) = match &base {
            Some(b) => (b.start_id + b.offsets.len() as u32, b.start_str + b.strings_at.len() as u32),
            None => (0, 0),
        };
        Ok(Btf { data, types_at, strings_at, base, start_id, start_str, offsets, functions: OnceLock::new() })
    }

    /// The header of this file's own record at `at` in its type section
    /// (checked by the pass that found it).
    fn header(&self, at: usize) -> RecordHeader {
        let types = &self.data[self.types_at.clone()];
        let word = |i: usize| u32_at(types, at + 4 * i).unwrap_or(0);
        let info = word(1);
        RecordHeader {
            at,
            in_base: false,
            name_off: word(0),
            kind: (info >> 24) & 0x1f,
            vlen: info & 0xffff,
            kind_flag: info >> 31 == 1,
            size_or_type: word(2),
        }
    }

    /// This file's own types' headers with their ids, in id order.
    fn headers(&self) -> impl Iterator<Item = (u32, RecordHeader)> + '_ {
        self.offsets
            .iter()
            .enumerate()
            .filter(|(_, &at)| at != u32::MAX)
            .map(|(i, &at)| (self.start_id + i as u32, self.header(at as usize)))
    }

    /// The type section that holds `r`'s trailing data.
    fn types_of(&self, r: RecordHeader) -> &[u8] {
        match &self.base {
            Some(base) if r.in_base => &base.data[base.types_at.clone()],
            _ => &self.data[self.types_at.clone()],
        }
    }

    /// The word `i` after `r`'s 12-byte header (0 past the section's end).
    fn word(&self, r: RecordHeader, i: usize) -> u32 {
        u32_at(self.types_of(r), r.at + 12 + 4 * i).unwrap_or(0)
    }

    fn strings(&self) -> &[u8] {
        &self.data[self.strings_at.clone()]
    }

    fn functions(&self) -> &HashMap<String, u32> {
        self.functions.get_or_init(|| {
            let mut out = HashMap::new();
            for (id, r) in self.headers() {
                if r.kind == KIND_FUNC {
                    // Static functions of different files may share a name: the
                    // first is the one found by name (as libbpf finds it).
                    out.entry(self.name(r.name_off).to_string()).or_insert(id);
                }
            }
            out
        })
    }

    fn name(&self, off: u32) -> &str {
        if let Some(base) = self.base.as_ref().filter(|_| off < self.start_str) {
            return base.name(off);
        }
        let rest = self.strings().get((off - self.start_str) as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or("")
    }

    /// Whether the string at `off` is `name`: compared in place, for the
    /// scans that look at every type's name.
    fn name_is(&self, off: u32, name: &str) -> bool {
        if let Some(base) = self.base.as_ref().filter(|_| off < self.start_str) {
            return base.name_is(off, name);
        }
        let rest = self.strings().get((off - self.start_str) as usize..).unwrap_or_default();
        rest.get(name.len()) == Some(&0) && rest.starts_with(name.as_bytes())
    }

    fn record(&self, id: u32) -> Option<RecordHeader> {
        match &self.base {
            Some(base) if id < self.start_id => base.record(id).map(|r| RecordHeader { in_base: true, ..r }),
            _ => match *self.offsets.get(id.checked_sub(self.start_id)? as usize)? {
                u32::MAX => Some(RecordHeader { at: 0, in_base: false, name_off: 0, kind: 0, vlen: 0, kind_flag: false, size_or_type: 0 }),
                at => Some(self.header(at as usize)),
            },
        }
    }

    /// Skips typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Option<RecordHeader> {
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
                let (element, count) = (self.word(r, 0), self.word(r, 2));
                format!("{}[{count}]", inner(element))
            }
            KIND_FUNC_PROTO => format!("{} ({})", inner(r.size_or_type), self.params(r, depth).join(", ")),
            _ => name.to_string(),
        }
    }

    /// The parameter types of a function prototype; `...` for varargs.
    fn params(&self, proto: RecordHeader, depth: u32) -> Vec<String> {
        (0..proto.vlen as usize)
            .map(|i| match u32_at(self.types_of(proto), proto.at + 12 + 8 * i + 4) {
                Some(0) => "...".to_string(),
                Some(ty) => self.c_type_at(ty, depth + 1),
                None => "?".to_string(),
            })
            .collect()
    }

    /// The type id of the FUNC named `name` (the first, if several).
    pub fn function_id(&self, name: &str) -> Option<u32> {
        self.functions().get(name).copied()
    }

    /// Every function the BTF describes, each once.
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions().keys().map(String::as_str)
    }

    /// A value of type `id` as a field of the fentry context at `offset`.
    fn field(&self, name: &str, id: u32, offset: u32) -> TracepointField {
        let c_type = self.c_type(id);
        let resolved = self.resolve(id);
        let (size, signed, kind) = match resolved {
            Some(r) if r.kind == KIND_INT => {
                (r.size_or_type, self.word(r, 0) >> 24 & 1 == 1, FieldKind::Int)
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
        let func = self.record(*self.functions().get(name)?)?;
        let proto = self.record(func.size_or_type).filter(|p| p.kind == KIND_FUNC_PROTO)?;
        let mut fields = Vec::new();
        let mut variadic = false;
        for i in 0..proto.vlen as usize {
            let at = proto.at + 12 + 8 * i;
            let (name_off, ty) = (u32_at(self.types_of(proto), at)?, u32_at(self.types_of(proto), at + 4)?);
            if ty == 0 {
                // A variadic function's `...`: not an argument one can read.
                variadic = true;
                break;
            }
            fields.push(self.field(self.name(name_off), ty, 8 * i as u32));
        }
        let retval = (proto.size_or_type != 0).then(|| self.field("retval", proto.size_or_type, 8 * fields.len() as u32));
        Some(KernelFunction { args: TracepointFormat { fields }, retval, variadic, module: None })
    }
}

/// Why a BTF file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// It could not be read.
    #[error("{0}")]
    Io(std::io::Error),
    /// It is no BTF file this reader understands.
    #[error("{0}")]
    Format(String),
}

/// How deep a type may nest before conversion stops (a loop would be a bad file).
const MAX_DEPTH: u32 = 64;

impl Btf {
    /// The type spelt `key` (`struct task_struct`, `union bpf_attr`,
    /// `enum tcp_state`, a typedef or base type name), converted. One scan
    /// of the record headers, comparing names in place: a program names a
    /// few types, and an index of all of them would cost more than the
    /// scans (the checker asks once per name).
    pub fn named_type(&self, key: &str) -> Option<CType> {
        let (kinds, name): (&[u32], &str) = match key.split_once(' ') {
            Some(("struct", name)) => (&[KIND_STRUCT], name),
            Some(("union", name)) => (&[KIND_UNION], name),
            Some(("enum", name)) => (&[KIND_ENUM, KIND_ENUM64], name),
            _ => (&[KIND_TYPEDEF, KIND_INT, KIND_FLOAT], key),
        };
        // A name defined by several compilation units is the same type; the
        // first one wins.
        let (id, _) = self.headers().find(|(_, r)| kinds.contains(&r.kind) && self.name_is(r.name_off, name))?;
        Some(self.ctype(id, 0))
    }

    /// The names of this file's own types of the kind `kind` spells
    /// (`struct`, `union`, `enum`; `None` for typedefs and base types), in
    /// id order, for a "did you mean" hint when a type is not found: one
    /// scan, run only on that error path.
    pub fn type_names(&self, kind: Option<&str>) -> Vec<&str> {
        let kinds: &[u32] = match kind {
            Some("struct") => &[KIND_STRUCT],
            Some("union") => &[KIND_UNION],
            Some("enum") => &[KIND_ENUM, KIND_ENUM64],
            Some(_) => &[],
            None => &[KIND_TYPEDEF, KIND_INT, KIND_FLOAT],
        };
        self.headers()
            .filter(|(_, r)| kinds.contains(&r.kind) && r.name_off != 0)
            .map(|(_, r)| self.name(r.name_off))
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// The value of the enumerator `name`, the first enum's that has it.
    pub fn enum_constant(&self, name: &str) -> Option<i64> {
        self.headers().filter(|(_, r)| r.kind == KIND_ENUM || r.kind == KIND_ENUM64).find_map(|(_, r)| {
            let step = if r.kind == KIND_ENUM { 8 } else { 12 };
            // Names compared in place; only the enum that has it is decoded.
            (0..r.vlen as usize)
                .position(|i| u32_at(self.types_of(r), r.at + 12 + step * i).is_some_and(|off| self.name_is(off, name)))
                .and_then(|_| self.enum_values(r).into_iter().find(|(n, _)| *n == name).map(|(_, v)| v))
        })
    }

    /// An enum record's constants.
    fn enum_values(&self, r: RecordHeader) -> Vec<(&str, i64)> {
        let (step, wide) = match r.kind {
            KIND_ENUM => (8, false),
            KIND_ENUM64 => (12, true),
            _ => return Vec::new(),
        };
        (0..r.vlen as usize)
            .filter_map(|i| {
                let at = r.at + 12 + step * i;
                let types = self.types_of(r);
                let name = self.name(u32_at(types, at)?);
                let lo = u32_at(types, at + 4)?;
                let v = if wide {
                    (u64::from(u32_at(types, at + 8)?) << 32 | u64::from(lo)) as i64
                } else if r.kind_flag {
                    i64::from(lo as i32)
                } else {
                    i64::from(lo)
                };
                Some((name, v))
            })
            .collect()
    }

    /// Type `id` as a [`CType`]: records held by value are converted with
    /// their members; a struct behind a pointer is named only, so that a
    /// type costs what it holds, not what it points to.
    fn ctype(&self, id: u32, depth: u32) -> CType {
        let Some(r) = self.record(id).filter(|_| depth < MAX_DEPTH) else { return CType::Void };
        let name = self.name(r.name_off);
        let word = |i: usize| self.word(r, i);
        match r.kind {
            KIND_INT => {
                let encoding = word(0);
                // BTF gives plain `char` no sign; x86-64's C makes it
                // signed, which also tells its arrays (strings) from
                // `unsigned char` ones (numbers), as bpftrace tells them.
                CType::Int { size: r.size_or_type, signed: encoding >> 24 & 1 == 1 || name == "char" }
            }
            KIND_FLOAT => CType::Float { size: r.size_or_type },
            KIND_PTR => CType::Pointer { pointee: Rc::new(self.pointee(r.size_or_type, depth + 1)), space: AddrSpace::Kernel },
            KIND_ARRAY => CType::Array { element: Rc::new(self.ctype(word(0), depth + 1)), len: u64::from(word(2)) },
            KIND_STRUCT | KIND_UNION => CType::Record(Rc::new(self.record_type(r, depth))),
            KIND_ENUM | KIND_ENUM64 => {
                let values: Vec<(String, i64)> = self.enum_values(r).into_iter().map(|(n, v)| (n.to_string(), v)).collect();
                let signed = r.kind_flag || values.iter().any(|(_, v)| *v < 0);
                let name = (!name.is_empty()).then(|| name.to_string());
                CType::Enum(Rc::new(Enum { name, size: r.size_or_type, signed, values }))
            }
            KIND_FWD => CType::Named { kind: if r.kind_flag { RecordKind::Union } else { RecordKind::Struct }, name: name.to_string() },
            KIND_TYPEDEF => CType::Typedef { name: name.to_string(), target: Rc::new(self.ctype(r.size_or_type, depth + 1)) },
            KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => self.ctype(r.size_or_type, depth + 1),
            KIND_FUNC_PROTO | KIND_FUNC => CType::Function,
            _ => CType::Void,
        }
    }

    /// What a pointer points to: a named struct or union by name only.
    fn pointee(&self, id: u32, depth: u32) -> CType {
        let Some(r) = self.record(id).filter(|_| depth < MAX_DEPTH) else { return CType::Void };
        let name = self.name(r.name_off);
        match r.kind {
            KIND_STRUCT | KIND_UNION if !name.is_empty() => {
                CType::Named { kind: if r.kind == KIND_UNION { RecordKind::Union } else { RecordKind::Struct }, name: name.to_string() }
            }
            KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => self.pointee(r.size_or_type, depth + 1),
            KIND_TYPEDEF => CType::Typedef { name: name.to_string(), target: Rc::new(self.pointee(r.size_or_type, depth + 1)) },
            _ => self.ctype(id, depth),
        }
    }

    /// A struct or union with its members. BTF gives each member's bit
    /// offset (and, with the kind flag, its bit-field width) but not the
    /// record's alignment: that is its most aligned member's, or 1 when a
    /// member sits off its alignment (a packed record).
    fn record_type(&self, r: RecordHeader, depth: u32) -> Record {
        let kind = if r.kind == KIND_UNION { RecordKind::Union } else { RecordKind::Struct };
        let mut members = Vec::with_capacity(r.vlen as usize);
        let mut align = 1;
        let mut packed = false;
        for i in 0..r.vlen as usize {
            let at = r.at + 12 + 12 * i;
            let types = self.types_of(r);
            let (Some(name_off), Some(ty), Some(offset)) = (u32_at(types, at), u32_at(types, at + 4), u32_at(types, at + 8))
            else {
                break;
            };
            let (bit_offset, width) = if r.kind_flag { (offset & 0xff_ffff, offset >> 24) } else { (offset, 0) };
            let ty_c = self.ctype(ty, depth + 1);
            let name = self.name(name_off);
            let bitfield = (width > 0).then_some(BitField { bit_offset: u64::from(bit_offset), width });
            if bitfield.is_none() {
                let a = ty_c.align().unwrap_or(1);
                align = align.max(a);
                packed |= u64::from(bit_offset) % (a * 8) != 0;
            } else if !name.is_empty() {
                align = align.max(ty_c.align().unwrap_or(1));
            }
            members.push(Member {
                name: (!name.is_empty()).then(|| name.to_string()),
                ty: ty_c,
                offset: u64::from(bit_offset / 8),
                bitfield,
            });
        }
        let size = u64::from(r.size_or_type);
        if packed || size % align != 0 {
            align = 1;
        }
        let name = self.name(r.name_off);
        Record { kind, name: (!name.is_empty()).then(|| name.to_string()), size, align, members }
    }
}

/// Where the running kernel publishes its BTF: `vmlinux`, and one split
/// BTF file per loaded module that has BTF.
pub const KERNEL_BTF_DIR: &str = "/sys/kernel/btf";

/// The kernel's BTF: vmlinux's, and each module's split BTF on top of it,
/// each file read and parsed on its first use. A program that names only
/// vmlinux's types and functions never reads a module's file; one that
/// names a type vmlinux lacks reads the modules' files until one has it.
#[derive(Debug)]
pub struct KernelBtf {
    dir: PathBuf,
    /// The file vmlinux's BTF is read from instead of `dir`'s (bpftrace's
    /// BPFTRACE_BTF); no module's BTF is read then.
    file: Option<PathBuf>,
    vmlinux: OnceLock<Result<Arc<Btf>, String>>,
    modules: Mutex<HashMap<String, Result<Arc<Btf>, String>>>,
}

impl Default for KernelBtf {
    fn default() -> Self {
        KernelBtf::at(KERNEL_BTF_DIR)
    }
}

/// A kernel function found in the kernel's BTF: its BTF id, and its typed
/// arguments with the module whose BTF describes it.
#[derive(Debug)]
pub struct FoundFunction {
    /// The FUNC's type id (ids of a module's types continue vmlinux's).
    pub id: u32,
    /// Its arguments and return value, and its module.
    pub function: KernelFunction,
}

impl KernelBtf {
    /// The BTF files of directory `dir` (`vmlinux` and modules' files), as
    /// the kernel lays them out in /sys/kernel/btf.
    pub fn at(dir: impl Into<PathBuf>) -> KernelBtf {
        KernelBtf { dir: dir.into(), file: None, vmlinux: OnceLock::new(), modules: Mutex::new(HashMap::new()) }
    }

    /// The kernel's BTF read from the file `path` alone (bpftrace's
    /// BPFTRACE_BTF): a raw BTF file such as a copy of
    /// /sys/kernel/btf/vmlinux; modules' split BTF, whose type ids continue
    /// the running kernel's, is not read.
    pub fn file(path: impl Into<PathBuf>) -> KernelBtf {
        KernelBtf { file: Some(path.into()), ..KernelBtf::default() }
    }

    /// vmlinux's BTF, parsed on first use.
    pub fn vmlinux(&self) -> Result<Arc<Btf>, String> {
        self.vmlinux
            .get_or_init(|| {
                if let Some(path) = &self.file {
                    return Btf::open(path).map(Arc::new).map_err(|e| match e {
                        OpenError::Io(e) => format!("cannot read the BTF file {} (BPFTRACE_BTF): {}", path.display(), io_reason(&e)),
                        OpenError::Format(e) => format!("cannot read the BTF file {} (BPFTRACE_BTF): {e}", path.display()),
                    });
                }
                let path = self.dir.join("vmlinux");
                Btf::open(&path).map(Arc::new).map_err(|e| match e {
                    OpenError::Io(e) => format!("this kernel has no BTF ({}: {})", path.display(), io_reason(&e)),
                    OpenError::Format(e) => format!("cannot read the kernel's BTF: {e}"),
                })
            })
            .clone()
    }

    /// The BTF of `module` (`vmlinux` names the kernel's own), parsed on
    /// first use on top of vmlinux's.
    pub fn module(&self, module: &str) -> Result<Arc<Btf>, String> {
        if module == "vmlinux" {
            return self.vmlinux();
        }
        if module.is_empty() || module.contains(['/', '\0']) || module.starts_with('.') {
            return Err(format!("no kernel module `{module}` with BTF"));
        }
        if let Some(path) = &self.file {
            return Err(format!("no module's BTF is read with the kernel's BTF from {} (BPFTRACE_BTF)", path.display()));
        }
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parsed) = modules.get(module) {
            return parsed.clone();
        }
        let path = self.dir.join(module);
        let parsed = match Bytes::read(&path) {
            Ok(data) => self.vmlinux().and_then(|base| {
                Btf::from_parts(data, Some(base)).map(Arc::new).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("no kernel module `{module}` with BTF is loaded ({} does not exist)", path.display()))
            }
            Err(e) => Err(format!("cannot read {}: {}", path.display(), io_reason(&e))),
        };
        modules.insert(module.to_string(), parsed.clone());
        parsed
    }

    /// The loaded modules that have BTF, by name, sorted.
    pub fn module_names(&self) -> Vec<String> {
        if self.file.is_some() {
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut names: Vec<String> =
            entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n != "vmlinux").collect();
        names.sort();
        names
    }

    /// The type spelt `key` (see [`Btf::named_type`]): vmlinux's, else the
    /// first module's (in name order) that defines it. `Ok(None)` when no
    /// BTF has it; `Err` when vmlinux's cannot be read.
    pub fn named_type(&self, key: &str) -> Result<Option<CType>, String> {
        if let Some(ty) = self.vmlinux()?.named_type(key) {
            return Ok(Some(ty));
        }
        Ok(self.module_names().iter().find_map(|m| self.module(m).ok()?.named_type(key)))
    }

    /// The names of vmlinux's types of a kind (see [`Btf::type_names`]),
    /// each once; modules' types are left out (reading every module's BTF
    /// for a hint would cost more than the hint is worth).
    pub fn type_names(&self, kind: Option<&str>) -> Result<Vec<String>, String> {
        let vmlinux = self.vmlinux()?;
        let mut names: Vec<String> = vmlinux.type_names(kind).into_iter().map(str::to_string).collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// The enumerator `name`'s value: vmlinux's, else a module's.
    pub fn enum_constant(&self, name: &str) -> Result<Option<i64>, String> {
        if let Some(v) = self.vmlinux()?.enum_constant(name) {
            return Ok(Some(v));
        }
        Ok(self.module_names().iter().find_map(|m| self.module(m).ok()?.enum_constant(name)))
    }

    /// The function `name`: in `module`'s BTF when one is named (`vmlinux`
    /// for the kernel's own), else in vmlinux's or the first module's that
    /// describes it. `Ok(None)` when none does.
    pub fn function(&self, module: Option<&str>, name: &str) -> Result<Option<FoundFunction>, String> {
        let found = |module: &str, btf: &Btf| {
            let id = btf.function_id(name)?;
            let function = KernelFunction { module: (module != "vmlinux").then(|| module.to_string()), ..btf.function(name)? };
            Some(FoundFunction { id, function })
        };
        if let Some(module) = module {
            return Ok(found(module, &*self.module(module)?));
        }
        if let Some(f) = found("vmlinux", &*self.vmlinux()?) {
            return Ok(Some(f));
        }
        Ok(self.module_names().iter().find_map(|m| found(m, &*self.module(m).ok()?)))
    }
}

/// An I/O error's reason without Rust's "(os error N)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
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

    /// A module's split BTF on top of [`sample`] (7 types, strings up to
    /// `long`): `struct m_conn { int id; const char *name; struct m_conn
    /// *next; }`, `enum m_state { M_UP = 3 }` and `long m_open(struct
    /// m_conn *c)`, naming the base's `int`, `const char *` and `long`.
    fn module_sample() -> Vec<u8> {
        let base_strings = b"\0int\0char\0f\0name\0n\0long\0".len() as u32;
        let strings = b"m_conn\0id\0next\0m_state\0M_UP\0m_open\0c\0";
        let off = |s: &str| {
            base_strings + strings.windows(s.len() + 1).position(|w| &w[..s.len()] == s.as_bytes() && w[s.len()] == 0).unwrap() as u32
        };
        let mut t = Vec::new();
        let mut push = |words: &[u32]| words.iter().for_each(|w| t.extend_from_slice(&w.to_le_bytes()));
        // 8: struct m_conn (the base's `name` string names a member).
        let base_name = 12; // `name` in the base's strings
        push(&[off("m_conn"), KIND_STRUCT << 24 | 3, 24, off("id"), 1, 0, base_name, 10, 64, off("next"), 9, 128]);
        push(&[0, KIND_PTR << 24, 8]); // 9: struct m_conn *
        push(&[0, KIND_PTR << 24, 11]); // 10: const char * (through 11)
        push(&[0, KIND_CONST << 24, 2]); // 11: const char
        push(&[off("m_state"), KIND_ENUM << 24 | 1, 4, off("M_UP"), 3]); // 12
        push(&[0, KIND_FUNC_PROTO << 24 | 1, 5, off("c"), 9]); // 13: long (struct m_conn *)
        push(&[off("m_open"), KIND_FUNC << 24, 13]); // 14: m_open
        blob(&t, strings)
    }

    #[test]
    fn reads_a_modules_split_btf_on_top_of_its_base() {
        let base = Arc::new(Btf::parse(&sample()).unwrap());
        let module = Btf::split_from_vec(module_sample(), base).unwrap();
        let Some(CType::Record(conn)) = module.named_type("struct m_conn") else { panic!("struct m_conn") };
        assert_eq!(conn.size, 24);
        let members: Vec<_> = conn.members.iter().map(|m| (m.name.as_deref().unwrap(), m.offset, m.ty.size())).collect();
        assert_eq!(members, [("id", 0, Some(4)), ("name", 8, Some(8)), ("next", 16, Some(8))]);
        assert_eq!(module.enum_constant("M_UP"), Some(3));
        // The base's own types are its, not the module's.
        assert!(module.named_type("int").is_none());
        assert_eq!(module.function_id("m_open"), Some(14));
        let f = module.function("m_open").unwrap();
        let args: Vec<_> = f.args.fields.iter().map(|a| format!("{} {}", a.c_type, a.name)).collect();
        assert_eq!(args, ["struct m_conn * c"]);
        assert_eq!(f.retval.unwrap().c_type, "long");
        assert_eq!(module.function_names().collect::<Vec<_>>(), ["m_open"]);
    }

    #[test]
    fn kernel_btf_looks_in_modules_for_what_vmlinux_lacks() {
        let dir = std::env::temp_dir().join(format!("rbpf-btf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vmlinux"), sample()).unwrap();
        std::fs::write(dir.join("m"), module_sample()).unwrap();
        let btf = KernelBtf::at(&dir);
        assert_eq!(btf.module_names(), ["m"]);
        assert!(btf.named_type("struct m_conn").unwrap().is_some());
        assert!(btf.named_type("struct nothing").unwrap().is_none());
        assert_eq!(btf.enum_constant("M_UP").unwrap(), Some(3));
        let found = btf.function(None, "m_open").unwrap().unwrap();
        assert_eq!((found.id, found.function.module.as_deref()), (14, Some("m")));
        let own = btf.function(None, "f").unwrap().unwrap();
        assert_eq!((own.id, own.function.module), (7, None));
        assert!(btf.function(Some("vmlinux"), "m_open").unwrap().is_none());
        assert!(btf.function(Some("m"), "f").unwrap().is_none());
        let missing = btf.function(Some("nosuch"), "f").unwrap_err();
        assert!(missing.contains("no kernel module `nosuch` with BTF is loaded"), "{missing}");
        assert!(btf.module("../m").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
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

    #[test]
    fn opens_a_file_mapped_and_says_why_one_cannot_be_read() {
        let dir = std::env::temp_dir().join(format!("rbpf-btf-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (good, bad, empty) = (dir.join("good"), dir.join("bad"), dir.join("empty"));
        std::fs::write(&good, sample()).unwrap();
        std::fs::write(&bad, b"not btf").unwrap();
        std::fs::write(&empty, b"").unwrap();
        let btf = Btf::open(&good).unwrap();
        assert!(matches!(btf.data, Bytes::Mapped { .. }));
        assert_eq!(btf.function("f").unwrap().args.fields.len(), 2);
        assert!(matches!(Btf::open(&bad), Err(OpenError::Format(_))));
        assert!(matches!(Btf::open(&empty), Err(OpenError::Format(_))));
        assert!(matches!(Btf::open(&dir.join("missing")), Err(OpenError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn maps_this_kernels_btf_and_finds_types_and_enumerators() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        let Ok(mapped) = Btf::open(path) else {
            eprintln!("skipping: no /sys/kernel/btf/vmlinux");
            return;
        };
        let read = Btf::parse(&std::fs::read(path).unwrap()).unwrap();
        for btf in [&mapped, &read] {
            let Some(CType::Record(task)) = btf.named_type("struct task_struct") else { panic!("no struct task_struct") };
            assert!(task.size > 1000 && task.members.iter().any(|m| m.name.as_deref() == Some("real_parent")));
            assert_eq!(btf.enum_constant("TCP_ESTABLISHED"), Some(1));
            assert_eq!(btf.enum_constant("no_such_enumerator"), None);
            assert!(btf.named_type("struct no_such_struct").is_none());
        }
        assert_eq!(mapped.offsets, read.offsets);
    }

    #[test]
    fn lists_the_names_of_one_kind_of_type() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.type_names(None), ["int", "char", "long"]);
        assert!(btf.type_names(Some("struct")).is_empty());
        let Ok(kernel) = Btf::open(Path::new("/sys/kernel/btf/vmlinux")) else {
            eprintln!("skipping the kernel's names: no /sys/kernel/btf/vmlinux");
            return;
        };
        let structs = kernel.type_names(Some("struct"));
        assert!(structs.contains(&"task_struct") && !structs.contains(&"bpf_attr"), "{} structs", structs.len());
        assert!(kernel.type_names(Some("union")).contains(&"bpf_attr"));
        assert!(kernel.type_names(Some("enum")).contains(&"bpf_map_type"));
        assert!(kernel.type_names(None).contains(&"pid_t"));
    }
}
