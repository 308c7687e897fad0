//! The operands and operations of an instruction: registers, access
//! widths, ALU operations and jump conditions, with their opcode bits.

/// A register, r0 to r10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

impl Reg {
    /// Return values: of helpers, of the program.
    pub const R0: Reg = Reg(0);
    /// The first argument of a helper; the context on entry.
    pub const R1: Reg = Reg(1);
    /// The second argument of a helper.
    pub const R2: Reg = Reg(2);
    /// The third argument of a helper.
    pub const R3: Reg = Reg(3);
    /// The fourth argument of a helper.
    pub const R4: Reg = Reg(4);
    /// The fifth argument of a helper.
    pub const R5: Reg = Reg(5);
    /// Callee-saved: survives helper calls.
    pub const R6: Reg = Reg(6);
    /// Callee-saved: survives helper calls.
    pub const R7: Reg = Reg(7);
    /// Callee-saved: survives helper calls.
    pub const R8: Reg = Reg(8);
    /// Callee-saved: survives helper calls.
    pub const R9: Reg = Reg(9);
    /// The read-only frame pointer.
    pub const R10: Reg = Reg(10);
}

/// Memory access widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// A byte.
    B,
    /// A half word: 2 bytes.
    H,
    /// A word: 4 bytes.
    W,
    /// A double word: 8 bytes.
    DW,
}

impl Size {
    /// The width of `n` bytes, if one.
    pub fn from_bytes(n: usize) -> Option<Size> {
        match n {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }

    /// The width in bytes.
    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    pub(super) fn code(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    /// The width encoded in bits 3-4 of a load/store opcode.
    pub(crate) fn from_code(code: u8) -> Size {
        match code & 0x18 {
            0x00 => Size::W,
            0x08 => Size::H,
            0x10 => Size::B,
            _ => Size::DW,
        }
    }
}

/// ALU operations. `Div`, `Mod` and the shifts are unsigned (`Rsh` is a
/// logical shift, `Arsh` an arithmetic one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`, unsigned.
    Div,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// `>>=`, logical.
    Rsh,
    /// `dst = -dst`.
    Neg,
    /// `%=`, unsigned.
    Mod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// `s>>=`: arithmetic shift right.
    Arsh,
    /// Signed division: BPF ISA v4 (`BPF_DIV` with `off = 1`), kernel 6.6+.
    /// Older kernels reject it as an invalid instruction.
    SDiv,
    /// Signed modulo: BPF ISA v4 (`BPF_MOD` with `off = 1`), kernel 6.6+.
    SMod,
}

impl Alu {
    pub(super) fn code(self) -> u8 {
        match self {
            Alu::Add => 0x00,
            Alu::Sub => 0x10,
            Alu::Mul => 0x20,
            Alu::Div | Alu::SDiv => 0x30,
            Alu::Or => 0x40,
            Alu::And => 0x50,
            Alu::Lsh => 0x60,
            Alu::Rsh => 0x70,
            Alu::Neg => 0x80,
            Alu::Mod | Alu::SMod => 0x90,
            Alu::Xor => 0xa0,
            Alu::Mov => 0xb0,
            Alu::Arsh => 0xc0,
        }
    }

    /// The `off` field: ISA v4 tells signed division apart from unsigned by it.
    pub(super) fn off(self) -> i16 {
        match self {
            Alu::SDiv | Alu::SMod => 1,
            _ => 0,
        }
    }

    /// Decodes the operation of an ALU/ALU64 instruction (`off` chooses
    /// between unsigned and signed division). `None` for the opcodes the
    /// builder never emits (byte swaps, sign-extending moves).
    pub(crate) fn decode(code: u8, off: i16) -> Option<Alu> {
        Some(match (code & 0xf0, off) {
            (0x00, _) => Alu::Add,
            (0x10, _) => Alu::Sub,
            (0x20, _) => Alu::Mul,
            (0x30, 0) => Alu::Div,
            (0x30, 1) => Alu::SDiv,
            (0x40, _) => Alu::Or,
            (0x50, _) => Alu::And,
            (0x60, _) => Alu::Lsh,
            (0x70, _) => Alu::Rsh,
            (0x80, _) => Alu::Neg,
            (0x90, 0) => Alu::Mod,
            (0x90, 1) => Alu::SMod,
            (0xa0, _) => Alu::Xor,
            (0xb0, 0) => Alu::Mov,
            (0xc0, _) => Alu::Arsh,
            _ => return None,
        })
    }

    /// The operator in the kernel's disassembly syntax (`r1 += r2`).
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Alu::Add => "+=",
            Alu::Sub => "-=",
            Alu::Mul => "*=",
            Alu::Div => "/=",
            Alu::Or => "|=",
            Alu::And => "&=",
            Alu::Lsh => "<<=",
            Alu::Rsh => ">>=",
            Alu::Neg => "= -",
            Alu::Mod => "%=",
            Alu::Xor => "^=",
            Alu::Mov => "=",
            Alu::Arsh => "s>>=",
            Alu::SDiv => "s/=",
            Alu::SMod => "s%=",
        }
    }
}

/// Jump conditions: `Gt`..`Le` compare unsigned, `S*` signed, `Set` tests bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`, unsigned.
    Gt,
    /// `>=`, unsigned.
    Ge,
    /// `<`, unsigned.
    Lt,
    /// `<=`, unsigned.
    Le,
    /// `s>`
    Sgt,
    /// `s>=`
    Sge,
    /// `s<`
    Slt,
    /// `s<=`
    Sle,
    /// `&`: some bit of both is set.
    Set,
}

impl Cond {
    /// The condition that holds exactly when `self` does not, or `None` for
    /// `Set`: BPF has no "no bit set" jump.
    pub fn checked_negate(self) -> Option<Cond> {
        match self {
            Cond::Set => None,
            c => Some(c.negate()),
        }
    }

    /// The condition that holds exactly when `self` does not. `Set` has no
    /// single-instruction negation and is returned unchanged: use
    /// [`Cond::checked_negate`] where a `Set` can reach.
    pub fn negate(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Gt => Cond::Le,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Le => Cond::Gt,
            Cond::Sgt => Cond::Sle,
            Cond::Sge => Cond::Slt,
            Cond::Slt => Cond::Sge,
            Cond::Sle => Cond::Sgt,
            Cond::Set => Cond::Set,
        }
    }

    pub(super) fn code(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Gt => 0x20,
            Cond::Ge => 0x30,
            Cond::Set => 0x40,
            Cond::Ne => 0x50,
            Cond::Sgt => 0x60,
            Cond::Sge => 0x70,
            Cond::Lt => 0xa0,
            Cond::Le => 0xb0,
            Cond::Slt => 0xc0,
            Cond::Sle => 0xd0,
        }
    }

    const ALL: [Cond; 11] = [
        Cond::Eq,
        Cond::Ne,
        Cond::Gt,
        Cond::Ge,
        Cond::Lt,
        Cond::Le,
        Cond::Sgt,
        Cond::Sge,
        Cond::Slt,
        Cond::Sle,
        Cond::Set,
    ];

    pub(crate) fn from_code(code: u8) -> Option<Cond> {
        Cond::ALL.into_iter().find(|c| c.code() == code & 0xf0)
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Cond::Eq => "==",
            Cond::Ne => "!=",
            Cond::Gt => ">",
            Cond::Ge => ">=",
            Cond::Lt => "<",
            Cond::Le => "<=",
            Cond::Sgt => "s>",
            Cond::Sge => "s>=",
            Cond::Slt => "s<",
            Cond::Sle => "s<=",
            Cond::Set => "&",
        }
    }
}

/// The source of an ALU operation, store or comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A register.
    Reg(Reg),
    /// A 32-bit immediate.
    Imm(i32),
}

impl From<Reg> for Operand {
    fn from(r: Reg) -> Self {
        Operand::Reg(r)
    }
}

impl From<i32> for Operand {
    fn from(i: i32) -> Self {
        Operand::Imm(i)
    }
}
