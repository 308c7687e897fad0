//! `argN` of a USDT probe site: the operand its note names, read from the
//! uprobe's registers, from the traced process's memory or as a constant,
//! then extended to 64 bits by the argument's size and sign.

use rbpf_lang::probes::{UsdtArg, UsdtArgLocation};
use rbpf_lang::Span;

use super::expr::IntVal;
use super::ProgramGen;
use crate::insn::{Alu, Helper, Reg, Size};
use crate::CodegenError;

impl ProgramGen<'_> {
    pub(super) fn usdt_arg(&mut self, arg: &UsdtArg, span: Span) -> Result<IntVal, CodegenError> {
        let bits = u32::from(arg.size) * 8;
        let r = match &arg.location {
            UsdtArgLocation::Constant(c) => return Ok(IntVal::Imm(extend_const(*c, bits, arg.signed))),
            UsdtArgLocation::Register { pt_regs_offset, shift } => {
                let r = self.alloc_reg(span)?;
                self.b.set_span(span);
                self.b.load(Size::DW, r, Reg::R6, *pt_regs_offset);
                if *shift > 0 {
                    self.b.alu64(Alu::Rsh, r, i32::from(*shift));
                }
                r
            }
            UsdtArgLocation::Memory { pt_regs_offset, displacement } => {
                let mark = self.stack.mark();
                let slot = self.alloc(8, span)?;
                self.b.set_span(span);
                // A failed read leaves zero, not stack garbage.
                self.b.store(Size::DW, Reg::R10, slot.off, 0);
                self.b.load(Size::DW, Reg::R3, Reg::R6, *pt_regs_offset);
                match i32::try_from(*displacement) {
                    Ok(d) => self.b.alu64(Alu::Add, Reg::R3, d),
                    Err(_) => {
                        self.b.load_imm64(Reg::R2, *displacement as u64);
                        self.b.alu64(Alu::Add, Reg::R3, Reg::R2);
                    }
                }
                self.b.mov64(Reg::R1, Reg::R10);
                self.b.alu64(Alu::Add, Reg::R1, i32::from(slot.off));
                self.b.mov64(Reg::R2, i32::from(arg.size));
                self.b.call(Helper::ProbeReadUser);
                let r = self.alloc_reg(span)?;
                self.b.load(Size::DW, r, Reg::R10, slot.off);
                self.stack.reset(mark);
                r
            }
            UsdtArgLocation::Unsupported(_) => unreachable!("the checker refuses arguments it cannot read"),
        };
        // The bytes above the argument's size are the rest of a register or
        // of the 8 bytes read: clear them, or copy the sign into them.
        let shift = 64 - bits as i32;
        match (bits, arg.signed) {
            (64, _) => {}
            (32, false) => self.b.alu32(Alu::Mov, r, r),
            (_, false) => self.b.alu64(Alu::And, r, ((1u32 << bits) - 1) as i32),
            (_, true) => {
                self.b.alu64(Alu::Lsh, r, shift);
                self.b.alu64(Alu::Arsh, r, shift);
            }
        }
        Ok(IntVal::Reg(r))
    }
}

fn extend_const(c: i64, bits: u32, signed: bool) -> i64 {
    if bits == 64 {
        return c;
    }
    let shift = 64 - bits;
    if signed {
        (c << shift) >> shift
    } else {
        ((c as u64) << shift >> shift) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::extend_const;

    #[test]
    fn constants_take_their_width_and_sign() {
        assert_eq!(extend_const(-1, 32, false), 0xffff_ffff);
        assert_eq!(extend_const(0xff, 8, true), -1);
        assert_eq!(extend_const(0x1_0000_0005, 32, true), 5);
        assert_eq!(extend_const(-3, 64, false), -3);
    }
}
