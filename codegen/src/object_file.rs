//! Compiled objects saved to a file (`rbpf --emit-elf`) and run later
//! (`rbpf FILE.o`): the BPF ELF that [`crate::elf`] writes, with the
//! manifest and the facts the program was checked against in a section of
//! their own, [`SECTION`].
//!
//! The file stays a standard BPF relocatable (llvm-objdump and bpftool read
//! it; loaders skip a section they do not know): the section is appended
//! after the original object's bytes, which are kept unchanged as a prefix,
//! so reading gives back the very ELF that was compiled.
//!
//! The section's layout, all integers LEB128 unless said otherwise:
//!
//! ```text
//! magic "RBPFOBJ\0" | format version (u32 LE) | rbpf version (string)
//! | checksum (u64 LE, FNV-1a of everything after it and of the ELF prefix)
//! | ELF length | the ELF's own 64-byte header | the payload: Manifest,
//! tracepoint layouts, source
//! ```
//!
//! (Appending the section changes the ELF header's section table fields,
//! so the original header is kept in the section.)
//!
//! A hand-rolled format rather than serde: the manifest's types live in
//! two crates that have no serde, the encoder and decoder are a few lines
//! per type, LEB128 keeps the per-instruction span table small, and the
//! decoder checks every length against the bytes left, so a damaged file
//! gets an error rather than a panic or a huge allocation.

use rbpf_lang::types::StackMode;
use rbpf_lang::Span;

use crate::manifest::{
    Attach, Field, Manifest, MapInfo, MapValue, NamedField, Object, PerfCounter, PerfSample, PrintfFormat, ProgramInfo,
    UprobeLocation, ValueType, WatchMode,
};

/// The ELF section holding the manifest.
pub const SECTION: &str = ".rbpf.manifest";

/// The version of the section's layout; a reader refuses any other.
pub const FORMAT_VERSION: u32 = 1;

/// The rbpf version that writes objects; a reader refuses objects of
/// another, as the manifest's meaning may differ between them.
pub const RBPF_VERSION: &str = env!("CARGO_PKG_VERSION");

const MAGIC: &[u8; 8] = b"RBPFOBJ\0";

/// The bytes of an ELF64 header.
const ELF_HEADER: usize = 64;

/// A compiled program as a file holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectFile {
    /// The BPF ELF and its manifest.
    pub object: Object,
    /// The tracepoint record layouts the program was checked against: the
    /// runtime compares them with the running kernel's before loading.
    pub layouts: Vec<TracepointLayout>,
    /// The program's text (after preprocessing), to show where a verifier
    /// refusal or a failed helper call (`-k`) lies; its name first.
    pub source: Option<(String, String)>,
    /// The program's `config = { max_probes = N }`, which the runtime
    /// enforces.
    pub max_probes: Option<u64>,
    /// The program's `config = { log_size = N }`: bytes of verifier log kept.
    pub log_size: Option<u64>,
    /// `-k` (1) or `-kk` (2) it was compiled with: its failed helper
    /// calls are reported at their source line.
    pub helper_checks: u8,
}

/// The fields of one tracepoint's record, as the program was compiled for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointLayout {
    /// The tracepoint's category.
    pub category: String,
    /// Its name.
    pub name: String,
    /// Its fields after the common header, in order.
    pub fields: Vec<LayoutField>,
}

/// One field of a [`TracepointLayout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutField {
    /// The field's name.
    pub name: String,
    /// Its C type as the format file writes it.
    pub c_type: String,
    /// Bytes from the record's start.
    pub offset: u32,
    /// Its bytes.
    pub size: u32,
}

/// Why a file could not be read as a compiled object.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjectFileError {
    /// Not an ELF, or one cut short.
    #[error("not a complete ELF object ({0}); the file may be truncated")]
    Elf(String),
    /// A whole ELF file for another machine: a program or library, not a
    /// BPF object.
    #[error("it is an ELF file for {0}, not a BPF object: rbpf runs the objects rbpf --emit-elf writes")]
    NotBpf(String),
    /// An ELF without rbpf's section: compiled by something else.
    #[error("this ELF object has no {SECTION} section: it was not written by rbpf --emit-elf")]
    NoManifest,
    /// Written by another rbpf.
    #[error("this object was compiled by rbpf {found} (object format {format}); this is rbpf {RBPF_VERSION} (object format {FORMAT_VERSION}): compile the program again with this rbpf")]
    Version {
        /// The writer's version.
        found: String,
        /// The writer's format version.
        format: u32,
    },
    /// The bytes do not match what was written.
    #[error("the object is damaged: {0}")]
    Corrupt(String),
    /// A tracepoint the program reads lays its record out otherwise on
    /// this kernel: the code would read the wrong bytes.
    #[error("this object was compiled for a kernel whose tracepoint {tracepoint} differs from this one's: {difference}; compile the program again for this kernel")]
    Layout {
        /// `category:name`.
        tracepoint: String,
        /// What differs, in one sentence.
        difference: String,
    },
}

impl ObjectFile {
    /// An object to save, with the layouts of the tracepoints `checked`
    /// (the program `object` was compiled from) was checked against; no
    /// source, no limits.
    pub fn new(object: Object, checked: &rbpf_lang::checked::Program) -> ObjectFile {
        let mut layouts: Vec<TracepointLayout> = checked
            .probes
            .iter()
            .filter_map(|probe| match &probe.kind {
                rbpf_lang::probes::ProbeKind::Tracepoint { category, name, format, .. } => Some(TracepointLayout {
                    category: category.clone(),
                    name: name.clone(),
                    fields: format
                        .fields
                        .iter()
                        .map(|f| LayoutField { name: f.name.clone(), c_type: f.c_type.clone(), offset: f.offset, size: f.size })
                        .collect(),
                }),
                _ => None,
            })
            .collect();
        // A tracepoint in two probes is checked once.
        layouts.sort_by(|a, b| (&a.category, &a.name).cmp(&(&b.category, &b.name)));
        layouts.dedup_by(|a, b| (&a.category, &a.name) == (&b.category, &b.name));
        ObjectFile { object, layouts, source: None, max_probes: None, log_size: None, helper_checks: 0 }
    }

    /// Compares the recorded tracepoint layouts with those of the kernel
    /// `target` stands for: the first difference is the error.
    pub fn check_layouts(&self, target: &dyn rbpf_lang::target::Target) -> Result<(), ObjectFileError> {
        for layout in &self.layouts {
            let mismatch = |difference: String| ObjectFileError::Layout { tracepoint: format!("{}:{}", layout.category, layout.name), difference };
            let here = match target.tracepoint_format(&layout.category, &layout.name) {
                Ok(format) => format,
                Err(rbpf_lang::target::TargetError::NotFound) => return Err(mismatch("this kernel has no such tracepoint".to_string())),
                Err(rbpf_lang::target::TargetError::Unavailable(why)) => return Err(mismatch(format!("its format cannot be read here ({why})"))),
            };
            for field in &layout.fields {
                let Some(now) = here.field(&field.name) else {
                    return Err(mismatch(format!("it had a field `{}`, which this kernel's has not", field.name)));
                };
                if (now.offset, now.size, &now.c_type) != (field.offset, field.size, &field.c_type) {
                    return Err(mismatch(format!(
                        "field `{}` was `{}` at offset {} ({} bytes), and is `{}` at offset {} ({} bytes) here",
                        field.name, field.c_type, field.offset, field.size, now.c_type, now.offset, now.size
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The file bytes of `file`: its ELF with the section appended.
pub fn write(file: &ObjectFile) -> Result<Vec<u8>, ObjectFileError> {
    let elf = &file.object.elf;
    let mut payload = Vec::new();
    put_uint(&mut payload, elf.len() as u64);
    payload.extend_from_slice(elf.get(..ELF_HEADER).ok_or_else(|| ObjectFileError::Elf("shorter than its header".into()))?);
    file.object.manifest.put(&mut payload);
    file.layouts.put(&mut payload);
    file.source.put(&mut payload);
    file.max_probes.put(&mut payload);
    file.log_size.put(&mut payload);
    file.helper_checks.put(&mut payload);
    let mut section = MAGIC.to_vec();
    section.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    RBPF_VERSION.to_string().put(&mut section);
    section.extend_from_slice(&checksum(&payload, &elf[ELF_HEADER..]).to_le_bytes());
    section.extend_from_slice(&payload);
    append_section(elf, SECTION, &section)
}

/// Whether `bytes` start as an ELF file does (the magic, not the name).
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Reads a file written by [`write()`]: one error for anything that is not
/// such a file, whole and written by this rbpf.
pub fn read(bytes: &[u8]) -> Result<ObjectFile, ObjectFileError> {
    use object::{Object as _, ObjectSection};
    let parsed = object::File::parse(bytes).map_err(|e| ObjectFileError::Elf(e.to_string()))?;
    if parsed.architecture() != object::Architecture::Bpf {
        return Err(ObjectFileError::NotBpf(format!("{:?}", parsed.architecture())));
    }
    let section = parsed.section_by_name(SECTION).ok_or(ObjectFileError::NoManifest)?;
    let data = section.data().map_err(|e| ObjectFileError::Elf(e.to_string()))?;
    let mut r = Reader { bytes: data, at: 0 };
    if r.take(MAGIC.len())? != MAGIC {
        return Err(ObjectFileError::Corrupt(format!("the {SECTION} section does not start with rbpf's mark")));
    }
    let format = u32::from_le_bytes(r.array()?);
    let version = String::get(&mut r)?;
    if format != FORMAT_VERSION || version != RBPF_VERSION {
        return Err(ObjectFileError::Version { found: version, format });
    }
    let sum = u64::from_le_bytes(r.array()?);
    let payload = &data[r.at..];
    let mut r = Reader { bytes: payload, at: 0 };
    let elf_len = usize::try_from(r.uint()?).map_err(|_| corrupt("the ELF length"))?;
    let header = r.take(ELF_HEADER)?;
    let body = bytes.get(ELF_HEADER..elf_len.max(ELF_HEADER)).ok_or_else(|| corrupt("the ELF length"))?;
    if checksum(payload, body) != sum {
        return Err(ObjectFileError::Corrupt("its checksum does not match its contents".to_string()));
    }
    let manifest = Manifest::get(&mut r)?;
    let layouts = Vec::get(&mut r)?;
    let source = Option::get(&mut r)?;
    let (max_probes, log_size, helper_checks) = (Option::get(&mut r)?, Option::get(&mut r)?, u8::get(&mut r)?);
    if r.at != payload.len() {
        return Err(corrupt("bytes after the manifest"));
    }
    let mut elf = header.to_vec();
    elf.extend_from_slice(body);
    Ok(ObjectFile { object: Object { elf, manifest }, layouts, source, max_probes, log_size, helper_checks })
}

fn corrupt(what: &str) -> ObjectFileError {
    ObjectFileError::Corrupt(format!("cannot decode {what}"))
}

/// FNV-1a over `payload` then `elf`: not against an attacker (the file
/// is code run as root anyway) but against a damaged copy.
fn checksum(payload: &[u8], elf: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in payload.iter().chain(elf) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Appends a non-allocated PROGBITS section `name` holding `data` to a
/// little-endian ELF64 object, keeping its bytes as a prefix: the data,
/// a new section name table (the old one plus `name`) and a new section
/// header table go after them, and the header points at the new table.
fn append_section(elf: &[u8], name: &str, data: &[u8]) -> Result<Vec<u8>, ObjectFileError> {
    let bad = |what: &str| ObjectFileError::Elf(format!("cannot add a section to it: {what}"));
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |at: usize| elf.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    if !is_elf(elf) || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err(bad("not a little-endian ELF64"));
    }
    let shoff = u64_at(0x28).ok_or_else(|| bad("no header"))? as usize;
    let shentsize = usize::from(u16_at(0x3a).ok_or_else(|| bad("no header"))?);
    let shnum = usize::from(u16_at(0x3c).ok_or_else(|| bad("no header"))?);
    let shstrndx = usize::from(u16_at(0x3e).ok_or_else(|| bad("no header"))?);
    if shentsize != 64 || shstrndx >= shnum {
        return Err(bad("unexpected section headers"));
    }
    let headers = elf.get(shoff..shoff + shnum * 64).ok_or_else(|| bad("section headers past the end"))?;
    let strtab_header = &headers[shstrndx * 64..shstrndx * 64 + 64];
    let field = |h: &[u8], at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap_or_default()) as usize;
    let (str_off, str_size) = (field(strtab_header, 0x18), field(strtab_header, 0x20));
    let strtab = elf.get(str_off..str_off + str_size).ok_or_else(|| bad("section names past the end"))?;

    let mut out = elf.to_vec();
    let pad = |out: &mut Vec<u8>| out.resize(out.len().next_multiple_of(8), 0);
    pad(&mut out);
    let data_off = out.len();
    out.extend_from_slice(data);
    let new_str_off = out.len();
    out.extend_from_slice(strtab);
    let name_off = strtab.len();
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    let new_str_size = out.len() - new_str_off;
    pad(&mut out);
    let new_shoff = out.len();
    for (i, header) in headers.chunks_exact(64).enumerate() {
        let mut header = header.to_vec();
        if i == shstrndx {
            header[0x18..0x20].copy_from_slice(&(new_str_off as u64).to_le_bytes());
            header[0x20..0x28].copy_from_slice(&(new_str_size as u64).to_le_bytes());
        }
        out.extend_from_slice(&header);
    }
    let mut header = [0u8; 64];
    header[0..4].copy_from_slice(&(name_off as u32).to_le_bytes());
    header[4..8].copy_from_slice(&1u32.to_le_bytes()); // SHT_PROGBITS, no flags
    header[0x18..0x20].copy_from_slice(&(data_off as u64).to_le_bytes());
    header[0x20..0x28].copy_from_slice(&(data.len() as u64).to_le_bytes());
    header[0x30..0x38].copy_from_slice(&1u64.to_le_bytes()); // sh_addralign
    out.extend_from_slice(&header);
    let shnum = u16::try_from(shnum + 1).map_err(|_| bad("too many sections"))?;
    out[0x28..0x30].copy_from_slice(&(new_shoff as u64).to_le_bytes());
    out[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
    Ok(out)
}

/// Reads the section's bytes, every step bounded by what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ObjectFileError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(|| corrupt("the manifest: it ends early"))?;
        let bytes = &self.bytes[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ObjectFileError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ObjectFileError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self) -> Result<u64, ObjectFileError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("a number"))
    }

    /// A count of items that take at least one byte each.
    fn len(&mut self) -> Result<usize, ObjectFileError> {
        let n = self.uint()?;
        usize::try_from(n).ok().filter(|&n| n <= self.bytes.len() - self.at).ok_or_else(|| corrupt("a length"))
    }

    fn tag(&mut self, what: &str, count: u8) -> Result<u8, ObjectFileError> {
        let tag = self.byte()?;
        if tag < count {
            Ok(tag)
        } else {
            Err(corrupt(what))
        }
    }
}

fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A value the section holds: how it is written and read back.
trait Wire: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError>;
}

macro_rules! wire_uint {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn put(&self, out: &mut Vec<u8>) {
                put_uint(out, u64::from(*self));
            }
            fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
                <$t>::try_from(r.uint()?).map_err(|_| corrupt(stringify!($t)))
            }
        }
    )*};
}
wire_uint!(u8, u32, u64);

impl Wire for i64 {
    fn put(&self, out: &mut Vec<u8>) {
        // Zigzag: small negative numbers stay short.
        put_uint(out, ((self << 1) ^ (self >> 63)) as u64);
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        let v = r.uint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
}

impl Wire for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        Ok(r.tag("a flag", 2)? == 1)
    }
}

impl Wire for String {
    fn put(&self, out: &mut Vec<u8>) {
        put_uint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        let n = r.len()?;
        String::from_utf8(r.take(n)?.to_vec()).map_err(|_| corrupt("a string"))
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        put_uint(out, self.len() as u64);
        self.iter().for_each(|item| item.put(out));
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        let n = r.len()?;
        (0..n).map(|_| T::get(r)).collect()
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.put(out);
            }
        }
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        match r.tag("an option", 2)? {
            0 => Ok(None),
            _ => T::get(r).map(Some),
        }
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
        self.1.put(out);
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

impl<T: Wire> Wire for Box<T> {
    fn put(&self, out: &mut Vec<u8>) {
        (**self).put(out);
    }
    fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
        T::get(r).map(Box::new)
    }
}

/// A struct written field after field, read back in the same order.
macro_rules! wire_struct {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Wire for $t {
            fn put(&self, out: &mut Vec<u8>) {
                $(self.$f.put(out);)*
            }
            fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
                Ok($t { $($f: Wire::get(r)?),* })
            }
        }
    };
}

/// An enum written as its variant's tag then its fields; `$n` numbers the
/// variants, so their order is the format's and never changes silently.
macro_rules! wire_enum {
    ($t:ident { $($n:literal => $v:ident $({ $($f:ident),* })? $(($($p:ident),*))?),* $(,)? }) => {
        impl Wire for $t {
            #[allow(unused_variables)]
            fn put(&self, out: &mut Vec<u8>) {
                match self {
                    $($t::$v $({ $($f),* })? $(($($p),*))? => {
                        out.push($n);
                        $($($f.put(out);)*)?
                        $($($p.put(out);)*)?
                    })*
                }
            }
            fn get(r: &mut Reader) -> Result<Self, ObjectFileError> {
                match r.byte()? {
                    $($n => Ok($t::$v $({ $($f: Wire::get(r)?),* })? $(($({ let $p = Wire::get(r)?; $p }),*))?),)*
                    _ => Err(corrupt(stringify!($t))),
                }
            }
        }
    };
}

wire_struct!(Span { start, end });
wire_struct!(Manifest {
    programs,
    maps,
    printfs,
    ringbuf,
    ringbuf_size,
    start_time_map,
    time_formats,
    print_values,
    join_separators,
    lost_events_map,
    skb_outputs,
    skb_output_pages,
});
wire_struct!(ProgramInfo { name, section, attach, spans, probe_name, optional });
wire_struct!(MapInfo { name, bpf_name, percpu, array, max_entries, key, key_size, value, value_size });
wire_struct!(PrintfFormat { format, args, size });
wire_struct!(Field { offset, ty });
wire_struct!(NamedField { name, field });
wire_struct!(TracepointLayout { category, name, fields });
wire_struct!(LayoutField { name, c_type, offset, size });

wire_enum!(Attach {
    0 => Begin,
    1 => End,
    2 => Tracepoint { category, name },
    3 => TailCall { table, index, category, name },
    4 => Dispatcher { category, name, table },
    5 => Interval { period_ns },
    6 => RawTracepoint { name },
    7 => PerfEvent { counter, sample },
    8 => Uprobe { path, location, ret, pid },
    9 => UprobeMulti { path, funcs, ret, pid },
    10 => Kprobe { func, offset, ret },
    11 => KprobeMulti { funcs, ret },
    12 => Fentry { func, module, ret },
    13 => Usdt { path, offset, semaphore_offset, pid },
    14 => Watchpoint { address, length, mode },
    15 => WatchpointFunction { length, mode },
    16 => WatchpointSetup { path, func, watch, asynchronous },
    17 => Iter { name, pin },
});
wire_enum!(WatchMode { 0 => Read, 1 => Write, 2 => ReadWrite, 3 => Execute });
wire_enum!(PerfCounter { 0 => Software { config }, 1 => Hardware { config } });
wire_enum!(PerfSample { 0 => Period(n), 1 => Frequency(n) });
wire_enum!(UprobeLocation { 0 => Symbol(name), 1 => SymbolOffset(name, offset), 2 => Address(address) });
wire_enum!(StackMode { 0 => Bpftrace, 1 => Perf });
wire_enum!(MapValue {
    0 => Plain(ty),
    1 => Count,
    2 => Sum { signed },
    3 => Min { signed },
    4 => Max { signed },
    5 => Avg { signed },
    6 => Stats { signed },
    7 => Hist { bits },
    8 => Lhist { min, max, step },
});
wire_enum!(ValueType {
    0 => Int { size, signed },
    1 => Str { size },
    2 => Bool,
    3 => Buf { size },
    4 => Tuple { fields, size },
    5 => Timestamp { format },
    6 => Username,
    7 => Macaddr,
    8 => Errno,
    9 => CgroupPath { filter },
    10 => Ksym,
    11 => Usym,
    12 => Stack { map, user, mode, limit, indent },
    13 => Inet,
    14 => Record { members, size },
    15 => Array { element, len },
    16 => Float { size },
    17 => BitField { size, shift, width },
    18 => Pointer,
});

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_lang::target::FakeTarget;

    fn file(src: &str) -> ObjectFile {
        let target = FakeTarget::default();
        let ast = rbpf_lang::parse(src).expect("parses");
        let checked = rbpf_lang::check(&ast, &target).expect("checks");
        let object = crate::compile(&checked).expect("compiles");
        let layouts = vec![TracepointLayout {
            category: "syscalls".into(),
            name: "sys_enter_openat".into(),
            fields: vec![LayoutField { name: "dfd".into(), c_type: "int".into(), offset: 16, size: 8 }],
        }];
        ObjectFile { object, layouts, source: Some(("-e".into(), src.into())), max_probes: Some(3), log_size: None, helper_checks: 2 }
    }

    const PROGRAM: &str = r#"BEGIN { @h = hist(-3); @s[comm, 1] = stats(5); printf("%s %d\n", "x", -1); print(ustack(perf, 3)); exit(); }"#;

    #[test]
    fn an_object_reads_back_as_written() {
        let file = file(PROGRAM);
        let bytes = write(&file).unwrap();
        assert!(bytes[ELF_HEADER..].starts_with(&file.object.elf[ELF_HEADER..]));
        assert_eq!(read(&bytes).unwrap(), file);
        // Still an object the code reader and aya-obj take.
        assert_eq!(crate::elf::read_programs(&bytes).unwrap().len(), crate::elf::read_programs(&file.object.elf).unwrap().len());
        aya_obj::Object::parse(&bytes).expect("aya-obj parses the file");
    }

    #[test]
    fn numbers_keep_their_values() {
        for v in [0, 1, -1, 63, -64, 64, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            v.put(&mut out);
            assert_eq!(i64::get(&mut Reader { bytes: &out, at: 0 }), Ok(v));
        }
        let mut out = Vec::new();
        u64::MAX.put(&mut out);
        assert_eq!(u64::get(&mut Reader { bytes: &out, at: 0 }), Ok(u64::MAX));
        assert!(u32::get(&mut Reader { bytes: &out, at: 0 }).is_err());
    }

    #[test]
    fn damaged_objects_are_refused_without_panicking() {
        let bytes = write(&file(PROGRAM)).unwrap();
        for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            assert!(read(&bytes[..len]).is_err(), "truncated to {len} bytes");
        }
        for at in (0..bytes.len()).step_by(3) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            // A flip the reader cannot notice (padding, an unused header
            // field) must leave the object as it was.
            if let Ok(read) = read(&flipped) {
                assert_eq!(read.object.manifest, file(PROGRAM).object.manifest, "flip at {at}");
            }
        }
    }

    #[test]
    fn each_tracepoint_checked_against_is_kept_once() {
        const FIELDS: &str = "\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:1;\n";
        let target = FakeTarget::default()
            .with_tracepoint("syscalls", "sys_enter_openat", FIELDS)
            .with_tracepoint("syscalls", "sys_enter_close", FIELDS);
        let src = "tracepoint:syscalls:sys_enter_openat, tracepoint:syscalls:sys_enter_close { @[probe] = count(); } tracepoint:syscalls:sys_enter_openat { @n = count(); } BEGIN { }";
        let checked = rbpf_lang::check(&rbpf_lang::parse(src).unwrap(), &target).unwrap();
        let file = ObjectFile::new(crate::compile(&checked).unwrap(), &checked);
        let names: Vec<_> = file.layouts.iter().map(|l| format!("{}:{}", l.category, l.name)).collect();
        assert_eq!(names, ["syscalls:sys_enter_close", "syscalls:sys_enter_openat"]);
        assert_eq!(file.layouts[0].fields[0].name, "dfd");
    }

    #[test]
    fn a_tracepoint_laid_out_otherwise_is_refused() {
        const THEN: &str = "\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:1;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n";
        const NOW: &str = "\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:1;\n\tfield:const char * filename;\toffset:32;\tsize:8;\tsigned:0;\n";
        let then = FakeTarget::default().with_tracepoint("syscalls", "sys_enter_openat", THEN);
        let ast = rbpf_lang::parse("tracepoint:syscalls:sys_enter_openat { print(str(args.filename)); }").unwrap();
        let checked = rbpf_lang::check(&ast, &then).unwrap();
        let file = ObjectFile::new(crate::compile(&checked).unwrap(), &checked);
        let file = read(&write(&file).unwrap()).unwrap();
        assert_eq!(file.check_layouts(&then), Ok(()));
        let now = FakeTarget::default().with_tracepoint("syscalls", "sys_enter_openat", NOW);
        let err = file.check_layouts(&now).unwrap_err().to_string();
        assert_eq!(err, "this object was compiled for a kernel whose tracepoint syscalls:sys_enter_openat differs from this one's: field `filename` was `const char *` at offset 24 (8 bytes), and is `const char *` at offset 32 (8 bytes) here; compile the program again for this kernel");
        let err = file.check_layouts(&FakeTarget::default()).unwrap_err().to_string();
        assert!(err.contains("this kernel has no such tracepoint"), "{err}");
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let bytes = write(&file(PROGRAM)).unwrap();
        let at = bytes.windows(MAGIC.len()).position(|w| w == MAGIC).unwrap() + MAGIC.len();
        let mut other = bytes.clone();
        other[at] = 9;
        let err = read(&other).unwrap_err();
        assert!(matches!(err, ObjectFileError::Version { format: 9, .. }), "{err}");
        assert!(err.to_string().contains("compile the program again"), "{err}");
        assert_eq!(read(&file(PROGRAM).object.elf), Err(ObjectFileError::NoManifest));
        assert!(matches!(read(b"\x7fELF\x02\x01"), Err(ObjectFileError::Elf(_))));
        let native = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = read(&native).unwrap_err();
        assert!(matches!(err, ObjectFileError::NotBpf(_)), "{err}");
        assert!(err.to_string().contains("not a BPF object"), "{err}");
    }
}
