//! `for ($kv : @map) { body }` and `len(@map)`: bpf_for_each_map_elem
//! with a callback, a static function in `.text` that the loader links
//! into each program referencing it.
//!
//! A loop's body becomes a function of its own, generated like a probe's
//! body in a frame of its own. The kernel calls it with the map, the
//! element's key and value, and the context pointer the caller passed: the
//! caller's frame pointer. Through it the callback copies the caller's
//! variables the body uses into its own frame on entry, and copies back
//! those the body assigns before it returns, so the body addresses every
//! variable from r10 exactly as a probe's body does. (bpftrace passes a
//! struct of pointers to the variables instead; copies leave the lowering
//! of statements unchanged, for a few loads and stores per element.)
//!
//! The callback returns 0 to go on and 1 to stop: `continue` and `break`
//! at the top of the body. `exit()` stops the iteration and sets a flag in
//! the caller's frame, which makes the caller leave the probe in turn.
//!
//! `len()` uses a small callback that every program shares.

use rbpf_lang::checked::{self, MapId, Stmt, StmtKind, VarId, VarUse, Visitor};
use rbpf_lang::Span;

use super::expr::IntVal;
use super::frame::{Slot, STACK_SIZE};
use super::{stored_size, Loop, ProgramGen};
use crate::insn::{Alu, Builder, Code, Cond, Helper, Reg, Size};
use crate::CodegenError;

/// A generated callback: its symbol and code.
pub(super) struct Callback {
    pub name: String,
    pub code: Code,
}

/// The callbacks programs share, whatever map they iterate over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Shared {
    /// `len()`: returns 0 ("go on") for each element, so
    /// bpf_for_each_map_elem returns how many the map holds.
    Count,
    /// `strcontains()` of a haystack and a needle of these stored sizes:
    /// bpf_loop's callback for one start in the haystack (see
    /// [`strcontains_callback`]).
    StrContains { haystack: u16, needle: u16 },
}

impl Shared {
    pub(super) fn name(self) -> String {
        match self {
            Shared::Count => "rbpf_count".to_string(),
            Shared::StrContains { haystack, needle } => format!("rbpf_strcontains_{haystack}_{needle}"),
        }
    }

    pub(super) fn callback(self) -> Callback {
        let b = match self {
            Shared::Count => {
                let mut b = Builder::new();
                b.mov64(Reg::R0, 0);
                b.exit();
                b
            }
            Shared::StrContains { haystack, needle } => strcontains_callback(i32::from(haystack), i32::from(needle)),
        };
        // Both end every path in `exit` and jump only to their own labels.
        let code = b.finish().unwrap_or_default();
        Callback { name: self.name(), code }
    }
}

/// `long f(u32 start, void *ctx)` for bpf_loop: whether the needle occurs
/// at `start` in the haystack. `ctx` points at the caller's block: the
/// haystack's `hs` bytes, the needle's `ns`, then a u64 result the callback
/// sets to 1 on a match. It returns 1 (stop) on a match, or where no later
/// start can match either (the haystack ends first), else 0 (next start).
///
/// One start per call keeps the verifier's work linear: it checks the
/// callback once for any start, walking the needle's `ns` bytes, where a
/// nested loop of known bounds made it walk every (start, position) pair
/// (83,000 instructions for two 64-byte strings, too complex inside an
/// `unroll`).
fn strcontains_callback(hs: i32, ns: i32) -> Builder {
    let mut b = Builder::new();
    let (inner, next, found, stop) = (b.new_label(), b.new_label(), b.new_label(), b.new_label());
    // r1 = start, r2 = ctx, r3 = position in the needle.
    b.jump_if(Cond::Ge, Reg::R1, hs, stop);
    b.mov64(Reg::R3, 0);
    b.bind(inner);
    b.jump_if(Cond::Ge, Reg::R3, ns, found);
    b.mov64(Reg::R4, Reg::R2);
    b.alu64(Alu::Add, Reg::R4, Reg::R3);
    b.load(Size::B, Reg::R5, Reg::R4, hs as i16);
    b.jump_if(Cond::Eq, Reg::R5, 0, found);
    b.mov64(Reg::R4, Reg::R1);
    b.alu64(Alu::Add, Reg::R4, Reg::R3);
    b.jump_if(Cond::Ge, Reg::R4, hs, stop);
    b.alu64(Alu::Add, Reg::R4, Reg::R2);
    b.load(Size::B, Reg::R0, Reg::R4, 0);
    // The haystack ended before the needle did: so it does for every later start.
    b.jump_if(Cond::Eq, Reg::R0, 0, stop);
    b.jump_if(Cond::Ne, Reg::R0, Reg::R5, next);
    b.alu64(Alu::Add, Reg::R3, 1);
    b.jump(inner);
    b.bind(next);
    b.mov64(Reg::R0, 0);
    b.exit();
    b.bind(found);
    b.store(Size::DW, Reg::R2, (hs + ns) as i16, 1);
    b.bind(stop);
    b.mov64(Reg::R0, 1);
    b.exit();
    b
}

/// The kernel adds up the frames of a call chain, each rounded up to this
/// (`round_up_stack_depth`: 32 bytes without a JIT, 16 with one).
const FRAME_ALIGN: u32 = 32;

/// The spans of a program as the loader links it (runtime/src/loader.rs):
/// its own code, then each callback it references, in the order of first
/// reference, the callbacks of each linked function taken in turn (breadth
/// first), so that the span table matches the linked instructions.
pub(super) fn linked_spans(code: &Code, functions: &[Callback]) -> Vec<Span> {
    let mut spans = code.spans.clone();
    let mut linked: Vec<&Callback> = Vec::new();
    let mut next = 0;
    let mut references = &code.func_relocations;
    loop {
        for r in references {
            let Some(f) = functions.iter().find(|f| f.name == r.func) else { continue };
            if !linked.iter().any(|l| l.name == f.name) {
                linked.push(f);
                spans.extend_from_slice(&f.code.spans);
            }
        }
        let Some(f) = linked.get(next) else { break };
        references = &f.code.func_relocations;
        next += 1;
    }
    spans
}

/// Whether the statements (or a loop nested in them) call `exit()`.
fn calls_exit(stmts: &[Stmt]) -> bool {
    let mut exits = CallsExit(false);
    checked::walk_stmts(&mut exits, stmts);
    exits.0
}

/// The walk behind [`calls_exit`].
struct CallsExit(bool);

impl Visitor<'_> for CallsExit {
    fn visit_stmt(&mut self, s: &Stmt) {
        self.0 |= matches!(s.kind, StmtKind::Exit { .. });
        if !self.0 {
            checked::walk_stmt(self, s);
        }
    }

    // Expressions hold no statement, hence no `exit()`.
    fn visit_expr(&mut self, _: &checked::Expr) {}
}

fn frame_depth(high: u32) -> u32 {
    high.div_ceil(FRAME_ALIGN) * FRAME_ALIGN
}

impl ProgramGen<'_> {
    /// `for ($kv : @map) { body }` at the call site.
    pub(super) fn for_map(&mut self, stmt: &Stmt, var: VarId, map: MapId, body: &[Stmt], outer: &[VarId]) -> Result<(), CodegenError> {
        let span = stmt.span;
        let flag = if calls_exit(body) {
            let flag = self.alloc(8, span)?;
            self.b.store(Size::DW, Reg::R10, flag.off, 0);
            Some(flag.off)
        } else {
            None
        };
        let name = self.callback(span, var, map, body, outer, flag)?;
        self.b.set_span(span);
        let map_name = self.layout.map(map).bpf_name.clone();
        self.map_fd(Reg::R1, &map_name);
        self.b.load_func(Reg::R2, &name);
        self.b.mov64(Reg::R3, Reg::R10);
        self.b.mov64(Reg::R4, 0);
        self.b.call(Helper::ForEachMapElem);
        if let Some(flag) = flag {
            self.b.load(Size::DW, Reg::R1, Reg::R10, flag);
            self.b.jump_if(Cond::Ne, Reg::R1, 0, self.exit);
        }
        Ok(())
    }

    /// `len(@map)`: the number of elements bpf_for_each_map_elem visits
    /// with a callback that never stops it.
    pub(super) fn map_len(&mut self, map: MapId, span: Span) -> Result<IntVal, CodegenError> {
        self.for_each_shared(map, Shared::Count);
        let r = self.regs.alloc().ok_or(CodegenError::TooComplex { span })?;
        self.b.mov64(r, Reg::R0);
        Ok(IntVal::Reg(r))
    }

    /// r0 = bpf_for_each_map_elem(map, shared callback, NULL, 0).
    fn for_each_shared(&mut self, map: MapId, shared: Shared) {
        self.shared.insert(shared);
        let map_name = self.layout.map(map).bpf_name.clone();
        self.map_fd(Reg::R1, &map_name);
        self.b.load_func(Reg::R2, &shared.name());
        self.b.mov64(Reg::R3, 0);
        self.b.mov64(Reg::R4, 0);
        self.b.call(Helper::ForEachMapElem);
    }

    /// r0 = bpf_loop(`count`, shared callback, r10 + `ctx_off`, 0).
    pub(super) fn loop_shared(&mut self, count: i32, shared: Shared, ctx_off: i16) {
        self.shared.insert(shared);
        self.b.mov64(Reg::R1, count);
        self.b.load_func(Reg::R2, &shared.name());
        self.b.mov64(Reg::R3, Reg::R10);
        self.b.alu64(Alu::Add, Reg::R3, i32::from(ctx_off));
        self.b.mov64(Reg::R4, 0);
        self.b.call(Helper::Loop);
    }

    /// The program's frame and its deepest chain of callbacks must fit in
    /// the kernel's 512 bytes together.
    pub(super) fn check_call_depth(&self) -> Result<(), CodegenError> {
        if self.callee_depth > 0 && frame_depth(self.stack.high()) + self.callee_depth > STACK_SIZE {
            return Err(CodegenError::StackFull { span: self.callee_span });
        }
        Ok(())
    }

    /// Generates the callback of a loop; returns its name. `flag` is the
    /// caller's slot that `exit()` sets.
    fn callback(
        &mut self,
        span: Span,
        var: VarId,
        map: MapId,
        body: &[Stmt],
        outer: &[VarId],
        flag: Option<i16>,
    ) -> Result<String, CodegenError> {
        let name = format!("{}_loop{}", self.name, self.callbacks.len());
        let mut cb = ProgramGen::new(self.layout, self.probe_vars, self.ncpus, name.clone(), false);
        // Only the variables the body uses get a slot in this frame.
        cb.vars = vec![Slot { off: 0, size: 0 }; self.probe_vars.len()];
        cb.scratch_vars = vec![None; self.probe_vars.len()];
        cb.scratch_key = self.scratch_key;
        cb.b.set_span(span);
        let info = self.layout.map(map).clone();

        // r1 = map, r2 = key, r3 = value, r4 = the caller's frame pointer.
        let ctx = cb.alloc(8, span)?;
        cb.b.store(Size::DW, Reg::R10, ctx.off, Reg::R4);
        let kv = cb.alloc(stored_size(&self.probe_vars[var.0].ty), span)?;
        cb.vars[var.0] = kv;
        // The key's layout is that of the tuple $kv.0; the value follows.
        cb.copy_memory(Reg::R0, (Reg::R2, 0), (Reg::R10, i32::from(kv.off)), info.key_size);
        if info.percpu {
            // This CPU's value is a part: read the sum (or the min, max)
            // over every CPU, as printing the map would.
            let v = cb.aggregation_read_at(map, Slot { off: kv.off, size: info.key_size }, span)?;
            let r = cb.to_reg(v, span)?;
            cb.b.store(Size::DW, Reg::R10, kv.at(info.key_size), r);
            cb.release_reg(r);
        } else {
            cb.copy_memory(Reg::R0, (Reg::R3, 0), (Reg::R10, i32::from(kv.at(info.key_size))), info.value_size);
        }

        let uses = VarUse::of(body);
        // The caller's variables in the scratch map are the callback's too,
        // in place: nothing to copy in or out.
        let (in_scratch, outer): (Vec<VarId>, Vec<VarId>) = outer.iter().partition(|v| self.scratch_offset(**v).is_some());
        for &v in &in_scratch {
            cb.scratch_vars[v.0] = self.scratch_offset(v);
            cb.vars[v.0] = self.vars[v.0];
        }
        if !in_scratch.is_empty() {
            cb.init_scratch(span)?;
        }
        let outer = &outer[..];
        for &v in outer {
            let slot = cb.alloc(stored_size(&self.probe_vars[v.0].ty), span)?;
            cb.vars[v.0] = slot;
            let caller = self.vars[v.0].off;
            cb.b.load(Size::DW, Reg::R1, Reg::R10, ctx.off);
            if uses.assigned.contains(&v) {
                // A variable the body assigns carries a value from one
                // element to the next. Copied with loads, a counter
                // (`$n++; if ($n > 5) { break; }`) stays a known constant
                // to the verifier, which then walks the callback once per
                // value it could take, for a million instructions; read
                // by a helper, it is an unknown number and the walk
                // converges at once.
                cb.b.mov64(Reg::R3, Reg::R1);
                cb.b.alu64(crate::insn::Alu::Add, Reg::R3, i32::from(caller));
                cb.slot_address(Reg::R1, slot);
                cb.b.mov64(Reg::R2, slot.size as i32);
                cb.b.call(Helper::ProbeReadKernel);
            } else {
                cb.copy_memory(Reg::R0, (Reg::R1, i32::from(caller)), (Reg::R10, i32::from(slot.off)), slot.size);
            }
        }
        for &v in uses.used.iter().filter(|v| **v != var && !outer.contains(v) && !in_scratch.contains(v)) {
            cb.vars[v.0] = cb.alloc(stored_size(&self.probe_vars[v.0].ty), span)?;
        }

        let (next, end) = (cb.b.new_label(), cb.b.new_label());
        cb.loops.push(Loop { next, end });
        for s in body {
            cb.stmt(s)?;
        }
        cb.loops.pop();

        // Back to the caller: the assigned variables, then 0 (go on) or 1 (stop).
        cb.b.set_span(span);
        let written: Vec<(Slot, i16)> =
            outer.iter().filter(|v| uses.assigned.contains(v)).map(|v| (cb.vars[v.0], self.vars[v.0].off)).collect();
        for (label, stop) in [(next, 0), (end, 1)] {
            cb.b.bind(label);
            if !written.is_empty() {
                cb.b.load(Size::DW, Reg::R1, Reg::R10, ctx.off);
            }
            for &(local, caller) in &written {
                cb.copy_memory(Reg::R0, (Reg::R10, i32::from(local.off)), (Reg::R1, i32::from(caller)), local.size);
            }
            cb.b.mov64(Reg::R0, stop);
            cb.b.exit();
        }
        cb.b.bind(cb.exit);
        if let Some(flag) = flag {
            cb.b.load(Size::DW, Reg::R1, Reg::R10, ctx.off);
            cb.b.store(Size::DW, Reg::R1, flag, 1);
        }
        cb.b.jump(end);

        let depth = frame_depth(cb.stack.high()) + cb.callee_depth;
        if depth > self.callee_depth {
            self.callee_depth = depth;
            self.callee_span = span;
        }
        self.shared.append(&mut cb.shared);
        self.callbacks.append(&mut cb.callbacks);
        self.sends_records |= cb.sends_records;
        self.callbacks.push(Callback { name: name.clone(), code: cb.b.finish()? });
        Ok(name)
    }
}
