//! Lowering of expressions: integers into registers (constants folded and
//! kept as immediates), conditions straight into conditional jumps, and
//! strings built in place in their destination slot.

use rbpf_lang::ast::{BinaryOp, UnaryOp};
use rbpf_lang::checked::{Builtin, Expr, ExprKind, LoadBits};
use rbpf_lang::target::{FieldKind, TracepointField};
use rbpf_lang::types::Type;
use rbpf_lang::Span;

use super::branch::constant_truth;
use super::frame::Slot;
use super::{ProgramGen, START_TIME_MAP};
use crate::insn::{Alu, Cond, Helper, Operand, Reg, Size};
use crate::CodegenError;


/// An integer value: in a callee-saved register, or a constant not yet
/// materialised (so it can be folded or used as an immediate operand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IntVal {
    Reg(Reg),
    Imm(i64),
}

/// A left operand waiting on the stack while the right one is computed.
pub(super) struct Spill {
    slot: Slot,
    /// The stack's mark before the slot: where it is freed.
    mark: u32,
}

/// A constant that fits a BPF instruction's 32-bit signed immediate.
pub(super) fn imm32(v: i64) -> Option<i32> {
    i32::try_from(v).ok()
}

impl ProgramGen<'_> {
    pub(super) fn alloc_reg(&mut self, span: Span) -> Result<Reg, CodegenError> {
        self.regs.alloc().ok_or(CodegenError::TooComplex { span })
    }

    pub(super) fn release_reg(&mut self, r: Reg) {
        self.regs.release(r);
    }

    pub(super) fn release(&mut self, v: IntVal) {
        if let IntVal::Reg(r) = v {
            self.release_reg(r);
        }
    }

    /// Puts a value in a register it owns (which takes the builder, so
    /// not `&self` as clippy expects of a `to_` method).
    #[allow(clippy::wrong_self_convention)]
    pub(super) fn to_reg(&mut self, v: IntVal, span: Span) -> Result<Reg, CodegenError> {
        match v {
            IntVal::Reg(r) => Ok(r),
            IntVal::Imm(c) => {
                let r = self.alloc_reg(span)?;
                self.load_const(r, c);
                Ok(r)
            }
        }
    }

    pub(super) fn load_const(&mut self, r: Reg, c: i64) {
        match imm32(c) {
            Some(i) => self.b.mov64(r, i),
            None => self.b.load_imm64(r, c as u64),
        }
    }

    /// An operand for an ALU or jump instruction: an immediate when it fits.
    pub(super) fn operand(&mut self, v: IntVal, span: Span) -> Result<(Operand, Option<Reg>), CodegenError> {
        match v {
            IntVal::Imm(c) if imm32(c).is_some() => Ok((Operand::Imm(c as i32), None)),
            other => {
                let r = self.to_reg(other, span)?;
                Ok((Operand::Reg(r), Some(r)))
            }
        }
    }

    /// Evaluates an integer expression.
    pub(super) fn int(&mut self, e: &Expr) -> Result<IntVal, CodegenError> {
        self.b.set_span(e.span);
        match &e.kind {
            ExprKind::Int(v) => Ok(IntVal::Imm(*v as i64)),
            ExprKind::Builtin(b) => self.builtin(*b, e.span).map(IntVal::Reg),
            ExprKind::TracepointField(f) => {
                let r = self.alloc_reg(e.span)?;
                self.load_field(r, f);
                Ok(IntVal::Reg(r))
            }
            ExprKind::Var(id) => {
                let r = self.alloc_reg(e.span)?;
                match self.scratch_offset(*id) {
                    Some(off) => {
                        self.scratch_base(r);
                        self.b.load(Size::DW, r, r, off);
                    }
                    None => self.b.load(Size::DW, r, Reg::R10, self.vars[id.0].off),
                }
                Ok(IntVal::Reg(r))
            }
            ExprKind::MapRead { map, keys } if self.layout.map(*map).percpu => self.aggregation_read(*map, keys, e.span),
            ExprKind::MapRead { map, keys } | ExprKind::HasKey { map, keys } => {
                self.lookup_keys(*map, keys, e.span)?;
                let r = self.alloc_reg(e.span)?;
                // A key that is not there reads as zero, as in bpftrace.
                let missing = self.b.new_label();
                self.b.mov64(r, 0);
                self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
                if matches!(e.kind, ExprKind::HasKey { .. }) {
                    self.b.mov64(r, 1);
                } else {
                    self.b.load(Size::DW, r, Reg::R0, 0);
                }
                self.b.bind(missing);
                Ok(IntVal::Reg(r))
            }
            ExprKind::Unary { op, expr } => self.unary(*op, expr, e),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e),
            ExprKind::StrEq { .. } => self.bool_value(e),
            ExprKind::Retype(inner) => self.int(inner),
            ExprKind::Ntop { .. } => Err(CodegenError::Unlowerable { what: "inet address".into(), span: e.span }),
            ExprKind::Call { function, args } => self.call(function, args, e),
            ExprKind::Arg(n) => {
                let r = self.alloc_reg(e.span)?;
                self.b.load(Size::DW, r, Reg::R6, pt_regs::ARGS[usize::from(*n)]);
                Ok(IntVal::Reg(r))
            }
            ExprKind::UsdtArg(arg) => self.usdt_arg(arg, e.span),
            ExprKind::Retval => {
                let r = self.alloc_reg(e.span)?;
                self.b.load(Size::DW, r, Reg::R6, pt_regs::RETVAL);
                Ok(IntVal::Reg(r))
            }
            ExprKind::FuncIp => {
                // The function's entry address, for entries and returns alike.
                self.b.mov64(Reg::R1, Reg::R6);
                self.b.call(Helper::GetFuncIp);
                let r = self.alloc_reg(e.span)?;
                self.b.mov64(r, Reg::R0);
                Ok(IntVal::Reg(r))
            }
            ExprKind::VarIncDec { var, delta, prefix } => {
                let (base, off) = match self.scratch_offset(*var) {
                    Some(off) => {
                        self.scratch_base(Reg::R1);
                        (Reg::R1, off)
                    }
                    None => (Reg::R10, self.vars[var.0].off),
                };
                let r = self.alloc_reg(e.span)?;
                self.b.load(Size::DW, r, base, off);
                self.b.mov64(Reg::R0, r);
                self.b.alu64(Alu::Add, Reg::R0, *delta as i32);
                // The variable keeps its type: (uint8)255 + 1 wraps to 0,
                // as in bpftrace.
                self.fit_to_width(Reg::R0, &e.ty);
                self.b.store(Size::DW, base, off, Reg::R0);
                if *prefix {
                    self.b.mov64(r, Reg::R0);
                }
                Ok(IntVal::Reg(r))
            }
            ExprKind::MapIncDec { map, keys, delta, prefix } => {
                let mark = self.stack.mark();
                let key = self.map_key(*map, keys, e.span)?;
                let value = self.alloc(8, e.span)?;
                let r = self.alloc_reg(e.span)?;
                self.lookup(*map, key);
                let (missing, done) = (self.b.new_label(), self.b.new_label());
                self.b.mov64(r, 0);
                self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
                // An existing entry changes in place.
                self.b.load(Size::DW, r, Reg::R0, 0);
                self.b.mov64(Reg::R1, r);
                self.b.alu64(Alu::Add, Reg::R1, *delta as i32);
                self.b.store(Size::DW, Reg::R0, 0, Reg::R1);
                self.b.jump(done);
                self.b.bind(missing);
                self.b.store(Size::DW, Reg::R10, value.off, *delta as i32);
                self.update(*map, key, value);
                self.b.bind(done);
                if *prefix {
                    self.b.alu64(Alu::Add, r, *delta as i32);
                }
                self.stack.reset(mark);
                Ok(IntVal::Reg(r))
            }
            ExprKind::Ternary { cond, then, else_ } => {
                if let Some(c) = constant_truth(cond) {
                    return self.int(if c { then } else { else_ });
                }
                // The result's register is taken by the first branch's value
                // and given back for the second, which ends in it too: the
                // branches run one at a time, so neither holds it while the
                // condition or the other is evaluated.
                let (otherwise, done) = (self.b.new_label(), self.b.new_label());
                self.branch_unless(cond, otherwise)?;
                let v = self.int(then)?;
                let r = self.to_reg(v, then.span)?;
                self.b.jump(done);
                self.b.bind(otherwise);
                self.release_reg(r);
                match self.int(else_)? {
                    IntVal::Imm(c) => {
                        self.regs.take(r);
                        self.load_const(r, c);
                    }
                    IntVal::Reg(x) if x == r => {}
                    IntVal::Reg(x) => {
                        self.regs.take(r);
                        self.b.mov64(r, x);
                        self.release_reg(x);
                    }
                }
                self.b.bind(done);
                Ok(IntVal::Reg(r))
            }
            ExprKind::Cast(inner) => {
                let Type::Int { bits, signed } = e.ty else {
                    return self.int(inner);
                };
                // The bits that survive are the narrower of the two widths;
                // they are extended as the cast's type says, as bpftrace does:
                // `(uint64)(int8)-6` is 250, `(int64)(uint8)250` is -6.
                let from = match inner.ty {
                    Type::Int { bits: from, .. } => from,
                    _ => 64,
                };
                let kept = Type::Int { bits: bits.min(from), signed };
                let v = self.int(inner)?;
                if bits.min(from) == 64 {
                    return Ok(v);
                }
                if let IntVal::Imm(c) = v {
                    return Ok(IntVal::Imm(fit_const(c, &kept)));
                }
                let r = self.to_reg(v, e.span)?;
                self.b.set_span(e.span);
                self.fit_to_width(r, &kept);
                Ok(IntVal::Reg(r))
            }
            ExprKind::Load { addr, user, size, bitfield } => self.load(addr, *user, *size, *bitfield, e),
            ExprKind::MapLen(map) => self.map_len(*map, e.span),
            ExprKind::TupleIndex { .. } => self.tuple_element_int(e).map(IntVal::Reg),
            ExprKind::Member { size, bitfield, .. } => self.member_int(e, *size, *bitfield).map(IntVal::Reg),
            ExprKind::Str(_) | ExprKind::ProbeByCookie(_) | ExprKind::StrRead { .. } | ExprKind::StrPrefix { .. } | ExprKind::BufRead { .. } => {
                unreachable!("the checker gives strings and buffers their own types")
            }
            ExprKind::Tuple(_) => unreachable!("the checker gives tuples a tuple type"),
            ExprKind::Record(_) => unreachable!("the checker gives records a struct type"),
        }
    }

    /// r0 = the value of `map[keys]` or NULL; the key's stack slot is free
    /// again afterwards (the value pointer does not point into it).
    pub(super) fn lookup_keys(&mut self, map: rbpf_lang::checked::MapId, keys: &[Expr], span: Span) -> Result<(), CodegenError> {
        let mark = self.stack.mark();
        let key = self.map_key(map, keys, span)?;
        self.lookup(map, key);
        self.stack.reset(mark);
        Ok(())
    }

    /// The value of a per-CPU aggregation, combined over every CPU's slot
    /// (bpf_map_lookup_percpu_elem) as the runtime combines it to print:
    /// count and sum add up, avg divides the sums, min and max pick among
    /// the CPUs that saw a value. A missing key reads as zero.
    fn aggregation_read(&mut self, map: rbpf_lang::checked::MapId, keys: &[Expr], span: Span) -> Result<IntVal, CodegenError> {
        let mark = self.stack.mark();
        let key = self.map_key(map, keys, span)?;
        let v = self.aggregation_read_at(map, key, span);
        self.stack.reset(mark);
        v
    }

    /// [`Self::aggregation_read`] of the key built in `key`.
    pub(super) fn aggregation_read_at(
        &mut self,
        map: rbpf_lang::checked::MapId,
        key: Slot,
        span: Span,
    ) -> Result<IntVal, CodegenError> {
        use crate::manifest::MapValue;
        let info = self.layout.map(map).clone();
        let mark = self.stack.mark();
        // Loop state on the stack: cpu, acc (sum / best), count (avg) or
        // have (min, max).
        let state = self.alloc(24, span)?;
        for at in [0, 8, 16] {
            self.b.store(Size::DW, Reg::R10, state.at(at), 0);
        }
        let (top, done) = (self.b.new_label(), self.b.new_label());
        self.b.bind(top);
        self.map_fd(Reg::R1, &info.bpf_name);
        self.slot_address(Reg::R2, key);
        self.b.load(Size::DW, Reg::R3, Reg::R10, state.at(0));
        self.b.call(Helper::MapLookupPercpuElem);
        self.b.jump_if(Cond::Eq, Reg::R0, 0, done);
        self.b.load(Size::DW, Reg::R1, Reg::R0, 0);
        self.b.load(Size::DW, Reg::R2, Reg::R10, state.at(8));
        match info.value {
            MapValue::Min { signed } | MapValue::Max { signed } => {
                let next = self.b.new_label();
                let take = self.b.new_label();
                self.b.load(Size::DW, Reg::R3, Reg::R0, 8);
                self.b.jump_if(Cond::Eq, Reg::R3, 0, next);
                self.b.load(Size::DW, Reg::R3, Reg::R10, state.at(16));
                self.b.jump_if(Cond::Eq, Reg::R3, 0, take);
                let is_min = matches!(info.value, MapValue::Min { .. });
                let keep = match (is_min, signed) {
                    (true, true) => Cond::Sle,
                    (true, false) => Cond::Le,
                    (false, true) => Cond::Sge,
                    (false, false) => Cond::Ge,
                };
                self.b.jump_if(keep, Reg::R2, Reg::R1, next);
                self.b.bind(take);
                self.b.store(Size::DW, Reg::R10, state.at(8), Reg::R1);
                self.b.store(Size::DW, Reg::R10, state.at(16), 1);
                self.b.bind(next);
            }
            MapValue::Avg { .. } => {
                self.b.alu64(Alu::Add, Reg::R2, Reg::R1);
                self.b.store(Size::DW, Reg::R10, state.at(8), Reg::R2);
                self.b.load(Size::DW, Reg::R1, Reg::R0, 8);
                self.b.load(Size::DW, Reg::R2, Reg::R10, state.at(16));
                self.b.alu64(Alu::Add, Reg::R2, Reg::R1);
                self.b.store(Size::DW, Reg::R10, state.at(16), Reg::R2);
            }
            _ => {
                self.b.alu64(Alu::Add, Reg::R2, Reg::R1);
                self.b.store(Size::DW, Reg::R10, state.at(8), Reg::R2);
            }
        }
        self.b.load(Size::DW, Reg::R1, Reg::R10, state.at(0));
        self.b.alu64(Alu::Add, Reg::R1, 1);
        self.b.store(Size::DW, Reg::R10, state.at(0), Reg::R1);
        self.b.jump_if(Cond::Lt, Reg::R1, self.ncpus as i32, top);
        self.b.bind(done);
        let r = self.alloc_reg(span)?;
        self.b.load(Size::DW, r, Reg::R10, state.at(8));
        if let MapValue::Avg { signed } = info.value {
            let zero = self.b.new_label();
            self.b.load(Size::DW, Reg::R1, Reg::R10, state.at(16));
            self.b.jump_if(Cond::Eq, Reg::R1, 0, zero);
            // Truncating towards zero, as the runtime prints it; signed
            // division by hand, since sdiv needs kernel 6.6.
            if signed {
                let positive = self.b.new_label();
                self.b.jump_if(Cond::Sge, r, 0, positive);
                self.b.alu64(Alu::Neg, r, 0);
                self.b.alu64(Alu::Div, r, Reg::R1);
                self.b.alu64(Alu::Neg, r, 0);
                self.b.jump(zero);
                self.b.bind(positive);
            }
            self.b.alu64(Alu::Div, r, Reg::R1);
            self.b.bind(zero);
        }
        self.stack.reset(mark);
        Ok(IntVal::Reg(r))
    }

    fn builtin(&mut self, b: Builtin, span: Span) -> Result<Reg, CodegenError> {
        self.builtin_in_r0(b);
        let r = self.alloc_reg(span)?;
        self.b.mov64(r, Reg::R0);
        if b == Builtin::Elapsed {
            let mark = self.stack.mark();
            let key = self.alloc(8, span)?;
            self.b.store(Size::DW, Reg::R10, key.off, 0);
            self.map_fd(Reg::R1, START_TIME_MAP);
            self.slot_address(Reg::R2, key);
            self.b.call(Helper::MapLookupElem);
            let done = self.b.new_label();
            self.b.jump_if(Cond::Eq, Reg::R0, 0, done);
            self.b.load(Size::DW, Reg::R1, Reg::R0, 0);
            self.b.alu64(Alu::Sub, r, Reg::R1);
            self.b.bind(done);
            self.stack.reset(mark);
        }
        Ok(r)
    }

    /// r0 = the helper's value of a builtin (for `elapsed`, the clock
    /// before the start time is taken off).
    pub(super) fn builtin_in_r0(&mut self, b: Builtin) {
        let helper = match b {
            Builtin::Pid | Builtin::Tid => Helper::GetCurrentPidTgid,
            Builtin::Uid | Builtin::Gid => Helper::GetCurrentUidGid,
            Builtin::Nsecs | Builtin::Elapsed => Helper::KtimeGetNs,
            Builtin::Cpu => Helper::GetSmpProcessorId,
            Builtin::Rand => Helper::GetPrandomU32,
            Builtin::Cgroup => Helper::GetCurrentCgroupId,
            Builtin::CurTask => Helper::GetCurrentTask,
            Builtin::Jiffies => Helper::Jiffies64,
            Builtin::NumaId => Helper::GetNumaNodeId,
            Builtin::Comm => unreachable!("comm is a string"),
        };
        self.b.call(helper);
        match b {
            // The upper half: tgid (the process id) or gid.
            Builtin::Pid | Builtin::Gid => self.b.alu64(Alu::Rsh, Reg::R0, 32),
            // The lower half: a 32-bit move zero-extends.
            Builtin::Tid | Builtin::Uid => self.b.alu32(Alu::Mov, Reg::R0, Reg::R0),
            _ => {}
        }
    }

    /// Reads `size` bytes at `addr` into a stack slot through the helper of
    /// its address space and loads them as the integer (or bit field) `e`
    /// is: one helper call of exactly the field's size, as hand-written C
    /// does. A failed read leaves zeroes (both helpers clear the buffer).
    fn load(&mut self, addr: &Expr, user: bool, size: u32, bits: Option<LoadBits>, e: &Expr) -> Result<IntVal, CodegenError> {
        let mark = self.stack.mark();
        let v = self.int(addr)?;
        let slot = self.alloc(8, e.span)?;
        self.b.set_span(e.span);
        self.memory_read(v, user, slot.off, size);
        let r = self.alloc_reg(e.span)?;
        let width = Size::from_bytes(size as usize).unwrap_or(Size::DW);
        self.b.load(width, r, Reg::R10, slot.off);
        self.narrow_loaded(r, size, bits, &e.ty);
        self.stack.reset(mark);
        Ok(IntVal::Reg(r))
    }

    /// Calls the probe-read helper of the address space to copy `size`
    /// bytes from the address `v` to the stack at `dst`; frees `v`.
    pub(super) fn memory_read(&mut self, v: IntVal, user: bool, dst: i16, size: u32) {
        match v {
            IntVal::Imm(c) => self.load_const(Reg::R3, c),
            IntVal::Reg(r) => {
                self.b.mov64(Reg::R3, r);
                self.release_reg(r);
            }
        }
        self.b.mov64(Reg::R1, Reg::R10);
        self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
        self.b.mov64(Reg::R2, size as i32);
        self.b.call(if user { Helper::ProbeReadUser } else { Helper::ProbeReadKernel });
    }

    /// Loads an integer or pointer field of the tracepoint record (r6).
    pub(super) fn load_field(&mut self, r: Reg, f: &TracepointField) {
        let size = Size::from_bytes(f.size as usize).unwrap_or(Size::DW);
        self.b.load(size, r, Reg::R6, f.offset as i16);
        if self.iterator && f.size == 8 {
            // An iterator's object pointers may be NULL, and the verifier
            // allows no arithmetic on such a pointer (a member's address)
            // until it is tested: tested here, both ways going on.
            let tested = self.b.new_label();
            self.b.jump_if(Cond::Eq, r, 0, tested);
            self.b.bind(tested);
        }
        if f.signed && f.size < 8 && f.kind == FieldKind::Int {
            let shift = 64 - 8 * f.size as i32;
            self.b.alu64(Alu::Lsh, r, shift);
            self.b.alu64(Alu::Arsh, r, shift);
        }
    }

    fn unary(&mut self, op: UnaryOp, inner: &Expr, e: &Expr) -> Result<IntVal, CodegenError> {
        if op == UnaryOp::Not {
            return self.bool_value(e);
        }
        let v = self.int(inner)?;
        if let IntVal::Imm(c) = v {
            let c = match op {
                UnaryOp::Neg => c.wrapping_neg(),
                _ => !c,
            };
            return Ok(IntVal::Imm(fit_const(c, &e.ty)));
        }
        let r = self.to_reg(v, e.span)?;
        match op {
            UnaryOp::Neg => self.b.alu64(Alu::Neg, r, 0),
            _ => self.b.alu64(Alu::Xor, r, -1),
        }
        // A narrow result keeps its width: truncated, then extended as
        // its type's signedness says.
        self.fit_to_width(r, &e.ty);
        Ok(IntVal::Reg(r))
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, e: &Expr) -> Result<IntVal, CodegenError> {
        if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
            return self.bool_value(e);
        }
        let a = self.int(lhs)?;
        let spill = self.spill_if_needed(a, rhs, e.span)?;
        let b = self.int(rhs)?;
        self.b.set_span(e.span);
        if let (IntVal::Imm(x), IntVal::Imm(y)) = (a, b) {
            return Ok(IntVal::Imm(fold(op, x, y)));
        }
        let (dst, src) = match (spill, a, b) {
            (Some(spill), _, _) => {
                // r0 is free here: no helper call happens in between.
                let rb = self.to_reg(b, e.span)?;
                self.reload(spill, Reg::R0);
                self.arith(op, Reg::R0, Operand::Reg(rb));
                self.b.mov64(rb, Reg::R0);
                return Ok(IntVal::Reg(rb));
            }
            (None, IntVal::Imm(c), IntVal::Reg(rb)) if self.regs.available() == 0 => {
                // A constant on the left with no register left for it: r0.
                self.load_const(Reg::R0, c);
                self.arith(op, Reg::R0, Operand::Reg(rb));
                self.b.mov64(rb, Reg::R0);
                return Ok(IntVal::Reg(rb));
            }
            (None, _, _) => {
                let ra = self.to_reg(a, e.span)?;
                (ra, b)
            }
        };
        let (operand, owned) = self.operand(src, e.span)?;
        self.arith(op, dst, operand);
        if let Some(r) = owned {
            self.release_reg(r);
        }
        Ok(IntVal::Reg(dst))
    }

    /// When the right operand needs more registers than are left, the left
    /// one waits on the stack while the right one is computed; the caller
    /// reloads it into r0. So any depth of nesting compiles, and an
    /// expression that fits keeps its values in registers.
    /// The slot is free again once reloaded ([`Spill::reload`]).
    pub(super) fn spill_if_needed(&mut self, v: IntVal, rhs: &Expr, span: Span) -> Result<Option<Spill>, CodegenError> {
        match v {
            IntVal::Reg(r) if self.regs.available() < super::pressure::needed(rhs) => {
                let mark = self.stack.mark();
                let slot = self.alloc(8, span)?;
                self.b.store(Size::DW, Reg::R10, slot.off, r);
                self.release_reg(r);
                Ok(Some(Spill { slot, mark }))
            }
            _ => Ok(None),
        }
    }

    /// Truncates `r` to the width of the integer type `ty` and extends it
    /// back to 64 bits as its signedness says (a cast, or a narrow
    /// variable's wrap). Nothing for 64-bit integers and other types.
    fn fit_to_width(&mut self, r: Reg, ty: &Type) {
        let Type::Int { bits: bits @ (8 | 16 | 32), signed } = *ty else { return };
        let shift = 64 - i32::from(bits);
        match (bits, signed) {
            (32, false) => self.b.alu32(Alu::Mov, r, r),
            (_, false) => self.b.alu64(Alu::And, r, ((1u32 << bits) - 1) as i32),
            (_, true) => {
                self.b.alu64(Alu::Lsh, r, shift);
                self.b.alu64(Alu::Arsh, r, shift);
            }
        }
    }

    /// Loads a spilled value into `dst` and frees its slot: whatever the
    /// right operand put on the stack was freed when it was computed.
    pub(super) fn reload(&mut self, spill: Spill, dst: Reg) {
        self.b.load(Size::DW, dst, Reg::R10, spill.slot.off);
        self.stack.reset(spill.mark);
    }

    /// `dst op= src` with bpftrace's semantics ([`fold`] computes the same):
    /// division and modulo by zero give 0, and so does a shift by 64 or
    /// more (a negative amount is one, as an unsigned number). BPF's own
    /// instructions differ — `x % 0` is `x`, the x86 JIT masks a shift
    /// amount to 6 bits — and the verifier refuses a shift or division
    /// by an amount it knows is out of range, so those cases never reach
    /// the instruction.
    fn arith(&mut self, op: BinaryOp, dst: Reg, src: Operand) {
        let out_of_range = match op {
            BinaryOp::Div | BinaryOp::Mod => Some((Cond::Eq, 0)),
            BinaryOp::Shl | BinaryOp::Shr => Some((Cond::Ge, 64)),
            _ => None,
        };
        let Some((cond, limit)) = out_of_range else {
            return self.plain_arith(op, dst, src);
        };
        match src {
            // A negative amount is out of range too: unsigned, it is huge.
            Operand::Imm(i) if (i64::from(i) as u64) >= limit as u64 && (cond == Cond::Ge || i == 0) => {
                self.b.mov64(dst, 0)
            }
            Operand::Imm(_) => self.plain_arith(op, dst, src),
            // x / 0 is already 0 in BPF.
            Operand::Reg(_) if op == BinaryOp::Div => self.plain_arith(op, dst, src),
            Operand::Reg(r) => {
                let (zero, done) = (self.b.new_label(), self.b.new_label());
                self.b.jump_if(cond, r, limit, zero);
                self.plain_arith(op, dst, src);
                self.b.jump(done);
                self.b.bind(zero);
                self.b.mov64(dst, 0);
                self.b.bind(done);
            }
        }
    }

    /// `dst op= src` as one instruction.
    fn plain_arith(&mut self, op: BinaryOp, dst: Reg, src: Operand) {
        let alu = match op {
            BinaryOp::Add => Alu::Add,
            BinaryOp::Sub => Alu::Sub,
            BinaryOp::Mul => Alu::Mul,
            // bpftrace divides as unsigned even when both operands are
            // signed (it warns that this is undefined); so do we.
            BinaryOp::Div => Alu::Div,
            BinaryOp::Mod => Alu::Mod,
            BinaryOp::BitAnd => Alu::And,
            BinaryOp::BitOr => Alu::Or,
            BinaryOp::BitXor => Alu::Xor,
            BinaryOp::Shl => Alu::Lsh,
            // bpftrace shifts right logically, also a negative number
            // (0.17: `-64 >> 2` is 4611686018427387888).
            BinaryOp::Shr => Alu::Rsh,
            _ => unreachable!("comparisons are lowered as conditions"),
        };
        self.b.alu64(alu, dst, src);
    }

}

/// Constant folding with the semantics of the generated code
/// ([`ProgramGen::arith`]): unsigned division and logical right shifts as
/// bpftrace; `x / 0`, `x % 0` and shifts by 64 or more (as unsigned
/// numbers) are 0, as in bpftrace.
fn fold(op: BinaryOp, x: i64, y: i64) -> i64 {
    let (ux, uy) = (x as u64, y as u64);
    match op {
        BinaryOp::Add => x.wrapping_add(y),
        BinaryOp::Sub => x.wrapping_sub(y),
        BinaryOp::Mul => x.wrapping_mul(y),
        BinaryOp::Div | BinaryOp::Mod if y == 0 => 0,
        BinaryOp::Div => (ux / uy) as i64,
        BinaryOp::Mod => (ux % uy) as i64,
        BinaryOp::BitAnd => x & y,
        BinaryOp::BitOr => x | y,
        BinaryOp::BitXor => x ^ y,
        BinaryOp::Shl | BinaryOp::Shr if uy >= 64 => 0,
        BinaryOp::Shl => (ux << uy) as i64,
        BinaryOp::Shr => (ux >> uy) as i64,
        _ => unreachable!("comparisons fold through constant_truth"),
    }
}

/// Offsets in x86-64's `struct pt_regs`, the context of probes on functions.
pub(super) mod pt_regs {
    /// The integer arguments of the System V calling convention: rdi, rsi,
    /// rdx, rcx, r8, r9.
    pub const ARGS: [i16; 6] = [112, 104, 96, 88, 72, 64];
    /// rax.
    pub const RETVAL: i16 = 80;
}

/// `c` truncated to the width of `ty` and extended as its signedness says:
/// the value `fit_to_width` leaves in a register.
fn fit_const(c: i64, ty: &Type) -> i64 {
    match *ty {
        Type::Int { bits: bits @ (8 | 16 | 32), signed } => {
            let shift = 64 - u32::from(bits);
            if signed {
                (c << shift) >> shift
            } else {
                ((c as u64) << shift >> shift) as i64
            }
        }
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_follows_bpftrace() {
        use BinaryOp::*;
        // (op, x, y, bpftrace's result)
        let cases = [
            (Div, 7, 0, 0),
            (Mod, 7, 0, 0),
            (Mod, -7, 0, 0),
            (Div, -17, 5, 3689348814741910319),
            (Mod, 17, 5, 2),
            (Shl, 1, 63, i64::MIN),
            (Shl, 1, 64, 0),
            (Shl, 1, 65, 0),
            (Shl, 1, -1, 0),
            (Shr, -8, 64, 0),
            (Shr, -64, 2, 0x3ffffffffffffff0),
            (Shr, 5, 100, 0),
            (Add, i64::MAX, 1, i64::MIN),
        ];
        for (op, x, y, want) in cases {
            assert_eq!(fold(op, x, y), want, "{x} {op:?} {y}");
        }
    }
}
