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
use super::frame::Slot;
use super::ProgramGen;
use crate::elf::{map_type, MapDef};
use crate::insn::{Alu, Cond, Helper, Reg, Size};
use crate::manifest::{event, ValueType};
use crate::CodegenError;

/// bpf_get_stackid's flag for the user stack of the current task.
const BPF_F_USER_STACK: i32 = 1 << 8;

/// An LRU hash of the pids whose user stacks the runtime was told of.
pub(super) const PIDS_MAP: &str = "rbpf_stack_pids";

/// The stack-trace map of stacks of at most `limit` frames.
pub(super) fn map_name(limit: u8) -> String {
    format!("rbpf_stack_{limit}")
}

/// How a stack is stored and printed, its frames indented by `indent`.
pub(super) fn value_type(stack: &StackType, indent: u8) -> ValueType {
    ValueType::Stack { map: map_name(stack.limit), user: stack.user, mode: stack.mode, limit: stack.limit, indent }
}

/// The stack-trace maps the program's stacks need: one per frame limit.
pub(super) fn stack_maps(program: &checked::Program) -> Vec<(String, MapDef)> {
    let mut limits = Limits(BTreeSet::new(), false);
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
        .chain(limits.1.then(|| {
            let def = MapDef { map_type: map_type::LRU_HASH, key_size: 4, value_size: 4, max_entries: 4096, flags: 0 };
            (PIDS_MAP.to_string(), def)
        }))
        .collect()
}

/// Whether the probe captures a stack (which reads its context).
pub(super) fn reads_stack(probe: &checked::Probe) -> bool {
    let mut limits = Limits(BTreeSet::new(), false);
    checked::Visitor::visit_probe(&mut limits, probe);
    !limits.0.is_empty()
}

/// The walk behind [`stack_maps`]: the frame limits of the stacks
/// captured, and whether one is a user stack.
struct Limits(BTreeSet<u8>, bool);

impl checked::Visitor<'_> for Limits {
    fn visit_expr(&mut self, e: &checked::Expr) {
        if let (checked::ExprKind::Call { function: "kstack" | "ustack", .. }, Type::Stack(stack)) = (&e.kind, &e.ty) {
            self.0.insert(stack.limit);
            self.1 |= stack.user;
        }
        // A `usym()` value names its process's symbols as a user stack does.
        self.1 |= matches!(e.kind, checked::ExprKind::Call { function: "usym", .. });
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
            self.notice_new_pid(e)?;
            self.b.alu64(Alu::Lsh, Reg::R0, 32);
            self.b.alu64(Alu::Or, r, Reg::R0);
        }
        Ok(IntVal::Reg(r))
    }

    /// Stores a `usym()` value into `slot` at `offset`: the address, then
    /// the pid of the process it is in (told to the runtime the first time,
    /// as for user stacks, so that its symbols stay named after it exits).
    pub(super) fn store_usym(&mut self, value: &Expr, slot: Slot, offset: u32) -> Result<(), CodegenError> {
        match &value.kind {
            checked::ExprKind::Call { function: "usym", args } => {
                let v = self.int(&args[0])?;
                let r = self.to_reg(v, args[0].span)?;
                self.b.store(Size::DW, Reg::R10, slot.at(offset), r);
                self.release_reg(r);
                self.b.set_span(value.span);
                self.b.call(Helper::GetCurrentPidTgid);
                self.b.alu64(Alu::Rsh, Reg::R0, 32);
                self.notice_new_pid(value)?;
                self.b.store(Size::DW, Reg::R10, slot.at(offset + 8), Reg::R0);
                Ok(())
            }
            checked::ExprKind::Var(id) => {
                match self.scratch_offset(*id) {
                    Some(off) => {
                        self.scratch_base(Reg::R1);
                        self.copy_words(Reg::R1, off, Reg::R10, slot.at(offset), 16);
                    }
                    None => self.copy_stack(self.vars[id.0].off, slot.at(offset), 16),
                }
                Ok(())
            }
            checked::ExprKind::TupleIndex { .. } => self.tuple_element_bytes(value, slot, offset),
            _ => Err(CodegenError::Unlowerable { what: "a user symbol".into(), span: value.span }),
        }
    }

    /// With the pid in r0 (kept there): the first user stack of a process
    /// sends it to the runtime, which then reads its mappings while it
    /// lives. One hash lookup per stack; the map is an LRU hash, so a
    /// machine with more processes than it holds forgets the oldest (which
    /// are then sent again) rather than refusing new ones.
    fn notice_new_pid(&mut self, e: &Expr) -> Result<(), CodegenError> {
        let mark = self.stack.mark();
        let record = self.alloc(8, e.span)?;
        self.b.store(Size::W, Reg::R10, record.off, event::STACK_PID as i32);
        self.b.store(Size::W, Reg::R10, record.at(4), Reg::R0);
        self.map_fd(Reg::R1, PIDS_MAP);
        self.b.mov64(Reg::R2, Reg::R10);
        self.b.alu64(Alu::Add, Reg::R2, i32::from(record.at(4)));
        self.b.call(Helper::MapLookupElem);
        let known = self.b.new_label();
        self.b.jump_if(Cond::Ne, Reg::R0, 0, known);
        self.map_fd(Reg::R1, PIDS_MAP);
        self.b.mov64(Reg::R2, Reg::R10);
        self.b.alu64(Alu::Add, Reg::R2, i32::from(record.at(4)));
        self.b.mov64(Reg::R3, Reg::R2);
        self.b.mov64(Reg::R4, 0);
        self.b.call(Helper::MapUpdateElem);
        self.ringbuf_output(record, 8);
        self.b.bind(known);
        self.b.load(Size::W, Reg::R0, Reg::R10, record.at(4));
        self.stack.reset(mark);
        Ok(())
    }
}
