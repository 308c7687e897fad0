//! Lowering of `buf()` (bytes copied out of memory, with their count) and
//! `join()` (an array of strings copied straight into a ring buffer
//! record, too large for the stack).

use rbpf_lang::checked::{BufSource, Expr, ExprKind};
use rbpf_lang::types::Type;
use rbpf_lang::Span;

use super::expr::IntVal;
use super::frame::Slot;
use super::{ProgramGen, RINGBUF_MAP};
use crate::insn::{Alu, Cond, Helper, Reg, Size};
use crate::manifest::event;
use crate::CodegenError;

/// bpftrace's limits for `join()` (`join_argnum`, `join_argsize`): at most
/// 16 strings of at most 1024 bytes each, NUL included.
pub(super) const JOIN_MAX_ARGS: u32 = 16;
pub(super) const JOIN_ARG_SIZE: u32 = 1024;
/// Header, slot count and slot size, then the slots.
const JOIN_RECORD_SIZE: u32 = event::HEADER_SIZE + 8 + JOIN_MAX_ARGS * JOIN_ARG_SIZE;

/// The helpers that read a value and a string at an address of this type:
/// user memory for a user pointer, kernel memory for a kernel one; for a
/// plain integer, the generic helpers, which read either space on
/// architectures that allow it.
fn read_helpers(ty: &Type) -> (Helper, Helper) {
    match ty {
        Type::Ptr { user: true, .. } => (Helper::ProbeReadUser, Helper::ProbeReadUserStr),
        Type::Ptr { user: false, .. } => (Helper::ProbeReadKernel, Helper::ProbeReadKernelStr),
        _ => (Helper::ProbeRead, Helper::ProbeReadStr),
    }
}

impl ProgramGen<'_> {
    /// Builds the buffer `e` into `slot` at `offset`, filling exactly `size`
    /// bytes (a multiple of 8): the u8 count, the bytes, then zeros, so
    /// equal buffers are equal map keys.
    pub(super) fn buf_into(&mut self, e: &Expr, slot: Slot, offset: u32, size: u32) -> Result<(), CodegenError> {
        let ExprKind::BufRead { source, len } = &e.kind else {
            // Variables and map values hold buffers as they hold strings:
            // bytes copied, the rest zeroed.
            return self.str_into(e, slot, offset, size);
        };
        self.b.set_span(e.span);
        let Type::Buf { size: capacity } = e.ty else {
            return Err(CodegenError::Unlowerable { what: format!("{} as a buffer", e.ty), span: e.span });
        };
        let capacity = capacity.min(size.saturating_sub(1));
        let dst = slot.at(offset);
        if capacity == 0 {
            // Nothing to read: a zero count.
            self.zero(dst, size);
            return Ok(());
        }
        let mark = self.stack.mark();
        // The source address first (a string is built on the stack), then
        // the count: both in registers that survive the helper calls.
        let (helper, src) = match source {
            BufSource::Memory(p) => {
                let v = self.int(p)?;
                (read_helpers(&p.ty).0, Some(self.to_reg(v, p.span)?))
            }
            BufSource::Str(s) => {
                // NUL-padded past its end, as bpftrace reads a string's
                // stack buffer.
                let room = s.ty.stored_size().max(capacity).div_ceil(8) * 8;
                let tmp = self.alloc(room, e.span)?;
                self.str_into(s, tmp, 0, room)?;
                let r = self.alloc_reg(e.span)?;
                self.slot_address(r, tmp);
                (Helper::ProbeReadKernel, Some(r))
            }
            // The record is kernel memory: read from the context pointer.
            BufSource::Field(_) => (Helper::ProbeReadKernel, None),
        };
        let count = match len.as_deref() {
            None => IntVal::Imm(i64::from(capacity)),
            Some(Expr { kind: ExprKind::Int(n), .. }) => IntVal::Imm((*n).min(u64::from(capacity)) as i64),
            Some(l) => {
                let v = self.int(l)?;
                let r = self.to_reg(v, l.span)?;
                // An unsigned comparison: a negative count reads the whole
                // buffer, as in bpftrace.
                self.b.set_span(e.span);
                let fits = self.b.new_label();
                self.b.jump_if(Cond::Le, r, capacity as i32, fits);
                self.b.mov64(r, capacity as i32);
                self.b.bind(fits);
                IntVal::Reg(r)
            }
        };
        self.b.set_span(e.span);
        self.zero(dst, size);
        match count {
            IntVal::Imm(n) => self.b.store(Size::B, Reg::R10, dst, n as i32),
            IntVal::Reg(r) => self.b.store(Size::B, Reg::R10, dst, r),
        }
        if count != IntVal::Imm(0) {
            self.b.mov64(Reg::R1, Reg::R10);
            self.b.alu64(Alu::Add, Reg::R1, i32::from(dst) + 1);
            match count {
                IntVal::Imm(n) => self.b.mov64(Reg::R2, n as i32),
                IntVal::Reg(r) => self.b.mov64(Reg::R2, r),
            }
            match (source, src) {
                (BufSource::Field(f), _) => {
                    self.b.mov64(Reg::R3, Reg::R6);
                    self.b.alu64(Alu::Add, Reg::R3, f.offset as i32);
                }
                (_, Some(r)) => self.b.mov64(Reg::R3, r),
                (_, None) => unreachable!("memory and strings have a source register"),
            }
            self.b.call(helper);
        }
        self.release(count);
        if let Some(r) = src {
            self.release_reg(r);
        }
        self.stack.reset(mark);
        Ok(())
    }

    /// `join(argv)`: reserves the record in the ring buffer (or counts it
    /// lost) and reads each
    /// pointer of `argv`, then its string, straight into the record's slots.
    /// A NULL pointer (or one that cannot be read) ends the list with an
    /// empty slot; a string that cannot be read is empty and ends it too,
    /// as in bpftrace.
    pub(super) fn join(&mut self, id: usize, argv: &Expr, span: Span) -> Result<(), CodegenError> {
        let (read, read_str) = read_helpers(&argv.ty);
        let v = self.int(argv)?;
        let array = self.to_reg(v, argv.span)?;
        self.b.set_span(span);
        let pointer = self.alloc(8, span)?;
        let record = self.alloc_reg(span)?;
        let (lost, done) = (self.b.new_label(), self.b.new_label());
        self.map_fd(Reg::R1, RINGBUF_MAP);
        self.b.mov64(Reg::R2, JOIN_RECORD_SIZE as i32);
        self.b.mov64(Reg::R3, 0);
        self.b.call(Helper::RingbufReserve);
        self.b.jump_if(Cond::Eq, Reg::R0, 0, lost);
        self.b.mov64(record, Reg::R0);
        self.b.store(Size::W, record, 0, event::JOIN as i32);
        self.b.store(Size::W, record, 4, id as i32);
        self.b.store(Size::W, record, 8, JOIN_MAX_ARGS as i32);
        self.b.store(Size::W, record, 12, JOIN_ARG_SIZE as i32);
        for i in 0..JOIN_MAX_ARGS {
            let slot = (event::HEADER_SIZE + 8 + i * JOIN_ARG_SIZE) as i16;
            self.slot_address(Reg::R1, pointer);
            self.b.mov64(Reg::R2, 8);
            self.b.mov64(Reg::R3, array);
            self.b.alu64(Alu::Add, Reg::R3, 8 * i as i32);
            self.b.call(read);
            self.b.load(Size::DW, Reg::R3, Reg::R10, pointer.off);
            let present = self.b.new_label();
            self.b.jump_if(Cond::Ne, Reg::R3, 0, present);
            self.b.store(Size::B, record, slot, 0);
            self.b.jump(done);
            self.b.bind(present);
            self.b.mov64(Reg::R1, record);
            self.b.alu64(Alu::Add, Reg::R1, i32::from(slot));
            self.b.mov64(Reg::R2, JOIN_ARG_SIZE as i32);
            self.b.call(read_str);
        }
        self.b.bind(done);
        self.b.mov64(Reg::R1, record);
        self.b.mov64(Reg::R2, 0);
        self.b.call(Helper::RingbufSubmit);
        let end = self.b.new_label();
        self.b.jump(end);
        // A full ring buffer has no room for the record: count it lost.
        self.b.bind(lost);
        self.count_lost_event(pointer);
        self.b.bind(end);
        self.release_reg(record);
        self.release_reg(array);
        Ok(())
    }
}
