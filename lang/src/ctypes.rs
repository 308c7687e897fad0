//! C types as memory holds them: integers, pointers, structs and unions
//! with their members' offsets and bit fields, arrays, enums and typedefs,
//! each with its size and alignment. One representation for the three
//! sources of types — C definitions in the script ([`crate::cdefs`]), the
//! kernel's BTF, and later DWARF — so that `sizeof`, `offsetof`, casts,
//! reads through pointers and printing of struct values look at the same
//! data whatever the source.
//!
//! Plain data, cheap to clone: records and enums sit behind an [`Rc`], and
//! a pointer to a struct refers to it by name ([`CType::Named`]), which
//! breaks the cycles of linked structures (`struct P { struct P *next; }`)
//! and lets a kernel type be converted only when a program follows the
//! pointer to it.

use std::fmt;
use std::rc::Rc;

/// Which memory a pointer points into: it decides the helper that reads
/// through it (`bpf_probe_read_kernel` or `bpf_probe_read_user`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrSpace {
    /// Kernel memory: kernel types, kernel probes, `kptr()`. A kernel
    /// type's pointer read from user memory (a syscall's `struct iovec`)
    /// points to user memory, as its holder does.
    Kernel,
    /// The traced process's memory: uprobe and usdt arguments, `uptr()`.
    User,
    /// Not known from the type alone (a pointer in a script's definition):
    /// the probe reading it decides, as bpftrace decides it.
    Unknown,
}

/// `struct` or `union`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Members follow each other.
    Struct,
    /// Members overlap at offset 0.
    Union,
}

impl RecordKind {
    /// The keyword: `struct` or `union`.
    pub fn keyword(self) -> &'static str {
        match self {
            RecordKind::Struct => "struct",
            RecordKind::Union => "union",
        }
    }
}

/// A C type.
#[derive(Clone, Debug, PartialEq)]
pub enum CType {
    /// `void`: no size; only pointed to.
    Void,
    /// An integer of `size` bytes (1, 2, 4 or 8); `_Bool` and `char` included.
    Int {
        /// Bytes.
        size: u32,
        /// Whether it is signed.
        signed: bool,
    },
    /// A floating-point number of `size` bytes, which BPF cannot compute
    /// with but which structs may hold.
    Float {
        /// Bytes.
        size: u32,
    },
    /// A pointer (8 bytes).
    Pointer {
        /// What it points to.
        pointee: Rc<CType>,
        /// Which memory it points into.
        space: AddrSpace,
    },
    /// `T name[len]`; `len` is 0 for a flexible array member (`T name[]`).
    Array {
        /// The element type.
        element: Rc<CType>,
        /// The number of elements.
        len: u64,
    },
    /// A struct or union with its layout.
    Record(Rc<Record>),
    /// A struct or union referred to by name only, where C allows an
    /// incomplete type: behind a pointer. Its layout is looked up by name
    /// when needed (script definitions first, then the kernel's).
    Named {
        /// `struct` or `union`.
        kind: RecordKind,
        /// Its tag.
        name: String,
    },
    /// An enum: an integer with named constants.
    Enum(Rc<Enum>),
    /// `typedef T name`: `name` standing for `target`.
    Typedef {
        /// The typedef's name.
        name: String,
        /// The type it names.
        target: Rc<CType>,
    },
    /// A function (only pointed to: a function pointer member).
    Function,
}

/// A struct or union, laid out.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// `struct` or `union`.
    pub kind: RecordKind,
    /// Its tag; `None` for an anonymous one.
    pub name: Option<String>,
    /// Its size in bytes, trailing padding included.
    pub size: u64,
    /// Its alignment in bytes.
    pub align: u64,
    /// Its members in declaration order.
    pub members: Vec<Member>,
}

/// One member of a struct or union.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its name; `None` for an anonymous struct or union member (whose own
    /// members are reached as if they were the parent's) and for unnamed
    /// bit fields (padding).
    pub name: Option<String>,
    /// Its type.
    pub ty: CType,
    /// Bytes from the start of the record; for a bit field, the offset of
    /// the byte holding its first bit.
    pub offset: u64,
    /// For a bit field, where its bits are.
    pub bitfield: Option<BitField>,
}

/// Where a bit field's bits are: `bit_offset` bits from the start of the
/// record (little-endian bit numbering, as x86-64 and BTF count them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitField {
    /// Bits from the start of the record.
    pub bit_offset: u64,
    /// How many bits.
    pub width: u32,
}

/// An enum type and its constants.
#[derive(Clone, Debug, PartialEq)]
pub struct Enum {
    /// Its tag; `None` for an anonymous enum.
    pub name: Option<String>,
    /// Bytes (4, or 8 when a value needs it).
    pub size: u32,
    /// Whether a value is negative.
    pub signed: bool,
    /// The constants in declaration order.
    pub values: Vec<(String, i64)>,
}

/// A member found by name, possibly inside anonymous members: its offset
/// from the start of the outer record.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundMember<'a> {
    /// The member.
    pub member: &'a Member,
    /// Bytes from the start of the record searched.
    pub offset: u64,
}

impl Record {
    /// The member called `name`, looking into anonymous struct and union
    /// members as C does.
    pub fn member(&self, name: &str) -> Option<FoundMember<'_>> {
        for m in &self.members {
            match &m.name {
                Some(n) if n == name => return Some(FoundMember { member: m, offset: m.offset }),
                None => {
                    if let CType::Record(inner) = m.ty.resolved() {
                        if let Some(found) = inner.member(name) {
                            return Some(FoundMember { offset: m.offset + found.offset, ..found });
                        }
                    }
                }
                Some(_) => {}
            }
        }
        None
    }

    /// The names a member lookup can find (anonymous members' included),
    /// for "did you mean" hints.
    pub fn member_names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for m in &self.members {
            match (&m.name, m.ty.resolved()) {
                (Some(n), _) => out.push(n.as_str()),
                (None, CType::Record(inner)) => out.extend(inner.member_names()),
                (None, _) => {}
            }
        }
        out
    }

    /// `struct NAME`, `union NAME`, or `struct (anonymous)`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind.keyword(), self.name.as_deref().unwrap_or("(anonymous)"))
    }
}

impl CType {
    /// A pointer to `pointee` in `space`.
    pub fn pointer(pointee: CType, space: AddrSpace) -> CType {
        CType::Pointer { pointee: Rc::new(pointee), space }
    }

    /// The type with typedefs removed.
    pub fn resolved(&self) -> &CType {
        let mut t = self;
        while let CType::Typedef { target, .. } = t {
            t = target;
        }
        t
    }

    /// Its size in bytes; `None` for `void`, functions, and structs known
    /// by name only (incomplete here).
    pub fn size(&self) -> Option<u64> {
        Some(match self {
            CType::Void | CType::Function | CType::Named { .. } => return None,
            CType::Int { size, .. } | CType::Float { size } => u64::from(*size),
            CType::Pointer { .. } => 8,
            CType::Array { element, len } => element.size()?.checked_mul(*len)?,
            CType::Record(r) => r.size,
            CType::Enum(e) => u64::from(e.size),
            CType::Typedef { target, .. } => return target.size(),
        })
    }

    /// Its alignment in bytes (x86-64 System V); `None` where it has no size.
    pub fn align(&self) -> Option<u64> {
        Some(match self {
            CType::Void | CType::Function | CType::Named { .. } => return None,
            CType::Int { size, .. } | CType::Float { size } => u64::from(*size).max(1),
            CType::Pointer { .. } => 8,
            CType::Array { element, .. } => return element.align(),
            CType::Record(r) => r.align,
            CType::Enum(e) => u64::from(e.size),
            CType::Typedef { target, .. } => return target.align(),
        })
    }

    /// Whether it is an integer or an enum, after typedefs: what a bit
    /// field may hold.
    pub fn is_integer(&self) -> bool {
        matches!(self.resolved(), CType::Int { .. } | CType::Enum(_))
    }
}

impl fmt::Display for CType {
    /// The type's C spelling, as bpftrace names types in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CType::Void => write!(f, "void"),
            CType::Int { size: 1, signed: true } => write!(f, "int8"),
            CType::Int { size, signed } => write!(f, "{}int{}", if *signed { "" } else { "u" }, size * 8),
            CType::Float { size: 4 } => write!(f, "float"),
            CType::Float { size: 8 } => write!(f, "double"),
            CType::Float { .. } => write!(f, "long double"),
            CType::Pointer { pointee, .. } => write!(f, "{pointee} *"),
            CType::Array { element, len } => write!(f, "{element}[{len}]"),
            CType::Record(r) => write!(f, "{}", r.describe()),
            CType::Named { kind, name } => write!(f, "{} {name}", kind.keyword()),
            CType::Enum(e) => write!(f, "enum {}", e.name.as_deref().unwrap_or("(anonymous)")),
            CType::Typedef { name, .. } => write!(f, "{name}"),
            CType::Function => write!(f, "function"),
        }
    }
}

/// The C spelling of a named type as a lookup key: `struct task_struct`,
/// `union bpf_attr`, `enum tcp_state`, or a typedef's plain name.
pub fn type_key(kind: Option<&str>, name: &str) -> String {
    match kind {
        Some(k) => format!("{k} {name}"),
        None => name.to_string(),
    }
}

/// The names closest to `name` among `candidates` (by edit distance, at
/// most a third of the name's length, or 2), for a "did you mean" hint.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        // Ties go to the name sharing the longest prefix (`y` → `yy`, not `x`).
        .min_by_key(|(d, c)| (*d, std::cmp::Reverse(common_prefix(name, c)), *c))
        .map(|(_, c)| c)
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            row.push(sub.min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_inside_anonymous_ones() {
        let int = CType::Int { size: 4, signed: true };
        let inner = Record {
            kind: RecordKind::Union,
            name: None,
            size: 4,
            align: 4,
            members: vec![Member { name: Some("b".into()), ty: int.clone(), offset: 0, bitfield: None }],
        };
        let outer = Record {
            kind: RecordKind::Struct,
            name: Some("s".into()),
            size: 8,
            align: 4,
            members: vec![
                Member { name: Some("a".into()), ty: int, offset: 0, bitfield: None },
                Member { name: None, ty: CType::Record(Rc::new(inner)), offset: 4, bitfield: None },
            ],
        };
        assert_eq!(outer.member("b").map(|m| m.offset), Some(4));
        assert_eq!(outer.member_names(), ["a", "b"]);
        assert!(outer.member("c").is_none());
    }

    #[test]
    fn hints_the_closest_name() {
        assert_eq!(closest("tgdi", ["pid", "tgid", "comm"]), Some("tgid"));
        assert_eq!(closest("xyz", ["pid", "tgid"]), None);
    }
}
