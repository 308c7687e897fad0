//! The kernel's instruction format: opcode fields and the 8-byte slot.

/// Instruction classes, sources, modes and operations: the fields of `code`
/// (`include/uapi/linux/bpf_common.h` and `bpf.h`).
pub mod class {
    /// Class: load of an immediate (only ld_imm64 remains).
    pub const LD: u8 = 0x00;
    /// Class: load from memory into a register.
    pub const LDX: u8 = 0x01;
    /// Class: store of an immediate.
    pub const ST: u8 = 0x02;
    /// Class: store of a register.
    pub const STX: u8 = 0x03;
    /// Class: 32-bit ALU operation.
    pub const ALU: u8 = 0x04;
    /// Class: jump comparing 64-bit values, call, exit.
    pub const JMP: u8 = 0x05;
    /// Class: jump comparing 32-bit values.
    pub const JMP32: u8 = 0x06;
    /// Class: 64-bit ALU operation.
    pub const ALU64: u8 = 0x07;
    /// Source: the immediate.
    pub const K: u8 = 0x00;
    /// Source: the `src` register.
    pub const X: u8 = 0x08;
    /// Mode (bits 5-7 of a load/store): an immediate (ld_imm64).
    pub const IMM: u8 = 0x00;
    /// Mode: memory at a register plus offset.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load (ISA v4, kernel 6.6+).
    pub const MEMSX: u8 = 0x80;
    /// Atomic read-modify-write of memory.
    pub const ATOMIC: u8 = 0xc0;
    /// Jump operation: always (`goto`).
    pub const JA: u8 = 0x00;
    /// Jump operation: call a helper (or a function of the program).
    pub const CALL: u8 = 0x80;
    /// Jump operation: return r0.
    pub const EXIT: u8 = 0x90;
    /// The byte-swap ALU operation.
    pub const END: u8 = 0xd0;
    /// The opcode of the first slot of an ld_imm64.
    pub const LD_IMM64: u8 = LD | IMM | 0x18;
    /// `src` of an ld_imm64 that loads a map by file descriptor.
    pub const PSEUDO_MAP_FD: u8 = 1;
    /// `src` of an ld_imm64 that loads the address of a function of the
    /// program (a callback); `imm` is its offset from the next slot.
    pub const PSEUDO_FUNC: u8 = 4;
}

/// One 8-byte instruction slot, as the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// The opcode: class, source or size, operation or mode ([`class`]).
    pub code: u8,
    /// Destination register (4 bits).
    pub dst: u8,
    /// Source register (4 bits).
    pub src: u8,
    /// Memory offset, jump offset (in slots, from the next one), or the
    /// signed-division flag.
    pub off: i16,
    /// The immediate: constant, helper number, or half of an ld_imm64.
    pub imm: i32,
}

impl Insn {
    /// The kernel's `struct bpf_insn` on a little-endian machine: the
    /// register byte holds `dst` in the low nibble and `src` in the high one.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = ((self.src & 0x0f) << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Reads a slot written by [`Insn::to_bytes`].
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Whether this is the first slot of a two-slot ld_imm64.
    pub fn is_ld_imm64(&self) -> bool {
        self.code == class::LD_IMM64
    }
}
