//! Lays out parsed C definitions as gcc does on x86-64 (System V ABI):
//! each member at the next multiple of its alignment, a record as aligned
//! as its most aligned member and padded to a multiple of that; a bit field
//! packed after the previous one unless it would cross a unit of its
//! type's alignment; `__attribute__((packed))` drops every alignment to 1.

use std::collections::HashMap;
use std::rc::Rc;

use super::{ConstExpr, Definition, Derived, MemberDecl, RecordSpec, Specifier};
use crate::ctypes::{closest, AddrSpace, BitField, CType, Enum, Member, Record, RecordKind};
use crate::{Diagnostic, Span};

/// The types and constants a script defines.
#[derive(Clone, Debug, Default)]
pub struct ScriptTypes {
    /// By C spelling: `struct P`, `union U`, `enum E`, and typedef names.
    pub types: HashMap<String, CType>,
    /// Enumerators by name.
    pub constants: HashMap<String, i64>,
    /// Where each type and constant is defined, for redefinition errors.
    defined_at: HashMap<String, Span>,
}

/// The typedef names C programs take for granted, with their types, so
/// that definitions using them need no kernel lookup.
pub(crate) fn builtin_typedef(name: &str) -> Option<CType> {
    let (size, signed) = match name {
        "u8" | "__u8" | "uint8_t" | "u_int8_t" => (1, false),
        "s8" | "__s8" | "int8_t" => (1, true),
        "u16" | "__u16" | "uint16_t" | "u_int16_t" => (2, false),
        "s16" | "__s16" | "int16_t" => (2, true),
        "u32" | "__u32" | "uint32_t" | "u_int32_t" => (4, false),
        "s32" | "__s32" | "int32_t" => (4, true),
        "u64" | "__u64" | "uint64_t" | "u_int64_t" | "size_t" | "uintptr_t" => (8, false),
        "s64" | "__s64" | "int64_t" | "ssize_t" | "intptr_t" | "ptrdiff_t" => (8, true),
        "bool" => (1, false),
        _ => return None,
    };
    Some(CType::Int { size, signed })
}

/// The names [`builtin_typedef`] knows, for hints.
const BUILTIN_TYPEDEFS: &[&str] = &[
    "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8", "__u16", "__u32", "__u64", "__s8", "__s16", "__s32", "__s64",
    "uint8_t", "uint16_t", "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t", "int64_t", "size_t", "ssize_t", "bool",
];

/// Lays out `definitions` in order. `kernel` finds a type the script uses
/// but does not define (`struct sk_buff` by value, `pid_t`), by its C
/// spelling; it is asked only for such types.
pub fn layout(definitions: &[Definition], kernel: &mut dyn FnMut(&str) -> Option<CType>) -> (ScriptTypes, Vec<Diagnostic>) {
    let mut cx = Layout { out: ScriptTypes::default(), kernel };
    let mut diags = Vec::new();
    for d in definitions {
        if let Err(e) = cx.definition(d) {
            diags.push(e);
        }
    }
    // A typedef written before its struct's body (`typedef struct S S;`)
    // names the struct as later defined.
    let completed: Vec<(String, CType)> = cx
        .out
        .types
        .iter()
        .filter_map(|(key, ty)| {
            let CType::Typedef { name, target } = ty else { return None };
            let CType::Named { kind, name: record } = target.resolved() else { return None };
            let body = cx.out.types.get(&format!("{} {record}", kind.keyword()))?;
            Some((key.clone(), CType::Typedef { name: name.clone(), target: Rc::new(body.clone()) }))
        })
        .collect();
    cx.out.types.extend(completed);
    (cx.out, diags)
}

struct Layout<'a> {
    out: ScriptTypes,
    kernel: &'a mut dyn FnMut(&str) -> Option<CType>,
}

type Result<T> = std::result::Result<T, Diagnostic>;

impl Layout<'_> {
    fn definition(&mut self, d: &Definition) -> Result<()> {
        // `struct S;` declares S, to be defined later or never (pointers to
        // it stay valid); `typedef struct S T;` may name it before its body.
        let declaration_only = matches!(&d.specifier, Specifier::Record(r) if r.body.is_none());
        if declaration_only && !d.typedef && d.declarators.is_empty() {
            return Ok(());
        }
        let base = self.specifier(&d.specifier, declaration_only && d.typedef)?;
        if !d.typedef {
            if let Some(decl) = d.declarators.first() {
                return Err(Diagnostic::error(decl.span, "a script can define types, not variables")
                    .with_label("declares a variable")
                    .with_note("write `typedef` before it to name a type"));
            }
            return Ok(());
        }
        for decl in &d.declarators {
            let Some((name, span)) = &decl.name else { continue };
            let target = self.derive(&base, &decl.derived)?;
            self.define(name.clone(), *span, CType::Typedef { name: name.clone(), target: Rc::new(target) })?;
        }
        Ok(())
    }

    /// Records `ty` as `key`; a second definition is an error.
    fn define(&mut self, key: String, span: Span, ty: CType) -> Result<()> {
        if let Some(first) = self.out.defined_at.get(&key) {
            return Err(Diagnostic::error(span, format!("`{key}` is defined twice"))
                .with_label("defined again here")
                .with_secondary(*first, "first defined here"));
        }
        self.out.defined_at.insert(key.clone(), span);
        self.out.types.insert(key, ty);
        Ok(())
    }

    /// The type a specifier names. `behind_pointer`: a struct without a
    /// body may stay incomplete ([`CType::Named`]), as C allows there.
    fn specifier(&mut self, spec: &Specifier, behind_pointer: bool) -> Result<CType> {
        Ok(match spec {
            Specifier::Void => CType::Void,
            Specifier::Int { size, signed } => CType::Int { size: *size, signed: *signed },
            Specifier::Float(size) => CType::Float { size: *size },
            Specifier::Record(r) => self.record(r, behind_pointer)?,
            Specifier::Enum(e) => {
                let Some(body) = &e.body else {
                    let name = e.name.clone().unwrap_or_default();
                    let key = format!("enum {name}");
                    return self.named(&key, e.span);
                };
                let mut values = Vec::new();
                let mut next = 0i64;
                for (name, span, value) in body {
                    let v = match value {
                        Some(expr) => self.eval(expr)?,
                        None => next,
                    };
                    next = v.wrapping_add(1);
                    if let Some(first) = self.out.defined_at.get(name) {
                        return Err(Diagnostic::error(*span, format!("`{name}` is defined twice"))
                            .with_label("defined again here")
                            .with_secondary(*first, "first defined here"));
                    }
                    self.out.defined_at.insert(name.clone(), *span);
                    self.out.constants.insert(name.clone(), v);
                    values.push((name.clone(), v));
                }
                let signed = values.iter().any(|(_, v)| *v < 0);
                let fits = values.iter().all(|(_, v)| if signed { i32::try_from(*v).is_ok() } else { u32::try_from(*v).is_ok() });
                let ty = CType::Enum(Rc::new(Enum { name: e.name.clone(), size: if fits { 4 } else { 8 }, signed, values }));
                if let Some(name) = &e.name {
                    self.define(format!("enum {name}"), e.span, ty.clone())?;
                }
                ty
            }
            Specifier::Name(name, span) => match self.out.types.get(name) {
                Some(t) => t.clone(),
                None => match builtin_typedef(name) {
                    Some(t) => CType::Typedef { name: name.clone(), target: Rc::new(t) },
                    None => self.named(name, *span)?,
                },
            },
        })
    }

    /// A type the script names but does not define here: an earlier
    /// definition, else the kernel's.
    fn named(&mut self, key: &str, span: Span) -> Result<CType> {
        if let Some(t) = self.out.types.get(key) {
            return Ok(t.clone());
        }
        if let Some(t) = (self.kernel)(key) {
            return Ok(t);
        }
        let mut d = Diagnostic::error(span, format!("unknown type `{key}`")).with_label("not defined in the script or the kernel");
        let names = self.out.types.keys().map(String::as_str).chain(BUILTIN_TYPEDEFS.iter().copied());
        if let Some(hint) = closest(key, names) {
            d = d.with_note(format!("did you mean `{hint}`?"));
        }
        Err(d)
    }

    fn record(&mut self, spec: &RecordSpec, behind_pointer: bool) -> Result<CType> {
        let key = spec.name.as_ref().map(|n| format!("{} {n}", spec.kind.keyword()));
        let Some(body) = &spec.body else {
            let key = key.unwrap_or_default();
            if let Some(t) = self.out.types.get(&key) {
                return Ok(t.clone());
            }
            if behind_pointer {
                let name = spec.name.clone().unwrap_or_default();
                return Ok(CType::Named { kind: spec.kind, name });
            }
            return self.named(&key, spec.span);
        };
        let record = self.members(spec, body)?;
        let ty = CType::Record(Rc::new(record));
        if let Some(key) = key {
            self.define(key, spec.span, ty.clone())?;
        }
        Ok(ty)
    }

    fn members(&mut self, spec: &RecordSpec, body: &[MemberDecl]) -> Result<Record> {
        let union = spec.kind == RecordKind::Union;
        let (mut bits, mut end_bits, mut align) = (0u64, 0u64, 1u64);
        let mut members = Vec::new();
        for decl in body {
            let behind_pointer = decl.declarators.iter().all(|(d, _)| d.derived.first() == Some(&Derived::Pointer));
            let base = self.specifier(&decl.specifier, behind_pointer && !decl.declarators.is_empty())?;
            if decl.declarators.is_empty() {
                // `struct { ... };` inside a record is an anonymous member;
                // `struct T { ... };` only declares T, as in C.
                let anonymous = match &decl.specifier {
                    Specifier::Record(r) => r.name.is_none() && r.body.is_some(),
                    _ => false,
                };
                if !anonymous {
                    continue;
                }
                let (size, a) = (base.size().unwrap_or(0), if spec.packed { 1 } else { base.align().unwrap_or(1) });
                let at = if union { 0 } else { bits.next_multiple_of(a * 8) };
                members.push(Member { name: None, ty: base, offset: at / 8, bitfield: None });
                align = align.max(a);
                bits = at + size * 8;
                end_bits = end_bits.max(bits);
                continue;
            }
            for (d, width) in &decl.declarators {
                let ty = self.derive(&base, &d.derived)?;
                let name = d.name.as_ref().map(|(n, _)| n.clone());
                let describe = || name.clone().map_or("an unnamed bit field".to_string(), |n| format!("member `{n}`"));
                let (Some(size), Some(natural)) = (ty.size(), ty.align()) else {
                    return Err(Diagnostic::error(d.span, format!("{} has an incomplete type, `{ty}`", describe()))
                        .with_label("its size is not known")
                        .with_note("a struct may hold a pointer to a type it does not know, not a value of it"));
                };
                let a = if spec.packed { 1 } else { natural };
                let Some(width) = width else {
                    let at = if union { 0 } else { bits.next_multiple_of(a * 8) };
                    members.push(Member { name, ty, offset: at / 8, bitfield: None });
                    align = align.max(a);
                    bits = at + size * 8;
                    end_bits = end_bits.max(bits);
                    continue;
                };
                let w = self.eval(width)?;
                if !ty.is_integer() {
                    return Err(Diagnostic::error(d.span, format!("bit field {} must be an integer, not `{ty}`", describe()))
                        .with_label("not an integer type"));
                }
                if w < 0 || w as u64 > size * 8 || (w == 0 && name.is_some()) {
                    return Err(Diagnostic::error(width.span(), format!("a bit field of `{ty}` must be 1 to {} bits wide", size * 8))
                        .with_label("invalid width"));
                }
                let w = w as u64;
                let unit = natural * 8;
                let mut at = if union { 0 } else { bits };
                if w == 0 {
                    // `int : 0` ends the unit being filled.
                    bits = bits.next_multiple_of(unit);
                    end_bits = end_bits.max(bits);
                    continue;
                }
                if !spec.packed && at / unit != (at + w - 1) / unit {
                    at = at.next_multiple_of(unit);
                }
                // An unnamed bit field is padding: its type does not align the record.
                if name.is_some() {
                    align = align.max(a);
                }
                members.push(Member {
                    name,
                    ty,
                    offset: at / 8,
                    bitfield: Some(BitField { bit_offset: at, width: w as u32 }),
                });
                bits = at + w;
                end_bits = end_bits.max(bits);
            }
        }
        let size = end_bits.div_ceil(8).next_multiple_of(align);
        Ok(Record { kind: spec.kind, name: spec.name.clone(), size, align, members })
    }

    /// `base` with a declarator's pointers, arrays and functions applied.
    fn derive(&mut self, base: &CType, derived: &[Derived]) -> Result<CType> {
        let mut ty = base.clone();
        for step in derived {
            ty = match step {
                Derived::Pointer => CType::pointer(ty, AddrSpace::Unknown),
                Derived::Function => CType::Function,
                Derived::Array(len) => {
                    let n = match len {
                        Some(e) => {
                            let n = self.eval(e)?;
                            if n < 0 {
                                return Err(Diagnostic::error(e.span(), format!("an array cannot have {n} elements"))
                                    .with_label("negative length"));
                            }
                            n as u64
                        }
                        None => 0,
                    };
                    CType::Array { element: Rc::new(ty), len: n }
                }
            };
        }
        Ok(ty)
    }

    fn eval(&self, e: &ConstExpr) -> Result<i64> {
        Ok(match e {
            ConstExpr::Int(v, _) => *v,
            ConstExpr::Name(n, span) => match self.out.constants.get(n) {
                Some(v) => *v,
                None => {
                    return Err(Diagnostic::error(*span, format!("unknown constant `{n}`"))
                        .with_label("not an enumerator defined before this"))
                }
            },
            ConstExpr::Unary(op, inner) => {
                let v = self.eval(inner)?;
                match op {
                    '-' => v.wrapping_neg(),
                    '~' => !v,
                    '!' => i64::from(v == 0),
                    _ => v,
                }
            }
            ConstExpr::Binary(op, a, b) => {
                let (x, y) = (self.eval(a)?, self.eval(b)?);
                let zero = || Diagnostic::error(b.span(), "division by zero in a constant").with_label("this is 0");
                match *op {
                    "|" => x | y,
                    "^" => x ^ y,
                    "&" => x & y,
                    "<<" => x.wrapping_shl(y as u32),
                    ">>" => x.wrapping_shr(y as u32),
                    "+" => x.wrapping_add(y),
                    "-" => x.wrapping_sub(y),
                    "*" => x.wrapping_mul(y),
                    "/" => x.checked_div(y).ok_or_else(zero)?,
                    _ => x.checked_rem(y).ok_or_else(zero)?,
                }
            }
        })
    }
}
