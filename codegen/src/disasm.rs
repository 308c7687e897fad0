//! Disassembly in the kernel's syntax (as `bpftool prog dump xlated`
//! prints it), so `-d` output and codegen snapshots read like the program.
//!
//! Decodes every instruction of the BPF ISA the kernel documents
//! (Documentation/bpf/standardization/instruction-set.rst), not only what
//! the builder emits, so an object from elsewhere disassembles too;
//! anything else prints as `unknown opcode 0x..`, never a panic.

use std::fmt::{self, Write};

use crate::insn::{class, Alu, Code, Cond, Helper, Insn, Size};

/// Disassembles a whole program, one numbered line per instruction; an
/// ld_imm64 takes one line for its two slots, numbered by the first.
pub fn disassemble(code: &Code) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < code.insns.len() {
        let insn = &code.insns[i];
        let map = code
            .relocations
            .iter()
            .find(|r| r.insn_index == i)
            .map(|r| r.map.as_str())
            .or_else(|| code.func_relocations.iter().find(|r| r.insn_index == i).map(|r| r.func.as_str()));
        let _ = writeln!(out, "{i:4}: {}", format_insn(insn, code.insns.get(i + 1), map));
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

/// One instruction on its own. An ld_imm64 shows only its low 32 bits and
/// no map name here: [`disassemble`] has the second slot and the relocations.
impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_insn(self, None, None))
    }
}

/// Formats one instruction; `next` is the following slot (the upper half
/// of an ld_imm64), `map` the map or function an ld_imm64 loads (from a
/// relocation).
pub fn format_insn(insn: &Insn, next: Option<&Insn>, map: Option<&str>) -> String {
    match insn.code & 0x07 {
        class::ALU => format_alu(insn, "w"),
        class::ALU64 => format_alu(insn, "r"),
        class::JMP => format_jump(insn, "r"),
        class::JMP32 => format_jump(insn, "w"),
        class::LDX => format_load(insn),
        class::ST | class::STX => format_store(insn),
        class::LD if insn.is_ld_imm64() => format_ld_imm64(insn, next, map),
        // Legacy packet loads (LD ABS/IND) and anything unassigned.
        _ => unknown(insn),
    }
}

fn unknown(insn: &Insn) -> String {
    format!("unknown opcode {:#04x}", insn.code)
}

fn format_alu(insn: &Insn, r: &str) -> String {
    let (dst, src) = (insn.dst, insn.src);
    let from_reg = insn.code & class::X != 0;
    let source = if from_reg { format!("{r}{src}") } else { insn.imm.to_string() };
    match insn.code & 0xf0 {
        class::END => format_byte_swap(insn),
        // ISA v4 sign-extending move: off is the source width.
        0xb0 if from_reg && matches!(insn.off, 8 | 16 | 32) => {
            format!("{r}{dst} = (s{}){r}{src}", insn.off)
        }
        _ => match Alu::decode(insn.code, insn.off) {
            Some(Alu::Neg) => format!("{r}{dst} = -{r}{dst}"),
            Some(op) => format!("{r}{dst} {} {source}", op.symbol()),
            None => unknown(insn),
        },
    }
}

/// `r1 = be16 r1` (ALU: to big/little endian) or `r1 = bswap16 r1`
/// (ALU64, ISA v4: unconditional swap), as the kernel prints them: on
/// 64-bit registers whatever the class, since the result is zero-extended.
fn format_byte_swap(insn: &Insn) -> String {
    let op = match (insn.code & 0x07, insn.code & class::X != 0) {
        (class::ALU64, _) => "bswap",
        (_, true) => "be",
        (_, false) => "le",
    };
    if !matches!(insn.imm, 16 | 32 | 64) {
        return unknown(insn);
    }
    format!("r{} = {op}{} r{}", insn.dst, insn.imm, insn.dst)
}

fn format_jump(insn: &Insn, r: &str) -> String {
    let jmp32 = r == "w";
    match insn.code & 0xf0 {
        class::JA if jmp32 => format!("gotol pc{:+}", insn.imm),
        class::JA => format!("goto pc{:+}", insn.off),
        class::CALL if jmp32 => unknown(insn),
        class::CALL => match insn.src {
            // BPF_PSEUDO_CALL: a BPF-to-BPF call, imm relative to the next insn.
            1 => format!("call pc{:+}", insn.imm),
            // BPF_PSEUDO_KFUNC_CALL: imm is a kernel BTF id.
            2 => format!("call kfunc#{}", insn.imm),
            _ => match Helper::from_id(insn.imm) {
                Some(h) => format!("call {}#{}", h.name(), insn.imm),
                None => format!("call #{}", insn.imm),
            },
        },
        class::EXIT if jmp32 => unknown(insn),
        class::EXIT => "exit".to_string(),
        _ => {
            let Some(cond) = Cond::from_code(insn.code) else { return unknown(insn) };
            let source = if insn.code & class::X != 0 { format!("{r}{}", insn.src) } else { format!("{:#x}", insn.imm) };
            format!("if {r}{} {} {source} goto pc{:+}", insn.dst, cond.symbol(), insn.off)
        }
    }
}

fn format_load(insn: &Insn) -> String {
    let size = Size::from_code(insn.code);
    match insn.code & 0xe0 {
        class::MEM => format!("r{} = *({} *)(r{} {})", insn.dst, size_name(size), insn.src, offset(insn.off)),
        // ISA v4 sign-extending load.
        class::MEMSX if size != Size::DW => {
            format!("r{} = *(s{} *)(r{} {})", insn.dst, size.bytes() * 8, insn.src, offset(insn.off))
        }
        _ => unknown(insn),
    }
}

fn format_store(insn: &Insn) -> String {
    let size = Size::from_code(insn.code);
    let at = format!("({} *)(r{} {})", size_name(size), insn.dst, offset(insn.off));
    match (insn.code & 0x07, insn.code & 0xe0) {
        (class::STX, class::MEM) => format!("*{at} = r{}", insn.src),
        (class::ST, class::MEM) => format!("*{at} = {}", insn.imm),
        (class::STX, class::ATOMIC) if matches!(size, Size::W | Size::DW) => format_atomic(insn, size, &at),
        _ => unknown(insn),
    }
}

/// Atomic read-modify-write, in the kernel's words (`lock *(u64 *)(r1 + 0)
/// += r2`, `r2 = atomic64_fetch_add((u64 *)(r1 + 0), r2)`).
fn format_atomic(insn: &Insn, size: Size, at: &str) -> String {
    const FETCH: i32 = 0x01;
    const XCHG: i32 = 0xe0 | FETCH;
    const CMPXCHG: i32 = 0xf0 | FETCH;
    let prefix = if size == Size::DW { "atomic64" } else { "atomic" };
    let src = insn.src;
    let (symbol, name) = match insn.imm & !FETCH {
        0x00 => ("+=", "add"),
        0x40 => ("|=", "or"),
        0x50 => ("&=", "and"),
        0xa0 => ("^=", "xor"),
        _ => ("", ""),
    };
    match insn.imm {
        XCHG => format!("r{src} = {prefix}_xchg({at}, r{src})"),
        CMPXCHG => format!("r0 = {prefix}_cmpxchg({at}, r0, r{src})"),
        imm if name.is_empty() => format!("unknown atomic operation {imm:#x} on *{at} with r{src}"),
        imm if imm & FETCH != 0 => format!("r{src} = {prefix}_fetch_{name}({at}, r{src})"),
        _ => format!("lock *{at} {symbol} r{src}"),
    }
}

fn format_ld_imm64(insn: &Insn, next: Option<&Insn>, map: Option<&str>) -> String {
    let hi = next.map_or(0, |n| n.imm as u32 as u64);
    let value = (hi << 32) | insn.imm as u32 as u64;
    let dst = insn.dst;
    match (insn.src, map) {
        (class::PSEUDO_MAP_FD, Some(m)) => format!("r{dst} = map[{m}] ll"),
        (class::PSEUDO_MAP_FD, None) => format!("r{dst} = map[fd:{}] ll", insn.imm),
        // BPF_PSEUDO_MAP_VALUE: the address of a map's value, plus an
        // offset kept in the second slot.
        (2, Some(m)) => format!("r{dst} = map[{m}]+{hi} ll"),
        (2, None) => format!("r{dst} = map[fd:{}]+{hi} ll", insn.imm),
        (class::PSEUDO_FUNC, Some(f)) => format!("r{dst} = func[{f}] ll"),
        (class::PSEUDO_FUNC, None) => format!("r{dst} = func[{:+}] ll", insn.imm),
        (0, _) => format!("r{dst} = {value:#x} ll"),
        (src, _) => format!("r{dst} = {value:#x} ll (pseudo src {src})"),
    }
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::B => "u8",
        Size::H => "u16",
        Size::W => "u32",
        Size::DW => "u64",
    }
}

/// `+ 8` / `- 8`: spaced, as in rbpf's documentation and snapshots
/// (the kernel itself prints `+8`).
fn offset(off: i16) -> String {
    if off < 0 {
        format!("- {}", -i32::from(off))
    } else {
        format!("+ {off}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Builder, Reg};

    /// Every operation the builder can emit, once.
    #[test]
    fn everything_the_builder_emits() {
        let mut b = Builder::new();
        let done = b.new_label();
        let top = b.new_label();
        b.bind(top);
        b.mov64(Reg::R6, Reg::R1);
        b.mov64(Reg::R7, -1);
        b.load(Size::DW, Reg::R1, Reg::R6, 16);
        b.load(Size::B, Reg::R2, Reg::R6, -1);
        b.store(Size::W, Reg::R10, -8, Reg::R1);
        b.store(Size::H, Reg::R10, -10, 7);
        b.load_map_fd(Reg::R1, "@c");
        b.load_imm64(Reg::R2, 0);
        b.load_imm64(Reg::R3, u64::MAX);
        for op in [Alu::Add, Alu::Sub, Alu::Mul, Alu::Div, Alu::SDiv, Alu::Mod, Alu::SMod, Alu::Or, Alu::And, Alu::Xor, Alu::Lsh, Alu::Rsh, Alu::Arsh, Alu::Mov, Alu::Neg] {
            b.alu64(op, Reg::R0, Reg::R1);
            b.alu32(op, Reg::R2, 3);
        }
        for cond in [Cond::Eq, Cond::Ne, Cond::Gt, Cond::Ge, Cond::Lt, Cond::Le, Cond::Sgt, Cond::Sge, Cond::Slt, Cond::Sle, Cond::Set] {
            b.jump_if(cond, Reg::R1, Reg::R2, done);
            b.jump_if(cond, Reg::R1, -5, top);
        }
        b.call(Helper::GetCurrentPidTgid);
        b.call(Helper::RingbufOutput);
        b.jump(top);
        b.bind(done);
        b.exit();
        insta::assert_snapshot!(disassemble(&b.finish().unwrap()));
    }

    /// Encodings the builder never emits still decode, and garbage never panics.
    #[test]
    fn decodes_what_others_emit() {
        let insn = |code, dst, src, off, imm| Insn { code, dst, src, off, imm };
        let cases = [
            insn(0x16, 1, 0, 3, 5),       // if w1 == 0x5 goto pc+3
            insn(0x06, 0, 0, 0, -2),      // gotol pc-2
            insn(0xbf, 1, 2, 8, 0),       // r1 = (s8)r2
            insn(0xbc, 1, 2, 16, 0),      // w1 = (s16)w2
            insn(0x91, 1, 2, 4, 0),       // r1 = *(s8 *)(r2 + 4)
            insn(0x81, 1, 2, 0, 0),       // r1 = *(s32 *)(r2 + 0)
            insn(0xdc, 1, 0, 0, 16),      // r1 = be16 r1
            insn(0xd4, 1, 0, 0, 32),      // r1 = le32 r1
            insn(0xd7, 1, 0, 0, 64),      // r1 = bswap64 r1
            insn(0xdb, 1, 2, 0, 0x00),    // lock *(u64 *)(r1 + 0) += r2
            insn(0xc3, 1, 2, 8, 0x51),    // r2 = atomic_fetch_and((u32 *)(r1 + 8), r2)
            insn(0xdb, 1, 2, 0, 0xe1),    // xchg
            insn(0xdb, 1, 2, 0, 0xf1),    // cmpxchg
            insn(0x85, 0, 1, 0, 7),       // call pc+7
            insn(0x85, 0, 2, 0, 1234),    // call kfunc#1234
            insn(0x85, 0, 0, 0, 9999),    // call #9999
            insn(0x18, 2, 1, 0, 3),       // map fd without a relocation
            insn(0x00, 0, 0, 0, 0),       // a stray second slot
            insn(0x20, 0, 0, 0, 0),       // LD ABS
            insn(0xff, 15, 15, -1, -1),   // garbage
            insn(0xe5, 0, 0, 0, 0),       // unassigned jump op
            insn(0xdb, 1, 2, 0, 0x33),    // unknown atomic op
            insn(0xd4, 1, 0, 0, 7),       // bad swap width
            insn(0x99, 1, 2, 0, 0),       // LDX MEMSX u64: unassigned
        ];
        let text: String = cases.iter().map(|i| format!("{i}\n")).collect();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn ld_imm64_alone_and_in_context() {
        let mut b = Builder::new();
        b.load_imm64(Reg::R1, 0x1122_3344_5566_7788);
        b.exit();
        let code = b.finish().unwrap();
        assert_eq!(code.insns[0].to_string(), "r1 = 0x55667788 ll");
        assert_eq!(disassemble(&code), "   0: r1 = 0x1122334455667788 ll\n   2: exit\n");
        // Truncated after the first slot: still no panic.
        let truncated = Code { insns: vec![code.insns[0]], ..Code::default() };
        assert_eq!(disassemble(&truncated), "   0: r1 = 0x55667788 ll\n");
    }
}
