//! Scratch variables that do not fit the 512-byte stack: they live in this
//! program's element of a per-CPU array map, whose address is looked up
//! once when the program starts and kept in a stack slot.
//!
//! A program on one CPU runs to completion before that CPU runs it again
//! (the kernel does not nest tracing programs), so the element is the
//! program's own while it runs, as its stack is.

use std::collections::BTreeSet;

use rbpf_lang::checked::{self, Stmt, StmtKind, Var, VarId, VarUse, Visitor};

use super::frame::Slot;
use super::ProgramGen;
use crate::insn::{Cond, Helper, Reg, Size};

/// The per-CPU array holding the variables that do not fit the stack: one
/// element per probe, as large as the largest probe needs.
pub(super) const SCRATCH_MAP: &str = "rbpf_scratch";

/// The most bytes of variables in the scratch element: a BPF load or store
/// reaches 32 KiB from its base, and the kernel allocates a per-CPU value
/// of at most 32 KiB.
pub(super) const MAX_SCRATCH: u32 = 32 * 1024 - 8;

/// The bytes of variables a probe keeps on its stack before the rest go to
/// the scratch map, tried in this order: all of them (what nearly every
/// program gets), then less and less, leaving room for the temporaries of
/// its statements.
pub(super) const STACK_BUDGETS: [Option<u32>; 4] = [None, Some(256), Some(128), Some(0)];

/// The probe's variables in the order they claim the stack: those a
/// `while` condition reads first (a loop counter must stay on the stack,
/// where the verifier follows its value and so knows the loop ends; read
/// from a map it would be any number), then the smaller before the larger,
/// so that integers stay in the stack and long strings move.
pub(super) fn stack_order(vars: &[Var], body: &[Stmt]) -> Vec<VarId> {
    let mut counters = LoopConditionVars::default();
    checked::walk_stmts(&mut counters, body);
    let mut order: Vec<VarId> = (0..vars.len()).map(VarId).collect();
    order.sort_by_key(|v| (!counters.0.contains(v), super::stored_size(&vars[v.0].ty)));
    order
}

/// The variables the condition of a `while` reads, at any depth (inside
/// the body of a `for` over a map too).
#[derive(Default)]
struct LoopConditionVars(BTreeSet<VarId>);

impl Visitor<'_> for LoopConditionVars {
    fn visit_stmt(&mut self, s: &Stmt) {
        if let StmtKind::While { cond, .. } = &s.kind {
            self.0.extend(VarUse::of_expr(cond).used);
        }
        checked::walk_stmt(self, s);
    }

    // Expressions hold no statement, hence no loop.
    fn visit_expr(&mut self, _: &checked::Expr) {}
}

impl ProgramGen<'_> {
    /// Where variable `id` is in the scratch element, if it is there.
    pub(super) fn scratch_offset(&self, id: VarId) -> Option<i16> {
        self.scratch_vars.get(id.0).copied().flatten()
    }

    /// Looks up this probe's scratch element and keeps its address in a
    /// stack slot; a lookup of an index below max_entries never fails.
    pub(super) fn init_scratch(&mut self, span: rbpf_lang::Span) -> Result<(), crate::CodegenError> {
        let slot = self.alloc(8, span)?;
        self.b.store(Size::W, Reg::R10, slot.off, self.scratch_key as i32);
        self.map_fd(Reg::R1, SCRATCH_MAP);
        self.slot_address(Reg::R2, slot);
        self.b.call(Helper::MapLookupElem);
        let exit = self.exit;
        self.b.jump_if(Cond::Eq, Reg::R0, 0, exit);
        self.b.store(Size::DW, Reg::R10, slot.off, Reg::R0);
        self.scratch_pointer = Some(slot);
        Ok(())
    }

    /// `dst` = the address of the scratch element.
    pub(super) fn scratch_base(&mut self, dst: Reg) {
        let slot = self.scratch_pointer.unwrap_or(Slot { off: 0, size: 0 });
        self.b.load(Size::DW, dst, Reg::R10, slot.off);
    }
}
