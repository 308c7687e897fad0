//! printf in an iterator probe: the kernel formats it into the iterator's
//! seq_file (bpf_seq_printf), since what the iterator's reader gets is the
//! program's output; the format is made what bpf_bprintf_prepare accepts
//! and the arguments are passed as an array of u64, a string as the
//! address of its NUL-terminated copy on the stack.

use rbpf_lang::checked::{Expr, Stmt};
use rbpf_lang::format;
use rbpf_lang::types::Type;

use super::expr::imm32;
use super::ProgramGen;
use crate::insn::{Helper, Reg, Size};
use crate::CodegenError;

impl ProgramGen<'_> {
    /// `printf(fmt, args...)` through bpf_seq_printf; r6 holds the context.
    pub(super) fn seq_printf(&mut self, id: usize, args: &[Expr], stmt: &Stmt) -> Result<(), CodegenError> {
        let text = self.layout.printfs[id].format.clone();
        // The checker accepted the format (`format::kernel_format`).
        let kernel = format::parse(&text)
            .ok()
            .and_then(|pieces| format::kernel_format(&pieces).ok())
            .ok_or_else(|| CodegenError::Unlowerable { what: format!("printf format {text:?} in an iterator"), span: stmt.span })?;
        let mut fmt = kernel.into_bytes();
        fmt.push(0);
        let fmt_size = fmt.len() as u32;
        fmt.resize(fmt.len().div_ceil(8) * 8, 0);
        let fmt_slot = self.alloc(fmt.len() as u32, stmt.span)?;
        for (i, chunk) in fmt.chunks(8).enumerate() {
            let v = i64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let off = fmt_slot.at(8 * i as u32);
            match imm32(v) {
                Some(imm) => self.b.store(Size::DW, Reg::R10, off, imm),
                None => {
                    self.b.load_imm64(Reg::R0, v as u64);
                    self.b.store(Size::DW, Reg::R10, off, Reg::R0);
                }
            }
        }
        let data = if args.is_empty() { None } else { Some(self.alloc(8 * args.len() as u32, stmt.span)?) };
        for (i, arg) in args.iter().enumerate() {
            let Some(data) = data else { break };
            let at = data.at(8 * i as u32);
            match arg.ty {
                Type::Str { size } => {
                    // The string, then at least one NUL the kernel stops at.
                    let size = size.div_ceil(8) * 8 + 8;
                    let buffer = self.alloc(size, arg.span)?;
                    self.str_into(arg, buffer, 0, size - 8)?;
                    self.b.store(Size::DW, Reg::R10, buffer.at(size - 8), 0);
                    self.b.set_span(arg.span);
                    self.slot_address(Reg::R1, buffer);
                    self.b.store(Size::DW, Reg::R10, at, Reg::R1);
                }
                _ => {
                    let v = self.int(arg)?;
                    let r = self.to_reg(v, arg.span)?;
                    self.b.store(Size::DW, Reg::R10, at, r);
                    self.release_reg(r);
                }
            }
        }
        self.b.set_span(stmt.span);
        // ctx->meta->seq: direct loads, so that the verifier knows the
        // seq_file's BTF type, as the helper requires.
        self.b.load(Size::DW, Reg::R1, Reg::R6, 0);
        self.b.load(Size::DW, Reg::R1, Reg::R1, 0);
        self.slot_address(Reg::R2, fmt_slot);
        self.b.mov64(Reg::R3, fmt_size as i32);
        match data {
            Some(data) => {
                self.slot_address(Reg::R4, data);
                self.b.mov64(Reg::R5, 8 * args.len() as i32);
            }
            None => {
                self.b.mov64(Reg::R4, 0);
                self.b.mov64(Reg::R5, 0);
            }
        }
        self.b.call(Helper::SeqPrintf);
        Ok(())
    }
}
