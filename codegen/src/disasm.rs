//! Disassembly in the kernel's syntax (as `bpftool prog dump xlated`
//! prints it), so `-d` output and codegen snapshots read like the program.

use std::fmt::Write;

use crate::insn::{class, Alu, Code, Cond, Helper, Insn, Size};

fn size_name(size: Size) -> &'static str {
    match size {
        Size::B => "u8",
        Size::H => "u16",
        Size::W => "u32",
        Size::DW => "u64",
    }
}

fn offset(off: i16) -> String {
    if off < 0 {
        format!("- {}", -i32::from(off))
    } else {
        format!("+ {off}")
    }
}

/// Formats one instruction; `next` is the following slot (the upper half
/// of an ld_imm64), `map` the map an ld_imm64 loads.
pub fn format_insn(insn: &Insn, next: Option<&Insn>, map: Option<&str>) -> String {
    let cls = insn.code & 0x07;
    let src_is_reg = insn.code & class::X != 0;
    match cls {
        class::ALU | class::ALU64 => {
            let r = if cls == class::ALU64 { "r" } else { "w" };
            let Some(op) = Alu::decode(insn.code, insn.off) else { return unknown(insn) };
            let src = if src_is_reg { format!("{r}{}", insn.src) } else { format!("{}", insn.imm) };
            match op {
                Alu::Neg => format!("{r}{} = -{r}{}", insn.dst, insn.dst),
                _ => format!("{r}{} {} {src}", insn.dst, op.symbol()),
            }
        }
        class::LDX if insn.code & 0xe0 == class::MEM => format!(
            "r{} = *({} *)(r{} {})",
            insn.dst,
            size_name(Size::from_code(insn.code)),
            insn.src,
            offset(insn.off)
        ),
        class::STX if insn.code & 0xe0 == class::MEM => format!(
            "*({} *)(r{} {}) = r{}",
            size_name(Size::from_code(insn.code)),
            insn.dst,
            offset(insn.off),
            insn.src
        ),
        class::ST if insn.code & 0xe0 == class::MEM => format!(
            "*({} *)(r{} {}) = {}",
            size_name(Size::from_code(insn.code)),
            insn.dst,
            offset(insn.off),
            insn.imm
        ),
        class::LD if insn.code == 0x18 => match (insn.src, map) {
            (class::PSEUDO_MAP_FD, Some(m)) => format!("r{} = map[{m}] ll", insn.dst),
            _ => {
                let hi = next.map_or(0, |n| n.imm as u32 as u64);
                format!("r{} = {:#x} ll", insn.dst, (hi << 32) | insn.imm as u32 as u64)
            }
        },
        class::JMP => match insn.code & 0xf0 {
            class::CALL => match Helper::from_id(insn.imm) {
                Some(h) => format!("call {}#{}", h.name(), insn.imm),
                None => format!("call #{}", insn.imm),
            },
            class::EXIT => "exit".to_string(),
            class::JA => format!("goto pc{:+}", insn.off),
            _ => {
                let Some(cond) = Cond::from_code(insn.code) else { return unknown(insn) };
                let src = if src_is_reg { format!("r{}", insn.src) } else { format!("{:#x}", insn.imm) };
                format!("if r{} {} {src} goto pc{:+}", insn.dst, cond.symbol(), insn.off)
            }
        },
        _ => unknown(insn),
    }
}

fn unknown(insn: &Insn) -> String {
    format!("unknown opcode {:#04x}", insn.code)
}

/// Disassembles a whole program, one numbered line per instruction.
pub fn disassemble(code: &Code) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < code.insns.len() {
        let insn = &code.insns[i];
        let map = code.relocations.iter().find(|r| r.insn_index == i).map(|r| r.map.as_str());
        let _ = writeln!(out, "{i:4}: {}", format_insn(insn, code.insns.get(i + 1), map));
        // ld_imm64 takes two slots.
        i += if insn.code == 0x18 { 2 } else { 1 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Builder, Reg};

    #[test]
    fn prints_the_kernel_syntax() {
        let mut b = Builder::new();
        let l = b.new_label();
        b.mov64(Reg::R6, Reg::R1);
        b.load(Size::W, Reg::R1, Reg::R6, 8);
        b.store(Size::DW, Reg::R10, -16, Reg::R1);
        b.store(Size::W, Reg::R10, -8, 1);
        b.load_map_fd(Reg::R1, "m0_c");
        b.load_imm64(Reg::R2, 0x1_0000_0000);
        b.alu32(Alu::Mov, Reg::R0, Reg::R0);
        b.alu64(Alu::Arsh, Reg::R3, 56);
        b.alu64(Alu::Neg, Reg::R3, 0);
        b.jump_if(Cond::Sgt, Reg::R1, 5, l);
        b.call(Helper::MapLookupElem);
        b.bind(l);
        b.jump(l);
        b.exit();
        let text = disassemble(&b.finish().unwrap());
        assert_eq!(
            text,
            "   0: r6 = r1
   1: r1 = *(u32 *)(r6 + 8)
   2: *(u64 *)(r10 - 16) = r1
   3: *(u32 *)(r10 - 8) = 1
   4: r1 = map[m0_c] ll
   6: r2 = 0x100000000 ll
   8: w0 = w0
   9: r3 s>>= 56
  10: r3 = -r3
  11: if r1 s> 0x5 goto pc+1
  12: call bpf_map_lookup_elem#1
  13: goto pc-1
  14: exit
"
        );
    }
}
