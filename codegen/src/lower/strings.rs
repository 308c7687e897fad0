//! Strings built in place: in their destination slot, exactly as wide as
//! it, NUL-padded, so that map keys compare equal byte for byte; and the
//! reads of strings from memory (`str()`).

use rbpf_lang::checked::{Builtin, Expr, ExprKind};
use rbpf_lang::target::FieldKind;
use rbpf_lang::types::Type;
use rbpf_lang::Span;

use super::expr::{imm32, IntVal};
use super::frame::Slot;
use super::ProgramGen;
use crate::insn::{Alu, Cond, Helper, Label, Reg, Size};
use crate::CodegenError;

/// The evaluated operands of a `str()` read ([`ProgramGen::str_read_operands`]).
pub(super) struct StrReadOperands {
    span: Span,
    helper: Helper,
    /// The address, in a callee-saved register.
    ptr: Reg,
    /// The length limit, in a callee-saved register.
    len: Option<Reg>,
    /// The most bytes to read, with the NUL.
    capacity: u32,
}

impl ProgramGen<'_> {
    /// Writes the literal `s` at `dst` on the stack, NUL-padded to `size`
    /// bytes; r0 is its only scratch register.
    fn literal_into(&mut self, s: &str, dst: i16, size: u32) {
        let mut bytes = literal_bytes(s).to_vec();
        bytes.resize(size as usize, 0);
        // Keep room for the NUL when the literal is longer.
        if let Some(last) = bytes.last_mut() {
            *last = 0;
        }
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let off = dst + 8 * i as i16;
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let v = i64::from_le_bytes(word);
            match imm32(v) {
                Some(i) => self.b.store(Size::DW, Reg::R10, off, i),
                None => {
                    self.b.load_imm64(Reg::R0, v as u64);
                    self.b.store(Size::DW, Reg::R10, off, Reg::R0);
                }
            }
        }
    }

    /// Writes `names[i]` at `dst` for the index `i` in r1. A BPF jump
    /// reaches at most 32,767 instructions, and a search tree over all of
    /// libc's 7,000 functions is several times that long: the names are
    /// searched in chunks whose code a jump spans, tried one after
    /// another, and the end of each chunk hops over the next to the end of
    /// that one.
    fn names_by_index(&mut self, names: &[String], dst: i16, size: u32) {
        // Per name: up to three instructions per 8 bytes written, its jump
        // out, and its share of the search's comparisons.
        let per_name = 3 * size.div_ceil(8) as usize + 2;
        let chunk = (30_000 / per_name).max(1);
        let mut first = 0;
        // The previous chunk's hop, which lands where this chunk ends.
        let mut hop_here: Option<Label> = None;
        for part in names.chunks(chunk) {
            let last = first + part.len() == names.len();
            let next_chunk = self.b.new_label();
            if !last {
                self.b.jump_if(Cond::Ge, Reg::R1, (first + part.len()) as i32, next_chunk);
            }
            let done = self.b.new_label();
            self.name_by_index(part, first, dst, size, done);
            self.b.bind(done);
            if let Some(hop) = hop_here.take() {
                self.b.bind(hop);
            }
            if !last {
                let hop = self.b.new_label();
                self.b.jump(hop);
                self.b.bind(next_chunk);
                hop_here = Some(hop);
            }
            first += part.len();
        }
    }

    /// Writes `names[i - first]` at `dst` for the index `i` in r1, then
    /// jumps to `done`: halves `names` at each jump.
    fn name_by_index(&mut self, names: &[String], first: usize, dst: i16, size: u32, done: Label) {
        if names.len() <= 1 {
            self.literal_into(names.first().map_or("", String::as_str), dst, size);
            self.b.jump(done);
            return;
        }
        let half = names.len() / 2;
        let upper = self.b.new_label();
        self.b.jump_if(Cond::Ge, Reg::R1, (first + half) as i32, upper);
        self.name_by_index(&names[..half], first, dst, size, done);
        self.b.bind(upper);
        self.name_by_index(&names[half..], first + half, dst, size, done);
    }

    /// Builds the string `e` into `slot` at `offset`, filling exactly `size`
    /// bytes (a multiple of 8): the string, then NUL padding, so map keys
    /// compare equal byte for byte.
    pub(super) fn str_into(&mut self, e: &Expr, slot: Slot, offset: u32, size: u32) -> Result<(), CodegenError> {
        if e.ty.is_cvalue() {
            // Compared, stored and keyed as strings are: bytes in place.
            return self.cvalue_into(e, slot, offset, size);
        }
        self.b.set_span(e.span);
        let dst = slot.at(offset);
        match &e.kind {
            ExprKind::Str(s) => self.literal_into(s, dst, size),
            ExprKind::ProbeByCookie(names) => {
                // The function's index among `names`, which its link gave
                // it as its cookie, picks the name by a binary search: as
                // many jumps as the index has bits on each path.
                self.b.mov64(Reg::R1, Reg::R6);
                self.b.call(Helper::GetAttachCookie);
                self.b.mov64(Reg::R1, Reg::R0);
                self.names_by_index(names, dst, size);
            }
            ExprKind::Call { function: "path", args } => {
                // bpf_d_path writes the path and its NUL; zeroed first so
                // that the bytes after it are too.
                self.zero(dst, size);
                // A member of a context pointer the kernel may pass as
                // NULL (an iterator's `ctx->file->f_path`): the verifier
                // takes the pointer for bpf_d_path only once tested, so the
                // test comes before the member's offset is added, and a
                // NULL pointer leaves the path empty.
                let skip = self.b.new_label();
                let r = match path_of_context_pointer(&args[0]) {
                    Some((field, offset)) => {
                        let r = self.alloc_reg(args[0].span)?;
                        self.load_field(r, field);
                        self.b.jump_if(Cond::Eq, r, 0, skip);
                        self.b.alu64(Alu::Add, r, offset);
                        r
                    }
                    None => {
                        let v = self.int(&args[0])?;
                        self.to_reg(v, args[0].span)?
                    }
                };
                self.b.set_span(e.span);
                self.b.mov64(Reg::R1, r);
                self.release_reg(r);
                self.b.mov64(Reg::R2, Reg::R10);
                self.b.alu64(Alu::Add, Reg::R2, i32::from(dst));
                self.b.mov64(Reg::R3, size as i32);
                self.b.call(Helper::DPath);
                self.b.bind(skip);
            }
            ExprKind::Builtin(Builtin::Comm) => {
                // Zeroed first: before Linux 6.4 bpf_get_current_comm leaves
                // the bytes after the name's NUL as they were (strscpy, not
                // strscpy_pad), and a key must not differ in them.
                let n = size.min(rbpf_lang::types::COMM_LEN);
                self.zero(dst, size);
                self.b.mov64(Reg::R1, Reg::R10);
                self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
                self.b.mov64(Reg::R2, n as i32);
                self.b.call(Helper::GetCurrentComm);
            }
            ExprKind::TracepointField(f) if matches!(f.kind, FieldKind::Array { .. }) => {
                let n = f.size.min(size);
                self.copy_memory(Reg::R0, (Reg::R6, f.offset as i32), (Reg::R10, i32::from(dst)), n);
                // The last byte stays NUL even when the array is full.
                self.zero_tail(dst, n, size);
                self.zero_after_nul(dst, n);
            }
            ExprKind::TracepointField(f) => {
                // __data_loc: the low 16 bits are the string's offset in the record.
                self.zero(dst, size);
                self.b.load(Size::W, Reg::R3, Reg::R6, f.offset as i16);
                self.b.alu64(Alu::And, Reg::R3, 0xffff);
                self.b.alu64(Alu::Add, Reg::R3, Reg::R6);
                self.b.mov64(Reg::R1, Reg::R10);
                self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
                self.b.mov64(Reg::R2, size as i32);
                self.b.call(Helper::ProbeReadKernelStr);
            }
            ExprKind::Var(id) => {
                let var = self.vars[id.0];
                let n = var.size.min(size);
                match self.scratch_offset(*id) {
                    Some(off) => {
                        self.scratch_base(Reg::R1);
                        self.copy_memory(Reg::R0, (Reg::R1, i32::from(off)), (Reg::R10, i32::from(dst)), n);
                    }
                    None => self.copy_memory(Reg::R0, (Reg::R10, i32::from(var.off)), (Reg::R10, i32::from(dst)), n),
                }
                self.zero(dst + n as i16, size - n);
            }
            ExprKind::MapRead { map, keys } => {
                self.lookup_keys(*map, keys, e.span)?;
                let value_size = self.layout.map(*map).value_size;
                let n = value_size.min(size);
                let missing = self.b.new_label();
                let done = self.b.new_label();
                self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
                for i in (0..n).step_by(8) {
                    self.b.load(Size::DW, Reg::R1, Reg::R0, i as i16);
                    self.b.store(Size::DW, Reg::R10, dst + i as i16, Reg::R1);
                }
                self.zero(dst + n as i16, size - n);
                self.b.jump(done);
                self.b.bind(missing);
                self.zero(dst, size);
                self.b.bind(done);
            }
            ExprKind::Load { addr, user, size: n, .. } => {
                // A char array: its bytes (the helper writes all of them,
                // zeroes when the read fails), then NUL padding; the last
                // byte stays NUL even when the array fills the slot.
                let n = (*n).min(size);
                let v = self.int(addr)?;
                self.b.set_span(e.span);
                self.memory_read(v, *user, dst, n);
                self.zero_tail(dst, n, size);
                self.zero_after_nul(dst, n);
            }
            ExprKind::StrRead { ptr, len } => {
                let read = self.str_read_operands(e, ptr, len.as_deref(), size)?;
                self.str_read(read, Reg::R10, dst, size);
            }
            ExprKind::Ternary { cond, then, else_ } => {
                let (otherwise, done) = (self.b.new_label(), self.b.new_label());
                self.branch_unless(cond, otherwise)?;
                self.str_into(then, slot, offset, size)?;
                self.b.jump(done);
                self.b.bind(otherwise);
                self.str_into(else_, slot, offset, size)?;
                self.b.bind(done);
            }
            ExprKind::TupleIndex { .. } => self.tuple_element_str(e, slot, offset, size)?,
            ExprKind::Member { size: n, .. } => {
                // A char array of a stored value: as one read from memory.
                self.tuple_element_str(e, slot, offset, size)?;
                self.zero_after_nul(slot.at(offset), (*n).min(size));
            }
            ExprKind::StrPrefix { str, len } => {
                self.str_into(str, slot, offset, size)?;
                self.cut_string(dst, size, len)?;
            }
            _ => unreachable!("the checker gives only these kinds a string type"),
        }
        Ok(())
    }

    /// Evaluates the operands of `str(ptr[, len])` read into a buffer of
    /// `size` bytes, for [`ProgramGen::str_read`].
    pub(super) fn str_read_operands(
        &mut self,
        e: &Expr,
        ptr: &Expr,
        len: Option<&Expr>,
        size: u32,
    ) -> Result<StrReadOperands, CodegenError> {
        let helper = match ptr.ty {
            Type::Ptr { user: true, .. } => Helper::ProbeReadUserStr,
            Type::Ptr { user: false, .. } => Helper::ProbeReadKernelStr,
            // An address of unknown origin: the generic helper reads
            // either space on architectures that allow it.
            _ => Helper::ProbeReadStr,
        };
        let p = self.int(ptr)?;
        let p = self.to_reg(p, ptr.span)?;
        let len = match len {
            None => None,
            Some(len) => {
                let l = self.int(len)?;
                Some(self.to_reg(l, len.span)?)
            }
        };
        Ok(StrReadOperands { span: e.span, helper, ptr: p, len, capacity: e.ty.stored_size().min(size) })
    }

    /// Zeroes `size` bytes at `base + dst` and reads the string there:
    /// `base` is r10 for the stack, or r0 for a map value just looked up
    /// (nothing else here touches r0 before the call).
    pub(super) fn str_read(&mut self, read: StrReadOperands, base: Reg, dst: i16, size: u32) {
        self.b.set_span(read.span);
        self.zero_at(base, dst, size);
        let capacity = read.capacity;
        match read.len {
            None => self.b.mov64(Reg::R2, capacity as i32),
            Some(n) => {
                // At most `len` characters and the NUL, within the buffer.
                let fits = self.b.new_label();
                self.b.mov64(Reg::R2, n);
                self.b.jump_if(Cond::Le, Reg::R2, capacity as i32 - 1, fits);
                self.b.mov64(Reg::R2, capacity as i32 - 1);
                self.b.bind(fits);
                self.b.alu64(Alu::Add, Reg::R2, 1);
                self.release_reg(n);
            }
        }
        self.b.mov64(Reg::R1, base);
        self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
        self.b.mov64(Reg::R3, read.ptr);
        self.b.call(read.helper);
        self.release_reg(read.ptr);
    }

    pub(super) fn zero(&mut self, dst: i16, size: u32) {
        self.zero_at(Reg::R10, dst, size);
    }

    /// Zeroes `size` bytes (in words) at `base + dst`.
    fn zero_at(&mut self, base: Reg, dst: i16, size: u32) {
        for i in (0..size).step_by(8) {
            self.b.store(Size::DW, base, dst + i as i16, 0);
        }
    }

    /// Zeroes `[n, size)` of a buffer whose first `n` bytes were written,
    /// and its last byte, so the string is always NUL-terminated.
    pub(super) fn zero_tail(&mut self, dst: i16, n: u32, size: u32) {
        let mut i = n;
        while i < size && !i.is_multiple_of(8) {
            self.b.store(Size::B, Reg::R10, dst + i as i16, 0);
            i += 1;
        }
        self.zero(dst + i as i16, size - i);
        if n == size {
            self.b.store(Size::B, Reg::R10, dst + size as i16 - 1, 0);
        }
    }

    /// Zeroes every byte after the first NUL of the `n`-byte string at
    /// `dst` (its byte `n - 1` or the one after is NUL already). A kernel
    /// char array may hold stale bytes after its string (a memcpy'd
    /// buffer); every string built here is NUL-padded instead, so strings
    /// compare word by word and key maps by what they print. Unrolled:
    /// find the NUL, then fall through the stores from the byte after it.
    fn zero_after_nul(&mut self, dst: i16, n: u32) {
        if n < 2 {
            return;
        }
        let from: Vec<Label> = (0..n - 1).map(|_| self.b.new_label()).collect();
        let done = self.b.new_label();
        for (i, &zero_from) in from.iter().enumerate() {
            self.b.load(Size::B, Reg::R0, Reg::R10, dst + i as i16);
            self.b.jump_if(Cond::Eq, Reg::R0, 0, zero_from);
        }
        self.b.jump(done);
        for (i, &zero_from) in from.iter().enumerate() {
            self.b.bind(zero_from);
            self.b.store(Size::B, Reg::R10, dst + i as i16 + 1, 0);
        }
        self.b.bind(done);
    }

    /// Cuts the NUL-padded string of `size` bytes at `dst` to its first
    /// `len` characters, keeping the padding: `str(s, len)` of a string.
    fn cut_string(&mut self, dst: i16, size: u32, len: &Expr) -> Result<(), CodegenError> {
        let v = self.int(len)?;
        self.b.set_span(len.span);
        match v {
            // A negative length keeps the whole string, as `str(p, len)` does.
            IntVal::Imm(n) if n < 0 || n as u64 >= u64::from(size) => {}
            IntVal::Imm(n) => self.zero_tail(dst, n as u32, size),
            IntVal::Reg(r) => {
                // Byte i goes when i >= len (unsigned, as `str(p, len)`
                // clamps it); `len` is not known to the verifier, so no
                // variable-offset store.
                for i in 0..size {
                    let keep = self.b.new_label();
                    self.b.jump_if(Cond::Gt, r, i as i32, keep);
                    self.b.store(Size::B, Reg::R10, dst + i as i16, 0);
                    self.b.bind(keep);
                }
                self.release_reg(r);
            }
        }
        Ok(())
    }


}

/// A literal's string: its bytes up to the first NUL (`"ab\0cd"` is
/// `"ab"`, in comparisons and as a key alike).
pub(super) fn literal_bytes(s: &str) -> &[u8] {
    let text = s.as_bytes();
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    &text[..end]
}

/// The first `size` bytes (a multiple of 8) of the NUL-padded literal `s`
/// in little-endian words: cut there, not NUL-terminated, as they are
/// compared with what is there in the other string.
pub(super) fn literal_words(s: &str, size: u32) -> Vec<i64> {
    let mut bytes = literal_bytes(s).to_vec();
    bytes.resize(size as usize, 0);
    bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            i64::from_le_bytes(word)
        })
        .collect()
}

/// `path(p->member)` where `p` is a pointer of the probe's context: the
/// context field and the member's offset.
fn path_of_context_pointer(e: &Expr) -> Option<(&rbpf_lang::target::TracepointField, i32)> {
    let mut e = e;
    while let ExprKind::Retype(inner) = &e.kind {
        e = inner;
    }
    match &e.kind {
        ExprKind::Binary { op: rbpf_lang::ast::BinaryOp::Add, lhs, rhs } => match (&lhs.kind, &rhs.kind) {
            (ExprKind::TracepointField(f), ExprKind::Int(off)) if f.size == 8 => Some((f, i32::try_from(*off).ok()?)),
            _ => None,
        },
        ExprKind::TracepointField(f) if f.size == 8 => Some((f, 0)),
        _ => None,
    }
}

