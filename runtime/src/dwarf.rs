//! The DWARF debug information of user binaries, read with gimli: a
//! function's parameters with their C types (converted to
//! [`rbpf_lang::ctypes::CType`], the representation script definitions and
//! kernel BTF share), for `args` in uprobes and for `rbpf -lv 'uprobe:…'`.
//! Where each parameter arrives is decided by the x86-64 System V calling
//! convention. Nothing here runs unless a program uses a uprobe's `args`
//! or a listing asks for parameters.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use gimli::{AttributeValue, DebuggingInformationEntry, DwAt, DwTag, EndianSlice, LittleEndian, Unit, UnitOffset};
use rbpf_lang::ctypes::{AddrSpace, BitField, CType, Enum, Member, Record, RecordKind};
use rbpf_lang::target::{ArgLocation, TargetError, UserFunction, UserParam};

type Reader<'d> = EndianSlice<'d, LittleEndian>;
type Entry<'d> = DebuggingInformationEntry<Reader<'d>>;

/// The parameters of each function in `names` that the DWARF of the ELF
/// `file` (read from `path`) defines, by name; from its own DWARF or, when
/// it has none, from `debug` (its separate debug file). One pass over the
/// compilation units serves a whole listing or wildcard.
pub(crate) fn functions_args(
    path: &str,
    file: &object::File<'_>,
    debug: Option<&object::File<'_>>,
    names: &[&str],
) -> Result<HashMap<String, UserFunction>, TargetError> {
    let with_dwarf = [Some(file), debug].into_iter().flatten().find(|f| has_dwarf(f));
    let Some(file) = with_dwarf else {
        return Err(TargetError::Unavailable(format!(
            "{path} has no DWARF debug information: build it with -g or install its debug package"
        )));
    };
    let sections = gimli::DwarfSections::load(|id| section(file, id.name(), path))?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, LittleEndian));
    let broken = |e: gimli::Error| TargetError::Unavailable(format!("cannot read the DWARF of {path}: {e}"));
    let mut wanted: HashSet<&str> = names.iter().copied().collect();
    let mut found = HashMap::new();
    let mut units = dwarf.units();
    while !wanted.is_empty() {
        let Some(header) = units.next().map_err(broken)? else { break };
        let unit = dwarf.unit(header).map_err(broken)?;
        let mut reader = DwarfTypes { dwarf: &dwarf, unit: &unit, records: HashMap::new(), building: HashSet::new(), named: Vec::new() };
        for (name, offset) in reader.definitions(&wanted).map_err(broken)? {
            let function = reader.function(offset).map_err(broken)?;
            wanted.remove(name.as_str());
            found.insert(name, function);
        }
    }
    Ok(found)
}

pub(crate) fn has_dwarf(file: &object::File<'_>) -> bool {
    use object::{Object, ObjectSection};
    file.section_by_name(".debug_info").is_some_and(|s| s.size() > 0)
}

/// A section's bytes, decompressed (an empty slice when the file lacks it).
fn section<'d>(file: &object::File<'d>, name: &str, path: &str) -> Result<Cow<'d, [u8]>, TargetError> {
    use object::{Object, ObjectSection};
    match file.section_by_name(name) {
        Some(s) => s.uncompressed_data().map_err(|e| TargetError::Unavailable(format!("cannot read {name} of {path}: {e}"))),
        None => Ok(Cow::Borrowed(&[])),
    }
}

/// Converts the types of one compilation unit, each record once.
struct DwarfTypes<'a, 'd> {
    dwarf: &'a gimli::Dwarf<Reader<'d>>,
    unit: &'a Unit<Reader<'d>>,
    /// Records converted so far, by their entry.
    records: HashMap<UnitOffset, CType>,
    /// Records being converted: a pointer back to one of them (`struct
    /// node *next`) refers to it by name.
    building: HashSet<UnitOffset>,
    /// The named records converted, by C spelling.
    named: Vec<(String, CType)>,
}

impl<'d> DwarfTypes<'_, 'd> {
    /// The functions of `wanted` this unit defines, each once, by name.
    fn definitions(&self, wanted: &HashSet<&str>) -> gimli::Result<Vec<(String, UnitOffset)>> {
        let mut found: Vec<(String, UnitOffset)> = Vec::new();
        let mut entries = self.unit.entries();
        while let Some(entry) = entries.next_dfs()? {
            if entry.tag() != gimli::DW_TAG_subprogram || entry.attr(gimli::DW_AT_declaration).is_some() {
                continue;
            }
            // By its symbol: the plain name in C, the mangled linkage name
            // in C++ and Rust.
            for attr in [gimli::DW_AT_linkage_name, gimli::DW_AT_name] {
                let Some(name) = self.attr_through_origin(entry, attr)?.and_then(|v| self.string(v)) else { continue };
                if wanted.contains(name.as_str()) && !found.iter().any(|(n, _)| *n == name) {
                    found.push((name, entry.offset()));
                    break;
                }
            }
        }
        Ok(found)
    }

    /// The parameters of the function defined at `offset`.
    fn function(&mut self, offset: UnitOffset) -> gimli::Result<UserFunction> {
        let mut tree = self.unit.entries_tree(Some(offset))?;
        let root = tree.root()?;
        let returns_in_memory = match self.attr_through_origin(root.entry(), gimli::DW_AT_type)? {
            Some(AttributeValue::UnitRef(ret)) => self.convert(ret)?.size().is_some_and(|s| s > 16) && self.is_record(ret)?,
            _ => false,
        };
        let mut raw = Vec::new();
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let entry = child.entry();
            if entry.tag() != gimli::DW_TAG_formal_parameter {
                continue;
            }
            let name = self.attr_through_origin(entry, gimli::DW_AT_name)?.and_then(|v| self.string(v));
            let (ty, c_type) = match self.attr_through_origin(entry, gimli::DW_AT_type)? {
                Some(AttributeValue::UnitRef(t)) => (self.convert(t)?, self.spell(t, 0)?),
                _ => (CType::Void, "void".to_string()),
            };
            raw.push((name, ty, c_type));
        }
        let mut classifier = Classifier { next_register: u8::from(returns_in_memory), next_vector: 0 };
        let params = raw
            .into_iter()
            .map(|(name, ty, c_type)| {
                let location = classifier.place(&ty);
                UserParam { name, c_type, ty, location }
            })
            .collect();
        // Every named record of the unit met so far: those this function's
        // types reach are among them.
        Ok(UserFunction { params, types: self.named.clone() })
    }

    /// An attribute of `entry`, or of the entry it is a concrete instance
    /// or the definition of (`DW_AT_abstract_origin`, `DW_AT_specification`).
    fn attr_through_origin(&self, entry: &Entry<'d>, name: DwAt) -> gimli::Result<Option<AttributeValue<Reader<'d>>>> {
        if let Some(v) = entry.attr_value(name) {
            return Ok(Some(v));
        }
        for link in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
            if let Some(AttributeValue::UnitRef(origin)) = entry.attr_value(link) {
                return Ok(self.unit.entry(origin)?.attr_value(name));
            }
        }
        Ok(None)
    }

    fn string(&self, value: AttributeValue<Reader<'d>>) -> Option<String> {
        let s = self.dwarf.attr_string(self.unit, value).ok()?;
        Some(String::from_utf8_lossy(s.slice()).into_owned())
    }

    fn name(&self, entry: &Entry<'d>) -> gimli::Result<Option<String>> {
        Ok(entry.attr_value(gimli::DW_AT_name).and_then(|v| self.string(v)))
    }

    fn udata(entry: &Entry<'d>, name: DwAt) -> gimli::Result<Option<u64>> {
        Ok(entry.attr_value(name).and_then(|v| v.udata_value()))
    }

    fn target(entry: &Entry<'d>) -> gimli::Result<Option<UnitOffset>> {
        Ok(match entry.attr_value(gimli::DW_AT_type) {
            Some(AttributeValue::UnitRef(t)) => Some(t),
            _ => None,
        })
    }

    fn is_record(&self, offset: UnitOffset) -> gimli::Result<bool> {
        let entry = self.unit.entry(offset)?;
        Ok(match entry.tag() {
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type | gimli::DW_TAG_class_type => true,
            gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type => match Self::target(&entry)? {
                Some(t) => self.is_record(t)?,
                None => false,
            },
            _ => false,
        })
    }

    /// The C type of the type entry at `offset`.
    fn convert(&mut self, offset: UnitOffset) -> gimli::Result<CType> {
        if let Some(t) = self.records.get(&offset) {
            return Ok(t.clone());
        }
        let entry = self.unit.entry(offset)?;
        let inner = |this: &mut Self| -> gimli::Result<CType> {
            match Self::target(&entry)? {
                Some(t) => this.convert(t),
                None => Ok(CType::Void),
            }
        };
        Ok(match entry.tag() {
            gimli::DW_TAG_base_type => {
                let size = Self::udata(&entry, gimli::DW_AT_byte_size)?.unwrap_or(0) as u32;
                match entry.attr_value(gimli::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(gimli::DW_ATE_float)) => CType::Float { size },
                    Some(AttributeValue::Encoding(e)) => {
                        CType::Int { size, signed: matches!(e, gimli::DW_ATE_signed | gimli::DW_ATE_signed_char) }
                    }
                    _ => CType::Int { size, signed: false },
                }
            }
            gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type | gimli::DW_TAG_rvalue_reference_type => {
                let pointee = match Self::target(&entry)? {
                    Some(t) => self.pointee(t)?,
                    None => CType::Void,
                };
                // Pointers of a traced program point into its own memory.
                CType::pointer(pointee, AddrSpace::User)
            }
            gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type | gimli::DW_TAG_restrict_type | gimli::DW_TAG_atomic_type => {
                inner(self)?
            }
            gimli::DW_TAG_typedef => {
                let name = self.name(&entry)?.unwrap_or_default();
                CType::Typedef { name, target: Rc::new(inner(self)?) }
            }
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type | gimli::DW_TAG_class_type => self.record(&entry)?,
            gimli::DW_TAG_enumeration_type => self.enumeration(&entry)?,
            gimli::DW_TAG_array_type => self.array(&entry)?,
            gimli::DW_TAG_subroutine_type => CType::Function,
            _ => CType::Void,
        })
    }

    /// What a pointer points to: a record being converted by name.
    fn pointee(&mut self, offset: UnitOffset) -> gimli::Result<CType> {
        if self.building.contains(&offset) {
            let entry = self.unit.entry(offset)?;
            return Ok(match self.name(&entry)? {
                Some(name) => CType::Named { kind: record_kind(entry.tag()), name },
                None => CType::Void,
            });
        }
        self.convert(offset)
    }

    fn record(&mut self, entry: &Entry<'d>) -> gimli::Result<CType> {
        let kind = record_kind(entry.tag());
        let name = self.name(entry)?;
        if entry.attr(gimli::DW_AT_declaration).is_some() {
            // Declared only in this unit (an opaque type).
            return Ok(match name {
                Some(name) => CType::Named { kind, name },
                None => CType::Void,
            });
        }
        let offset = entry.offset();
        self.building.insert(offset);
        let size = Self::udata(entry, gimli::DW_AT_byte_size)?.unwrap_or(0);
        let mut members = Vec::new();
        let mut tree = self.unit.entries_tree(Some(offset))?;
        let root = tree.root()?;
        let mut children = root.children();
        let mut fields = Vec::new();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_member || e.attr(gimli::DW_AT_external).is_some() {
                continue;
            }
            let byte_offset = Self::udata(e, gimli::DW_AT_data_member_location)?;
            let bit_size = Self::udata(e, gimli::DW_AT_bit_size)?;
            // DWARF 4+: bits from the record's start; DWARF 2/3: from the
            // most significant bit of the storage unit at the byte offset.
            let bit_offset = match (Self::udata(e, gimli::DW_AT_data_bit_offset)?, Self::udata(e, gimli::DW_AT_bit_offset)?, bit_size) {
                (Some(bits), _, Some(_)) => Some(bits),
                (None, Some(msb), Some(width)) => {
                    let unit_bytes = Self::udata(e, gimli::DW_AT_byte_size)?.unwrap_or(0);
                    Some(byte_offset.unwrap_or(0) * 8 + (unit_bytes * 8).saturating_sub(msb + width))
                }
                _ => None,
            };
            fields.push((self.name(e)?, Self::target(e)?, byte_offset.unwrap_or(0), bit_offset, bit_size));
        }
        for (member_name, ty, byte_offset, bit_offset, bit_size) in fields {
            let ty = match ty {
                Some(t) => self.convert(t)?,
                None => CType::Void,
            };
            let (offset, bitfield) = match (bit_offset, bit_size) {
                (Some(bits), Some(width)) => (bits / 8, Some(BitField { bit_offset: bits, width: width as u32 })),
                _ => (byte_offset, None),
            };
            members.push(Member { name: member_name, ty, offset, bitfield });
        }
        self.building.remove(&offset);
        let align = members.iter().filter_map(|m| m.ty.align()).max().unwrap_or(1);
        let record = CType::Record(Rc::new(Record { kind, name: name.clone(), size, align, members }));
        if let Some(name) = name {
            self.named.push((format!("{} {name}", kind.keyword()), record.clone()));
        }
        self.records.insert(offset, record.clone());
        Ok(record)
    }

    fn enumeration(&mut self, entry: &Entry<'d>) -> gimli::Result<CType> {
        let size = Self::udata(entry, gimli::DW_AT_byte_size)?.unwrap_or(4) as u32;
        let mut values = Vec::new();
        let mut tree = self.unit.entries_tree(Some(entry.offset()))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_enumerator {
                continue;
            }
            let value = match e.attr_value(gimli::DW_AT_const_value) {
                Some(AttributeValue::Sdata(v)) => v,
                Some(v) => v.udata_value().unwrap_or(0) as i64,
                None => 0,
            };
            values.push((self.name(e)?.unwrap_or_default(), value));
        }
        let signed = values.iter().any(|(_, v)| *v < 0);
        Ok(CType::Enum(Rc::new(Enum { name: self.name(entry)?, size, signed, values })))
    }

    fn array(&mut self, entry: &Entry<'d>) -> gimli::Result<CType> {
        let mut element = match Self::target(entry)? {
            Some(t) => self.convert(t)?,
            None => CType::Void,
        };
        let mut lengths = Vec::new();
        let mut tree = self.unit.entries_tree(Some(entry.offset()))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() == gimli::DW_TAG_subrange_type {
                let len = match (Self::udata(e, gimli::DW_AT_count)?, Self::udata(e, gimli::DW_AT_upper_bound)?) {
                    (Some(n), _) => n,
                    (None, Some(upper)) => upper + 1,
                    // `T name[]`: a flexible array member.
                    _ => 0,
                };
                lengths.push(len);
            }
        }
        // `int a[2][3]` is an array of 2 arrays of 3.
        for len in lengths.into_iter().rev() {
            element = CType::Array { element: Rc::new(element), len };
        }
        Ok(element)
    }

    /// The type at `offset` spelt as bpftrace 0.17 lists it: `struct P*`,
    /// `const char*`, `char* const`, `long int`, `ulong_t`, `struct
    /// <anonymous>`; what it cannot spell (arrays, functions, `volatile`)
    /// is `<unknown type>`, as there.
    fn spell(&self, offset: UnitOffset, depth: u32) -> gimli::Result<String> {
        const UNKNOWN: &str = "<unknown type>";
        let entry = self.unit.entry(offset)?;
        if depth > 32 {
            return Ok(UNKNOWN.into());
        }
        let inner = |this: &Self| -> gimli::Result<String> {
            match Self::target(&entry)? {
                Some(t) => this.spell(t, depth + 1),
                None => Ok("void".into()),
            }
        };
        let name = || -> gimli::Result<String> { Ok(self.name(&entry)?.unwrap_or_else(|| "<anonymous>".into())) };
        Ok(match entry.tag() {
            gimli::DW_TAG_base_type | gimli::DW_TAG_typedef => name()?,
            gimli::DW_TAG_structure_type => format!("struct {}", name()?),
            gimli::DW_TAG_union_type => format!("union {}", name()?),
            gimli::DW_TAG_class_type => format!("class {}", name()?),
            gimli::DW_TAG_enumeration_type => format!("enum {}", name()?),
            gimli::DW_TAG_pointer_type => format!("{}*", inner(self)?),
            gimli::DW_TAG_const_type => qualified("const", inner(self)?),
            _ => UNKNOWN.into(),
        })
    }
}

/// `const T`, or `T const` for a qualified pointer (`char *const`).
fn qualified(qualifier: &str, inner: String) -> String {
    if inner.ends_with('*') {
        format!("{inner} {qualifier}")
    } else {
        format!("{qualifier} {inner}")
    }
}

fn record_kind(tag: DwTag) -> RecordKind {
    if tag == gimli::DW_TAG_union_type {
        RecordKind::Union
    } else {
        RecordKind::Struct
    }
}

/// Assigns arguments to registers as the x86-64 System V ABI does
/// (section 3.2.3): integers and pointers take the next of the six integer
/// registers, floating-point values the next vector register; a struct of
/// at most 16 bytes is split into eightbytes, each in an integer or a
/// vector register by what it holds, and goes on the stack whole when its
/// registers are not free; a larger one is passed on the stack.
struct Classifier {
    next_register: u8,
    next_vector: u8,
}

impl Classifier {
    fn place(&mut self, ty: &CType) -> ArgLocation {
        let size = ty.size().unwrap_or(8);
        let eightbytes: Vec<bool> = match ty.resolved() {
            CType::Float { .. } => vec![true],
            CType::Record(_) | CType::Array { .. } if size > 16 || size == 0 => return ArgLocation::Stack,
            CType::Record(_) | CType::Array { .. } => {
                let mut scalars = Vec::new();
                scalars_of(ty, 0, &mut scalars);
                (0..size.div_ceil(8)).map(|i| scalars.iter().filter(|(o, _)| o / 8 == i).all(|(_, float)| *float)).collect()
            }
            _ => vec![false],
        };
        let integers = eightbytes.iter().filter(|f| !**f).count() as u8;
        let vectors = eightbytes.len() as u8 - integers;
        if self.next_register + integers > 6 || self.next_vector + vectors > 8 {
            return ArgLocation::Stack;
        }
        let first = self.next_register;
        self.next_register += integers;
        self.next_vector += vectors;
        if vectors > 0 {
            ArgLocation::Vector
        } else {
            ArgLocation::Registers { first, count: integers }
        }
    }
}

/// The scalars inside `ty` at `base`: (offset, whether floating-point).
fn scalars_of(ty: &CType, base: u64, out: &mut Vec<(u64, bool)>) {
    match ty.resolved() {
        CType::Record(r) => r.members.iter().for_each(|m| scalars_of(&m.ty, base + m.offset, out)),
        CType::Array { element, len } => {
            let size = element.size().unwrap_or(0);
            (0..*len).for_each(|i| scalars_of(element, base + i * size, out));
        }
        CType::Float { .. } => out.push((base, true)),
        _ => out.push((base, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_arguments_as_the_calling_convention_does() {
        let int = CType::Int { size: 4, signed: true };
        let record = |members: Vec<(CType, u64)>, size| {
            let members = members.into_iter().map(|(ty, offset)| Member { name: Some("m".into()), ty, offset, bitfield: None }).collect();
            CType::Record(Rc::new(Record { kind: RecordKind::Struct, name: None, size, align: 8, members }))
        };
        let double = CType::Float { size: 8 };
        let mut c = Classifier { next_register: 0, next_vector: 0 };
        assert_eq!(c.place(&int), ArgLocation::Registers { first: 0, count: 1 });
        // Larger than 16 bytes: on the stack, taking no register.
        assert_eq!(c.place(&record(vec![(int.clone(), 0), (int.clone(), 8), (int.clone(), 16)], 24)), ArgLocation::Stack);
        assert_eq!(c.place(&double), ArgLocation::Vector);
        assert_eq!(c.place(&record(vec![(int.clone(), 0), (int.clone(), 8)], 16)), ArgLocation::Registers { first: 1, count: 2 });
        // One eightbyte of integers, one of doubles.
        assert_eq!(c.place(&record(vec![(int.clone(), 0), (double, 8)], 16)), ArgLocation::Vector);
        assert_eq!(c.place(&int), ArgLocation::Registers { first: 4, count: 1 });
        assert_eq!(c.place(&record(vec![(int.clone(), 0), (int.clone(), 8)], 16)), ArgLocation::Stack);
        assert_eq!(c.place(&int), ArgLocation::Registers { first: 5, count: 1 });
        assert_eq!(c.place(&int), ArgLocation::Stack);
    }

    /// A program built with `gcc -g`, or `None` (the test is skipped) where
    /// there is no gcc.
    fn build(name: &str, source: &str, flags: &[&str]) -> Option<String> {
        let dir = std::env::temp_dir().join(format!("rbpf-dwarf-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(dir.join("p.c"), source).ok()?;
        let binary = dir.join(name);
        let built = std::process::Command::new("gcc").args(flags).arg("-o").arg(&binary).arg(dir.join("p.c")).output().ok()?;
        built.status.success().then(|| binary.to_string_lossy().into_owned())
    }

    const SOURCE: &str = "
        struct node { int x; char name[8]; struct node *next; unsigned flag : 3; };
        typedef unsigned long ulong_t;
        enum colour { RED, GREEN = -2 };
        struct big { long a, b, c; };
        __attribute__((noinline)) int f(int n, struct node *p, const char *name, ulong_t big, short s, char c) { return n + p->x + name[0] + (int)big + s + c; }
        __attribute__((noinline)) long g(struct big b, double d, enum colour e, long h, long i, long j, long k, long l, long m) { return b.a + (long)d + e + h + i + j + k + l + m; }
        __attribute__((noinline)) struct big h(int (*cb)(int, char *), char *const q) { struct big r = {cb(0, q), 0, 0}; return r; }
        int main(void) { return 0; }
    ";

    fn args(binary: &str, function: &str) -> Result<UserFunction, TargetError> {
        use rbpf_lang::target::Target;
        crate::target::HostTarget::new().user_functions_args(binary, &[function])?.remove(function).ok_or(TargetError::NotFound)
    }

    #[test]
    fn reads_parameters_with_their_types_and_registers() {
        let Some(binary) = build("args", SOURCE, &["-g", "-O0"]) else { return };
        let f = args(&binary, "f").unwrap();
        let listed: Vec<String> = f.params.iter().map(|p| format!("{} {} {:?}", p.c_type, p.name.as_deref().unwrap_or("?"), p.location)).collect();
        assert_eq!(
            listed,
            [
                "int n Registers { first: 0, count: 1 }",
                "struct node* p Registers { first: 1, count: 1 }",
                "const char* name Registers { first: 2, count: 1 }",
                "ulong_t big Registers { first: 3, count: 1 }",
                "short int s Registers { first: 4, count: 1 }",
                "char c Registers { first: 5, count: 1 }",
            ]
        );
        assert_eq!(f.params[0].ty, CType::Int { size: 4, signed: true });
        assert_eq!(f.params[4].ty, CType::Int { size: 2, signed: true });
        // Through the pointer: the struct, its linked pointer by name.
        let CType::Pointer { pointee, space: AddrSpace::User } = &f.params[1].ty else { panic!("{:?}", f.params[1].ty) };
        let CType::Record(node) = &**pointee else { panic!("{pointee:?}") };
        assert_eq!((node.size, node.member("name").unwrap().offset, node.member("next").unwrap().offset), (32, 4, 16));
        let next = &node.member("next").unwrap().member.ty;
        assert_eq!(next, &CType::pointer(CType::Named { kind: RecordKind::Struct, name: "node".into() }, AddrSpace::User));
        assert_eq!(node.member("flag").unwrap().member.bitfield, Some(BitField { bit_offset: 192, width: 3 }));
        assert!(f.types.iter().any(|(key, t)| key == "struct node" && matches!(t, CType::Record(_))));

        // A struct of 24 bytes goes on the stack; a double in a vector
        // register; the seventh integer argument on the stack.
        let g = args(&binary, "g").unwrap();
        let locations: Vec<ArgLocation> = g.params.iter().map(|p| p.location).collect();
        let reg = |first| ArgLocation::Registers { first, count: 1 };
        assert_eq!(locations, [ArgLocation::Stack, ArgLocation::Vector, reg(0), reg(1), reg(2), reg(3), reg(4), reg(5), ArgLocation::Stack]);
        assert_eq!(g.params[2].c_type, "enum colour");
        assert!(matches!(g.params[2].ty.resolved(), CType::Enum(e) if e.signed && e.values == [("RED".to_string(), 0), ("GREEN".to_string(), -2)]));

        // A struct returned in memory takes the first register for its address.
        let h = args(&binary, "h").unwrap();
        let listed: Vec<String> = h.params.iter().map(|p| format!("{} {:?}", p.c_type, p.location)).collect();
        assert_eq!(listed, ["<unknown type>* Registers { first: 1, count: 1 }", "char* const Registers { first: 2, count: 1 }"]);

        assert_eq!(args(&binary, "nope"), Err(TargetError::NotFound));
        let main = args(&binary, "main").unwrap();
        assert!(main.params.is_empty());
    }

    #[test]
    fn reads_compressed_debug_sections() {
        // Debian's debug packages compress their DWARF (zlib).
        let Some(binary) = build("compressed", SOURCE, &["-g", "-gz=zlib", "-O0"]) else { return };
        let f = args(&binary, "f").unwrap();
        assert_eq!(f.params.iter().map(|p| p.c_type.as_str()).collect::<Vec<_>>(), ["int", "struct node*", "const char*", "ulong_t", "short int", "char"]);
    }

    #[test]
    fn says_when_a_binary_has_no_debug_information() {
        let Some(binary) = build("nodebug", SOURCE, &["-O0"]) else { return };
        let Err(TargetError::Unavailable(why)) = args(&binary, "f") else { panic!() };
        assert_eq!(why, format!("{binary} has no DWARF debug information: build it with -g or install its debug package"));
    }
}

