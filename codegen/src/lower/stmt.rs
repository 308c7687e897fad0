//! Lowering of statements: map updates and aggregations, variables,
//! `if`, printf and exit events.

use rbpf_lang::checked::{Expr, ExprKind, MapCommand, MapId, MapUpdate, Stmt, StmtKind};

use super::frame::Slot;
use super::ProgramGen;
use crate::insn::{Alu, Cond, Helper, Reg, Size};
use crate::manifest::{event, Field, MapInfo, ValueType};
use crate::CodegenError;

/// `BPF_ANY` for bpf_map_update_elem: insert or replace. For a per-CPU hash
/// a program's update touches only the current CPU's value, so racing
/// inserts from two CPUs never lose each other's counts.
const BPF_ANY: i32 = 0;

impl ProgramGen<'_> {
    pub(super) fn stmt(&mut self, stmt: &Stmt) -> Result<(), CodegenError> {
        self.b.set_span(stmt.span);
        // Temporaries live for one statement; nested blocks release theirs
        // when they end.
        let mark = self.stack.mark();
        match &stmt.kind {
            StmtKind::MapUpdate { map, keys, update } => self.map_update(*map, keys, update, stmt)?,
            StmtKind::VarAssign { var, value } => {
                let slot = self.vars[var.0];
                let layout = self.var_layouts[var.0].clone();
                match self.scratch_offset(*var) {
                    // Built on the stack, then copied to its place.
                    Some(off) => {
                        let tmp = self.alloc(slot.size, stmt.span)?;
                        self.store_as(value, &layout, tmp, 0)?;
                        self.scratch_base(Reg::R1);
                        self.copy_memory(Reg::R0, (Reg::R10, i32::from(tmp.off)), (Reg::R1, i32::from(off)), slot.size);
                    }
                    None => self.store_as(value, &layout, slot, 0)?,
                }
            }
            StmtKind::If { cond, then, else_ } => {
                let otherwise = self.b.new_label();
                self.branch_unless(cond, otherwise)?;
                for s in then {
                    self.stmt(s)?;
                }
                if else_.is_empty() {
                    self.b.bind(otherwise);
                } else {
                    let end = self.b.new_label();
                    self.b.jump(end);
                    self.b.bind(otherwise);
                    for s in else_ {
                        self.stmt(s)?;
                    }
                    self.b.bind(end);
                }
            }
            StmtKind::While { cond, body, step } => {
                let (top, next, end) = (self.b.new_label(), self.b.new_label(), self.b.new_label());
                self.b.bind(top);
                self.branch_unless(cond, end)?;
                self.loops.push(super::Loop { next, end });
                for s in body {
                    self.stmt(s)?;
                }
                self.loops.pop();
                self.b.bind(next);
                for s in step {
                    self.stmt(s)?;
                }
                self.b.set_span(stmt.span);
                self.b.jump(top);
                self.b.bind(end);
            }
            StmtKind::ForMap { var, map, body, outer } => self.for_map(stmt, *var, *map, body, outer)?,
            StmtKind::Unroll { count, body } => {
                for _ in 0..*count {
                    for s in body {
                        self.stmt(s)?;
                    }
                }
            }
            StmtKind::Break | StmtKind::Continue => {
                // The checker allows them only inside a loop.
                if let Some(l) = self.loops.last().copied() {
                    self.b.jump(if stmt.kind == StmtKind::Break { l.end } else { l.next });
                }
            }
            StmtKind::Return => self.b.jump(self.exit),
            StmtKind::Printf { id, args } if self.iterator => self.seq_printf(*id, args, stmt)?,
            StmtKind::Printf { id, args } => self.printf(event::PRINTF, *id, args, stmt)?,
            StmtKind::System { id, args } => self.printf(event::SYSTEM, *id, args, stmt)?,
            StmtKind::Cat { id, args } => self.printf(event::CAT, *id, args, stmt)?,
            StmtKind::Join { id, argv } => self.join(*id, argv, stmt.span)?,
            StmtKind::Time { id } => {
                let record = self.alloc(event::HEADER_SIZE, stmt.span)?;
                self.b.store(Size::W, Reg::R10, record.off, event::TIME as i32);
                self.b.store(Size::W, Reg::R10, record.at(4), *id as i32);
                self.ringbuf_output(record, event::HEADER_SIZE);
            }
            StmtKind::Signal(sig) => {
                let v = self.int(sig)?;
                let r = self.to_reg(v, sig.span)?;
                self.b.mov64(Reg::R1, r);
                self.release_reg(r);
                // A failure (-k) is the statement's, not its argument's.
                self.b.set_span(stmt.span);
                self.b.call(Helper::SendSignal);
            }
            StmtKind::Unwatch(address) => {
                let v = self.int(address)?;
                let r = self.to_reg(v, address.span)?;
                let record = self.alloc(event::HEADER_SIZE + 8, stmt.span)?;
                self.b.set_span(stmt.span);
                self.b.store(Size::W, Reg::R10, record.off, event::UNWATCH as i32);
                self.b.store(Size::W, Reg::R10, record.at(4), 0);
                self.b.store(Size::DW, Reg::R10, record.at(8), r);
                self.release_reg(r);
                self.ringbuf_output(record, event::HEADER_SIZE + 8);
            }
            StmtKind::Override(rc) => {
                let v = self.int(rc)?;
                let r = self.to_reg(v, rc.span)?;
                self.b.mov64(Reg::R2, r);
                self.release_reg(r);
                self.b.mov64(Reg::R1, Reg::R6);
                self.b.call(Helper::OverrideReturn);
            }
            StmtKind::Delete { map, keys } => {
                let key = self.map_key(*map, keys, stmt.span)?;
                let name = self.layout.map(*map).bpf_name.clone();
                self.b.set_span(stmt.span);
                self.map_fd(Reg::R1, &name);
                self.slot_address(Reg::R2, key);
                self.b.call(Helper::MapDeleteElem);
            }
            StmtKind::MapCommand { map, command } => {
                let (kind, size) = match command {
                    MapCommand::Clear => (event::CLEAR_MAP, event::HEADER_SIZE),
                    MapCommand::Zero => (event::ZERO_MAP, event::HEADER_SIZE),
                    MapCommand::Print { .. } => (event::PRINT_MAP, event::HEADER_SIZE + 16),
                };
                let record = self.alloc(size, stmt.span)?;
                self.b.store(Size::W, Reg::R10, record.off, kind as i32);
                self.b.store(Size::W, Reg::R10, record.at(4), map.0 as i32);
                if let MapCommand::Print { top, div } = command {
                    for (at, v) in [(8, *top), (16, *div)] {
                        self.b.load_imm64(Reg::R1, v);
                        self.b.store(Size::DW, Reg::R10, record.at(at), Reg::R1);
                    }
                }
                self.ringbuf_output(record, size);
            }
            StmtKind::PrintValue { id, value } => {
                let size = event::HEADER_SIZE + super::stored_size(&value.ty);
                let record = self.alloc(size, stmt.span)?;
                self.b.store(Size::W, Reg::R10, record.off, event::PRINT_VALUE as i32);
                self.b.store(Size::W, Reg::R10, record.at(4), *id as i32);
                self.store_as(value, &super::value_type(&value.ty), record, event::HEADER_SIZE)?;
                self.ringbuf_output(record, size);
            }
            StmtKind::Exit { code } => {
                let record = self.alloc(event::HEADER_SIZE, stmt.span)?;
                self.b.store(Size::W, Reg::R10, record.off, event::EXIT as i32);
                self.b.store(Size::W, Reg::R10, record.at(4), *code);
                self.ringbuf_output(record, event::HEADER_SIZE);
                // Like bpftrace, exit() also leaves the probe at once.
                self.b.jump(self.exit);
            }
            StmtKind::Expr(e) => {
                // Evaluated for effect: an integer result is dropped, a
                // string one is built in a scratch slot.
                if e.ty.is_str() || e.ty.is_cvalue() {
                    let slot = self.alloc(super::stored_size(&e.ty), e.span)?;
                    self.str_into(e, slot, 0, slot.size)?;
                } else if e.ty.is_buf() {
                    let slot = self.alloc(e.ty.stored_size(), e.span)?;
                    self.buf_into(e, slot, 0, slot.size)?;
                } else if e.ty.is_int() {
                    let v = self.int(e)?;
                    self.release(v);
                } else if e.ty.is_tuple() {
                    let slot = self.alloc(super::stored_size(&e.ty), e.span)?;
                    self.store_tuple(e, &super::value_type(&e.ty), slot, 0)?;
                }
            }
        }
        self.stack.reset(mark);
        Ok(())
    }

    /// Stores a value into `slot` at `offset`: integers as 8 bytes, strings
    /// in place, NUL-padded to the slot's remaining size for the field.
    pub(super) fn store_value(&mut self, value: &Expr, slot: Slot, offset: u32) -> Result<(), CodegenError> {
        if let rbpf_lang::checked::ExprKind::Ntop { af, addr } = &value.kind {
            // u64 family, then the address bytes, zero-padded to 16.
            let a = self.int(af)?;
            let ra = self.to_reg(a, af.span)?;
            self.b.store(Size::DW, Reg::R10, slot.at(offset), ra);
            self.release_reg(ra);
            if let rbpf_lang::checked::ExprKind::TracepointField(f) = &addr.kind {
                // The bytes of an address array field, copied as they are.
                self.b.store(Size::DW, Reg::R10, slot.at(offset + 8), 0);
                self.b.store(Size::DW, Reg::R10, slot.at(offset + 16), 0);
                self.copy_memory(Reg::R0, (Reg::R6, f.offset as i32), (Reg::R10, i32::from(slot.at(offset + 8))), f.size.min(16));
                return Ok(());
            }
            if let rbpf_lang::checked::ExprKind::Load { addr: from, user, size, .. } = &addr.kind {
                // A byte array read through a pointer: its bytes.
                if addr.ty.is_buf() {
                    self.b.store(Size::DW, Reg::R10, slot.at(offset + 8), 0);
                    self.b.store(Size::DW, Reg::R10, slot.at(offset + 16), 0);
                    let v = self.int(from)?;
                    self.b.set_span(addr.span);
                    self.memory_read(v, *user, slot.at(offset + 8), (*size).min(16));
                    return Ok(());
                }
            }
            if addr.ty.is_cvalue() {
                // A byte array held by value (`pton()`): its bytes,
                // zero-padded to 16.
                return self.cvalue_into(addr, slot, offset + 8, 16);
            }
            let v = self.int(addr)?;
            let rv = self.to_reg(v, addr.span)?;
            self.b.store(Size::DW, Reg::R10, slot.at(offset + 8), 0);
            self.b.store(Size::DW, Reg::R10, slot.at(offset + 16), 0);
            self.b.store(Size::W, Reg::R10, slot.at(offset + 8), rv);
            self.release_reg(rv);
            return Ok(());
        }
        if value.ty == rbpf_lang::types::Type::Usym {
            return self.store_usym(value, slot, offset);
        }
        if value.ty == rbpf_lang::types::Type::Inet {
            // A variable holding an address: copy its 24 bytes.
            let rbpf_lang::checked::ExprKind::Var(id) = value.kind else {
                return Err(CodegenError::Unlowerable { what: "inet address".into(), span: value.span });
            };
            match self.scratch_offset(id) {
                Some(off) => {
                    self.scratch_base(Reg::R1);
                    self.copy_memory(Reg::R0, (Reg::R1, i32::from(off)), (Reg::R10, i32::from(slot.at(offset))), 24);
                }
                None => self.copy_memory(Reg::R0, (Reg::R10, i32::from(self.vars[id.0].off)), (Reg::R10, i32::from(slot.at(offset))), 24),
            }
            return Ok(());
        }
        if value.ty.is_str() || value.ty.is_cvalue() {
            let size = super::stored_size(&value.ty).min(slot.size - offset);
            self.str_into(value, slot, offset, size)
        } else if value.ty.is_buf() {
            let size = super::stored_size(&value.ty).min(slot.size - offset);
            self.buf_into(value, slot, offset, size)
        } else {
            let v = self.int(value)?;
            let r = self.to_reg(v, value.span)?;
            self.b.store(Size::DW, Reg::R10, slot.at(offset), r);
            self.release_reg(r);
            Ok(())
        }
    }

    /// Builds a map key on the stack. A map without keys uses the key u64 0.
    pub(super) fn map_key(&mut self, map: MapId, keys: &[Expr], stmt_span: rbpf_lang::Span) -> Result<Slot, CodegenError> {
        let info = self.layout.map(map).clone();
        let slot = self.alloc(info.key_size, stmt_span)?;
        if keys.is_empty() {
            self.b.store(Size::DW, Reg::R10, slot.off, 0);
            return Ok(slot);
        }
        for (key, field) in keys.iter().zip(&info.key) {
            self.store_field(key, slot, field)?;
        }
        Ok(slot)
    }

    /// r0 = bpf_map_lookup_elem(map, key): a pointer to the value or NULL.
    pub(super) fn lookup(&mut self, map: MapId, key: Slot) {
        let name = self.layout.map(map).bpf_name.clone();
        self.map_fd(Reg::R1, &name);
        self.slot_address(Reg::R2, key);
        self.b.call(Helper::MapLookupElem);
    }

    pub(super) fn update(&mut self, map: MapId, key: Slot, value: Slot) {
        let name = self.layout.map(map).bpf_name.clone();
        self.map_fd(Reg::R1, &name);
        self.slot_address(Reg::R2, key);
        self.slot_address(Reg::R3, value);
        self.b.mov64(Reg::R4, BPF_ANY);
        self.b.call(Helper::MapUpdateElem);
        // A refused update (the map is full) is counted, never silent; the
        // key is not needed after the update, so its slot holds the index.
        // No cost but one untaken jump when the update succeeds. Not in a
        // `while` loop: a branch more per iteration takes older verifiers
        // (Linux 6.1) past their 8,192 pending branches at a few thousand
        // iterations, and the program would not load at all.
        if !self.loops.is_empty() {
            return;
        }
        let stored = self.b.new_label();
        self.b.jump_if(Cond::Eq, Reg::R0, 0, stored);
        self.count_failed_update(map, key);
        self.b.bind(stored);
    }

    fn map_update(&mut self, map: MapId, keys: &[Expr], update: &MapUpdate, stmt: &Stmt) -> Result<(), CodegenError> {
        let span = stmt.span;
        let info = self.layout.map(map).clone();
        // The argument is evaluated first, into a callee-saved register, so
        // that the helper calls below do not clobber it.
        let arg = match update {
            MapUpdate::Sum(e)
            | MapUpdate::Min(e)
            | MapUpdate::Max(e)
            | MapUpdate::Avg(e)
            | MapUpdate::Stats(e)
            | MapUpdate::Hist(e)
            | MapUpdate::Lhist(e) => {
                let v = self.int(e)?;
                Some(self.to_reg(v, e.span)?)
            }
            MapUpdate::Set(_) | MapUpdate::Count => None,
        };
        if let MapUpdate::Set(value) = update {
            if let (true, ExprKind::StrRead { ptr, len }) = (info.has_set_flag(), &value.kind) {
                return self.str_read_into_array(map, &info, value, ptr, len.as_deref(), span);
            }
            let value_slot = self.alloc(info.kernel_value_size(), span)?;
            match &info.value {
                crate::manifest::MapValue::Plain(layout) => self.store_as(value, layout, value_slot, 0)?,
                _ => self.store_value(value, value_slot, 0)?,
            }
            if info.has_set_flag() {
                self.b.store(Size::DW, Reg::R10, value_slot.at(info.value_size), 1);
            }
            let key = self.map_key(map, keys, span)?;
            self.update(map, key, value_slot);
            return Ok(());
        }
        if info.array {
            return self.count_in_array(map, &info, arg, span);
        }
        let key = self.map_key(map, keys, span)?;
        if let Some(x) = arg {
            if self.bucket(x, &info.value) {
                // The bucket index (in r1) ends the key.
                self.b.store(Size::DW, Reg::R10, key.at(info.key_size - 8), Reg::R1);
            }
        }
        // A histogram bucket counts like count().
        let update = match update {
            MapUpdate::Hist(_) | MapUpdate::Lhist(_) => &MapUpdate::Count,
            other => other,
        };
        self.lookup(map, key);
        let insert = self.b.new_label();
        let done = self.b.new_label();
        self.b.jump_if(Cond::Eq, Reg::R0, 0, insert);
        // Found: update this CPU's value in place. Per-CPU values need no
        // atomic operations.
        match update {
            MapUpdate::Count => self.add_in_place(Reg::R0, 0, 1),
            MapUpdate::Sum(_) => self.add_in_place(Reg::R0, 0, arg.expect("sum has an argument")),
            MapUpdate::Avg(_) | MapUpdate::Stats(_) => {
                self.add_in_place(Reg::R0, 0, arg.expect("avg has an argument"));
                self.add_in_place(Reg::R0, 8, 1);
            }
            MapUpdate::Min(_) | MapUpdate::Max(_) => {
                let x = arg.expect("min/max have an argument");
                let signed = matches!(
                    info.value,
                    crate::manifest::MapValue::Min { signed: true } | crate::manifest::MapValue::Max { signed: true }
                );
                let is_min = matches!(update, MapUpdate::Min(_));
                // The stored value counts only when its flag is set: a slot
                // without it (this CPU's slot of an entry another CPU made,
                // or a cleared one) is all zeroes, since the value and its
                // flag are written together. Read it then as the identity
                // of min or max, without a branch, so that an update has
                // two (found? beaten?) as bpftrace's has: the verifier
                // keeps one pending state per branch of every iteration of
                // a loop, and gives up past 8192.
                self.b.load(Size::DW, Reg::R2, Reg::R0, 0);
                if (is_min, signed) != (false, false) {
                    // r1 = all ones without the flag, zero with it; then
                    // the identity's bits: i64::MIN, i64::MAX or u64::MAX.
                    self.b.load(Size::DW, Reg::R1, Reg::R0, 8);
                    self.b.alu64(Alu::Sub, Reg::R1, 1);
                    match (is_min, signed) {
                        (false, _) => self.b.alu64(Alu::Lsh, Reg::R1, 63),
                        (true, true) => self.b.alu64(Alu::Rsh, Reg::R1, 1),
                        (true, false) => {}
                    }
                    self.b.alu64(Alu::Or, Reg::R2, Reg::R1);
                }
                // Keep the stored value when it is strictly smaller (min)
                // or larger (max) than the new one; an equal one is
                // written again, so the identity itself sets the flag.
                let keep = match (is_min, signed) {
                    (true, true) => Cond::Slt,
                    (true, false) => Cond::Lt,
                    (false, true) => Cond::Sgt,
                    (false, false) => Cond::Gt,
                };
                self.b.jump_if(keep, Reg::R2, x, done);
                self.b.store(Size::DW, Reg::R0, 0, x);
                self.b.store(Size::DW, Reg::R0, 8, 1);
            }
            MapUpdate::Set(_) | MapUpdate::Hist(_) | MapUpdate::Lhist(_) => unreachable!("handled above"),
        }
        self.b.jump(done);
        // Not found: insert this CPU's first value.
        self.b.bind(insert);
        let value = self.alloc(info.value_size, span)?;
        match update {
            MapUpdate::Count | MapUpdate::Hist(_) | MapUpdate::Lhist(_) => {
                self.b.store(Size::DW, Reg::R10, value.off, 1)
            }
            _ => {
                let x = arg.expect("aggregation argument");
                self.b.store(Size::DW, Reg::R10, value.off, x);
                if info.value_size == 16 {
                    self.b.store(Size::DW, Reg::R10, value.at(8), 1);
                }
            }
        }
        self.update(map, key, value);
        self.b.bind(done);
        if let Some(r) = arg {
            self.release_reg(r);
        }
        Ok(())
    }

    /// `@s = str(ptr)` into an array map ([`MapInfo::array`]): the string
    /// is read straight into the looked-up value, as hand-written C does,
    /// rather than onto the stack and copied by an update.
    fn str_read_into_array(
        &mut self,
        map: MapId,
        info: &MapInfo,
        value: &Expr,
        ptr: &Expr,
        len: Option<&Expr>,
        span: rbpf_lang::Span,
    ) -> Result<(), CodegenError> {
        let read = self.str_read_operands(value, ptr, len, info.value_size)?;
        let key = self.map_key(map, &[], span)?;
        self.lookup(map, key);
        self.never_null();
        self.b.store(Size::DW, Reg::R0, info.value_size as i16, 1);
        self.str_read(read, Reg::R0, 0, info.value_size);
        Ok(())
    }

    /// r1 = the bucket of `x` in a `hist()` or `lhist()` map, with r2–r5
    /// as scratch; false (and nothing emitted) for other maps.
    fn bucket(&mut self, x: Reg, value: &crate::manifest::MapValue) -> bool {
        match *value {
            crate::manifest::MapValue::Hist { bits } => self.hist_bucket(x, bits),
            crate::manifest::MapValue::Lhist { min, max, step } => self.lhist_bucket(x, min, max, step),
            _ => return false,
        }
        true
    }

    /// `@c = count()` or `@h = hist(x)` (or `lhist`) in an array map
    /// ([`MapInfo::array`]): the key is 0 or the bucket index, and every
    /// element exists, so a count is a lookup and an increment of this
    /// CPU's slot, with nothing to insert.
    fn count_in_array(&mut self, map: MapId, info: &MapInfo, bucketed: Option<Reg>, span: rbpf_lang::Span) -> Result<(), CodegenError> {
        let key = self.alloc(4, span)?;
        match bucketed {
            Some(x) => {
                self.bucket(x, &info.value);
                self.b.store(Size::W, Reg::R10, key.off, Reg::R1);
                self.release_reg(x);
            }
            None => self.b.store(Size::W, Reg::R10, key.off, 0),
        }
        self.lookup(map, key);
        self.never_null();
        self.add_in_place(Reg::R0, 0, 1);
        Ok(())
    }

    /// The NULL check after looking up an array index below max_entries,
    /// which never fails but which the verifier wants. The impossible
    /// branch leaves the program rather than rejoining the code after the
    /// update: a branch that rejoins is a second path the verifier walks
    /// through the rest of an enclosing loop, once per iteration, and when
    /// it cannot prune those walks (a precise loop counter, states evicted
    /// as the loop runs on) a few thousand iterations exceed its
    /// million-instruction budget. A branch to the exit costs it two.
    fn never_null(&mut self) {
        let exit = self.exit;
        self.b.jump_if(Cond::Eq, Reg::R0, 0, exit);
    }

    /// r1 = the `hist(x, bits)` bucket of `x` ([`crate::manifest::hist_index`]),
    /// with r2–r5 as scratch: no helper call in between.
    fn hist_bucket(&mut self, x: Reg, bits: u8) {
        let k = i32::from(bits);
        let done = self.b.new_label();
        self.b.mov64(Reg::R1, 0);
        self.b.jump_if(Cond::Slt, x, 0, done);
        let log = self.b.new_label();
        self.b.mov64(Reg::R1, x);
        self.b.alu64(Alu::Add, Reg::R1, 1);
        self.b.jump_if(Cond::Lt, x, 1 << (k + 1), done);
        self.b.bind(log);
        // r3 = floor(log2(x)), by halving the search range.
        self.b.mov64(Reg::R2, x);
        self.b.mov64(Reg::R3, 0);
        for shift in [32, 16, 8, 4, 2, 1] {
            let skip = self.b.new_label();
            self.b.mov64(Reg::R4, Reg::R2);
            self.b.alu64(Alu::Rsh, Reg::R4, shift);
            self.b.jump_if(Cond::Eq, Reg::R4, 0, skip);
            self.b.mov64(Reg::R2, Reg::R4);
            self.b.alu64(Alu::Add, Reg::R3, shift);
            self.b.bind(skip);
        }
        if k == 0 {
            // No sub-buckets: the bucket is log2(x) + 2.
            self.b.mov64(Reg::R1, Reg::R3);
            self.b.alu64(Alu::Add, Reg::R1, 2);
            self.b.bind(done);
            return;
        }
        // The sub-bucket: the `bits` bits below the leading one.
        self.b.mov64(Reg::R4, x);
        self.b.mov64(Reg::R5, Reg::R3);
        self.b.alu64(Alu::Sub, Reg::R5, k);
        self.b.alu64(Alu::Rsh, Reg::R4, Reg::R5);
        self.b.alu64(Alu::And, Reg::R4, (1 << k) - 1);
        self.b.mov64(Reg::R1, Reg::R3);
        self.b.alu64(Alu::Sub, Reg::R1, k + 1);
        self.b.alu64(Alu::Lsh, Reg::R1, k);
        self.b.alu64(Alu::Add, Reg::R1, 1 + (1 << (k + 1)));
        self.b.alu64(Alu::Add, Reg::R1, Reg::R4);
        self.b.bind(done);
    }

    /// r1 = the `lhist(x, min, max, step)` bucket of `x`
    /// ([`crate::manifest::lhist_index`]), with r2 as scratch.
    fn lhist_bucket(&mut self, x: Reg, min: i64, max: i64, step: i64) {
        let done = self.b.new_label();
        self.b.mov64(Reg::R1, 0);
        self.load_const(Reg::R2, min);
        self.b.jump_if(Cond::Slt, x, Reg::R2, done);
        self.load_const(Reg::R1, (max - min) / step + 1);
        self.load_const(Reg::R2, max);
        self.b.jump_if(Cond::Sge, x, Reg::R2, done);
        self.b.mov64(Reg::R1, x);
        self.load_const(Reg::R2, min);
        self.b.alu64(Alu::Sub, Reg::R1, Reg::R2);
        self.load_const(Reg::R2, step);
        self.b.alu64(Alu::Div, Reg::R1, Reg::R2);
        self.b.alu64(Alu::Add, Reg::R1, 1);
        self.b.bind(done);
    }

    /// printf: the record (header and arguments) is built on the stack and
    /// copied into the ring buffer with one helper call.
    fn printf(&mut self, kind: u32, id: usize, args: &[Expr], stmt: &Stmt) -> Result<(), CodegenError> {
        let format = self.layout.printfs[id].clone();
        let record = self.alloc(format.size, stmt.span)?;
        self.b.store(Size::W, Reg::R10, record.off, kind as i32);
        self.b.store(Size::W, Reg::R10, record.at(4), id as i32);
        for (arg, field) in args.iter().zip(&format.args) {
            self.store_field(arg, record, field)?;
        }
        self.ringbuf_output(record, format.size);
        Ok(())
    }

    /// Stores `e` into `slot` as `field` describes it.
    fn store_field(&mut self, e: &Expr, slot: Slot, field: &Field) -> Result<(), CodegenError> {
        match &field.ty {
            ValueType::Str { size } => self.str_into(e, slot, field.offset, size.div_ceil(8) * 8),
            ValueType::Buf { size } => self.buf_into(e, slot, field.offset, (1 + size).div_ceil(8) * 8),
            ValueType::Record { .. } | ValueType::Array { .. } | ValueType::Macaddr => {
                self.cvalue_into(e, slot, field.offset, field.ty.size().div_ceil(8) * 8)
            }
            ValueType::Int { .. }
            | ValueType::Timestamp { .. }
            | ValueType::Username
            | ValueType::Ksym
            | ValueType::Pointer
            | ValueType::Errno
            | ValueType::CgroupPath { .. }
            | ValueType::Stack { .. }
            | ValueType::Usym
            | ValueType::Inet
            | ValueType::Tuple { .. } => self.store_as(e, &field.ty, slot, field.offset),
            other => Err(CodegenError::Unlowerable { what: format!("{other:?}"), span: e.span }),
        }
    }
}
