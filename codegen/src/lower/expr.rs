//! Lowering of expressions: integers into registers (constants folded and
//! kept as immediates), conditions straight into conditional jumps, and
//! strings built in place in their destination slot.

use rbpf_lang::ast::{BinaryOp, UnaryOp};
use rbpf_lang::checked::{Builtin, Expr, ExprKind};
use rbpf_lang::target::{FieldKind, TracepointField};
use rbpf_lang::types::Type;
use rbpf_lang::Span;

use super::frame::Slot;
use super::{ProgramGen, START_TIME_MAP};
use crate::insn::{Alu, Cond, Helper, Label, Operand, Reg, Size};
use crate::CodegenError;

/// The evaluated operands of a `str()` read ([`ProgramGen::str_read_operands`]).
pub(super) struct StrReadOperands {
    span: Span,
    helper: Helper,
    /// The address, in a callee-saved register.
    ptr: Reg,
    /// The length limit, in a callee-saved register.
    len: Option<Reg>,
    /// The most bytes to read, with the NUL.
    capacity: u32,
}

/// An integer value: in a callee-saved register, or a constant not yet
/// materialised (so it can be folded or used as an immediate operand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IntVal {
    Reg(Reg),
    Imm(i64),
}

/// A left operand waiting on the stack while the right one is computed.
struct Spill {
    slot: Slot,
    /// The stack's mark before the slot: where it is freed.
    mark: u32,
}

/// A constant that fits a BPF instruction's 32-bit signed immediate.
fn imm32(v: i64) -> Option<i32> {
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

    /// Puts a value in a register it owns.
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
    fn operand(&mut self, v: IntVal, span: Span) -> Result<(Operand, Option<Reg>), CodegenError> {
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
                let v = self.int(inner)?;
                if bits == 64 {
                    return Ok(v);
                }
                let shift = 64 - u32::from(bits);
                if let IntVal::Imm(c) = v {
                    let c = if signed { (c << shift) >> shift } else { ((c as u64) << shift >> shift) as i64 };
                    return Ok(IntVal::Imm(c));
                }
                let r = self.to_reg(v, e.span)?;
                self.b.set_span(e.span);
                self.fit_to_width(r, &e.ty);
                Ok(IntVal::Reg(r))
            }
            ExprKind::MapLen(map) => self.map_len(*map, e.span),
            ExprKind::TupleIndex { .. } => self.tuple_element_int(e).map(IntVal::Reg),
            ExprKind::Str(_) | ExprKind::StrRead { .. } | ExprKind::StrPrefix { .. } | ExprKind::BufRead { .. } => {
                unreachable!("the checker gives strings and buffers their own types")
            }
            ExprKind::Tuple(_) => unreachable!("the checker gives tuples a tuple type"),
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
    fn builtin_in_r0(&mut self, b: Builtin) {
        let helper = match b {
            Builtin::Pid | Builtin::Tid => Helper::GetCurrentPidTgid,
            Builtin::Uid | Builtin::Gid => Helper::GetCurrentUidGid,
            Builtin::Nsecs | Builtin::Elapsed => Helper::KtimeGetNs,
            Builtin::Cpu => Helper::GetSmpProcessorId,
            Builtin::Rand => Helper::GetPrandomU32,
            Builtin::Cgroup => Helper::GetCurrentCgroupId,
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

    /// Loads an integer or pointer field of the tracepoint record (r6).
    fn load_field(&mut self, r: Reg, f: &TracepointField) {
        let size = Size::from_bytes(f.size as usize).unwrap_or(Size::DW);
        self.b.load(size, r, Reg::R6, f.offset as i16);
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
            return Ok(IntVal::Imm(match op {
                UnaryOp::Neg => c.wrapping_neg(),
                _ => !c,
            }));
        }
        let r = self.to_reg(v, e.span)?;
        match op {
            UnaryOp::Neg => self.b.alu64(Alu::Neg, r, 0),
            _ => self.b.alu64(Alu::Xor, r, -1),
        }
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
    fn spill_if_needed(&mut self, v: IntVal, rhs: &Expr, span: Span) -> Result<Option<Spill>, CodegenError> {
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
    fn reload(&mut self, spill: Spill, dst: Reg) {
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

    /// A condition used as a value: 1 or 0.
    fn bool_value(&mut self, e: &Expr) -> Result<IntVal, CodegenError> {
        if let Some(c) = constant_truth(e) {
            return Ok(IntVal::Imm(i64::from(c)));
        }
        let otherwise = self.b.new_label();
        self.branch_unless(e, otherwise)?;
        let r = self.alloc_reg(e.span)?;
        let done = self.b.new_label();
        self.b.mov64(r, 1);
        self.b.jump(done);
        self.b.bind(otherwise);
        self.b.mov64(r, 0);
        self.b.bind(done);
        Ok(IntVal::Reg(r))
    }

    /// Jumps to `target` when `cond` is false (zero).
    pub(super) fn branch_unless(&mut self, cond: &Expr, target: Label) -> Result<(), CodegenError> {
        self.branch(cond, false, target)
    }

    /// Jumps to `target` when `cond`'s truth equals `when`. Comparisons
    /// become one conditional jump; `&&`, `||` and `!` short-circuit.
    fn branch(&mut self, cond: &Expr, when: bool, target: Label) -> Result<(), CodegenError> {
        self.b.set_span(cond.span);
        if let Some(c) = constant_truth(cond) {
            if c == when {
                self.b.jump(target);
            }
            return Ok(());
        }
        match &cond.kind {
            ExprKind::Unary { op: UnaryOp::Not, expr } => self.branch(expr, !when, target),
            ExprKind::StrEq { lhs, rhs, ne } => self.branch_str_eq(lhs, rhs, *ne, when, target, cond.span),
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
                // `a && b` is false as soon as `a` is; `a || b` true as soon as `a` is.
                let decisive = *op == BinaryOp::Or;
                if decisive == when {
                    self.branch(lhs, when, target)?;
                    self.branch(rhs, when, target)
                } else {
                    let skip = self.b.new_label();
                    self.branch(lhs, !when, skip)?;
                    self.branch(rhs, when, target)?;
                    self.b.bind(skip);
                    Ok(())
                }
            }
            ExprKind::Binary { op, lhs, rhs } if op.is_comparison() => {
                let signed = lhs.ty.is_signed() && rhs.ty.is_signed();
                let mut c = compare(*op, signed);
                if !when {
                    c = c.negate();
                }
                // `pid == 1` and the like: compared where the helper left
                // it, in r0, with no register to keep it in (a predicate
                // that filters everything out is then as short as C's).
                let builtin_and_constant = match (&lhs.kind, &rhs.kind) {
                    (ExprKind::Builtin(b), ExprKind::Int(v)) => Some((*b, *v as i64, c)),
                    (ExprKind::Int(v), ExprKind::Builtin(b)) => Some((*b, *v as i64, mirror(c))),
                    _ => None,
                };
                if let Some((b, v, c)) = builtin_and_constant {
                    if let (Some(imm), false) = (imm32(v), matches!(b, Builtin::Elapsed | Builtin::Comm)) {
                        self.builtin_in_r0(b);
                        self.b.set_span(cond.span);
                        self.b.jump_if(c, Reg::R0, imm, target);
                        return Ok(());
                    }
                }
                let a = self.int(lhs)?;
                let spill = self.spill_if_needed(a, rhs, cond.span)?;
                let b = self.int(rhs)?;
                self.b.set_span(cond.span);
                if let Some(spill) = spill {
                    // r0 is free: no helper call happens in between.
                    let rb = self.to_reg(b, cond.span)?;
                    self.reload(spill, Reg::R0);
                    self.b.jump_if(c, Reg::R0, rb, target);
                    self.release_reg(rb);
                    return Ok(());
                }
                // A constant on the left: swap, mirroring the comparison.
                let (a, b, c) = match (a, b) {
                    (IntVal::Imm(_), IntVal::Reg(_)) => (b, a, mirror(c)),
                    _ => (a, b, c),
                };
                let ra = self.to_reg(a, cond.span)?;
                let (operand, owned) = self.operand(b, cond.span)?;
                self.b.jump_if(c, ra, operand, target);
                self.release_reg(ra);
                if let Some(r) = owned {
                    self.release_reg(r);
                }
                Ok(())
            }
            _ => {
                let v = self.int(cond)?;
                let r = self.to_reg(v, cond.span)?;
                self.b.jump_if(if when { Cond::Ne } else { Cond::Eq }, r, 0, target);
                self.release_reg(r);
                Ok(())
            }
        }
    }

    /// Compares two strings word by word. Every string is built NUL-padded,
    /// and the shorter buffer holds its string's NUL, so comparing the
    /// shorter buffer's words decides: equal words up to its NUL mean equal
    /// strings, and a difference within them cannot be in padding alone.
    /// The longer side needs building only one word past them (its NUL
    /// then falls outside what is compared), and a literal side is not
    /// built at all but compared as immediates: `comm == "bash"` is one
    /// load and one jump after the helper call.
    fn branch_str_eq(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
        ne: bool,
        when: bool,
        target: Label,
        span: Span,
    ) -> Result<(), CodegenError> {
        let rounded = |e: &Expr| e.ty.stored_size().div_ceil(8) * 8;
        let compared = rounded(lhs).min(rounded(rhs));
        let built = |e: &Expr| rounded(e).min(compared + 8);
        let (built_side, other) = match (&lhs.kind, &rhs.kind) {
            (ExprKind::Str(_), _) => (rhs, lhs),
            _ => (lhs, rhs),
        };
        let mark = self.stack.mark();
        let a = self.alloc(built(built_side), span)?;
        self.str_into(built_side, a, 0, a.size)?;
        let literal = match &other.kind {
            ExprKind::Str(s) => Some(literal_words(s, compared)),
            _ => None,
        };
        let b = match literal {
            Some(_) => None,
            None => {
                let b = self.alloc(built(other), span)?;
                self.str_into(other, b, 0, b.size)?;
                Some(b)
            }
        };
        self.b.set_span(span);
        // Jump to `target` on equality when `==` is wanted true or `!=` false.
        let jump_if_equal = ne != when;
        let differ = if jump_if_equal { self.b.new_label() } else { target };
        for i in (0..compared).step_by(8) {
            self.b.load(Size::DW, Reg::R1, Reg::R10, a.at(i));
            match (&literal, b) {
                (Some(words), _) => {
                    let w = words[(i / 8) as usize];
                    match imm32(w) {
                        Some(imm) => self.b.jump_if(Cond::Ne, Reg::R1, imm, differ),
                        None => {
                            self.b.load_imm64(Reg::R2, w as u64);
                            self.b.jump_if(Cond::Ne, Reg::R1, Reg::R2, differ);
                        }
                    }
                }
                (None, Some(b)) => {
                    self.b.load(Size::DW, Reg::R2, Reg::R10, b.at(i));
                    self.b.jump_if(Cond::Ne, Reg::R1, Reg::R2, differ);
                }
                (None, None) => unreachable!("a side that is not a literal is built"),
            }
        }
        if jump_if_equal {
            self.b.jump(target);
            self.b.bind(differ);
        }
        self.stack.reset(mark);
        Ok(())
    }

    /// Builds the string `e` into `slot` at `offset`, filling exactly `size`
    /// bytes (a multiple of 8): the string, then NUL padding, so map keys
    /// compare equal byte for byte.
    pub(super) fn str_into(&mut self, e: &Expr, slot: Slot, offset: u32, size: u32) -> Result<(), CodegenError> {
        self.b.set_span(e.span);
        let dst = slot.at(offset);
        match &e.kind {
            ExprKind::Str(s) => {
                let mut bytes = literal_bytes(s).to_vec();
                bytes.resize(size as usize, 0);
                // Keep room for the NUL when the literal is longer.
                if let Some(last) = bytes.last_mut() {
                    *last = 0;
                }
                for (i, chunk) in bytes.chunks(8).enumerate() {
                    let off = dst + 8 * i as i16;
                    let mut word = [0u8; 8];
                    word[..chunk.len()].copy_from_slice(chunk);
                    let v = i64::from_le_bytes(word);
                    match imm32(v) {
                        Some(i) => self.b.store(Size::DW, Reg::R10, off, i),
                        None => {
                            self.b.load_imm64(Reg::R0, v as u64);
                            self.b.store(Size::DW, Reg::R10, off, Reg::R0);
                        }
                    }
                }
            }
            ExprKind::Builtin(Builtin::Comm) => {
                // Zeroed first: before Linux 6.4 bpf_get_current_comm leaves
                // the bytes after the name's NUL as they were (strscpy, not
                // strscpy_pad), and a key must not differ in them.
                let n = size.min(rbpf_lang::types::COMM_LEN);
                self.zero(dst, size);
                self.b.mov64(Reg::R1, Reg::R10);
                self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
                self.b.mov64(Reg::R2, n as i32);
                self.b.call(Helper::GetCurrentComm);
            }
            ExprKind::TracepointField(f) if matches!(f.kind, FieldKind::Array { .. }) => {
                let n = f.size.min(size);
                self.copy_from_context(f.offset, dst, n);
                // The last byte stays NUL even when the array is full.
                self.zero_tail(dst, n, size);
                self.zero_after_nul(dst, n);
            }
            ExprKind::TracepointField(f) => {
                // __data_loc: the low 16 bits are the string's offset in the record.
                self.zero(dst, size);
                self.b.load(Size::W, Reg::R3, Reg::R6, f.offset as i16);
                self.b.alu64(Alu::And, Reg::R3, 0xffff);
                self.b.alu64(Alu::Add, Reg::R3, Reg::R6);
                self.b.mov64(Reg::R1, Reg::R10);
                self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
                self.b.mov64(Reg::R2, size as i32);
                self.b.call(Helper::ProbeReadKernelStr);
            }
            ExprKind::Var(id) => {
                let var = self.vars[id.0];
                let n = var.size.min(size);
                match self.scratch_offset(*id) {
                    Some(off) => {
                        self.scratch_base(Reg::R1);
                        self.copy_words(Reg::R1, off, Reg::R10, dst, n);
                    }
                    None => self.copy_stack(var.off, dst, n),
                }
                self.zero(dst + n as i16, size - n);
            }
            ExprKind::MapRead { map, keys } => {
                self.lookup_keys(*map, keys, e.span)?;
                let value_size = self.layout.map(*map).value_size;
                let n = value_size.min(size);
                let missing = self.b.new_label();
                let done = self.b.new_label();
                self.b.jump_if(Cond::Eq, Reg::R0, 0, missing);
                for i in (0..n).step_by(8) {
                    self.b.load(Size::DW, Reg::R1, Reg::R0, i as i16);
                    self.b.store(Size::DW, Reg::R10, dst + i as i16, Reg::R1);
                }
                self.zero(dst + n as i16, size - n);
                self.b.jump(done);
                self.b.bind(missing);
                self.zero(dst, size);
                self.b.bind(done);
            }
            ExprKind::StrRead { ptr, len } => {
                let read = self.str_read_operands(e, ptr, len.as_deref(), size)?;
                self.str_read(read, Reg::R10, dst, size);
            }
            ExprKind::Ternary { cond, then, else_ } => {
                let (otherwise, done) = (self.b.new_label(), self.b.new_label());
                self.branch_unless(cond, otherwise)?;
                self.str_into(then, slot, offset, size)?;
                self.b.jump(done);
                self.b.bind(otherwise);
                self.str_into(else_, slot, offset, size)?;
                self.b.bind(done);
            }
            ExprKind::TupleIndex { .. } => self.tuple_element_str(e, slot, offset, size)?,
            ExprKind::StrPrefix { str, len } => {
                self.str_into(str, slot, offset, size)?;
                self.cut_string(dst, size, len)?;
            }
            _ => unreachable!("the checker gives only these kinds a string type"),
        }
        Ok(())
    }

    /// Evaluates the operands of `str(ptr[, len])` read into a buffer of
    /// `size` bytes, for [`ProgramGen::str_read`].
    pub(super) fn str_read_operands(
        &mut self,
        e: &Expr,
        ptr: &Expr,
        len: Option<&Expr>,
        size: u32,
    ) -> Result<StrReadOperands, CodegenError> {
        let helper = match ptr.ty {
            Type::Ptr { user: true, .. } => Helper::ProbeReadUserStr,
            Type::Ptr { user: false, .. } => Helper::ProbeReadKernelStr,
            // An address of unknown origin: the generic helper reads
            // either space on architectures that allow it.
            _ => Helper::ProbeReadStr,
        };
        let p = self.int(ptr)?;
        let p = self.to_reg(p, ptr.span)?;
        let len = match len {
            None => None,
            Some(len) => {
                let l = self.int(len)?;
                Some(self.to_reg(l, len.span)?)
            }
        };
        Ok(StrReadOperands { span: e.span, helper, ptr: p, len, capacity: e.ty.stored_size().min(size) })
    }

    /// Zeroes `size` bytes at `base + dst` and reads the string there:
    /// `base` is r10 for the stack, or r0 for a map value just looked up
    /// (nothing else here touches r0 before the call).
    pub(super) fn str_read(&mut self, read: StrReadOperands, base: Reg, dst: i16, size: u32) {
        self.b.set_span(read.span);
        self.zero_at(base, dst, size);
        let capacity = read.capacity;
        match read.len {
            None => self.b.mov64(Reg::R2, capacity as i32),
            Some(n) => {
                // At most `len` characters and the NUL, within the buffer.
                let fits = self.b.new_label();
                self.b.mov64(Reg::R2, n);
                self.b.jump_if(Cond::Le, Reg::R2, capacity as i32 - 1, fits);
                self.b.mov64(Reg::R2, capacity as i32 - 1);
                self.b.bind(fits);
                self.b.alu64(Alu::Add, Reg::R2, 1);
                self.release_reg(n);
            }
        }
        self.b.mov64(Reg::R1, base);
        self.b.alu64(Alu::Add, Reg::R1, i32::from(dst));
        self.b.mov64(Reg::R3, read.ptr);
        self.b.call(read.helper);
        self.release_reg(read.ptr);
    }

    pub(super) fn zero(&mut self, dst: i16, size: u32) {
        self.zero_at(Reg::R10, dst, size);
    }

    /// Zeroes `size` bytes (in words) at `base + dst`.
    fn zero_at(&mut self, base: Reg, dst: i16, size: u32) {
        for i in (0..size).step_by(8) {
            self.b.store(Size::DW, base, dst + i as i16, 0);
        }
    }

    /// Zeroes `[n, size)` of a buffer whose first `n` bytes were written,
    /// and its last byte, so the string is always NUL-terminated.
    pub(super) fn zero_tail(&mut self, dst: i16, n: u32, size: u32) {
        let mut i = n;
        while i < size && i % 8 != 0 {
            self.b.store(Size::B, Reg::R10, dst + i as i16, 0);
            i += 1;
        }
        self.zero(dst + i as i16, size - i);
        if n == size {
            self.b.store(Size::B, Reg::R10, dst + size as i16 - 1, 0);
        }
    }

    /// Zeroes every byte after the first NUL of the `n`-byte string at
    /// `dst` (its byte `n - 1` or the one after is NUL already). A kernel
    /// char array may hold stale bytes after its string (a memcpy'd
    /// buffer); every string built here is NUL-padded instead, so strings
    /// compare word by word and key maps by what they print. Unrolled:
    /// find the NUL, then fall through the stores from the byte after it.
    fn zero_after_nul(&mut self, dst: i16, n: u32) {
        if n < 2 {
            return;
        }
        let from: Vec<Label> = (0..n - 1).map(|_| self.b.new_label()).collect();
        let done = self.b.new_label();
        for (i, &zero_from) in from.iter().enumerate() {
            self.b.load(Size::B, Reg::R0, Reg::R10, dst + i as i16);
            self.b.jump_if(Cond::Eq, Reg::R0, 0, zero_from);
        }
        self.b.jump(done);
        for (i, &zero_from) in from.iter().enumerate() {
            self.b.bind(zero_from);
            self.b.store(Size::B, Reg::R10, dst + i as i16 + 1, 0);
        }
        self.b.bind(done);
    }

    /// Cuts the NUL-padded string of `size` bytes at `dst` to its first
    /// `len` characters, keeping the padding: `str(s, len)` of a string.
    fn cut_string(&mut self, dst: i16, size: u32, len: &Expr) -> Result<(), CodegenError> {
        let v = self.int(len)?;
        self.b.set_span(len.span);
        match v {
            // A negative length keeps the whole string, as `str(p, len)` does.
            IntVal::Imm(n) if n < 0 || n as u64 >= u64::from(size) => {}
            IntVal::Imm(n) => self.zero_tail(dst, n as u32, size),
            IntVal::Reg(r) => {
                // Byte i goes when i >= len (unsigned, as `str(p, len)`
                // clamps it); `len` is not known to the verifier, so no
                // variable-offset store.
                for i in 0..size {
                    let keep = self.b.new_label();
                    self.b.jump_if(Cond::Gt, r, i as i32, keep);
                    self.b.store(Size::B, Reg::R10, dst + i as i16, 0);
                    self.b.bind(keep);
                }
                self.release_reg(r);
            }
        }
        Ok(())
    }

    pub(super) fn copy_stack(&mut self, src: i16, dst: i16, n: u32) {
        for i in (0..n).step_by(8) {
            self.b.load(Size::DW, Reg::R0, Reg::R10, src + i as i16);
            self.b.store(Size::DW, Reg::R10, dst + i as i16, Reg::R0);
        }
    }

    /// Copies `n` bytes of the tracepoint record to the stack with direct
    /// context loads: each access must be aligned to its size, on both sides
    /// (the verifier is strict about stack alignment), so chunk sizes follow
    /// the offsets.
    pub(super) fn copy_from_context(&mut self, src: u32, dst: i16, n: u32) {
        let mut i = 0;
        while i < n {
            let mut width = 8;
            while width > 1 && ((src + i) % width != 0 || i % width != 0 || n - i < width) {
                width /= 2;
            }
            let size = Size::from_bytes(width as usize).unwrap_or(Size::B);
            self.b.load(size, Reg::R0, Reg::R6, (src + i) as i16);
            self.b.store(size, Reg::R10, dst + i as i16, Reg::R0);
            i += width;
        }
    }
}

/// A literal's string: its bytes up to the first NUL (`"ab\0cd"` is
/// `"ab"`, in comparisons and as a key alike).
fn literal_bytes(s: &str) -> &[u8] {
    let text = s.as_bytes();
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    &text[..end]
}

/// The first `size` bytes (a multiple of 8) of the NUL-padded literal `s`
/// in little-endian words: cut there, not NUL-terminated, as they are
/// compared with what is there in the other string.
fn literal_words(s: &str, size: u32) -> Vec<i64> {
    let mut bytes = literal_bytes(s).to_vec();
    bytes.resize(size as usize, 0);
    bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            i64::from_le_bytes(word)
        })
        .collect()
}

/// The value of a condition known at compile time.
fn constant_truth(e: &Expr) -> Option<bool> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v != 0),
        _ => None,
    }
}

fn compare(op: BinaryOp, signed: bool) -> Cond {
    match (op, signed) {
        (BinaryOp::Eq, _) => Cond::Eq,
        (BinaryOp::Ne, _) => Cond::Ne,
        (BinaryOp::Lt, false) => Cond::Lt,
        (BinaryOp::Le, false) => Cond::Le,
        (BinaryOp::Gt, false) => Cond::Gt,
        (BinaryOp::Ge, false) => Cond::Ge,
        (BinaryOp::Lt, true) => Cond::Slt,
        (BinaryOp::Le, true) => Cond::Sle,
        (BinaryOp::Gt, true) => Cond::Sgt,
        (BinaryOp::Ge, true) => Cond::Sge,
        _ => unreachable!("not a comparison"),
    }
}

/// `a c b` as `b c' a`.
fn mirror(c: Cond) -> Cond {
    match c {
        Cond::Gt => Cond::Lt,
        Cond::Ge => Cond::Le,
        Cond::Lt => Cond::Gt,
        Cond::Le => Cond::Ge,
        Cond::Sgt => Cond::Slt,
        Cond::Sge => Cond::Sle,
        Cond::Slt => Cond::Sgt,
        Cond::Sle => Cond::Sge,
        other => other,
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
mod pt_regs {
    /// The integer arguments of the System V calling convention: rdi, rsi,
    /// rdx, rcx, r8, r9.
    pub const ARGS: [i16; 6] = [112, 104, 96, 88, 72, 64];
    /// rax.
    pub const RETVAL: i16 = 80;
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
