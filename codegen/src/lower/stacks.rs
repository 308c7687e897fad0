//! `kstack` and `ustack`: captured with bpf_get_stackid into a stack-trace
//! map, as bpftrace does, so the kernel stores each distinct stack once and
//! a map key or record holds only its id. One stack-trace map per frame
//! limit (its value size is the limit's 8-byte frames), shared by kernel
//! and user stacks; it holds `max_map_keys` stacks (`BPFTRACE_MAP_KEYS_MAX`,
//! the `max_map_keys` config key).
//!
//! The kernel puts a stack in the slot its hash picks and refuses a
//! different stack whose slot is taken (-EEXIST), which loses stacks long
//! before the map is full (a third of them when there are as many stacks
//! as slots). rbpf keeps those: such a stack is read again with
//! bpf_get_stack and kept in a hash map under a 30-bit hash of its frames
//! ([`HASHED_STACK_ID`] set), after checking that no other stack is there.
//! The common path costs one more jump.

use std::collections::BTreeSet;

use rbpf_lang::checked::{self, Expr};
use rbpf_lang::types::{StackType, Type};

use super::expr::IntVal;
use super::frame::Slot;
use super::ProgramGen;
use crate::elf::{map_type, MapDef};
use crate::insn::{Alu, Cond, Helper, Reg, Size};
use crate::manifest::{event, hashed_stack_map, ValueType, HASHED_STACK_ID};
use crate::CodegenError;

/// bpf_get_stackid's flag for the user stack of the current task.
const BPF_F_USER_STACK: i32 = 1 << 8;

/// What bpf_get_stackid returns when the stack's slot holds another one.
const EEXIST: i32 = 17;

/// bpf_map_update_elem's flag: only a new key.
const BPF_NOEXIST: i32 = 1;

/// The per-CPU buffer that bpf_get_stack fills for a stack of at most
/// `limit` frames.
fn buffer_map(limit: u8) -> String {
    format!("rbpf_stackb_{limit}")
}

/// An LRU hash of the pids whose user stacks the runtime was told of.
pub(super) const PIDS_MAP: &str = "rbpf_stack_pids";

/// Per CPU, the pid whose user stack the CPU captured last.
const LAST_PID_MAP: &str = "rbpf_stack_last";

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
        .flat_map(|limit| {
            let frames = 8 * u32::from(limit);
            let def = |map_type, key_size, max_entries| MapDef { map_type, key_size, value_size: frames, max_entries, flags: 0 };
            [
                (map_name(limit), def(map_type::STACK_TRACE, 4, program.max_map_keys)),
                // Where the kernel loses a third of the stacks when they
                // fill the stack-trace map, half its size is room enough.
                (hashed_stack_map(limit), def(map_type::HASH, 4, program.max_map_keys.div_ceil(2))),
                (buffer_map(limit), def(map_type::PERCPU_ARRAY, 4, 1)),
            ]
        })
        .chain(limits.1.then(|| {
            let def = MapDef { map_type: map_type::LRU_HASH, key_size: 4, value_size: 4, max_entries: 4096, flags: 0 };
            (PIDS_MAP.to_string(), def)
        }))
        .chain(limits.1.then(|| {
            let def = MapDef { map_type: map_type::PERCPU_ARRAY, key_size: 4, value_size: 4, max_entries: 1, flags: 0 };
            (LAST_PID_MAP.to_string(), def)
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
        let captured = self.b.new_label();
        self.b.jump_if(Cond::Sge, r, 0, captured);
        self.keep_collided_stack(r, stack, e)?;
        self.b.bind(captured);
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
                        self.copy_memory(Reg::R0, (Reg::R1, i32::from(off)), (Reg::R10, i32::from(slot.at(offset))), 16);
                    }
                    None => self.copy_memory(Reg::R0, (Reg::R10, i32::from(self.vars[id.0].off)), (Reg::R10, i32::from(slot.at(offset))), 16),
                }
                Ok(())
            }
            checked::ExprKind::TupleIndex { .. } => self.tuple_element_bytes(value, slot, offset),
            _ => Err(CodegenError::Unlowerable { what: "a user symbol".into(), span: value.span }),
        }
    }

    /// With bpf_get_stackid's negative result in `id`: when the stack's
    /// slot held another stack, reads the stack with bpf_get_stack and
    /// makes `id` its id in [`hashed_stack_map`] (a 30-bit FNV-1a hash of
    /// its frames, [`HASHED_STACK_ID`] set), adding it there unless a
    /// different stack has that id (then, or with that map full, `id`
    /// stays negative: the stack is lost, as before).
    fn keep_collided_stack(&mut self, id: Reg, stack: &StackType, e: &Expr) -> Result<(), CodegenError> {
        let limit = i32::from(stack.limit);
        let done = self.b.new_label();
        let lost = self.b.new_label();
        self.b.jump_if(Cond::Ne, id, -EEXIST, done);
        let mark = self.stack.mark();
        let key = self.alloc(8, e.span)?;
        let buffer = self.alloc(8, e.span)?;
        self.b.store(Size::W, Reg::R10, key.off, 0);
        self.map_fd(Reg::R1, &buffer_map(stack.limit));
        self.slot_address(Reg::R2, key);
        self.b.call(Helper::MapLookupElem);
        self.b.jump_if(Cond::Eq, Reg::R0, 0, done);
        self.b.store(Size::DW, Reg::R10, buffer.off, Reg::R0);
        self.b.mov64(Reg::R1, Reg::R6);
        self.b.mov64(Reg::R2, Reg::R0);
        self.b.mov64(Reg::R3, 8 * limit);
        self.b.mov64(Reg::R4, if stack.user { BPF_F_USER_STACK } else { 0 });
        self.b.call(Helper::GetStack);
        self.b.jump_if(Cond::Sle, Reg::R0, 0, done);

        // r3 = the hash of the frames, up to the first zero one
        // (bpf_get_stack zeroes the rest of the buffer).
        self.b.load(Size::DW, Reg::R1, Reg::R10, buffer.off);
        self.b.load_imm64(Reg::R3, 0xcbf2_9ce4_8422_2325);
        self.b.mov64(Reg::R2, 0);
        let hash_loop = self.b.new_label();
        let hashed = self.b.new_label();
        self.b.bind(hash_loop);
        self.b.jump_if(Cond::Ge, Reg::R2, limit, hashed);
        self.frame_at(Reg::R4, Reg::R1, Reg::R2);
        self.b.jump_if(Cond::Eq, Reg::R4, 0, hashed);
        self.b.alu64(Alu::Xor, Reg::R3, Reg::R4);
        self.b.load_imm64(Reg::R5, 0x100_0000_01b3);
        self.b.alu64(Alu::Mul, Reg::R3, Reg::R5);
        self.b.alu64(Alu::Add, Reg::R2, 1);
        self.b.jump(hash_loop);
        self.b.bind(hashed);
        self.b.mov64(Reg::R4, Reg::R3);
        self.b.alu64(Alu::Rsh, Reg::R4, 32);
        self.b.alu64(Alu::Xor, Reg::R3, Reg::R4);
        self.b.alu64(Alu::And, Reg::R3, (HASHED_STACK_ID - 1) as i32);
        self.b.alu64(Alu::Or, Reg::R3, HASHED_STACK_ID as i32);
        self.b.store(Size::W, Reg::R10, key.off, Reg::R3);
        self.b.mov64(id, Reg::R3);

        let map = hashed_stack_map(stack.limit);
        self.map_fd(Reg::R1, &map);
        self.slot_address(Reg::R2, key);
        self.b.call(Helper::MapLookupElem);
        let insert = self.b.new_label();
        self.b.jump_if(Cond::Eq, Reg::R0, 0, insert);
        // The id is taken: by this stack, or (rarely) by another.
        self.b.load(Size::DW, Reg::R1, Reg::R10, buffer.off);
        self.b.mov64(Reg::R2, 0);
        let compare = self.b.new_label();
        self.b.bind(compare);
        self.b.jump_if(Cond::Ge, Reg::R2, limit, done);
        self.frame_at(Reg::R4, Reg::R1, Reg::R2);
        self.frame_at(Reg::R5, Reg::R0, Reg::R2);
        self.b.jump_if(Cond::Ne, Reg::R4, Reg::R5, lost);
        self.b.jump_if(Cond::Eq, Reg::R4, 0, done);
        self.b.alu64(Alu::Add, Reg::R2, 1);
        self.b.jump(compare);

        self.b.bind(insert);
        self.map_fd(Reg::R1, &map);
        self.slot_address(Reg::R2, key);
        self.b.load(Size::DW, Reg::R3, Reg::R10, buffer.off);
        self.b.mov64(Reg::R4, BPF_NOEXIST);
        self.b.call(Helper::MapUpdateElem);
        self.b.jump_if(Cond::Eq, Reg::R0, 0, done);
        // Another CPU added the id in between: the same stack, all but
        // surely. A full map loses the stack.
        self.b.jump_if(Cond::Eq, Reg::R0, -EEXIST, done);
        self.b.bind(lost);
        self.b.mov64(id, -EEXIST);
        self.b.bind(done);
        self.stack.reset(mark);
        Ok(())
    }

    /// r`dst` = frame number r`index` of the frames at r`frames`
    /// (clobbers r`dst` only; r`index` is below the frame limit).
    fn frame_at(&mut self, dst: Reg, frames: Reg, index: Reg) {
        self.b.mov64(dst, index);
        self.b.alu64(Alu::Lsh, dst, 3);
        self.b.alu64(Alu::Add, dst, frames);
        self.b.load(Size::DW, dst, dst, 0);
    }

    /// With the pid in r0 (kept there): the first user stack of a process
    /// sends it to the runtime, which then reads its mappings while it
    /// lives. One hash lookup per stack; the map is an LRU hash, so a
    /// machine with more processes than it holds forgets the oldest (which
    /// are then sent again) rather than refusing new ones.
    fn notice_new_pid(&mut self, e: &Expr) -> Result<(), CodegenError> {
        let mark = self.stack.mark();
        let record = self.alloc(8, e.span)?;
        self.b.store(Size::W, Reg::R10, record.at(4), Reg::R0);
        // First the pid this CPU saw last (an array lookup the verifier
        // inlines): a process capturing stacks in a loop costs no hash
        // lookup per stack.
        let known = self.b.new_label();
        let new_here = self.b.new_label();
        self.b.store(Size::W, Reg::R10, record.off, 0);
        self.map_fd(Reg::R1, LAST_PID_MAP);
        self.b.mov64(Reg::R2, Reg::R10);
        self.b.alu64(Alu::Add, Reg::R2, i32::from(record.off));
        self.b.call(Helper::MapLookupElem);
        self.b.jump_if(Cond::Eq, Reg::R0, 0, new_here);
        self.b.load(Size::W, Reg::R1, Reg::R0, 0);
        self.b.load(Size::W, Reg::R2, Reg::R10, record.at(4));
        self.b.jump_if(Cond::Eq, Reg::R1, Reg::R2, known);
        self.b.store(Size::W, Reg::R0, 0, Reg::R2);
        self.b.bind(new_here);
        self.b.store(Size::W, Reg::R10, record.off, event::STACK_PID as i32);
        self.map_fd(Reg::R1, PIDS_MAP);
        self.b.mov64(Reg::R2, Reg::R10);
        self.b.alu64(Alu::Add, Reg::R2, i32::from(record.at(4)));
        self.b.call(Helper::MapLookupElem);
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
