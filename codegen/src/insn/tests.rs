//! Encodings checked against the kernel's and llvm's, jump resolution,
//! dead-code removal.

use rbpf_lang::Span;

use super::*;
use crate::CodegenError;


/// Assembly text, what emits it, and the bytes the kernel expects.
type EncodeCase = (&'static str, fn(&mut Builder), &'static [u8]);
/// Assembly text, what emits it (jumping to the label), and its 8 bytes.
type JumpCase = (&'static str, fn(&mut Builder, Label), [u8; 8]);

fn encode(emit: impl FnOnce(&mut Builder)) -> Vec<u8> {
    let mut b = Builder::new();
    emit(&mut b);
    b.finish().expect("finishes").to_bytes()
}

/// Expected bytes from `llvm-mc -triple bpfel -show-encoding`, except
/// sdiv/smod (ISA v4, newer than that llvm), ST and JSET (which it does
/// not assemble), written out from the kernel's opcode fields.
#[test]
fn encodes_like_the_kernel() {
    let cases: &[EncodeCase] = &[
        ("r6 = r1", |b| b.mov64(Reg::R6, Reg::R1), &[0xbf, 0x16, 0, 0, 0, 0, 0, 0]),
        ("r1 = -7", |b| b.mov64(Reg::R1, -7), &[0xb7, 0x01, 0, 0, 0xf9, 0xff, 0xff, 0xff]),
        ("r1 = *(u64 *)(r6 + 16)", |b| b.load(Size::DW, Reg::R1, Reg::R6, 16), &[0x79, 0x61, 0x10, 0, 0, 0, 0, 0]),
        ("r2 = *(u16 *)(r1 - 2)", |b| b.load(Size::H, Reg::R2, Reg::R1, -2), &[0x69, 0x12, 0xfe, 0xff, 0, 0, 0, 0]),
        ("*(u32 *)(r10 - 8) = r1", |b| b.store(Size::W, Reg::R10, -8, Reg::R1), &[0x63, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]),
        ("*(u8 *)(r1 + 3) = r2", |b| b.store(Size::B, Reg::R1, 3, Reg::R2), &[0x73, 0x21, 0x03, 0, 0, 0, 0, 0]),
        ("*(u32 *)(r10 - 8) = 7", |b| b.store(Size::W, Reg::R10, -8, 7), &[0x62, 0x0a, 0xf8, 0xff, 7, 0, 0, 0]),
        ("*(u64 *)(r10 - 16) = -1", |b| b.store(Size::DW, Reg::R10, -16, -1), &[0x7a, 0x0a, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ("w1 = w2", |b| b.alu32(Alu::Mov, Reg::R1, Reg::R2), &[0xbc, 0x21, 0, 0, 0, 0, 0, 0]),
        ("w1 += 5", |b| b.alu32(Alu::Add, Reg::R1, 5), &[0x04, 0x01, 0, 0, 5, 0, 0, 0]),
        ("r1 = -r1", |b| b.alu64(Alu::Neg, Reg::R1, Reg::R5), &[0x87, 0x01, 0, 0, 0, 0, 0, 0]),
        ("w3 = -w3", |b| b.alu32(Alu::Neg, Reg::R3, 9), &[0x84, 0x03, 0, 0, 0, 0, 0, 0]),
        ("r1 s>>= 3", |b| b.alu64(Alu::Arsh, Reg::R1, 3), &[0xc7, 0x01, 0, 0, 3, 0, 0, 0]),
        ("r1 >>= r2", |b| b.alu64(Alu::Rsh, Reg::R1, Reg::R2), &[0x7f, 0x21, 0, 0, 0, 0, 0, 0]),
        ("r2 <<= 56", |b| b.alu64(Alu::Lsh, Reg::R2, 56), &[0x67, 0x02, 0, 0, 0x38, 0, 0, 0]),
        ("r1 ^= -1", |b| b.alu64(Alu::Xor, Reg::R1, -1), &[0xa7, 0x01, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        ("r1 *= r9", |b| b.alu64(Alu::Mul, Reg::R1, Reg::R9), &[0x2f, 0x91, 0, 0, 0, 0, 0, 0]),
        ("r1 /= 3", |b| b.alu64(Alu::Div, Reg::R1, 3), &[0x37, 0x01, 0, 0, 3, 0, 0, 0]),
        ("r1 %= r2", |b| b.alu64(Alu::Mod, Reg::R1, Reg::R2), &[0x9f, 0x21, 0, 0, 0, 0, 0, 0]),
        ("r0 s/= r1", |b| b.alu64(Alu::SDiv, Reg::R0, Reg::R1), &[0x3f, 0x10, 1, 0, 0, 0, 0, 0]),
        ("r0 s%= 7", |b| b.alu64(Alu::SMod, Reg::R0, 7), &[0x97, 0x00, 1, 0, 7, 0, 0, 0]),
        ("r1 |= 8", |b| b.alu64(Alu::Or, Reg::R1, 8), &[0x47, 0x01, 0, 0, 8, 0, 0, 0]),
        ("r1 &= 255", |b| b.alu64(Alu::And, Reg::R1, 255), &[0x57, 0x01, 0, 0, 0xff, 0, 0, 0]),
        ("r1 -= r3", |b| b.alu64(Alu::Sub, Reg::R1, Reg::R3), &[0x1f, 0x31, 0, 0, 0, 0, 0, 0]),
        (
            "r1 = 0x1122334455667788 ll",
            |b| b.load_imm64(Reg::R1, 0x1122_3344_5566_7788),
            &[0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11],
        ),
        ("r1 = map ll", |b| b.load_map_fd(Reg::R1, "m"), &[0x18, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("call 14", |b| b.call(Helper::GetCurrentPidTgid), &[0x85, 0, 0, 0, 14, 0, 0, 0]),
        ("r1 = be32 r1", |b| b.bswap(Reg::R1, 32), &[0xdc, 0x01, 0, 0, 32, 0, 0, 0]),
        ("exit", |b| b.exit(), &[0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for (asm, emit, bytes) in cases {
        assert_eq!(encode(emit), *bytes, "{asm}");
    }
}

/// Each jump, then three slots to jump over (so the offsets are real),
/// reachable through a first jump so that none is dropped as dead.
#[test]
fn encodes_jumps_like_the_kernel() {
    let jumps: &[JumpCase] = &[
        ("if r1 > 5 goto +3", |b, l| b.jump_if(Cond::Gt, Reg::R1, 5, l), [0x25, 0x01, 3, 0, 5, 0, 0, 0]),
        ("if r1 s<= r2 goto +3", |b, l| b.jump_if(Cond::Sle, Reg::R1, Reg::R2, l), [0xdd, 0x21, 3, 0, 0, 0, 0, 0]),
        ("if r1 != r2 goto +3", |b, l| b.jump_if(Cond::Ne, Reg::R1, Reg::R2, l), [0x5d, 0x21, 3, 0, 0, 0, 0, 0]),
        ("if r1 s> -1 goto +3", |b, l| b.jump_if(Cond::Sgt, Reg::R1, -1, l), [0x65, 0x01, 3, 0, 0xff, 0xff, 0xff, 0xff]),
        ("if r3 & 0x10 goto +3", |b, l| b.jump_if(Cond::Set, Reg::R3, 0x10, l), [0x45, 0x03, 3, 0, 0x10, 0, 0, 0]),
        ("goto +3", |b, l| b.jump(l), [0x05, 0, 3, 0, 0, 0, 0, 0]),
    ];
    for (asm, emit, bytes) in jumps {
        let code = encode(|b| {
            let (l, skipped) = (b.new_label(), b.new_label());
            b.jump_if(Cond::Eq, Reg::R1, 0, skipped);
            emit(b, l);
            b.bind(skipped);
            for _ in 0..3 {
                b.mov64(Reg::R0, 0);
            }
            b.bind(l);
            b.exit();
        });
        assert_eq!(code[8..16], *bytes, "{asm}");
    }
}

#[test]
fn resolves_forward_and_backward_jumps_across_wide_loads() {
    let mut b = Builder::new();
    let top = b.new_label();
    let end = b.new_label();
    b.bind(top);
    b.jump_if(Cond::Eq, Reg::R1, 0, end); // 0
    b.load_map_fd(Reg::R1, "m"); // 1, 2
    b.load_imm64(Reg::R2, u64::MAX); // 3, 4
    b.jump(top); // 5
    b.bind(end);
    b.exit(); // 6
    let code = b.finish().unwrap();
    assert_eq!(code.insns.len(), 7);
    assert_eq!(code.insns[0].off, 5);
    assert_eq!(code.insns[5].off, -6);
    assert_eq!(code.relocations, [MapRelocation { insn_index: 1, map: "m".into() }]);
    assert_eq!(code.spans.len(), code.insns.len());
}

#[test]
fn records_the_span_of_every_slot() {
    let mut b = Builder::new();
    b.set_span(Span::new(1, 2));
    b.mov64(Reg::R0, 0);
    b.set_span(Span::new(3, 9));
    b.load_imm64(Reg::R1, 1);
    b.exit();
    let code = b.finish().unwrap();
    assert_eq!(code.spans, [Span::new(1, 2), Span::new(3, 9), Span::new(3, 9), Span::new(3, 9)]);
}

#[test]
fn jump_to_the_next_instruction_has_offset_zero() {
    let mut b = Builder::new();
    let next = b.new_label();
    b.jump(next);
    b.bind(next);
    b.exit();
    assert_eq!(b.finish().unwrap().insns[0].off, 0);
}

#[test]
fn misused_labels_are_errors() {
    let mut b = Builder::new();
    let l = b.new_label();
    b.jump(l);
    b.exit();
    assert!(matches!(b.finish(), Err(CodegenError::UnboundLabel)));

    let mut b = Builder::new();
    let l = b.new_label();
    b.bind(l);
    b.exit();
    b.bind(l);
    b.exit();
    assert!(matches!(b.finish(), Err(CodegenError::LabelBoundTwice)));

    // A label from another builder.
    let mut other = Builder::new();
    other.new_label();
    let foreign = other.new_label();
    let mut b = Builder::new();
    b.bind(foreign);
    b.exit();
    assert!(matches!(b.finish(), Err(CodegenError::UnboundLabel)));

    let mut b = Builder::new();
    let l = b.new_label();
    b.jump(l);
    b.bind(l);
    assert!(matches!(b.finish(), Err(CodegenError::JumpPastEnd)));
}

#[test]
fn drops_unreachable_code_and_jumps_to_the_next_instruction() {
    let mut b = Builder::new();
    let (dead, end, next) = (b.new_label(), b.new_label(), b.new_label());
    b.jump(end); // 0
    b.bind(dead);
    b.load_map_fd(Reg::R1, "dead"); // 1, 2: unreachable
    b.jump(dead); // 3: unreachable
    b.bind(end);
    b.jump_if(Cond::Eq, Reg::R1, 0, next); // 4
    b.jump(next); // 5: goes where it falls through anyway
    b.bind(next);
    b.load_map_fd(Reg::R1, "live"); // 6, 7
    b.exit(); // 8
    let code = b.finish().unwrap();
    assert_eq!(code.insns.len(), 4);
    assert_eq!(code.insns[0].off, 0, "if r1 == 0 goto +0");
    assert!(code.insns[1].is_ld_imm64());
    assert_eq!(code.relocations, vec![MapRelocation { insn_index: 1, map: "live".into() }]);
    assert_eq!(code.spans.len(), 4);
}

#[test]
fn too_far_a_jump_is_an_error() {
    let mut b = Builder::new();
    let l = b.new_label();
    b.jump_if(Cond::Eq, Reg::R1, 0, l);
    for _ in 0..=i16::MAX {
        b.mov64(Reg::R0, 0);
    }
    b.bind(l);
    b.exit();
    assert!(matches!(b.finish(), Err(CodegenError::JumpOutOfRange)));
}

#[test]
fn helper_numbers_round_trip() {
    for &h in Helper::ALL {
        assert_eq!(Helper::from_id(h as i32), Some(h));
        assert!(h.name().starts_with("bpf_"));
    }
    assert_eq!(Helper::from_id(0), None);
    assert_eq!(Helper::RingbufDiscard as i32, 133);
    assert_eq!(Helper::GetCurrentCgroupId.name(), "bpf_get_current_cgroup_id");
}

#[test]
fn negation_is_an_involution() {
    for c in [Cond::Eq, Cond::Ne, Cond::Gt, Cond::Ge, Cond::Lt, Cond::Le, Cond::Sgt, Cond::Sge, Cond::Slt, Cond::Sle] {
        assert_ne!(c.negate(), c);
        assert_eq!(c.negate().negate(), c);
    }
    assert_eq!(Cond::Set.checked_negate(), None);
}

#[test]
fn decodes_what_it_encodes() {
    for op in [Alu::Add, Alu::Sub, Alu::Mul, Alu::Div, Alu::Or, Alu::And, Alu::Lsh, Alu::Rsh, Alu::Neg, Alu::Mod, Alu::Xor, Alu::Mov, Alu::Arsh, Alu::SDiv, Alu::SMod] {
        assert_eq!(Alu::decode(op.code(), op.off()), Some(op));
    }
    let insn = Insn { code: 0x3f, dst: 2, src: 9, off: -3, imm: -100 };
    assert_eq!(Insn::from_bytes(insn.to_bytes()), insn);
}
