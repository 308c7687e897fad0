//! Struct, union and array values (`$s = *$p`, `@[$p->arr]`): built in
//! their destination as their bytes, then zero padding up to the slot's
//! size, so that they compare and key maps byte for byte. A value read
//! from memory takes one probe-read helper call of its size, straight into
//! its destination; a stored one (a variable, a map value, a tuple
//! element) is copied. A member of a stored value (`$s.x`) is loaded from
//! where the value is stored, without copying it.

use rbpf_lang::checked::{Expr, ExprKind, LoadBits};
use rbpf_lang::ctypes::CType;
use rbpf_lang::types::Type;

use super::frame::Slot;
use super::ProgramGen;
use crate::insn::{Alu, Cond, Reg, Size};
use crate::manifest::{Field, NamedField, ValueType};
use crate::CodegenError;

impl ProgramGen<'_> {
    /// Builds the struct, union or array value `e` into `slot` at
    /// `offset`, filling exactly `size` bytes (a multiple of 8).
    pub(super) fn cvalue_into(&mut self, e: &Expr, slot: Slot, offset: u32, size: u32) -> Result<(), CodegenError> {
        self.b.set_span(e.span);
        let dst = slot.at(offset);
        let n = e.ty.stored_size().min(size);
        match &e.kind {
            // Bytes seen as another type (`macaddr()` of an array): the
            // same bytes.
            ExprKind::Retype(inner) if inner.ty.is_cvalue() => self.cvalue_into(inner, slot, offset, size)?,
            ExprKind::Load { addr, user, .. } => {
                // The helper writes all `n` bytes, zeroes when the read fails.
                let v = self.int(addr)?;
                self.b.set_span(e.span);
                self.memory_read(v, *user, dst, n);
                self.zero_padding(dst, n, size);
            }
            ExprKind::Record(members) => {
                // Zeroed first: padding, and what a string leaves.
                self.zero(dst, size);
                for m in members {
                    self.record_member(&m.value, dst + m.offset as i16)?;
                }
            }
            ExprKind::Ternary { cond, then, else_ } => {
                let (otherwise, done) = (self.b.new_label(), self.b.new_label());
                self.branch_unless(cond, otherwise)?;
                self.cvalue_into(then, slot, offset, size)?;
                self.b.jump(done);
                self.b.bind(otherwise);
                self.cvalue_into(else_, slot, offset, size)?;
                self.b.bind(done);
            }
            // Stored: copied from where it is (zeroes for a missing key).
            kind => {
                // A variable's slot and a map's value are whole words,
                // zero-padded already: copied padding and all.
                let n = match kind {
                    ExprKind::Var(_) | ExprKind::MapRead { .. } => n.div_ceil(8).saturating_mul(8).min(size),
                    _ => n,
                };
                let mark = self.stack.mark();
                let src = self.locate(e)?;
                self.b.set_span(e.span);
                let (missing, done) = (self.b.new_label(), self.b.new_label());
                if src.base == Reg::R0 {
                    self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
                }
                self.copy_memory(Reg::R1, (src.base, src.offset), (Reg::R10, i32::from(dst)), n);
                self.zero_padding(dst, n, size);
                if src.base == Reg::R0 {
                    self.b.jump(done);
                    self.b.bind(missing);
                    self.zero(dst, size);
                }
                self.b.bind(done);
                self.stack.reset(mark);
            }
        }
        Ok(())
    }

    /// Stores one member of a record built in place at stack offset `at`
    /// (aligned to the member's size): an integer at its width, a pointer
    /// as 8 bytes, a string as its char array.
    fn record_member(&mut self, value: &Expr, at: i16) -> Result<(), CodegenError> {
        match &value.ty {
            Type::Str { size } => {
                let mark = self.stack.mark();
                let tmp = self.alloc(size.div_ceil(8) * 8, value.span)?;
                self.str_into(value, tmp, 0, tmp.size)?;
                self.copy_memory(Reg::R1, (Reg::R10, i32::from(tmp.off)), (Reg::R10, i32::from(at)), *size);
                self.stack.reset(mark);
            }
            ty => {
                let width = match ty {
                    Type::Int { bits, .. } => Size::from_bytes(usize::from(bits / 8)).unwrap_or(Size::DW),
                    _ => Size::DW,
                };
                let v = self.int(value)?;
                let r = self.to_reg(v, value.span)?;
                self.b.set_span(value.span);
                self.b.store(width, Reg::R10, at, r);
                self.release_reg(r);
            }
        }
        Ok(())
    }

    /// A struct, union or array value that is not stored anywhere (read
    /// from memory, chosen by `?:`), built in a temporary slot that lives
    /// until the caller resets the stack; its stack offset.
    pub(super) fn cvalue_temporary(&mut self, e: &Expr) -> Result<i16, CodegenError> {
        let tmp = self.alloc(super::stored_size(&e.ty), e.span)?;
        self.cvalue_into(e, tmp, 0, tmp.size)?;
        Ok(tmp.off)
    }

    /// A member of a stored value as an integer: loaded from where the
    /// value is (zero for a missing map key), sign-extended or cut to its
    /// bits as a read from memory is.
    pub(super) fn member_int(&mut self, e: &Expr, size: u32, bits: Option<LoadBits>) -> Result<Reg, CodegenError> {
        let mark = self.stack.mark();
        let src = self.locate(e)?;
        self.b.set_span(e.span);
        let r = self.alloc_reg(e.span)?;
        let width = Size::from_bytes(size as usize).unwrap_or(Size::DW);
        let missing = self.b.new_label();
        let (base, offset) = if src.base == Reg::R10 && src.offset.rem_euclid(size as i32) != 0 {
            // The verifier refuses a misaligned stack access (a packed
            // member, a bit field's bytes): copied to an aligned word first.
            let tmp = self.alloc(8, e.span)?;
            self.copy_memory(Reg::R1, (Reg::R10, src.offset), (Reg::R10, i32::from(tmp.off)), size);
            (Reg::R10, tmp.off)
        } else {
            (src.base, src.offset as i16)
        };
        if base == Reg::R0 {
            self.b.mov64(r, 0);
            self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
        }
        self.b.load(width, r, base, offset);
        self.narrow_loaded(r, size, bits, &e.ty);
        self.b.bind(missing);
        self.stack.reset(mark);
        Ok(r)
    }

    /// Makes the `size` bytes just loaded into `r` the value of type `ty`:
    /// a bit field masked (not sign-extended, as bpftrace reads one), a
    /// narrower signed integer sign-extended.
    pub(super) fn narrow_loaded(&mut self, r: Reg, size: u32, bits: Option<LoadBits>, ty: &Type) {
        let (signed, shift, bits) = match (bits, ty) {
            (Some(b), _) => (false, b.shift as i32, b.width as i32),
            (None, Type::Int { signed, .. }) => (*signed, 0, 8 * size as i32),
            (None, _) => (false, 0, 64),
        };
        if bits < 64 {
            // The field's bits up to the top, then back down with its sign.
            self.b.alu64(Alu::Lsh, r, 64 - shift - bits);
            self.b.alu64(if signed { Alu::Arsh } else { Alu::Rsh }, r, 64 - bits);
        }
    }

    /// Zeroes `[n, size)` of a slot at `dst` whose first `n` bytes were
    /// written: bytes up to a word boundary, then words.
    fn zero_padding(&mut self, dst: i16, n: u32, size: u32) {
        let mut i = n;
        while i < size && !i.is_multiple_of(8) {
            // The widest store aligned here (`dst` is a word's start).
            let width = [4, 2, 1].into_iter().find(|w| i.is_multiple_of(*w) && i + w <= size).unwrap_or(1);
            let store = Size::from_bytes(width as usize).unwrap_or(Size::B);
            self.b.store(store, Reg::R10, dst + i as i16, 0);
            i += width;
        }
        self.zero(dst + i as i16, size - i);
    }
}

/// The layout of a C type's bytes, for the runtime to print a value of
/// it: integers, enums and pointers as integers (pointers unsigned, as
/// bpftrace prints them), char arrays as strings, other arrays element by
/// element, structs and unions member by member.
pub(super) fn c_layout(ty: &CType) -> ValueType {
    layout(ty, false)
}

/// As [`c_layout`], for a value in a map key: its pointers print in hex
/// there ([`ValueType::Pointer`]), as bpftrace 0.17 prints them.
pub(super) fn c_key_layout(ty: &CType) -> ValueType {
    layout(ty, true)
}

fn layout(ty: &CType, key: bool) -> ValueType {
    match ty.resolved() {
        CType::Int { size, signed } => ValueType::Int { size: *size as u8, signed: *signed },
        CType::Enum(e) => ValueType::Int { size: e.size as u8, signed: e.signed },
        CType::Pointer { .. } if key => ValueType::Pointer,
        CType::Pointer { .. } => ValueType::Int { size: 8, signed: false },
        CType::Array { element, len } if rbpf_lang::types::is_char(element) => {
            ValueType::Str { size: *len as u32 }
        }
        CType::Array { element, len } => ValueType::Array { element: Box::new(layout(element, key)), len: *len as u32 },
        CType::Record(r) => {
            let mut members = Vec::new();
            record_members(r, 0, key, &mut members);
            ValueType::Record { members, size: r.size as u32 }
        }
        CType::Float { size } => ValueType::Float { size: *size as u8 },
        // No member of a complete type is `void`, a function or a struct
        // known by name.
        other => ValueType::Int { size: other.size().unwrap_or(0).min(8) as u8, signed: false },
    }
}

/// The members of `r` that print, at `base` + their offsets: a bit field
/// as its bits, an anonymous struct or union's members as the parent's
/// own (as they are read), unnamed bit fields (padding) left out.
fn record_members(r: &rbpf_lang::ctypes::Record, base: u64, key: bool, out: &mut Vec<NamedField>) {
    for m in &r.members {
        match (&m.name, m.bitfield) {
            (None, None) => {
                if let CType::Record(inner) = m.ty.resolved() {
                    record_members(inner, base + m.offset, key, out);
                }
            }
            (None, Some(_)) => {}
            (Some(name), Some(b)) => {
                let shift = (b.bit_offset % 8) as u8;
                let size = (u32::from(shift) + b.width).div_ceil(8).next_power_of_two() as u8;
                let ty = ValueType::BitField { size, shift, width: b.width as u8 };
                out.push(NamedField { name: name.clone(), field: Field { offset: (base + b.bit_offset / 8) as u32, ty } });
            }
            (Some(name), None) => {
                let field = Field { offset: (base + m.offset) as u32, ty: layout(&m.ty, key) };
                out.push(NamedField { name: name.clone(), field });
            }
        }
    }
}

/// The layout of a member `size` bytes long read from a stored value as
/// type `ty`: a char array's bytes as they are (no NUL of their own).
pub(super) fn member_layout(ty: &Type, size: u32) -> ValueType {
    match ty {
        Type::Str { .. } => ValueType::Str { size },
        Type::Int { signed, .. } => ValueType::Int { size: size as u8, signed: *signed },
        Type::Ptr { .. } => ValueType::Int { size: 8, signed: false },
        other => super::value_type(other),
    }
}
