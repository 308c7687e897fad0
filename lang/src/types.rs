//! The types of checked expressions, with bpftrace's widths and signedness.

use std::fmt;

/// bpftrace's default maximum string length (`BPFTRACE_MAX_STRLEN`, 64).
pub const DEFAULT_STRLEN: u32 = 64;
/// `comm` is the kernel's TASK_COMM_LEN.
pub const COMM_LEN: u32 = 16;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// An integer of `bits` width. Every integer is widened to 64 bits in a
    /// register; the width matters for loads, stores and printing.
    Int { bits: u8, signed: bool },
    /// A NUL-padded string buffer of `size` bytes (including the NUL).
    Str { size: u32 },
    /// A pointer, kept as a 64-bit address; `to_char` when it points to a C
    /// string, `user` when it is a user-space address.
    Ptr { to_char: bool, user: bool },
    /// `strftime(fmt, nsecs)`: nanoseconds since boot, printed as a date
    /// with the program's time format number `format`.
    Timestamp { format: u32 },
    /// `username`: a uid, printed as the user's name.
    Username,
    /// `ntop(...)`: an address family and 16 address bytes, printed as an
    /// IPv4 or IPv6 address.
    Inet,
    /// `(a, b, ...)`: its elements one after another, each taking its
    /// stored size rounded up to 8 bytes (the layout of a map key with
    /// several parts, so a map's key reads as a tuple in place).
    Tuple(Vec<Type>),
    /// Statements such as `printf()` or `exit()` used as expressions.
    Void,
}

impl Type {
    pub const U64: Type = Type::Int { bits: 64, signed: false };
    pub const I64: Type = Type::Int { bits: 64, signed: true };
    pub const U32: Type = Type::Int { bits: 32, signed: false };

    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Ptr { .. })
    }

    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str { .. })
    }

    /// Whether printf's `%s` prints it: strings, and the values the runtime
    /// renders as text (dates, user names, addresses).
    pub fn prints_as_string(&self) -> bool {
        matches!(self, Type::Str { .. } | Type::Timestamp { .. } | Type::Username | Type::Inet)
    }

    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }

    /// The size of the type's value in a map key, map value or event record:
    /// integers are stored as 8 bytes, as bpftrace stores them.
    pub fn stored_size(&self) -> u32 {
        match self {
            Type::Int { .. } | Type::Ptr { .. } => 8,
            Type::Str { size } => *size,
            Type::Timestamp { .. } | Type::Username => 8,
            Type::Inet => 24,
            Type::Tuple(elems) => elems.iter().map(|t| t.stored_size().div_ceil(8) * 8).sum(),
            Type::Void => 0,
        }
    }

    /// The byte offset of a tuple's element `index` and its type; `None`
    /// for anything else or an index past the end.
    pub fn tuple_element(&self, index: usize) -> Option<(u32, &Type)> {
        let Type::Tuple(elems) = self else { return None };
        let offset = elems.iter().take(index).map(|t| t.stored_size().div_ceil(8) * 8).sum();
        elems.get(index).map(|t| (offset, t))
    }

    /// Whether a value of type `other` can be stored where `self` was stored
    /// before: same kind; strings of any length (the larger size wins).
    pub fn compatible(&self, other: &Type) -> bool {
        match (self, other) {
            (a, b) if a.is_int() && b.is_int() => true,
            (Type::Str { .. }, Type::Str { .. }) => true,
            (a, b) => a == b,
        }
    }

    /// The type that can hold values of both (for map keys and values).
    pub fn unify(&self, other: &Type) -> Type {
        match (self, other) {
            (Type::Str { size: a }, Type::Str { size: b }) => Type::Str { size: (*a).max(*b) },
            (Type::Int { signed: a, .. }, Type::Int { signed: b, .. }) => {
                Type::Int { bits: 64, signed: *a && *b }
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
            Type::Ptr { to_char: true, .. } => write!(f, "char *"),
            Type::Ptr { .. } => write!(f, "pointer"),
            Type::Timestamp { .. } => write!(f, "timestamp"),
            Type::Username => write!(f, "username"),
            Type::Inet => write!(f, "inet address"),
            Type::Tuple(elems) => {
                let names: Vec<String> = elems.iter().map(Type::to_string).collect();
                write!(f, "({})", names.join(", "))
            }
            Type::Void => write!(f, "none"),
        }
    }
}
