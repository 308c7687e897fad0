//! The lowering of pure functions: one row per function, keyed by the
//! name of its row in the checker's table
//! (`rbpf_lang::check::functions::FUNCTIONS`), whose
//! [`ExprKind::Call`](rbpf_lang::checked::ExprKind::Call) carries the
//! arguments checked against the kinds that row gives. Adding a pure
//! function is its row there and its row and lowering here.

use rbpf_lang::checked::Expr;
use rbpf_lang::types::Type;

use super::expr::IntVal;
use super::callback::Shared;
use super::ProgramGen;
use crate::insn::{Alu, Cond, Helper, Reg, Size};
use crate::CodegenError;

/// Lowers a call `e` of a pure function to its integer value.
type Lowering = fn(&mut ProgramGen<'_>, &Expr, &[Expr]) -> Result<IntVal, CodegenError>;

/// Every pure function, by name.
const LOWERINGS: &[(&str, Lowering)] = &[
    ("strlen", |g, e, args| g.strlen(e, args)),
    ("strncmp", |g, e, args| g.strncmp(e, args)),
    ("strcontains", |g, e, args| g.strcontains(e, args)),
    ("bswap", |g, e, args| g.bswap(e, args)),
    // Only the type changes: the address space decides the read's helper.
    ("uptr", |g, _, args| g.int(&args[0])),
    ("kptr", |g, _, args| g.int(&args[0])),
];

impl ProgramGen<'_> {
    /// A call `e` of the pure function `function`.
    pub(super) fn call(&mut self, function: &str, args: &[Expr], e: &Expr) -> Result<IntVal, CodegenError> {
        // Checked by hooks of their own, these are lowered here too.
        match function {
            "kstack" | "ustack" => return self.stack_id(e),
            "reg" => return self.reg(e, args),
            "skboutput" => return self.skboutput(e, args),
            _ => {}
        }
        match LOWERINGS.iter().find(|(name, _)| *name == function) {
            Some((_, lower)) => lower(self, e, args),
            None => Err(CodegenError::Unlowerable { what: format!("`{function}()`"), span: e.span }),
        }
    }

    /// `reg("name")`: the register at the constant offset the checker
    /// found in the context's `pt_regs` (a perf event's context begins
    /// with them too).
    fn reg(&mut self, e: &Expr, args: &[Expr]) -> Result<IntVal, CodegenError> {
        let rbpf_lang::checked::ExprKind::Int(offset) = args[0].kind else {
            return Err(CodegenError::Unlowerable { what: "`reg()` of a register not constant".into(), span: e.span });
        };
        self.b.set_span(e.span);
        let r = self.alloc_reg(e.span)?;
        self.b.load(Size::DW, r, Reg::R6, offset as i16);
        Ok(IntVal::Reg(r))
    }

    /// `skboutput(path, skb, length, offset)`, checked as `[file index,
    /// skb, length, offset]`: bpf_skb_output sends a
    /// [`skb_output`](crate::manifest::skb_output) header and the packet's
    /// first `offset + length` bytes to the perf event array on this CPU;
    /// the value is the helper's (0, or a negative error) as a u32.
    fn skboutput(&mut self, e: &Expr, args: &[Expr]) -> Result<IntVal, CodegenError> {
        let (file, skb, length, offset) = (&args[0], &args[1], &args[2], &args[3]);
        let rbpf_lang::checked::ExprKind::Int(file) = file.kind else {
            return Err(CodegenError::Unlowerable { what: "`skboutput()` of a file not known".into(), span: e.span });
        };
        let mark = self.stack.mark();
        // The header, then the number of bytes to capture.
        let record = self.alloc(crate::manifest::skb_output::HEADER_SIZE + 8, e.span)?;
        let v = self.int(offset)?;
        let off = self.to_reg(v, offset.span)?;
        self.b.store(Size::W, Reg::R10, record.at(12), off);
        let v = self.int(length)?;
        let len = self.to_reg(v, length.span)?;
        self.b.alu64(Alu::Add, len, off);
        self.release_reg(off);
        self.b.store(Size::DW, Reg::R10, record.at(16), len);
        self.release_reg(len);
        let v = self.int(skb)?;
        let skb = self.to_reg(v, skb.span)?;
        self.b.set_span(e.span);
        self.b.call(Helper::KtimeGetNs);
        self.b.store(Size::DW, Reg::R10, record.off, Reg::R0);
        self.b.store(Size::W, Reg::R10, record.at(8), file as i32);
        self.b.mov64(Reg::R1, skb);
        self.release_reg(skb);
        self.map_fd(Reg::R2, crate::manifest::SKB_OUTPUT_MAP);
        // The flags: BPF_F_CURRENT_CPU, and the bytes to capture in the
        // upper 32 bits.
        self.b.load(Size::DW, Reg::R3, Reg::R10, record.at(16));
        self.b.alu64(Alu::Lsh, Reg::R3, 32);
        self.b.load_imm64(Reg::R4, 0xffff_ffff);
        self.b.alu64(Alu::Or, Reg::R3, Reg::R4);
        self.slot_address(Reg::R4, record);
        self.b.mov64(Reg::R5, crate::manifest::skb_output::HEADER_SIZE as i32);
        self.b.call(Helper::SkbOutput);
        let r = self.alloc_reg(e.span)?;
        self.b.mov64(r, Reg::R0);
        self.b.alu64(Alu::Lsh, r, 32);
        self.b.alu64(Alu::Rsh, r, 32);
        self.stack.reset(mark);
        Ok(IntVal::Reg(r))
    }

    /// `bswap(x)`: the bytes of `x`, of its type's width, reversed.
    fn bswap(&mut self, e: &Expr, args: &[Expr]) -> Result<IntVal, CodegenError> {
        let x = &args[0];
        let v = self.int(x)?;
        let r = self.to_reg(v, e.span)?;
        if let Type::Int { bits: bits @ (16 | 32 | 64), .. } = x.ty {
            self.b.bswap(r, i32::from(bits));
        }
        Ok(IntVal::Reg(r))
    }

    /// `strlen(s)`: the characters before the first NUL.
    fn strlen(&mut self, e: &Expr, args: &[Expr]) -> Result<IntVal, CodegenError> {
        let x = &args[0];
        let mark = self.stack.mark();
        let size = x.ty.stored_size().div_ceil(8) * 8;
        let s = self.alloc(size, e.span)?;
        self.str_into(x, s, 0, size)?;
        // Copying the string again returns its length, NUL included.
        let scratch = self.alloc(size, e.span)?;
        self.slot_address(Reg::R1, scratch);
        self.b.mov64(Reg::R2, size as i32);
        self.slot_address(Reg::R3, s);
        self.b.call(Helper::ProbeReadKernelStr);
        let r = self.alloc_reg(e.span)?;
        self.b.mov64(r, Reg::R0);
        self.b.alu64(Alu::Sub, r, 1);
        self.stack.reset(mark);
        Ok(IntVal::Reg(r))
    }

    /// `strncmp(a, b, n)`: 0 when the first `n` characters are the same;
    /// `n` is a constant, so the comparison is unrolled.
    fn strncmp(&mut self, e: &Expr, args: &[Expr]) -> Result<IntVal, CodegenError> {
        let (lhs, rhs) = (&args[0], &args[1]);
        let rbpf_lang::checked::ExprKind::Int(n) = args[2].kind else {
            return Err(CodegenError::Unlowerable { what: "`strncmp()` of a length not constant".into(), span: e.span });
        };
        let n = n as u32;
        let mark = self.stack.mark();
        let size = lhs.ty.stored_size().max(rhs.ty.stored_size()).div_ceil(8) * 8;
        let a = self.alloc(size, e.span)?;
        self.str_into(lhs, a, 0, size)?;
        let b = self.alloc(size, e.span)?;
        self.str_into(rhs, b, 0, size)?;
        self.b.set_span(e.span);
        let r = self.alloc_reg(e.span)?;
        let (differ, done) = (self.b.new_label(), self.b.new_label());
        self.b.mov64(r, 0);
        for i in 0..n.min(size) {
            self.b.load(Size::B, Reg::R1, Reg::R10, a.at(i));
            self.b.load(Size::B, Reg::R2, Reg::R10, b.at(i));
            self.b.jump_if(Cond::Ne, Reg::R1, Reg::R2, differ);
            self.b.jump_if(Cond::Eq, Reg::R1, 0, done);
        }
        self.b.jump(done);
        self.b.bind(differ);
        self.b.mov64(r, 1);
        self.b.bind(done);
        self.stack.reset(mark);
        Ok(IntVal::Reg(r))
    }

    /// `strcontains(h, n)`: both strings side by side in one block, then
    /// bpf_loop over the starts in `h` with a callback that compares `n`
    /// there (callback.rs), which sets the block's last word on a match.
    fn strcontains(&mut self, e: &Expr, args: &[Expr]) -> Result<IntVal, CodegenError> {
        let (haystack, needle, span) = (&args[0], &args[1], e.span);
        let mark = self.stack.mark();
        let hs = haystack.ty.stored_size().div_ceil(8) * 8;
        let ns = needle.ty.stored_size().div_ceil(8) * 8;
        let (Ok(h16), Ok(n16)) = (u16::try_from(hs), u16::try_from(ns)) else {
            return Err(CodegenError::StackFull { span });
        };
        let block = self.alloc(hs + ns + 8, span)?;
        self.str_into(haystack, block, 0, hs)?;
        self.str_into(needle, block, hs, ns)?;
        self.b.set_span(span);
        let result = block.at(hs + ns);
        self.b.store(Size::DW, Reg::R10, result, 0);
        self.loop_shared(hs as i32, Shared::StrContains { haystack: h16, needle: n16 }, block.off);
        let r = self.alloc_reg(span)?;
        self.b.load(Size::DW, r, Reg::R10, result);
        self.stack.reset(mark);
        Ok(IntVal::Reg(r))
    }
}

#[cfg(test)]
mod tests {
    use super::LOWERINGS;
    use rbpf_lang::check::functions::FUNCTIONS;

    #[test]
    fn every_pure_function_has_one_lowering() {
        let pure: Vec<&str> = FUNCTIONS.iter().filter(|f| f.is_pure()).map(|f| f.name).collect();
        let lowered: Vec<&str> = LOWERINGS.iter().map(|(name, _)| *name).collect();
        assert_eq!(pure, lowered);
    }
}
