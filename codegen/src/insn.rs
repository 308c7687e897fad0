//! The typed BPF instruction builder: registers, labels and jumps are
//! values; the builder encodes instructions and resolves jump offsets.

use rbpf_lang::Span;

use crate::CodegenError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The read-only frame pointer.
    pub const R10: Reg = Reg(10);
}

/// A jump target, bound to an instruction position with [`Builder::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(u32);

/// Memory access widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub fn from_bytes(n: usize) -> Option<Size> {
        match n {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }

    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    fn code(self) -> u8 {
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
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Neg,
    Mod,
    Xor,
    Mov,
    Arsh,
    /// Signed division: BPF ISA v4 (`BPF_DIV` with `off = 1`), kernel 6.6+.
    /// Older kernels reject it as an invalid instruction.
    SDiv,
    /// Signed modulo: BPF ISA v4 (`BPF_MOD` with `off = 1`), kernel 6.6+.
    SMod,
}

impl Alu {
    fn code(self) -> u8 {
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
    fn off(self) -> i16 {
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
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Sgt,
    Sge,
    Slt,
    Sle,
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

    fn code(self) -> u8 {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(Reg),
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

/// Declares [`Helper`] once: variant, number and kernel name stay together.
macro_rules! helpers {
    ($($variant:ident = $id:literal => $name:literal,)*) => {
        /// Kernel helper functions, numbered as in the kernel's uapi `bpf.h`
        /// (`__BPF_FUNC_MAPPER`: the number is the position in that list).
        /// Only the helpers a tracing program can use; which ones a program
        /// type may call is the verifier's business (and the checker's).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Helper {
            $($variant = $id,)*
        }

        impl Helper {
            pub const ALL: &'static [Helper] = &[$(Helper::$variant,)*];

            pub fn from_id(id: i32) -> Option<Helper> {
                match id {
                    $($id => Some(Helper::$variant),)*
                    _ => None,
                }
            }

            /// The helper's name in the kernel, as disassemblers show it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Helper::$variant => $name,)*
                }
            }
        }
    };
}

helpers! {
    MapLookupElem = 1 => "bpf_map_lookup_elem",
    MapUpdateElem = 2 => "bpf_map_update_elem",
    MapDeleteElem = 3 => "bpf_map_delete_elem",
    ProbeRead = 4 => "bpf_probe_read",
    KtimeGetNs = 5 => "bpf_ktime_get_ns",
    TracePrintk = 6 => "bpf_trace_printk",
    GetPrandomU32 = 7 => "bpf_get_prandom_u32",
    GetSmpProcessorId = 8 => "bpf_get_smp_processor_id",
    TailCall = 12 => "bpf_tail_call",
    GetCurrentPidTgid = 14 => "bpf_get_current_pid_tgid",
    GetCurrentUidGid = 15 => "bpf_get_current_uid_gid",
    GetCurrentComm = 16 => "bpf_get_current_comm",
    PerfEventRead = 22 => "bpf_perf_event_read",
    PerfEventOutput = 25 => "bpf_perf_event_output",
    GetStackid = 27 => "bpf_get_stackid",
    GetCurrentTask = 35 => "bpf_get_current_task",
    ProbeWriteUser = 36 => "bpf_probe_write_user",
    GetNumaNodeId = 42 => "bpf_get_numa_node_id",
    ProbeReadStr = 45 => "bpf_probe_read_str",
    PerfEventReadValue = 55 => "bpf_perf_event_read_value",
    OverrideReturn = 58 => "bpf_override_return",
    GetStack = 67 => "bpf_get_stack",
    GetCurrentCgroupId = 80 => "bpf_get_current_cgroup_id",
    MapPushElem = 87 => "bpf_map_push_elem",
    MapPopElem = 88 => "bpf_map_pop_elem",
    MapPeekElem = 89 => "bpf_map_peek_elem",
    SendSignal = 109 => "bpf_send_signal",
    ProbeReadUser = 112 => "bpf_probe_read_user",
    ProbeReadKernel = 113 => "bpf_probe_read_kernel",
    ProbeReadUserStr = 114 => "bpf_probe_read_user_str",
    ProbeReadKernelStr = 115 => "bpf_probe_read_kernel_str",
    SendSignalThread = 117 => "bpf_send_signal_thread",
    Jiffies64 = 118 => "bpf_jiffies64",
    GetNsCurrentPidTgid = 120 => "bpf_get_ns_current_pid_tgid",
    GetCurrentAncestorCgroupId = 123 => "bpf_get_current_ancestor_cgroup_id",
    KtimeGetBootNs = 125 => "bpf_ktime_get_boot_ns",
    RingbufOutput = 130 => "bpf_ringbuf_output",
    RingbufReserve = 131 => "bpf_ringbuf_reserve",
    RingbufSubmit = 132 => "bpf_ringbuf_submit",
    RingbufDiscard = 133 => "bpf_ringbuf_discard",
    RingbufQuery = 134 => "bpf_ringbuf_query",
    GetTaskStack = 141 => "bpf_get_task_stack",
    DPath = 147 => "bpf_d_path",
    CopyFromUser = 148 => "bpf_copy_from_user",
    GetCurrentTaskBtf = 158 => "bpf_get_current_task_btf",
    KtimeGetCoarseNs = 160 => "bpf_ktime_get_coarse_ns",
    ForEachMapElem = 164 => "bpf_for_each_map_elem",
    Snprintf = 165 => "bpf_snprintf",
    GetFuncIp = 173 => "bpf_get_func_ip",
    GetAttachCookie = 174 => "bpf_get_attach_cookie",
    TaskPtRegs = 175 => "bpf_task_pt_regs",
    Loop = 181 => "bpf_loop",
    Strncmp = 182 => "bpf_strncmp",
    GetFuncArg = 183 => "bpf_get_func_arg",
    GetFuncRet = 184 => "bpf_get_func_ret",
    CopyFromUserTask = 191 => "bpf_copy_from_user_task",
    MapLookupPercpuElem = 195 => "bpf_map_lookup_percpu_elem",
    KtimeGetTaiNs = 208 => "bpf_ktime_get_tai_ns",
}

/// Instruction classes, sources, modes and operations: the fields of `code`
/// (`include/uapi/linux/bpf_common.h` and `bpf.h`).
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
    /// Source: the immediate (`K`) or the `src` register (`X`).
    pub const K: u8 = 0x00;
    pub const X: u8 = 0x08;
    /// Modes (bits 5-7 of a load/store).
    pub const IMM: u8 = 0x00;
    pub const MEM: u8 = 0x60;
    /// Sign-extending load (ISA v4, kernel 6.6+).
    pub const MEMSX: u8 = 0x80;
    pub const ATOMIC: u8 = 0xc0;
    /// Jump operations.
    pub const JA: u8 = 0x00;
    pub const CALL: u8 = 0x80;
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
    pub code: u8,
    /// Destination register (4 bits).
    pub dst: u8,
    /// Source register (4 bits).
    pub src: u8,
    pub off: i16,
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

/// A map referenced by an `ld_imm64` at `insn_index`: the ELF writer turns
/// it into a relocation against the map's symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRelocation {
    pub insn_index: usize,
    pub map: String,
}

/// A function (a callback in `.text`) whose address an `ld_imm64` at
/// `insn_index` loads: the ELF writer turns it into a relocation against
/// the function's symbol, and the loader links the function in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncRelocation {
    pub insn_index: usize,
    pub func: String,
}

/// Finished code: instructions, map and function references and a source
/// span per slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Code {
    pub insns: Vec<Insn>,
    pub relocations: Vec<MapRelocation>,
    pub func_relocations: Vec<FuncRelocation>,
    /// One per slot; the second slot of an ld_imm64 repeats the first's.
    pub spans: Vec<Span>,
}

impl Code {
    pub fn to_bytes(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
}

/// Emits instructions one by one; jumps name [`Label`]s, which
/// [`Builder::finish`] turns into offsets.
///
/// Immediates are 32 bits: `alu64`/`mov64` sign-extend them to 64 bits
/// (`mov64(r, -1)` sets all 64 bits; a u32 above `i32::MAX` needs
/// [`Builder::load_imm64`]), `alu32` uses them as they are and zero-extends
/// the result. The verifier rejects a division or modulo by an immediate 0
/// and a shift by an immediate not below the operand width.
#[derive(Default)]
pub struct Builder {
    code: Code,
    span: Span,
    /// Where each label is bound, once it is.
    labels: Vec<Option<usize>>,
    /// Jumps to patch: (instruction index, label).
    fixups: Vec<(usize, Label)>,
    /// The first misuse of `bind` (a label bound twice or from another
    /// builder), reported by `finish`, since `bind` returns nothing.
    bind_error: Option<CodegenError>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `label` to the next instruction emitted.
    pub fn bind(&mut self, label: Label) {
        let at = self.code.insns.len();
        match self.labels.get_mut(label.0 as usize) {
            Some(slot @ None) => *slot = Some(at),
            Some(Some(_)) => {
                self.bind_error.get_or_insert(CodegenError::LabelBoundTwice);
            }
            None => {
                self.bind_error.get_or_insert(CodegenError::UnboundLabel);
            }
        }
    }

    /// Every instruction emitted from now on comes from `span`.
    pub fn set_span(&mut self, span: Span) {
        self.span = span;
    }

    /// The number of 8-byte slots emitted so far (an ld_imm64 counts two).
    pub fn len(&self) -> usize {
        self.code.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.code.insns.is_empty()
    }

    fn emit(&mut self, insn: Insn) {
        self.code.insns.push(insn);
        self.code.spans.push(self.span);
    }

    fn alu(&mut self, class: u8, op: Alu, dst: Reg, src: Operand) {
        let (source, src_reg, imm) = match src {
            // NEG takes no source operand; the kernel wants src and imm 0.
            _ if op == Alu::Neg => (class::K, 0, 0),
            Operand::Reg(r) => (class::X, r.0, 0),
            Operand::Imm(i) => (class::K, 0, i),
        };
        self.emit(Insn { code: class | source | op.code(), dst: dst.0, src: src_reg, off: op.off(), imm });
    }

    /// 64-bit ALU operation, `dst op= src`; an immediate is sign-extended.
    /// `Alu::Neg` ignores `src`.
    pub fn alu64(&mut self, op: Alu, dst: Reg, src: impl Into<Operand>) {
        self.alu(class::ALU64, op, dst, src.into());
    }

    /// 32-bit ALU operation on the low halves; the result is zero-extended
    /// to 64 bits (so `alu32(Mov, r, r)` truncates `r` to u32).
    pub fn alu32(&mut self, op: Alu, dst: Reg, src: impl Into<Operand>) {
        self.alu(class::ALU, op, dst, src.into());
    }

    /// Reverses the byte order of the low `bits` (16, 32 or 64) bits of
    /// `dst` (`BPF_END | BPF_TO_BE` on a little-endian machine), zeroing
    /// the bits above.
    pub fn bswap(&mut self, dst: Reg, bits: i32) {
        self.emit(Insn { code: class::ALU | class::END | 0x08, dst: dst.0, src: 0, off: 0, imm: bits });
    }

    pub fn mov64(&mut self, dst: Reg, src: impl Into<Operand>) {
        self.alu64(Alu::Mov, dst, src);
    }

    /// `dst = *(size *)(base + off)`, zero-extended.
    pub fn load(&mut self, size: Size, dst: Reg, base: Reg, off: i16) {
        self.emit(Insn { code: class::LDX | class::MEM | size.code(), dst: dst.0, src: base.0, off, imm: 0 });
    }

    /// `*(size *)(base + off) = src`: STX for a register, ST for an
    /// immediate (an 8-byte ST stores the sign-extended immediate).
    pub fn store(&mut self, size: Size, base: Reg, off: i16, src: impl Into<Operand>) {
        match src.into() {
            Operand::Reg(r) => {
                self.emit(Insn { code: class::STX | class::MEM | size.code(), dst: base.0, src: r.0, off, imm: 0 })
            }
            Operand::Imm(i) => {
                self.emit(Insn { code: class::ST | class::MEM | size.code(), dst: base.0, src: 0, off, imm: i })
            }
        }
    }

    /// `dst = imm` for any 64-bit constant: two slots.
    pub fn load_imm64(&mut self, dst: Reg, imm: u64) {
        self.ld_imm64(dst, 0, imm);
    }

    fn ld_imm64(&mut self, dst: Reg, src: u8, imm: u64) {
        self.emit(Insn { code: class::LD_IMM64, dst: dst.0, src, off: 0, imm: imm as u32 as i32 });
        // The second slot is all zero but the upper half of the constant.
        self.emit(Insn { code: 0, dst: 0, src: 0, off: 0, imm: (imm >> 32) as u32 as i32 });
    }

    /// `dst = &map`: an ld_imm64 with `src = BPF_PSEUDO_MAP_FD` and imm 0,
    /// into which the loader writes the map's fd (from the relocation
    /// recorded here); the verifier then types `dst` as a map pointer.
    pub fn load_map_fd(&mut self, dst: Reg, map: &str) {
        self.code.relocations.push(MapRelocation { insn_index: self.code.insns.len(), map: map.to_string() });
        self.ld_imm64(dst, class::PSEUDO_MAP_FD, 0);
    }

    /// `dst = &func`: an ld_imm64 with `src = BPF_PSEUDO_FUNC`, the address
    /// of a callback for helpers such as bpf_for_each_map_elem; the loader
    /// links the function in and writes its offset into `imm`.
    pub fn load_func(&mut self, dst: Reg, func: &str) {
        self.code.func_relocations.push(FuncRelocation { insn_index: self.code.insns.len(), func: func.to_string() });
        self.ld_imm64(dst, class::PSEUDO_FUNC, 0);
    }

    pub fn jump(&mut self, target: Label) {
        self.fixups.push((self.code.insns.len(), target));
        self.emit(Insn { code: class::JMP | class::JA, dst: 0, src: 0, off: 0, imm: 0 });
    }

    /// `if dst COND src goto target`, comparing 64-bit values (an immediate
    /// is sign-extended first, also for the unsigned conditions).
    pub fn jump_if(&mut self, cond: Cond, dst: Reg, src: impl Into<Operand>, target: Label) {
        let (source, src_reg, imm) = match src.into() {
            Operand::Reg(r) => (class::X, r.0, 0),
            Operand::Imm(i) => (class::K, 0, i),
        };
        self.fixups.push((self.code.insns.len(), target));
        self.emit(Insn { code: class::JMP | source | cond.code(), dst: dst.0, src: src_reg, off: 0, imm });
    }

    /// Calls a helper: arguments in r1-r5, result in r0; r1-r5 are
    /// clobbered (the verifier marks them unreadable), r6-r9 survive.
    pub fn call(&mut self, helper: Helper) {
        self.emit(Insn { code: class::JMP | class::CALL, dst: 0, src: 0, off: 0, imm: helper as i32 });
    }

    /// Returns r0 (which the verifier requires to be initialized).
    pub fn exit(&mut self) {
        self.emit(Insn { code: class::JMP | class::EXIT, dst: 0, src: 0, off: 0, imm: 0 });
    }

    /// Drops the instructions no path from the entry reaches (the verifier
    /// refuses unreachable code, which constant conditions such as
    /// `if (0)` or `1 && 0` leave behind) and jumps to the very next
    /// instruction, then resolves every jump's offset (relative to the next
    /// slot, counting both slots of an ld_imm64).
    pub fn finish(self) -> Result<Code, CodegenError> {
        if let Some(err) = self.bind_error {
            return Err(err);
        }
        let len = self.code.insns.len();
        // The target slot of each jump, by the jump's slot.
        let mut target_of = vec![None; len];
        for &(at, label) in &self.fixups {
            let target = self.labels.get(label.0 as usize).copied().flatten().ok_or(CodegenError::UnboundLabel)?;
            // A label bound after the last instruction would jump out of
            // the program, which the verifier refuses.
            if target >= len {
                return Err(CodegenError::JumpPastEnd);
            }
            target_of[at] = Some(target);
        }
        let mut keep = self.reachable(&target_of);
        // A reachable `goto` whose target is the next kept slot does nothing.
        let mut changed = true;
        while changed {
            changed = false;
            for at in 0..len {
                let insn = self.code.insns[at];
                if keep[at] && insn.code == class::JMP | class::JA {
                    if let Some(t) = target_of[at] {
                        if t > at && (at + 1..t).all(|i| !keep[i]) {
                            keep[at] = false;
                            changed = true;
                        }
                    }
                }
            }
        }
        // Where each old slot lands; a label on a dropped slot moves on to
        // the next kept one, which is where execution would continue.
        let mut new_index = vec![0usize; len + 1];
        let mut n = 0;
        for i in 0..len {
            new_index[i] = n;
            n += usize::from(keep[i]);
        }
        new_index[len] = n;
        let mut code = Code::default();
        for at in 0..len {
            if !keep[at] {
                continue;
            }
            let mut insn = self.code.insns[at];
            if let Some(t) = target_of[at] {
                let offset = new_index[t] as i64 - new_index[at] as i64 - 1;
                insn.off = i16::try_from(offset).map_err(|_| CodegenError::JumpOutOfRange)?;
            }
            code.insns.push(insn);
            code.spans.push(self.code.spans[at]);
        }
        code.relocations = self
            .code
            .relocations
            .into_iter()
            .filter(|r| keep[r.insn_index])
            .map(|r| MapRelocation { insn_index: new_index[r.insn_index], map: r.map })
            .collect();
        code.func_relocations = self
            .code
            .func_relocations
            .into_iter()
            .filter(|r| keep[r.insn_index])
            .map(|r| FuncRelocation { insn_index: new_index[r.insn_index], func: r.func })
            .collect();
        Ok(code)
    }

    /// Which slots some path from the first instruction reaches.
    fn reachable(&self, target_of: &[Option<usize>]) -> Vec<bool> {
        let insns = &self.code.insns;
        let mut seen = vec![false; insns.len()];
        let mut work = vec![0usize];
        while let Some(at) = work.pop() {
            if at >= insns.len() || seen[at] {
                continue;
            }
            seen[at] = true;
            let insn = insns[at];
            if insn.is_ld_imm64() {
                if let Some(s) = seen.get_mut(at + 1) {
                    *s = true;
                }
                work.push(at + 2);
                continue;
            }
            let is_jmp = insn.code & 0x07 == class::JMP || insn.code & 0x07 == class::JMP32;
            let op = insn.code & 0xf0;
            if is_jmp && op == class::EXIT {
                continue;
            }
            if let Some(t) = target_of[at] {
                work.push(t);
                if op == class::JA {
                    continue;
                }
            }
            work.push(at + 1);
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cases: &[(&str, fn(&mut Builder), &[u8])] = &[
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
        let jumps: &[(&str, fn(&mut Builder, Label), [u8; 8])] = &[
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
}
