//! Conditions lowered straight into conditional jumps: comparisons as one
//! jump, `&&`, `||` and `!` short-circuited, strings compared word by word.

use rbpf_lang::ast::{BinaryOp, UnaryOp};
use rbpf_lang::checked::{Builtin, Expr, ExprKind};
use rbpf_lang::Span;

use super::expr::{imm32, IntVal};
use super::ProgramGen;
use super::strings::literal_words;
use crate::insn::{Cond, Label, Reg, Size};
use crate::CodegenError;

impl ProgramGen<'_> {
    /// A condition used as a value: 1 or 0.
    pub(super) fn bool_value(&mut self, e: &Expr) -> Result<IntVal, CodegenError> {
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
        // Buffers are built with their count; anything else as a string
        // (which `buf_into` falls back to).
        self.buf_into(built_side, a, 0, a.size)?;
        let literal = match &other.kind {
            ExprKind::Str(s) => Some(literal_words(s, compared)),
            _ => None,
        };
        let b = match literal {
            Some(_) => None,
            None => {
                let b = self.alloc(built(other), span)?;
                self.buf_into(other, b, 0, b.size)?;
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
}

/// The value of a condition known at compile time.
pub(super) fn constant_truth(e: &Expr) -> Option<bool> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v != 0),
        _ => None,
    }
}

pub(super) fn compare(op: BinaryOp, signed: bool) -> Cond {
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
pub(super) fn mirror(c: Cond) -> Cond {
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
