//! The builder: emits instructions with their source spans, then resolves
//! labels to jump offsets and drops unreachable code.

use rbpf_lang::Span;

use super::encoding::{class, Insn};
use super::helper::Helper;
use super::ops::{Alu, Cond, Operand, Reg, Size};
use crate::CodegenError;

/// A jump target, bound to an instruction position with [`Builder::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(u32);

/// A map referenced by an `ld_imm64` at `insn_index`: the ELF writer turns
/// it into a relocation against the map's symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRelocation {
    /// The first slot of the ld_imm64.
    pub insn_index: usize,
    /// The map's symbol name.
    pub map: String,
}

/// A function (a callback in `.text`) whose address an `ld_imm64` at
/// `insn_index` loads: the ELF writer turns it into a relocation against
/// the function's symbol, and the loader links the function in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncRelocation {
    /// The first slot of the ld_imm64.
    pub insn_index: usize,
    /// The function's symbol name.
    pub func: String,
}

/// Finished code: instructions, map and function references and a source
/// span per slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Code {
    /// The slots, jumps resolved.
    pub insns: Vec<Insn>,
    /// The ld_imm64s that load a map.
    pub relocations: Vec<MapRelocation>,
    /// The ld_imm64s that load a callback's address.
    pub func_relocations: Vec<FuncRelocation>,
    /// One per slot; the second slot of an ld_imm64 repeats the first's.
    pub spans: Vec<Span>,
}

impl Code {
    /// The instructions as the kernel reads them, 8 bytes a slot.
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
    /// With `-k`/`-kk`: report the helper calls that fail.
    helper_check: Option<HelperCheck>,
}

/// How [`Builder::call`] reports a failed helper call (bpftrace's `-k` and
/// `-kk`): when the helper returns a negative error, a
/// [`HELPER_ERROR`](crate::manifest::event::HELPER_ERROR) record with the
/// helper, the error and the call's source span goes to the ring buffer.
/// Without it, calls cost nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperCheck {
    /// Whether reads (`probe_read*`, `copy_from_user`) are checked too (`-kk`).
    pub reads: bool,
    /// A stack slot of [`HELPER_ERROR_SIZE`] bytes that nothing else uses,
    /// where the record is built.
    pub record: i16,
    /// The ring buffer's map symbol.
    pub ringbuf: String,
}

/// The size of a helper error record: the header (kind, helper id), the
/// error (i64) and the source span (start and end, u32 each).
pub const HELPER_ERROR_SIZE: u32 = 24;

impl HelperCheck {
    /// Whether a call of `helper` is checked: the helpers that return a
    /// negative error on failure (not those that return a pointer, a
    /// time or an id), reads only with `-kk`, as bpftrace does.
    pub fn covers(&self, helper: Helper) -> bool {
        use Helper as H;
        match helper {
            H::ProbeRead
            | H::ProbeReadStr
            | H::ProbeReadUser
            | H::ProbeReadKernel
            | H::ProbeReadUserStr
            | H::ProbeReadKernelStr
            | H::CopyFromUser
            | H::CopyFromUserTask => self.reads,
            H::MapUpdateElem
            | H::MapDeleteElem
            | H::MapPushElem
            | H::GetStackid
            | H::GetStack
            | H::GetTaskStack
            | H::ProbeWriteUser
            | H::SendSignal
            | H::SendSignalThread
            | H::OverrideReturn
            | H::DPath
            | H::PerfEventOutput
            | H::SkbOutput
            | H::PerfEventReadValue => true,
            _ => false,
        }
    }
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A label to jump to, bound later with [`Builder::bind`].
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

    /// Whether nothing was emitted yet.
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

    /// `dst = src`, 64 bits (an immediate is sign-extended).
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

    /// `goto target`.
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

    /// `if wDST COND src goto target`, comparing the low 32 bits (BPF_JMP32,
    /// Linux 5.1 and later).
    pub fn jump32_if(&mut self, cond: Cond, dst: Reg, src: impl Into<Operand>, target: Label) {
        let (source, src_reg, imm) = match src.into() {
            Operand::Reg(r) => (class::X, r.0, 0),
            Operand::Imm(i) => (class::K, 0, i),
        };
        self.fixups.push((self.code.insns.len(), target));
        self.emit(Insn { code: class::JMP32 | source | cond.code(), dst: dst.0, src: src_reg, off: 0, imm });
    }

    /// Calls a helper: arguments in r1-r5, result in r0; r1-r5 are
    /// clobbered (the verifier marks them unreadable), r6-r9 survive.
    /// With a [`HelperCheck`] that covers the helper, a failure is also
    /// reported (r0 is kept).
    pub fn call(&mut self, helper: Helper) {
        self.emit(Insn { code: class::JMP | class::CALL, dst: 0, src: 0, off: 0, imm: helper as i32 });
        if let Some(check) = self.helper_check.take() {
            if check.covers(helper) {
                self.report_failed_call(helper, &check);
            }
            self.helper_check = Some(check);
        }
    }

    /// Reports the failed calls of the helpers `check` covers from now on.
    pub fn check_helpers(&mut self, check: HelperCheck) {
        self.helper_check = Some(check);
    }

    /// `if r0 < 0 { record = {HELPER_ERROR, helper, r0, span}; output it }`:
    /// r1-r5 are dead after a call, and r0 comes back from the record.
    fn report_failed_call(&mut self, helper: Helper, check: &HelperCheck) {
        use crate::manifest::event;
        let ok = self.new_label();
        let at = |delta: i16| check.record + delta;
        if returns_int(helper) {
            // Before Linux 6.3 the verifier calls the map's own operation
            // for these helpers, which returns an int: r0 holds the error
            // zero-extended (-2 reads as 4294967294). Its low half is the
            // error on every kernel.
            self.jump32_if(Cond::Sge, Reg::R0, 0, ok);
            self.alu64(Alu::Lsh, Reg::R0, 32);
            self.alu64(Alu::Arsh, Reg::R0, 32);
        } else {
            self.jump_if(Cond::Sge, Reg::R0, 0, ok);
        }
        self.store(Size::W, Reg::R10, at(0), event::HELPER_ERROR as i32);
        self.store(Size::W, Reg::R10, at(4), helper as i32);
        self.store(Size::DW, Reg::R10, at(8), Reg::R0);
        self.store(Size::W, Reg::R10, at(16), self.span.start as i32);
        self.store(Size::W, Reg::R10, at(20), self.span.end as i32);
        self.load_map_fd(Reg::R1, &check.ringbuf);
        self.mov64(Reg::R2, Reg::R10);
        self.alu64(Alu::Add, Reg::R2, i32::from(check.record));
        self.mov64(Reg::R3, HELPER_ERROR_SIZE as i32);
        self.mov64(Reg::R4, 0);
        self.emit(Insn { code: class::JMP | class::CALL, dst: 0, src: 0, off: 0, imm: Helper::RingbufOutput as i32 });
        self.load(Size::DW, Reg::R0, Reg::R10, at(8));
        self.bind(ok);
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

/// Whether the kernel may run `helper` as the map's own operation, which
/// returned an int until Linux 6.3 ("bpf: return long from bpf_map_ops
/// funcs"): the helpers the verifier replaces by a direct call to the
/// map's `map_update_elem`, `map_delete_elem` or `map_push_elem`.
fn returns_int(helper: Helper) -> bool {
    matches!(helper, Helper::MapUpdateElem | Helper::MapDeleteElem | Helper::MapPushElem)
}
