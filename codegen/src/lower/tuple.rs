//! Lowering of tuples. A tuple is stored as bpftrace stores it, like a C
//! struct ([`rbpf_lang::types::tuple_layout`]): integers as u64s at 8-byte
//! offsets, strings as char arrays wherever the previous element ended.
//!
//! A literal is built element by element in its destination; a stored
//! tuple (a variable, a map value, an element of either) is copied, or
//! converted element by element when the destination's layout is wider
//! (a variable or map that also holds longer strings). Reading `t.N`
//! loads the element straight from where the tuple is stored: the
//! variable's stack slot or the map value, without copying the tuple.

use rbpf_lang::checked::{Expr, ExprKind};

use super::copy::aligned;
use super::frame::Slot;
use super::{stored_size, value_type, ProgramGen};
use crate::insn::{Cond, Reg, Size};
use crate::manifest::{MapValue, ValueType};
use crate::CodegenError;

/// Where a stored tuple (or one of its elements) is: `base + offset`, with
/// `base` r10 (the stack) or r0 (a map value just looked up, or NULL when
/// the key is missing: the caller checks).
pub(super) struct Located {
    pub(super) base: Reg,
    pub(super) offset: i32,
    pub(super) layout: ValueType,
}

impl ProgramGen<'_> {
    /// Stores the tuple `e` into `slot` at `offset` (8-byte aligned) with
    /// the layout `target`, writing every byte up to the next multiple of
    /// 8: padding is zero, so tuples compare equal as map keys.
    pub(super) fn store_tuple(&mut self, e: &Expr, target: &ValueType, slot: Slot, offset: u32) -> Result<(), CodegenError> {
        let ValueType::Tuple { size, .. } = target else {
            return Err(self.unlowerable(e, target));
        };
        let dst = i32::from(slot.at(offset));
        let whole = size.div_ceil(8) * 8;
        if matches!(e.kind, ExprKind::Tuple(_)) {
            if !self.fills_every_byte(e, target, dst) {
                self.zero_bytes(dst, whole);
            }
            return self.fill_tuple(e, target, dst);
        }
        let mark = self.stack.mark();
        let src = self.locate(e)?;
        let (missing, done) = (self.b.new_label(), self.b.new_label());
        if src.layout == *target && aligned(src.offset, 8) {
            // The same layout: copy the words, padding and all.
            if src.base == Reg::R0 {
                self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
            }
            self.copy_memory(Reg::R1, (src.base, src.offset), (Reg::R10, dst), whole);
            if src.base == Reg::R0 {
                self.b.jump(done);
                self.b.bind(missing);
                self.zero_bytes(dst, whole);
            }
        } else {
            self.zero_bytes(dst, whole);
            if src.base == Reg::R0 {
                self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
            }
            self.convert_tuple(&src, target, dst, e)?;
            self.b.bind(missing);
        }
        self.b.bind(done);
        self.stack.reset(mark);
        Ok(())
    }

    /// Writes the elements of `e` at stack offset `dst` with the layout
    /// `target`; bytes between them are left as they are (zeroed by
    /// [`Self::store_tuple`] when it matters).
    fn fill_tuple(&mut self, e: &Expr, target: &ValueType, dst: i32) -> Result<(), CodegenError> {
        let ValueType::Tuple { fields, .. } = target else {
            return Err(self.unlowerable(e, target));
        };
        let ExprKind::Tuple(items) = &e.kind else {
            // A stored tuple inside a literal: copied element by element.
            let mark = self.stack.mark();
            let src = self.locate(e)?;
            let skip = self.b.new_label();
            if src.base == Reg::R0 {
                self.b.jump_if(Cond::Eq, Reg::R0, 0, skip);
            }
            self.convert_tuple(&src, target, dst, e)?;
            self.b.bind(skip);
            self.stack.reset(mark);
            return Ok(());
        };
        for (item, field) in items.iter().zip(fields) {
            let at = dst + field.offset as i32;
            match &field.ty {
                ValueType::Tuple { .. } => self.fill_tuple(item, &field.ty, at)?,
                ValueType::Str { size } if aligned(at, 8) => {
                    // Whole words: what spills past the string is NUL
                    // padding, overwritten by the elements that follow.
                    let (slot, offset) = self.stack_slot(at);
                    self.str_into(item, slot, offset, size.div_ceil(8) * 8)?;
                }
                ValueType::Record { .. } | ValueType::Array { .. } | ValueType::Macaddr => {
                    // Exactly its bytes: built aside, then copied in.
                    let mark = self.stack.mark();
                    let off = self.cvalue_temporary(item)?;
                    self.copy_memory(Reg::R1, (Reg::R10, i32::from(off)), (Reg::R10, at), field.ty.size());
                    self.stack.reset(mark);
                }
                ValueType::Str { size } => {
                    // Not word-aligned: built aside, then copied in.
                    let mark = self.stack.mark();
                    let tmp = self.alloc(size.div_ceil(8) * 8, item.span)?;
                    self.str_into(item, tmp, 0, tmp.size)?;
                    self.copy_memory(Reg::R1, (Reg::R10, i32::from(tmp.off)), (Reg::R10, at), *size);
                    self.stack.reset(mark);
                }
                ty => {
                    let (slot, offset) = self.stack_slot(at);
                    self.store_as(item, ty, slot, offset)?;
                }
            }
        }
        Ok(())
    }

    /// Whether building the literal `e` at `dst` writes every byte of it
    /// (rounded up to 8), so no zeroing is needed first: true when every
    /// string starts on a word, as its NUL padding then reaches the next.
    fn fills_every_byte(&self, e: &Expr, layout: &ValueType, dst: i32) -> bool {
        let (ExprKind::Tuple(items), ValueType::Tuple { fields, .. }) = (&e.kind, layout) else {
            return false;
        };
        items.iter().zip(fields).all(|(item, f)| {
            let at = dst + f.offset as i32;
            match &f.ty {
                ValueType::Str { .. } => aligned(at, 8),
                ValueType::Tuple { .. } => self.fills_every_byte(item, &f.ty, at),
                ValueType::Record { .. } | ValueType::Array { .. } | ValueType::Macaddr => false,
                _ => true,
            }
        })
    }

    /// Copies the stored tuple at `src` into the stack at `dst` (zeroed),
    /// element by element into the layout `target`. r0 must not be NULL.
    fn convert_tuple(&mut self, src: &Located, target: &ValueType, dst: i32, e: &Expr) -> Result<(), CodegenError> {
        let (ValueType::Tuple { fields: from, .. }, ValueType::Tuple { fields: to, .. }) = (&src.layout, target) else {
            return Err(self.unlowerable(e, target));
        };
        if from.len() != to.len() {
            return Err(self.unlowerable(e, target));
        }
        for (f, t) in from.iter().zip(to) {
            let at = dst + t.offset as i32;
            let element = Located { base: src.base, offset: src.offset + f.offset as i32, layout: f.ty.clone() };
            match (&f.ty, &t.ty) {
                (ValueType::Tuple { .. }, ValueType::Tuple { .. }) => self.convert_tuple(&element, &t.ty, at, e)?,
                (ValueType::Str { size: a }, ValueType::Str { size: b }) => {
                    self.copy_memory(Reg::R1, (src.base, element.offset), (Reg::R10, at), (*a).min(*b));
                    if a > b {
                        self.b.store(Size::B, Reg::R10, (at + *b as i32 - 1) as i16, 0);
                    }
                }
                // A pointer is 8 bytes whether it prints as a key's (hex)
                // or a value's (decimal); a record, its bytes.
                (ValueType::Int { .. } | ValueType::Pointer, ValueType::Int { .. } | ValueType::Pointer) => {
                    self.copy_memory(Reg::R1, (src.base, element.offset), (Reg::R10, at), 8)
                }
                (ValueType::Record { size: a, .. }, ValueType::Record { size: b, .. }) | (ValueType::Array { len: a, .. }, ValueType::Array { len: b, .. })
                    if a == b && f.ty.size() == t.ty.size() =>
                {
                    self.copy_memory(Reg::R1, (src.base, element.offset), (Reg::R10, at), f.ty.size())
                }
                (a, b) if a == b => self.copy_memory(Reg::R1, (src.base, element.offset), (Reg::R10, at), a.size()),
                _ => return Err(self.unlowerable(e, target)),
            }
        }
        Ok(())
    }

    /// Finds where the stored tuple, or tuple element, `e` is. A literal
    /// (or anything else not stored) is built in a temporary slot, which
    /// lives until the caller resets the stack.
    pub(super) fn locate(&mut self, e: &Expr) -> Result<Located, CodegenError> {
        match &e.kind {
            ExprKind::TupleIndex { expr, index } => {
                let tuple = self.locate(expr)?;
                let ValueType::Tuple { fields, .. } = &tuple.layout else {
                    return Err(self.unlowerable(e, &tuple.layout));
                };
                let field = fields.get(*index as usize).cloned().ok_or_else(|| self.unlowerable(e, &tuple.layout))?;
                Ok(Located { base: tuple.base, offset: tuple.offset + field.offset as i32, layout: field.ty })
            }
            ExprKind::Var(id) => match self.scratch_offset(*id) {
                // In r0, like a map value: its NULL check never fails.
                Some(off) => {
                    self.scratch_base(Reg::R0);
                    Ok(Located { base: Reg::R0, offset: i32::from(off), layout: self.var_layouts[id.0].clone() })
                }
                None => Ok(Located {
                    base: Reg::R10,
                    offset: i32::from(self.vars[id.0].off),
                    layout: self.var_layouts[id.0].clone(),
                }),
            },
            ExprKind::MapRead { map, keys } => {
                let layout = match &self.layout.map(*map).value {
                    MapValue::Plain(t) => t.clone(),
                    other => return Err(CodegenError::Unlowerable { what: format!("{other:?}"), span: e.span }),
                };
                self.lookup_keys(*map, keys, e.span)?;
                Ok(Located { base: Reg::R0, offset: 0, layout })
            }
            ExprKind::Member { value, offset, size, .. } => {
                let whole = self.locate(value)?;
                let layout = super::values::member_layout(&e.ty, *size);
                Ok(Located { base: whole.base, offset: whole.offset + *offset as i32, layout })
            }
            _ if e.ty.is_cvalue() => {
                let off = self.cvalue_temporary(e)?;
                Ok(Located { base: Reg::R10, offset: i32::from(off), layout: value_type(&e.ty) })
            }
            ExprKind::Tuple(_) => {
                let layout = value_type(&e.ty);
                let tmp = self.alloc(stored_size(&e.ty), e.span)?;
                self.store_tuple(e, &layout, tmp, 0)?;
                Ok(Located { base: Reg::R10, offset: i32::from(tmp.off), layout })
            }
            _ => Err(self.unlowerable(e, &value_type(&e.ty))),
        }
    }

    /// `t.N` as an integer: loaded from where the tuple is stored (zero
    /// for a map key that is missing).
    pub(super) fn tuple_element_int(&mut self, e: &Expr) -> Result<Reg, CodegenError> {
        let mark = self.stack.mark();
        let src = self.locate(e)?;
        self.b.set_span(e.span);
        let r = self.alloc_reg(e.span)?;
        let missing = self.b.new_label();
        if src.base == Reg::R0 {
            self.b.mov64(r, 0);
            self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
        }
        self.b.load(Size::DW, r, src.base, src.offset as i16);
        self.b.bind(missing);
        self.stack.reset(mark);
        Ok(r)
    }

    /// `t.N` as a string, into `slot` at `offset`, filling `size` bytes
    /// (a multiple of 8) as [`Self::str_into`] does.
    pub(super) fn tuple_element_str(&mut self, e: &Expr, slot: Slot, offset: u32, size: u32) -> Result<(), CodegenError> {
        let dst = slot.at(offset);
        let mark = self.stack.mark();
        let src = self.locate(e)?;
        self.b.set_span(e.span);
        let (missing, done) = (self.b.new_label(), self.b.new_label());
        if src.base == Reg::R0 {
            self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
        }
        let n = src.layout.size().min(size);
        self.copy_memory(Reg::R1, (src.base, src.offset), (Reg::R10, i32::from(dst)), n);
        // NUL padding after it; the last byte stays NUL when it is shorter.
        self.zero_tail(dst, n, size);
        if src.base == Reg::R0 {
            self.b.jump(done);
            self.b.bind(missing);
            self.zero(dst, size);
        }
        self.b.bind(done);
        self.stack.reset(mark);
        Ok(())
    }

    /// Stores `value` into `slot` at `offset` as `ty` lays it out: tuples
    /// in the destination's layout, everything else as
    /// [`Self::store_value`] stores it.
    pub(super) fn store_as(&mut self, value: &Expr, ty: &ValueType, slot: Slot, offset: u32) -> Result<(), CodegenError> {
        match ty {
            ValueType::Tuple { .. } => self.store_tuple(value, ty, slot, offset),
            ValueType::Inet if matches!(value.kind, ExprKind::TupleIndex { .. }) => {
                self.tuple_element_bytes(value, slot, offset)
            }
            // The whole destination, not just the value's own length: a
            // shorter string stored over a longer one must leave NUL
            // padding, not the longer one's tail, for word-wise
            // comparison and map keys to see the string it is.
            ValueType::Str { size } => {
                let size = size.div_ceil(8) * 8;
                self.str_into(value, slot, offset, size.min(slot.size - offset))
            }
            _ => self.store_value(value, slot, offset),
        }
    }

    /// `t.N` of another kind (an address, a timestamp...): its bytes copied.
    pub(super) fn tuple_element_bytes(&mut self, e: &Expr, slot: Slot, offset: u32) -> Result<(), CodegenError> {
        let dst = i32::from(slot.at(offset));
        let mark = self.stack.mark();
        let src = self.locate(e)?;
        let n = src.layout.size();
        let (missing, done) = (self.b.new_label(), self.b.new_label());
        if src.base == Reg::R0 {
            self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
        }
        self.copy_memory(Reg::R1, (src.base, src.offset), (Reg::R10, dst), n);
        if src.base == Reg::R0 {
            self.b.jump(done);
            self.b.bind(missing);
            self.zero_bytes(dst, n);
        }
        self.b.bind(done);
        self.stack.reset(mark);
        Ok(())
    }

    /// Zeroes `n` bytes (a multiple of 8) of the stack at `dst` (8-byte aligned).
    fn zero_bytes(&mut self, dst: i32, n: u32) {
        for i in (0..n).step_by(8) {
            self.b.store(Size::DW, Reg::R10, (dst + i as i32) as i16, 0);
        }
    }

    /// A stack offset as a slot and an offset into it, for the functions
    /// that take those.
    fn stack_slot(&self, at: i32) -> (Slot, u32) {
        (Slot { off: at as i16, size: 0 }, 0)
    }

    fn unlowerable(&self, e: &Expr, layout: &ValueType) -> CodegenError {
        CodegenError::Unlowerable { what: format!("{} as {layout:?}", e.ty), span: e.span }
    }
}
