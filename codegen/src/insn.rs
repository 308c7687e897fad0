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
}

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
}

impl Alu {
    fn code(self) -> u8 {
        match self {
            Alu::Add => 0x00,
            Alu::Sub => 0x10,
            Alu::Mul => 0x20,
            Alu::Div => 0x30,
            Alu::Or => 0x40,
            Alu::And => 0x50,
            Alu::Lsh => 0x60,
            Alu::Rsh => 0x70,
            Alu::Neg => 0x80,
            Alu::Mod => 0x90,
            Alu::Xor => 0xa0,
            Alu::Mov => 0xb0,
            Alu::Arsh => 0xc0,
        }
    }

    const ALL: [Alu; 13] = [
        Alu::Add,
        Alu::Sub,
        Alu::Mul,
        Alu::Div,
        Alu::Or,
        Alu::And,
        Alu::Lsh,
        Alu::Rsh,
        Alu::Neg,
        Alu::Mod,
        Alu::Xor,
        Alu::Mov,
        Alu::Arsh,
    ];

    pub(crate) fn from_code(code: u8) -> Option<Alu> {
        Alu::ALL.into_iter().find(|a| a.code() == code & 0xf0)
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
    /// The condition that holds exactly when `self` does not. `Set` has no
    /// single-instruction negation and is returned unchanged; callers never
    /// negate it.
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

/// Kernel helper functions, numbered as in the kernel's uapi `bpf.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    ProbeRead = 4,
    KtimeGetNs = 5,
    GetPrandomU32 = 7,
    GetSmpProcessorId = 8,
    GetCurrentPidTgid = 14,
    GetCurrentUidGid = 15,
    GetCurrentComm = 16,
    PerfEventOutput = 25,
    GetStackid = 27,
    GetCurrentTask = 35,
    GetNumaNodeId = 42,
    ProbeReadStr = 45,
    GetCurrentCgroupId = 80,
    SendSignal = 109,
    ProbeReadUser = 112,
    ProbeReadKernel = 113,
    ProbeReadUserStr = 114,
    ProbeReadKernelStr = 115,
    Jiffies64 = 118,
    KtimeGetBootNs = 125,
    RingbufOutput = 130,
    RingbufReserve = 131,
    RingbufSubmit = 132,
    RingbufDiscard = 133,
}

impl Helper {
    const ALL: [Helper; 27] = [
        Helper::MapLookupElem,
        Helper::MapUpdateElem,
        Helper::MapDeleteElem,
        Helper::ProbeRead,
        Helper::KtimeGetNs,
        Helper::GetPrandomU32,
        Helper::GetSmpProcessorId,
        Helper::GetCurrentPidTgid,
        Helper::GetCurrentUidGid,
        Helper::GetCurrentComm,
        Helper::PerfEventOutput,
        Helper::GetStackid,
        Helper::GetCurrentTask,
        Helper::GetNumaNodeId,
        Helper::ProbeReadStr,
        Helper::GetCurrentCgroupId,
        Helper::SendSignal,
        Helper::ProbeReadUser,
        Helper::ProbeReadKernel,
        Helper::ProbeReadUserStr,
        Helper::ProbeReadKernelStr,
        Helper::Jiffies64,
        Helper::KtimeGetBootNs,
        Helper::RingbufOutput,
        Helper::RingbufReserve,
        Helper::RingbufSubmit,
        Helper::RingbufDiscard,
    ];

    pub fn from_id(id: i32) -> Option<Helper> {
        Helper::ALL.into_iter().find(|h| *h as i32 == id)
    }

    /// The helper's name in the kernel, as disassemblers show it.
    pub fn name(self) -> &'static str {
        match self {
            Helper::MapLookupElem => "bpf_map_lookup_elem",
            Helper::MapUpdateElem => "bpf_map_update_elem",
            Helper::MapDeleteElem => "bpf_map_delete_elem",
            Helper::ProbeRead => "bpf_probe_read",
            Helper::KtimeGetNs => "bpf_ktime_get_ns",
            Helper::GetPrandomU32 => "bpf_get_prandom_u32",
            Helper::GetSmpProcessorId => "bpf_get_smp_processor_id",
            Helper::GetCurrentPidTgid => "bpf_get_current_pid_tgid",
            Helper::GetCurrentUidGid => "bpf_get_current_uid_gid",
            Helper::GetCurrentComm => "bpf_get_current_comm",
            Helper::PerfEventOutput => "bpf_perf_event_output",
            Helper::GetStackid => "bpf_get_stackid",
            Helper::GetCurrentTask => "bpf_get_current_task",
            Helper::GetNumaNodeId => "bpf_get_numa_node_id",
            Helper::ProbeReadStr => "bpf_probe_read_str",
            Helper::GetCurrentCgroupId => "bpf_get_current_cgroup_id",
            Helper::SendSignal => "bpf_send_signal",
            Helper::ProbeReadUser => "bpf_probe_read_user",
            Helper::ProbeReadKernel => "bpf_probe_read_kernel",
            Helper::ProbeReadUserStr => "bpf_probe_read_user_str",
            Helper::ProbeReadKernelStr => "bpf_probe_read_kernel_str",
            Helper::Jiffies64 => "bpf_jiffies64",
            Helper::KtimeGetBootNs => "bpf_ktime_get_boot_ns",
            Helper::RingbufOutput => "bpf_ringbuf_output",
            Helper::RingbufReserve => "bpf_ringbuf_reserve",
            Helper::RingbufSubmit => "bpf_ringbuf_submit",
            Helper::RingbufDiscard => "bpf_ringbuf_discard",
        }
    }
}

/// Instruction classes and modes (the low bits of `code`).
pub(crate) mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const ALU64: u8 = 0x07;
    pub const K: u8 = 0x00;
    pub const X: u8 = 0x08;
    pub const IMM: u8 = 0x00;
    pub const MEM: u8 = 0x60;
    pub const JA: u8 = 0x00;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    /// `src` of an ld_imm64 that loads a map by file descriptor.
    pub const PSEUDO_MAP_FD: u8 = 1;
}

/// One 8-byte instruction slot, as the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
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
}

/// A map referenced by an `ld_imm64` at `insn_index`: the ELF writer turns
/// it into a relocation against the map's symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRelocation {
    pub insn_index: usize,
    pub map: String,
}

/// Finished code: instructions, map references and a source span per slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Code {
    pub insns: Vec<Insn>,
    pub relocations: Vec<MapRelocation>,
    pub spans: Vec<Span>,
}

impl Code {
    pub fn to_bytes(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
}

#[derive(Default)]
pub struct Builder {
    code: Code,
    span: Span,
    /// Where each label is bound, once it is.
    labels: Vec<Option<usize>>,
    /// Jumps to patch: (instruction index, label).
    fixups: Vec<(usize, Label)>,
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
        self.labels[label.0 as usize] = Some(self.code.insns.len());
    }

    /// Every instruction emitted from now on comes from `span`.
    pub fn set_span(&mut self, span: Span) {
        self.span = span;
    }

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
            Operand::Reg(r) => (class::X, r.0, 0),
            Operand::Imm(i) => (class::K, 0, i),
        };
        // NEG takes no source operand.
        let (source, src_reg, imm) = if op == Alu::Neg { (class::K, 0, 0) } else { (source, src_reg, imm) };
        self.emit(Insn { code: class | source | op.code(), dst: dst.0, src: src_reg, off: 0, imm });
    }

    pub fn alu64(&mut self, op: Alu, dst: Reg, src: impl Into<Operand>) {
        self.alu(class::ALU64, op, dst, src.into());
    }

    /// 32-bit ALU operation; the result is zero-extended to 64 bits.
    pub fn alu32(&mut self, op: Alu, dst: Reg, src: impl Into<Operand>) {
        self.alu(class::ALU, op, dst, src.into());
    }

    pub fn mov64(&mut self, dst: Reg, src: impl Into<Operand>) {
        self.alu64(Alu::Mov, dst, src);
    }

    /// `dst = *(size *)(base + off)`
    pub fn load(&mut self, size: Size, dst: Reg, base: Reg, off: i16) {
        self.emit(Insn { code: class::LDX | class::MEM | size.code(), dst: dst.0, src: base.0, off, imm: 0 });
    }

    /// `*(size *)(base + off) = src`
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
        self.emit(Insn { code: class::LD | class::IMM | Size::DW.code(), dst: dst.0, src, off: 0, imm: imm as u32 as i32 });
        self.emit(Insn { code: 0, dst: 0, src: 0, off: 0, imm: (imm >> 32) as u32 as i32 });
    }

    /// `dst = map` (the loader patches in the map's file descriptor).
    pub fn load_map_fd(&mut self, dst: Reg, map: &str) {
        self.code.relocations.push(MapRelocation { insn_index: self.code.insns.len(), map: map.to_string() });
        self.ld_imm64(dst, class::PSEUDO_MAP_FD, 0);
    }

    pub fn jump(&mut self, target: Label) {
        self.fixups.push((self.code.insns.len(), target));
        self.emit(Insn { code: class::JMP | class::JA, dst: 0, src: 0, off: 0, imm: 0 });
    }

    /// `if dst COND src goto target`, comparing 64-bit values.
    pub fn jump_if(&mut self, cond: Cond, dst: Reg, src: impl Into<Operand>, target: Label) {
        let (source, src_reg, imm) = match src.into() {
            Operand::Reg(r) => (class::X, r.0, 0),
            Operand::Imm(i) => (class::K, 0, i),
        };
        self.fixups.push((self.code.insns.len(), target));
        self.emit(Insn { code: class::JMP | source | cond.code(), dst: dst.0, src: src_reg, off: 0, imm });
    }

    pub fn call(&mut self, helper: Helper) {
        self.emit(Insn { code: class::JMP | class::CALL, dst: 0, src: 0, off: 0, imm: helper as i32 });
    }

    pub fn exit(&mut self) {
        self.emit(Insn { code: class::JMP | class::EXIT, dst: 0, src: 0, off: 0, imm: 0 });
    }

    /// Resolves every jump's offset.
    pub fn finish(mut self) -> Result<Code, CodegenError> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0 as usize].ok_or(CodegenError::UnboundLabel)?;
            let offset = target as i64 - at as i64 - 1;
            self.code.insns[at].off = i16::try_from(offset).map_err(|_| CodegenError::JumpOutOfRange)?;
        }
        Ok(self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel() {
        let mut b = Builder::new();
        b.mov64(Reg::R6, Reg::R1); // bf 16
        b.load(Size::DW, Reg::R1, Reg::R6, 16); // 79 61 10 00
        b.store(Size::W, Reg::R10, -8, 7); // 62 0a f8 ff 07 00 00 00
        b.call(Helper::GetCurrentPidTgid); // 85 00 00 00 0e 00 00 00
        b.exit(); // 95
        let code = b.finish().unwrap();
        let bytes: Vec<[u8; 8]> = code.insns.iter().map(|i| i.to_bytes()).collect();
        assert_eq!(bytes[0], [0xbf, 0x16, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[1], [0x79, 0x61, 0x10, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[2], [0x62, 0x0a, 0xf8, 0xff, 7, 0, 0, 0]);
        assert_eq!(bytes[3], [0x85, 0, 0, 0, 14, 0, 0, 0]);
        assert_eq!(bytes[4], [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn resolves_forward_and_backward_jumps_across_wide_loads() {
        let mut b = Builder::new();
        let top = b.new_label();
        let end = b.new_label();
        b.bind(top);
        b.jump_if(Cond::Eq, Reg::R1, 0, end); // 0
        b.load_map_fd(Reg::R1, "m"); // 1, 2
        b.jump(top); // 3
        b.bind(end);
        b.exit(); // 4
        let code = b.finish().unwrap();
        assert_eq!(code.insns[0].off, 3);
        assert_eq!(code.insns[3].off, -4);
        assert_eq!(code.relocations, [MapRelocation { insn_index: 1, map: "m".into() }]);
        assert_eq!(code.spans.len(), code.insns.len());
    }

    #[test]
    fn unbound_label_is_an_error() {
        let mut b = Builder::new();
        let l = b.new_label();
        b.jump(l);
        assert!(matches!(b.finish(), Err(CodegenError::UnboundLabel)));
    }
}
