//! Statements: blocks, assignments, conditions and loops, and calls made
//! for their effect.

use super::{functions, unroll, Checker, ProbeCx};
use crate::ast::{self, BinaryOp, ExprKind as A};
use crate::checked::{Expr, ExprKind, MapUpdate, MapValue, Stmt, StmtKind, Var, VarId};
use crate::types::Type;
use crate::{Diagnostic, Span};

impl Checker {
    pub(super) fn block(&mut self, block: &ast::Block, cx: &mut ProbeCx) -> Vec<Stmt> {
        let mut out = Vec::new();
        for stmt in &block.stmts {
            self.stmt(stmt, cx, &mut out);
        }
        out
    }

    pub(super) fn stmt(&mut self, stmt: &ast::Stmt, cx: &mut ProbeCx, out: &mut Vec<Stmt>) {
        let span = stmt.span;
        let kind = match &stmt.kind {
            ast::StmtKind::Expr(e) => match self.call_stmt(e, cx) {
                Some(kind) => kind,
                None => return,
            },
            ast::StmtKind::Assign { target, op: None, value } => match self.assign(target, value, cx) {
                Some(kind) => kind,
                None => return,
            },
            ast::StmtKind::Assign { target, op: Some(op), value } => {
                // `x op= v` is `x = x op v`.
                let value = ast::Expr {
                    kind: A::Binary { op: *op, lhs: Box::new(target.clone()), rhs: Box::new(value.clone()) },
                    span,
                };
                match self.assign(target, &value, cx) {
                    Some(kind) => kind,
                    None => return,
                }
            }
            ast::StmtKind::If { cond, then, else_ } => {
                let cond = self.expr(cond, cx);
                self.expect_int(&cond, "an `if` condition");
                let then = self.block(then, cx);
                let else_ = else_.as_ref().map(|b| self.block(b, cx)).unwrap_or_default();
                StmtKind::If { cond, then, else_ }
            }
            ast::StmtKind::Block(b) => {
                out.extend(self.block(b, cx));
                return;
            }
            ast::StmtKind::While { cond, body } => {
                let cond = self.expr(cond, cx);
                self.expect_int(&cond, "a `while` condition");
                cx.loops += 1;
                let body = self.block(body, cx);
                cx.loops -= 1;
                StmtKind::While { cond, body, step: Vec::new() }
            }
            ast::StmtKind::Unroll { count, body } => {
                let n = match unroll::unroll_value(count, &self.params) {
                    Some(n) if (1..=100).contains(&n) => n as u32,
                    // bpftrace's words first.
                    Some(0) => {
                        self.error(Diagnostic::error(count.span, "unroll minimum value is 1").with_label("`unroll` needs a count between 1 and 100"));
                        return;
                    }
                    Some(n) => {
                        self.error(
                            Diagnostic::error(count.span, "unroll maximum value is 100")
                                .with_label(format!("this is {n}; `unroll` needs a count between 1 and 100")),
                        );
                        return;
                    }
                    None => {
                        self.error(unroll::invalid_count(count, &self.params));
                        return;
                    }
                };
                // Refused before the body is checked: its own unrolls would
                // only repeat the message.
                let size = u64::from(n).saturating_mul(unroll::unrolled_size(body, &self.params));
                if cx.unrolls == 0 {
                    cx.unrolled = cx.unrolled.saturating_add(size);
                }
                let in_program = self.unrolled.saturating_add(cx.unrolled);
                if size > unroll::MAX_UNROLLED_NODES
                    || cx.unrolled > unroll::MAX_UNROLLED_NODES
                    || in_program > unroll::MAX_UNROLLED_NODES_PROGRAM
                {
                    let per_program = format!(
                        "a BPF program holds at most 1,000,000 instructions; rbpf allows {} statements and expressions after unrolling; use a `while` loop, or smaller counts",
                        unroll::MAX_UNROLLED_NODES
                    );
                    let (message, note) = if size > unroll::MAX_UNROLLED_NODES {
                        (format!("this `unroll` repeats its body into {size} statements and expressions, more than one BPF program can hold"), per_program)
                    } else if cx.unrolled > unroll::MAX_UNROLLED_NODES {
                        (format!("with this `unroll`, the probe's unrolled bodies add up to {} statements and expressions, more than one BPF program can hold", cx.unrolled), per_program)
                    } else {
                        // Said once, not once for every probe after it.
                        if self.unrolled > unroll::MAX_UNROLLED_NODES_PROGRAM {
                            return;
                        }
                        self.unrolled = in_program;
                        (
                            format!(
                                "with this `unroll`, the unrolled bodies of all probes add up to more than {} statements and expressions",
                                unroll::MAX_UNROLLED_NODES_PROGRAM
                            ),
                            "each probe an attach point matches is a program of its own, with its own copy of the body; use a `while` loop, smaller counts or fewer probes".to_string(),
                        )
                    };
                    self.error(Diagnostic::error(count.span, message).with_label("unrolled too far").with_note(note));
                    return;
                }
                cx.unrolls += 1;
                let body = self.block(body, cx);
                cx.unrolls -= 1;
                StmtKind::Unroll { count: n, body }
            }
            ast::StmtKind::For { var, iter: ast::ForIter::Range { start, end }, body } => {
                return self.for_range(var, start, end, body, span, cx, out);
            }
            ast::StmtKind::For { var, iter: ast::ForIter::Map(map), body } => {
                return self.for_map(var, map, body, span, cx, out);
            }
            ast::StmtKind::Break | ast::StmtKind::Continue => {
                let word = if stmt.kind == ast::StmtKind::Break { "break" } else { "continue" };
                if cx.loops == 0 {
                    self.error(
                        Diagnostic::error(span, format!("`{word}` outside of a loop"))
                            .with_label("not inside `while` or `for`"),
                    );
                    return;
                }
                if word == "break" { StmtKind::Break } else { StmtKind::Continue }
            }
            ast::StmtKind::Return => {
                if cx.map_loops > 0 {
                    self.error(
                        Diagnostic::error(span, "`return` is not allowed inside a `for` loop over a map")
                            .with_label("inside a loop over a map")
                            .with_note("the loop's body runs once per element; `break` ends the loop"),
                    );
                    return;
                }
                StmtKind::Return
            }
        };
        out.push(Stmt { kind, span });
    }

    /// `for ($i : start..end) { body }`: `$i` counts from `start` up to
    /// `end`, excluded.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn for_range(
        &mut self,
        var: &ast::Ident,
        start: &ast::Expr,
        end: &ast::Expr,
        body: &ast::Block,
        span: Span,
        cx: &mut ProbeCx,
        out: &mut Vec<Stmt>,
    ) {
        let start = self.expr(start, cx);
        let end = self.expr(end, cx);
        if self.expect_int(&start, "a range").is_none() || self.expect_int(&end, "a range").is_none() {
            return;
        }
        let zero = Expr { kind: ExprKind::Int(0), ty: Type::I64, span: var.span };
        let Some(id) = self.declare_var(var.name.trim_start_matches('$'), &zero, cx) else {
            return;
        };
        // The end is evaluated once, before the loop; its hidden variable
        // has a name no program can write.
        let end_var = format!("for-end-{}", span.start);
        let Some(end_id) = self.declare_var(&end_var, &end, cx) else { return };
        out.push(Stmt { kind: StmtKind::VarAssign { var: id, value: start }, span });
        out.push(Stmt { kind: StmtKind::VarAssign { var: end_id, value: end }, span });
        let read = |id: VarId, ty: Type| Expr { kind: ExprKind::Var(id), ty, span };
        let cond = Expr {
            kind: ExprKind::Binary {
                op: BinaryOp::Lt,
                lhs: Box::new(read(id, Type::I64)),
                rhs: Box::new(read(end_id, Type::I64)),
            },
            ty: Type::U64,
            span,
        };
        let step = Stmt {
            kind: StmtKind::VarAssign {
                var: id,
                value: Expr {
                    kind: ExprKind::Binary {
                        op: BinaryOp::Add,
                        lhs: Box::new(read(id, Type::I64)),
                        rhs: Box::new(Expr { kind: ExprKind::Int(1), ty: Type::I64, span }),
                    },
                    ty: Type::I64,
                    span,
                },
            },
            span,
        };
        cx.loops += 1;
        let body = self.block(body, cx);
        cx.loops -= 1;
        out.push(Stmt { kind: StmtKind::While { cond, body, step: vec![step] }, span });
    }

    /// `for ($kv : @map) { body }`: `$kv` is a new variable, the tuple
    /// (key, value), with the keys as a tuple of their own when the map
    /// has several. The body may use the variables declared before the
    /// loop; those it declares itself end with it, as in bpftrace.
    pub(super) fn for_map(
        &mut self,
        var: &ast::Ident,
        map_name: &ast::Ident,
        body: &ast::Block,
        span: Span,
        cx: &mut ProbeCx,
        out: &mut Vec<Stmt>,
    ) {
        let var_name = format!("${}", var.name);
        if cx.var_ids.contains_key(&var_name) {
            self.error(
                Diagnostic::error(var.span, format!("the loop variable `{var_name}` is already a variable of this probe"))
                    .with_label("shadows an existing variable")
                    .with_note("give the loop variable a name of its own"),
            );
            return;
        }
        let map = self.map_id(&map_name.name);
        let slot = &self.maps[map.0];
        let value = match &slot.value {
            Some(MapValue::Plain(t)) => t.clone(),
            Some(MapValue::Count) => Type::U64,
            Some(MapValue::Sum { signed } | MapValue::Min { signed } | MapValue::Max { signed }) => {
                Type::Int { bits: 64, signed: *signed }
            }
            Some(agg @ (MapValue::Avg { .. } | MapValue::Stats { .. } | MapValue::Hist { .. } | MapValue::Lhist { .. })) => {
                let what = agg.describe();
                self.error(
                    Diagnostic::error(map_name.span, format!("a `for` loop cannot iterate over a map of {what}"))
                        .with_label(format!("holds {what}"))
                        .with_secondary(slot.value_span, "its value is set here")
                        .with_note("loops iterate over maps of plain values, count(), sum(), min() or max()"),
                );
                return;
            }
            // Never assigned: reported once the whole program is checked.
            None => Type::I64,
        };
        let key = match slot.key.as_deref() {
            Some([]) => {
                self.error(
                    Diagnostic::error(map_name.span, format!("map `{}` has no keys to iterate over", slot.name))
                        .with_label("a map without keys")
                        .with_secondary(slot.key_span, "used without keys here")
                        .with_note("a `for` loop iterates over a map with keys, such as `@m[k] = v`"),
                );
                return;
            }
            Some([one]) => padded(one),
            Some(several) => Type::Tuple(several.iter().map(padded).collect()),
            None => Type::I64,
        };
        let value = padded(&value);
        let declared_before = cx.vars.len();
        let id = VarId(declared_before);
        cx.vars.push(Var { name: var_name.clone(), ty: Type::Tuple(vec![key, value]) });
        cx.var_ids.insert(var_name, id);
        cx.loops += 1;
        cx.map_loops += 1;
        let body = self.block(body, cx);
        cx.loops -= 1;
        cx.map_loops -= 1;
        // The loop's own variables end with it.
        cx.var_ids.retain(|_, v| v.0 < declared_before);
        let outer = crate::checked::VarUse::of(&body).used.into_iter().filter(|v| v.0 < declared_before).collect();
        out.push(Stmt { kind: StmtKind::ForMap { var: id, map, body, outer }, span });
    }

    pub(super) fn unavailable(&mut self, span: Span, what: &str) {
        self.error(
            Diagnostic::error(span, format!("{what} is not available in this build of rbpf"))
                .with_label("not compiled by this version"),
        );
    }
    /// An expression statement: a call with an effect, or an expression.
    pub(super) fn call_stmt(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<StmtKind> {
        if let A::IncDec { expr, increment, .. } = &e.kind {
            // `@x++` as a statement is `@x = @x + 1`. A variable's `$x++`
            // stays an increment: `$x + 1` would widen a narrow variable
            // to int64, where bpftrace wraps it in its type.
            if matches!(expr.kind, A::Var(_)) {
                let e = self.expr(e, cx);
                return (e.ty != Type::Void).then_some(StmtKind::Expr(e));
            }
            let op = if *increment { BinaryOp::Add } else { BinaryOp::Sub };
            let value = ast::Expr {
                kind: A::Binary { op, lhs: expr.clone(), rhs: Box::new(ast::Expr { kind: A::Int(1), span: e.span }) },
                span: e.span,
            };
            return self.assign(expr, &value, cx);
        }
        if let A::Call { name, args } = &e.kind {
            if let Some(stmt) = self.call_stmt_of(name, args, e.span, cx) {
                return stmt;
            }
        }
        if let A::Ternary { cond, then, else_ } = &e.kind {
            if let Some(stmt) = self.ternary_stmt(cond, then, else_, cx) {
                return stmt;
            }
        }
        let e = self.expr(e, cx);
        Some(StmtKind::Expr(e))
    }

    /// `cond ? printf("a") : exit()`: a `?:` whose branches are statements
    /// with no value runs one of them, as an `if` does (bpftrace allows
    /// it). `None` when neither branch is such a statement: it is checked
    /// as an expression.
    fn ternary_stmt(&mut self, cond: &ast::Expr, then: &ast::Expr, else_: &ast::Expr, cx: &mut ProbeCx) -> Option<Option<StmtKind>> {
        match (has_no_value(then), has_no_value(else_)) {
            (false, false) => return None,
            (true, true) => {}
            (a, _) => {
                let (none, value) = if a { (then, else_) } else { (else_, then) };
                self.error(
                    Diagnostic::error(value.span, "the branches of `?:` must both have a value or both have none")
                        .with_label("this branch has a value")
                        .with_secondary(none.span, "this one has none"),
                );
                return Some(None);
            }
        }
        let cond = self.expr(cond, cx);
        self.expect_int(&cond, "a `?:` condition");
        let mut branch = |b: &ast::Expr, cx: &mut ProbeCx| self.call_stmt(b, cx).map(|kind| Stmt { kind, span: b.span }).into_iter().collect();
        let then = branch(then, cx);
        let else_ = branch(else_, cx);
        Some(Some(StmtKind::If { cond, then, else_ }))
    }
    pub(super) fn assign(&mut self, target: &ast::Expr, value: &ast::Expr, cx: &mut ProbeCx) -> Option<StmtKind> {
        match &target.kind {
            A::Map { name, keys } => {
                let map = self.map_id(name);
                let keys = self.map_keys(map, keys, target.span, cx)?;
                let (mut update, kind) = self.map_update(value, cx)?;
                if let (MapUpdate::Set(e), Some(MapValue::Plain(ty))) = (&mut update, &self.maps[map.0].value) {
                    fit_to(e, ty);
                }
                self.learn_value(map, kind, value.span);
                Some(StmtKind::MapUpdate { map, keys, update })
            }
            A::Var(name) => {
                let value = self.expr(value, cx);
                if value.ty == Type::Void {
                    self.error(Diagnostic::error(value.span, "this has no value to assign").with_label("no value"));
                    return None;
                }
                let var = self.declare_var(name, &value, cx)?;
                let mut value = value;
                fit_to(&mut value, &cx.vars[var.0].ty);
                Some(StmtKind::VarAssign { var, value })
            }
            _ => {
                self.error(
                    Diagnostic::error(target.span, "only maps (`@x`) and variables (`$x`) can be assigned to")
                        .with_label("cannot assign to this"),
                );
                None
            }
        }
    }
    pub(super) fn declare_var(&mut self, name: &str, value: &Expr, cx: &mut ProbeCx) -> Option<VarId> {
        let var_name = format!("${name}");
        let key = (cx.index, var_name.clone());
        // The first pass learnt the widest type this variable takes.
        let ty = match self.var_types.get(&key) {
            Some(t) if t.compatible(&value.ty) => t.unify(&value.ty),
            Some(t) => {
                let t = t.clone();
                self.error(
                    Diagnostic::error(value.span, format!("`{var_name}` holds {t}, so it cannot be assigned {}", value.ty))
                        .with_label("conflicting type"),
                );
                return None;
            }
            None => value.ty.clone(),
        };
        self.var_types.insert(key, ty.clone());
        if let Some(&id) = cx.var_ids.get(&var_name) {
            cx.vars[id.0].ty = ty;
            return Some(id);
        }
        let id = VarId(cx.vars.len());
        cx.vars.push(Var { name: var_name.clone(), ty });
        cx.var_ids.insert(var_name, id);
        Some(id)
    }
}

/// The type of a map key part or value as `$kv` of a `for` loop holds it:
/// the loop copies the key as the map stores it, each part taking a whole
/// number of u64s, so strings are widened to that size (a string reads up
/// to its NUL, so the extra bytes change nothing but the layout).
pub(super) fn padded(t: &Type) -> Type {
    match t {
        Type::Str { size } => Type::Str { size: size.div_ceil(8) * 8 },
        other => other.clone(),
    }
}

/// Makes an integer stored into a map value or a variable of type `ty`
/// fit it. Every integer is 64 bits wide in a register, and the stored
/// type is at least as wide as any value assigned (the checker widens
/// it), so only the sign needs care: a narrower signed value stored where
/// an earlier assignment made the type unsigned keeps its bits, not its
/// sign (bpftrace stores (int16)-2 in such a map as 65534).
pub(super) fn fit_to(e: &mut Expr, ty: &Type) {
    let (Type::Int { signed: false, .. }, Type::Int { bits: bits @ 8..=32, signed: true }) = (ty, &e.ty) else { return };
    let (bits, span) = (*bits, e.span);
    let inner = std::mem::replace(e, Expr { kind: ExprKind::Int(0), ty: Type::I64, span });
    *e = Expr { kind: ExprKind::Cast(Box::new(inner)), ty: Type::Int { bits, signed: false }, span };
}

/// Whether an expression is a statement with no value: a call of a
/// statement function, or a `?:` choosing between such calls.
fn has_no_value(e: &ast::Expr) -> bool {
    match &e.kind {
        A::Call { name, .. } => functions::function(&name.name).is_some_and(|f| f.role() == functions::Role::Statement),
        A::Ternary { then, else_, .. } => has_no_value(then) || has_no_value(else_),
        _ => false,
    }
}
