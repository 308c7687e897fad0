//! The types of checked expressions, with bpftrace's widths and signedness.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::ctypes::CType;

/// bpftrace's default maximum string length (`BPFTRACE_MAX_STRLEN`, 64).
pub const DEFAULT_STRLEN: u32 = 64;
/// `comm` is the kernel's TASK_COMM_LEN.
pub const COMM_LEN: u32 = 16;

/// The type of a checked expression, a variable, a map key or value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// An integer of `bits` width. Every integer is widened to 64 bits in a
    /// register; the width matters for loads, stores and printing.
    Int {
        /// 8, 16, 32 or 64.
        bits: u8,
        /// Whether it is signed.
        signed: bool,
    },
    /// A NUL-padded string buffer of `size` bytes (including the NUL).
    Str {
        /// The buffer's bytes, NUL included.
        size: u32,
    },
    /// A pointer, kept as a 64-bit address; `to_char` when it points to a C
    /// string, `user` when it is a user-space address, `pointee` when its
    /// target's C type is known (a cast to `struct P *`, a pointer member),
    /// so that `->`, `*` and `[]` can read through it.
    Ptr {
        /// Whether it points to a C string.
        to_char: bool,
        /// Whether it is a user-space address.
        user: bool,
        /// The C type it points to, when known.
        pointee: Option<Pointee>,
    },
    /// `strftime(fmt, nsecs)`: nanoseconds since boot, printed as a date
    /// with the program's time format number `format`.
    Timestamp {
        /// Index into the program's time formats.
        format: u32,
    },
    /// `username`: a uid, printed as the user's name.
    Username,
    /// A kernel address, printed as the name of the kernel symbol it is in
    /// (`func` in a multi-attached kprobe).
    Ksym,
    /// `usym(addr)`: a user address and the pid of the process it is in
    /// (two u64s, as bpftrace stores it), printed as the name of the
    /// symbol it is in.
    Usym,
    /// `strerror(n)`: an errno, printed as the C library's text for it
    /// (`No such file or directory`).
    Errno,
    /// `cgroup_path(id [, filter])`: a cgroup id, printed as the paths of
    /// that cgroup in every mounted hierarchy whose name matches `filter`
    /// (`unified:/user.slice,...`).
    CgroupPath {
        /// The glob hierarchy names must match; `None` takes them all.
        filter: Option<String>,
    },
    /// `macaddr(p)`: the 6 bytes of a MAC address, printed as
    /// `00:1A:2B:3C:4D:5E`. Stored as its bytes, as a struct value is.
    Macaddr,
    /// `ntop(...)`: an address family and 16 address bytes, printed as an
    /// IPv4 or IPv6 address.
    Inet,
    /// `buf(p, n)`: up to `size` bytes and their count, printed with
    /// non-printable bytes escaped (`%r`).
    Buf {
        /// The most bytes it holds.
        size: u32,
    },
    /// `kstack` / `ustack`: a stack captured into a stack-trace map,
    /// stored as one u64 (the stack id in the low 32 bits, the pid in the
    /// high 32 for a user stack) and printed as its frames' symbols.
    Stack(StackType),
    /// `(a, b, ...)`: laid out like a C struct ([`tuple_layout`]), as
    /// bpftrace lays tuples out, so printing and key comparison match.
    Tuple(Vec<Type>),
    /// A struct, union or array (other than a char array, which reads as
    /// a string) read from memory as a whole: its bytes, laid out as its C
    /// type says. The type travels with the value so that members can be
    /// read from it (`$s.x`) and the runtime can print it
    /// (`{ .x = 1, .name = abc }`, `[1,2,3]`).
    CValue(Pointee),
    /// Statements such as `printf()` or `exit()` used as expressions.
    Void,
}

impl Type {
    /// `uint64`.
    pub const U64: Type = Type::Int { bits: 64, signed: false };
    /// `int64`: what integer literals are.
    pub const I64: Type = Type::Int { bits: 64, signed: true };
    /// `uint32`.
    pub const U32: Type = Type::Int { bits: 32, signed: false };

    /// Whether it is a number: an integer or a pointer.
    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Ptr { .. })
    }

    /// Whether it is a string buffer.
    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str { .. })
    }

    /// Whether printf's `%s` prints it: strings, and the values the runtime
    /// renders as text (dates, user names, addresses).
    pub fn prints_as_string(&self) -> bool {
        matches!(self, Type::Str { .. } | Type::Timestamp { .. } | Type::Username | Type::Ksym | Type::Usym | Type::Inet | Type::Stack(_) | Type::Errno | Type::CgroupPath { .. } | Type::Macaddr)
    }

    /// Whether it is a `buf()`.
    pub fn is_buf(&self) -> bool {
        matches!(self, Type::Buf { .. })
    }

    /// Whether it is a tuple.
    pub fn is_tuple(&self) -> bool {
        matches!(self, Type::Tuple(_))
    }

    /// Whether it is a struct, union or array value, or another value
    /// made of bytes in place (a MAC address): stored, copied and
    /// compared byte for byte.
    pub fn is_cvalue(&self) -> bool {
        matches!(self, Type::CValue(_) | Type::Macaddr)
    }

    /// The type as bpftrace's messages name it: `int64`, `unsigned int32`,
    /// `unsigned int8 *`, `struct P *`.
    pub fn bpftrace_name(&self) -> String {
        let shown = self.to_string();
        match shown.strip_prefix('u') {
            Some(rest) if matches!(self, Type::Int { .. } | Type::Ptr { .. }) && rest.starts_with("int") => format!("unsigned {rest}"),
            _ => shown,
        }
    }

    /// Whether it is a signed integer.
    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }

    /// The size of the type's value in a map key, map value or event record:
    /// integers are stored as 8 bytes, as bpftrace stores them.
    pub fn stored_size(&self) -> u32 {
        match self {
            Type::Int { .. } | Type::Ptr { .. } => 8,
            Type::Str { size } => *size,
            Type::Timestamp { .. } | Type::Username | Type::Ksym | Type::Stack(_) | Type::Errno | Type::CgroupPath { .. } => 8,
            Type::Usym => 16,
            Type::Macaddr => 6,
            Type::Inet => 24,
            // A u8 length, then the bytes.
            Type::Buf { size } => 1 + *size,
            Type::Tuple(items) => tuple_layout(items).1,
            Type::CValue(c) => c.0.size().unwrap_or(0) as u32,
            Type::Void => 0,
        }
    }

    /// The alignment of the stored value inside a tuple: strings are char
    /// arrays (1), everything else is made of u64s (8).
    pub fn align(&self) -> u32 {
        match self {
            Type::Str { .. } | Type::Macaddr => 1,
            Type::Tuple(items) => items.iter().map(Type::align).max().unwrap_or(1),
            Type::CValue(c) => c.0.align().unwrap_or(1).clamp(1, 8) as u32,
            _ => 8,
        }
    }

    /// Whether a value of type `other` can be stored where `self` was stored
    /// before: same kind; strings of any length (the larger size wins).
    pub fn compatible(&self, other: &Type) -> bool {
        match (self, other) {
            (a, b) if a.is_int() && b.is_int() => true,
            (Type::Str { .. }, Type::Str { .. }) | (Type::Buf { .. }, Type::Buf { .. }) => true,
            (Type::Tuple(a), Type::Tuple(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.compatible(y)),
            (a, b) => a == b,
        }
    }

    /// Whether a map key or value of type `other` can go where `self`
    /// went before: as [`Type::compatible`], but buffers only of the same
    /// size — bpftrace refuses others as keys, and as values it refuses a
    /// smaller one and garbles a larger one.
    pub fn fits_map(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Buf { size: a }, Type::Buf { size: b }) => a == b,
            _ => self.compatible(other),
        }
    }

    /// The type that can hold values of both (for map keys and values).
    pub fn unify(&self, other: &Type) -> Type {
        match (self, other) {
            (Type::Str { size: a }, Type::Str { size: b }) => Type::Str { size: (*a).max(*b) },
            (Type::Buf { size: a }, Type::Buf { size: b }) => Type::Buf { size: (*a).max(*b) },
            (a, b) if a == b => a.clone(),
            (Type::Int { bits: a, signed: sa }, Type::Int { bits: b, signed: sb }) => {
                Type::Int { bits: (*a).max(*b), signed: *sa && *sb }
            }
            (Type::Tuple(a), Type::Tuple(b)) if a.len() == b.len() => {
                Type::Tuple(a.iter().zip(b).map(|(x, y)| x.unify(y)).collect())
            }
            (a, _) => a.clone(),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int { bits, signed } => write!(f, "{}int{}", if *signed { "" } else { "u" }, bits),
            Type::Str { size } => write!(f, "string[{size}]"),
            Type::Ptr { pointee: Some(p), .. } => write!(f, "{} *", p.0),
            Type::Ptr { to_char: true, .. } => write!(f, "char *"),
            Type::Ptr { .. } => write!(f, "pointer"),
            Type::Timestamp { .. } => write!(f, "timestamp"),
            Type::Username => write!(f, "username"),
            Type::Errno => write!(f, "strerror"),
            Type::Macaddr => write!(f, "macaddr"),
            Type::CgroupPath { .. } => write!(f, "cgroup_path"),
            Type::Ksym => write!(f, "ksym"),
            Type::Usym => write!(f, "usym"),
            Type::Stack(stack) => write!(f, "{}", if stack.user { "ustack" } else { "kstack" }),
            Type::Inet => write!(f, "inet address"),
            Type::Buf { size } => write!(f, "buffer[{size}]"),
            Type::Tuple(items) => {
                // bpftrace's spelling: `(int64,string[4])`.
                write!(f, "(")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ",")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, ")")
            }
            Type::CValue(c) => write!(f, "{}", c.0),
            Type::Void => write!(f, "none"),
        }
    }
}

/// The C type a typed pointer points to. Two pointees are equal when their
/// types are; the hash looks at the spelling only, which equal types share.
#[derive(Clone, Debug)]
pub struct Pointee(pub Rc<CType>);

impl PartialEq for Pointee {
    fn eq(&self, other: &Pointee) -> bool {
        Rc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Pointee {}

impl Hash for Pointee {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_string().hash(state);
    }
}

/// Whether an array of `element` is a string: `char` (signed on x86-64,
/// and so in script definitions and kernel BTF alike); bpftrace reads
/// and prints `unsigned char` and `uint8_t` arrays as numbers.
pub fn is_char(element: &CType) -> bool {
    matches!(element.resolved(), CType::Int { size: 1, signed: true })
}

/// What `kstack` and `ustack` capture and how they print (bpftrace's
/// `kstack(MODE, N)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackType {
    /// A user stack (`ustack`), not a kernel one.
    pub user: bool,
    /// How its frames print.
    pub mode: StackMode,
    /// The most frames it keeps (1 to [`MAX_STACK_FRAMES`]).
    pub limit: u8,
}

/// The most frames a stack keeps, and what `kstack` alone keeps: the
/// kernel's default `perf_event_max_stack`, as bpftrace.
pub const MAX_STACK_FRAMES: u8 = 127;

/// How a stack's frames print: bpftrace 0.17's two modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackMode {
    /// `bpftrace`: each frame `    sym+off`.
    Bpftrace,
    /// `perf`: each frame `\taddr sym+off` (and the module of a user one).
    Perf,
}

/// The offset of each element of a tuple and the tuple's size: each element
/// at the next multiple of its alignment, the size rounded up to the
/// largest alignment, as a C compiler lays out a struct.
pub fn tuple_layout(items: &[Type]) -> (Vec<u32>, u32) {
    let (offsets, size, _) = struct_layout(items.iter().map(|t| (u64::from(t.stored_size()), u64::from(t.align()))));
    (offsets.into_iter().map(|o| o as u32).collect(), size as u32)
}

/// C's struct layout of members of the given (size, alignment): each
/// member's offset, the size rounded up to the largest alignment, and
/// that alignment.
fn struct_layout(members: impl Iterator<Item = (u64, u64)>) -> (Vec<u64>, u64, u64) {
    let (mut end, mut align) = (0u64, 1u64);
    let offsets = members
        .map(|(size, a)| {
            align = align.max(a);
            let offset = end.div_ceil(a) * a;
            end = offset + size;
            offset
        })
        .collect();
    (offsets, end.div_ceil(align) * align, align)
}

/// What `sizeof` says of a value of type `ty`, with its alignment: the
/// size bpftrace's type system gives it. For a tuple that is a C struct of
/// its elements at their own widths (`sizeof(((int8)1, (int16)2))` is 4),
/// although a stored tuple holds each integer as a u64
/// ([`Type::stored_size`]).
pub fn declared_layout(ty: &Type) -> (u64, u64) {
    match ty {
        Type::Int { bits, .. } => (u64::from(bits / 8), u64::from(bits / 8).max(1)),
        Type::Ptr { .. } => (8, 8),
        Type::Str { size } => (u64::from(*size), 1),
        Type::Tuple(items) => {
            let (_, size, align) = struct_layout(items.iter().map(declared_layout));
            (size, align)
        }
        other => (u64::from(other.stored_size()), u64::from(other.align())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As bpftrace 0.17 prints `sizeof` of these tuples.
    #[test]
    fn a_tuple_s_declared_size_lays_its_elements_out_at_their_widths() {
        let int = |bits: u8| Type::Int { bits, signed: true };
        let s = |size: u32| Type::Str { size };
        for (items, size) in [
            (vec![int(8), s(3), int(16)], 6),
            (vec![int(8), int(8)], 2),
            (vec![int(16), int(8), int(32)], 8),
            (vec![int(64), s(3)], 16),
            (vec![int(8), Type::Tuple(vec![int(8), int(32)])], 12),
            (vec![s(2), int(8)], 3),
        ] {
            assert_eq!(declared_layout(&Type::Tuple(items.clone())).0, size, "{items:?}");
        }
    }

    #[test]
    fn tuples_are_laid_out_like_c_structs() {
        let s = |size| Type::Str { size };
        assert_eq!(tuple_layout(&[Type::I64, s(4), Type::I64]), (vec![0, 8, 16], 24));
        assert_eq!(tuple_layout(&[s(5), Type::U32]), (vec![0, 8], 16));
        assert_eq!(tuple_layout(&[s(2), s(3)]), (vec![0, 2], 5));
        let inner = Type::Tuple(vec![s(2), s(3)]);
        assert_eq!(tuple_layout(&[s(1), inner.clone(), Type::I64]), (vec![0, 1, 8], 16));
        assert_eq!(Type::Tuple(vec![Type::I64, inner]).to_string(), "(int64,(string[2],string[3]))");
    }
}
