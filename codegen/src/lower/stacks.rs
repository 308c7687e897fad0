//! `kstack` and `ustack`: captured with bpf_get_stackid into a stack-trace
//! map, as bpftrace does, so the kernel stores each distinct stack once and
//! a map key or record holds only its id. One stack-trace map per frame
//! limit (its value size is the limit's 8-byte frames), shared by kernel
//! and user stacks; it holds `max_map_keys` stacks, as bpftrace's
//! (`BPFTRACE_MAP_KEYS_MAX`, the `max_map_keys` config key).

use std::collections::BTreeSet;

use rbpf_lang::checked::{self, Expr};
use rbpf_lang::types::{StackType, Type};

use super::expr::IntVal;
use super::ProgramGen;
use crate::elf::{map_type, MapDef};
use crate::insn::{Alu, Helper, Reg};
use crate::manifest::ValueType;
use crate::CodegenError;

/// bpf_get_stackid's flag for the user stack of the current task.
const BPF_F_USER_STACK: i32 = 1 << 8;

/// The stack-trace map of stacks of at most `limit` frames.
pub(super) fn map_name(limit: u8) -> String {
    format!("rbpf_stack_{limit}")
}

/// How a stack is stored and printed.
pub(super) fn value_type(stack: &StackType) -> ValueType {
    ValueType::Stack { map: map_name(stack.limit), user: stack.user, mode: stack.mode, limit: stack.limit }
}

/// The stack-trace maps the program's stacks need: one per frame limit.
pub(super) fn stack_maps(program: &checked::Program) -> Vec<(String, MapDef)> {
    let mut limits = Limits(BTreeSet::new());
    for probe in &program.probes {
        checked::Visitor::visit_probe(&mut limits, probe);
    }
    limits
        .0
        .into_iter()
        .map(|limit| {
            let def = MapDef {
                map_type: map_type::STACK_TRACE,
                key_size: 4,
                value_size: 8 * u32::from(limit),
                max_entries: program.max_map_keys,
                flags: 0,
            };
            (map_name(limit), def)
        })
        .collect()
}

/// Whether the probe captures a stack (which reads its context).
pub(super) fn reads_stack(probe: &checked::Probe) -> bool {
    let mut limits = Limits(BTreeSet::new());
    checked::Visitor::visit_probe(&mut limits, probe);
    !limits.0.is_empty()
}

/// The walk behind [`stack_maps`]: the frame limits of the stacks captured.
struct Limits(BTreeSet<u8>);

impl checked::Visitor<'_> for Limits {
    fn visit_expr(&mut self, e: &checked::Expr) {
        if let (checked::ExprKind::Call { function: "kstack" | "ustack", .. }, Type::Stack(stack)) = (&e.kind, &e.ty) {
            self.0.insert(stack.limit);
        }
        checked::walk_expr(self, e);
    }
}

impl ProgramGen<'_> {
    /// `kstack` / `ustack`: the stack's id in its map (its low 32 bits),
    /// and for a user stack the pid whose addresses they are (the high 32).
    pub(super) fn stack_id(&mut self, e: &Expr) -> Result<IntVal, CodegenError> {
        let Type::Stack(stack) = &e.ty else {
            return Err(CodegenError::Unlowerable { what: format!("a stack of type {}", e.ty), span: e.span });
        };
        self.b.set_span(e.span);
        self.b.mov64(Reg::R1, Reg::R6);
        self.map_fd(Reg::R2, &map_name(stack.limit));
        self.b.mov64(Reg::R3, if stack.user { BPF_F_USER_STACK } else { 0 });
        self.b.call(Helper::GetStackid);
        let r = self.alloc_reg(e.span)?;
        self.b.mov64(r, Reg::R0);
        self.b.alu64(Alu::Lsh, r, 32);
        self.b.alu64(Alu::Rsh, r, 32);
        if stack.user {
            self.b.call(Helper::GetCurrentPidTgid);
            self.b.alu64(Alu::Rsh, Reg::R0, 32);
            self.b.alu64(Alu::Lsh, Reg::R0, 32);
            self.b.alu64(Alu::Or, r, Reg::R0);
        }
        Ok(IntVal::Reg(r))
    }
}
