//! Semantic checks: resolves probes, builtins, variables and maps, infers
//! and checks types, and produces the [`checked::Program`] that code
//! generation consumes.
//!
//! Map types are inferred from every use in the program, wherever it stands
//! (a probe may read a map that a later probe writes), so the probes are
//! walked twice: the first walk only learns map and variable types, the
//! second reports diagnostics against the complete picture.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ast::{self, BinaryOp, ExprKind as A, UnaryOp};
use crate::checked::{
    Builtin, Expr, ExprKind, Map, MapId, MapUpdate, MapValue, Printf, Probe, Program, Stmt, StmtKind, Var, VarId,
};
use crate::format;
use crate::probes::{self, ProbeKind, ResolvedProbe};
use crate::target::{FieldKind, Target};
use crate::types::{Type, COMM_LEN, DEFAULT_STRLEN};
use crate::{Diagnostic, Span};

/// What the command line adds to a program.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Positional parameters: `$1` is `params[0]`; `$#` is their count.
    pub params: Vec<String>,
    /// `--unsafe`: allows `system()` and `signal()`.
    pub allow_unsafe: bool,
}

/// Checks a parsed program against the host's facts.
pub fn check(program: &ast::Program, target: &dyn Target) -> Result<Program, Vec<Diagnostic>> {
    check_with(program, target, &Options::default())
}

/// [`check`], with the command line's parameters and permissions.
pub fn check_with(program: &ast::Program, target: &dyn Target, options: &Options) -> Result<Program, Vec<Diagnostic>> {
    let _ = options;
    let mut diags = Vec::new();
    for entry in &program.config {
        diags.push(
            Diagnostic::error(entry.key.span, format!("unknown config option `{}`", entry.key.name))
                .with_label("not an option rbpf knows"),
        );
    }

    // Expand attach points first: every later error is about a probe that exists.
    let mut expanded: Vec<(&ast::Probe, ResolvedProbe, Span)> = Vec::new();
    for probe in &program.probes {
        for ap in &probe.attach_points {
            match probes::resolve(&ap.text, ap.span, target) {
                Ok(resolved) => expanded.extend(resolved.into_iter().map(|r| (probe, r, ap.span))),
                Err(d) => diags.push(d),
            }
        }
    }

    let mut checker = Checker::new(program);
    for pass in [Pass::Infer, Pass::Report] {
        checker.pass = pass;
        checker.diags.clear();
        checker.printfs.clear();
        checker.uses_elapsed = false;
        let mut probes = Vec::with_capacity(expanded.len());
        for (index, (probe, resolved, span)) in expanded.iter().enumerate() {
            probes.push(checker.check_probe(index, probe, resolved, *span));
        }
        checker.probes = probes;
    }
    diags.append(&mut checker.diags);
    // A map whose only assignment was refused above needs no second message.
    let clean = diags.is_empty();
    for (id, slot) in checker.maps.iter().enumerate() {
        if clean && slot.value.is_none() {
            diags.push(
                Diagnostic::error(slot.span, format!("map `{}` is read but never assigned", slot.name))
                    .with_label("never assigned a value")
                    .with_note(format!("assign it somewhere, e.g. `{} = count()`", checker.map_names[id])),
            );
        }
    }
    dedup(&mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let maps = checker
        .maps
        .into_iter()
        .map(|m| Map { name: m.name, key: m.key.unwrap_or_default(), value: m.value.unwrap_or(MapValue::Count), span: m.span })
        .collect();
    Ok(Program { probes: checker.probes, maps, printfs: checker.printfs, uses_elapsed: checker.uses_elapsed })
}

/// The same mistake in a block shared by several attach points is reported once.
fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    diags.retain(|d| seen.insert((d.span, d.message.clone())));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Infer,
    Report,
}

/// A map as learnt so far.
struct MapSlot {
    name: String,
    key: Option<Vec<Type>>,
    key_span: Span,
    value: Option<MapValue>,
    value_span: Span,
    span: Span,
}

struct Checker {
    pass: Pass,
    diags: Vec<Diagnostic>,
    /// Sorted by name; the index is the MapId.
    maps: Vec<MapSlot>,
    map_names: Vec<String>,
    map_ids: HashMap<String, MapId>,
    printfs: Vec<Printf>,
    uses_elapsed: bool,
    probes: Vec<Probe>,
    /// Variable types learnt in the first pass, by probe index and name.
    var_types: HashMap<(usize, String), Type>,
}

/// The context of the probe being checked.
struct ProbeCx<'a> {
    index: usize,
    resolved: &'a ResolvedProbe,
    vars: Vec<Var>,
    var_ids: HashMap<String, VarId>,
}

impl Checker {
    fn new(program: &ast::Program) -> Self {
        let mut names = BTreeMap::new();
        for probe in &program.probes {
            if let Some(p) = &probe.predicate {
                collect_maps_expr(p, &mut names);
            }
            collect_maps_block(&probe.body, &mut names);
        }
        let mut maps = Vec::new();
        let mut map_ids = HashMap::new();
        let mut map_names = Vec::new();
        for (name, span) in names {
            map_ids.insert(name.clone(), MapId(maps.len()));
            map_names.push(name.clone());
            maps.push(MapSlot { name, key: None, key_span: span, value: None, value_span: span, span });
        }
        Checker {
            pass: Pass::Infer,
            diags: Vec::new(),
            maps,
            map_names,
            map_ids,
            printfs: Vec::new(),
            uses_elapsed: false,
            probes: Vec::new(),
            var_types: HashMap::new(),
        }
    }

    fn error(&mut self, d: Diagnostic) {
        if self.pass == Pass::Report {
            self.diags.push(d);
        }
    }

    /// `index` is the probe's position in the expansion, the same in both
    /// passes, so variable types learnt in the first carry to the second.
    fn check_probe(&mut self, index: usize, probe: &ast::Probe, resolved: &ResolvedProbe, span: Span) -> Probe {
        let mut cx = ProbeCx { index, resolved, vars: Vec::new(), var_ids: HashMap::new() };
        let predicate = probe.predicate.as_ref().map(|p| {
            let e = self.expr(p, &mut cx);
            self.expect_int(&e, "a predicate");
            e
        });
        let body = self.block(&probe.body, &mut cx);
        Probe { kind: resolved.kind.clone(), name: resolved.name.clone(), span, predicate, body, vars: cx.vars }
    }

    fn block(&mut self, block: &ast::Block, cx: &mut ProbeCx) -> Vec<Stmt> {
        let mut out = Vec::new();
        for stmt in &block.stmts {
            self.stmt(stmt, cx, &mut out);
        }
        out
    }

    fn stmt(&mut self, stmt: &ast::Stmt, cx: &mut ProbeCx, out: &mut Vec<Stmt>) {
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
            ast::StmtKind::Assign { op: Some(op), .. } => {
                return self.unavailable(span, &format!("compound assignment `{}=`", op.symbol()));
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
            ast::StmtKind::While { .. } => return self.unavailable(span, "`while` loops"),
            ast::StmtKind::Unroll { .. } => return self.unavailable(span, "`unroll`"),
            ast::StmtKind::For { .. } => return self.unavailable(span, "`for` loops"),
            ast::StmtKind::Break => return self.unavailable(span, "`break`"),
            ast::StmtKind::Continue => return self.unavailable(span, "`continue`"),
            ast::StmtKind::Return => return self.unavailable(span, "`return`"),
        };
        out.push(Stmt { kind, span });
    }

    fn unavailable(&mut self, span: Span, what: &str) {
        self.error(
            Diagnostic::error(span, format!("{what} is not available in this build of rbpf"))
                .with_label("not compiled by this version"),
        );
    }

    /// An expression statement: a call with an effect, or an expression.
    fn call_stmt(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<StmtKind> {
        if let A::Call { name, args } = &e.kind {
            match name.name.as_str() {
                "printf" => return self.printf(e.span, args, cx),
                "exit" => {
                    self.arity(name, args, 0, 0)?;
                    return Some(StmtKind::Exit);
                }
                "count" | "sum" | "min" | "max" | "avg" => {
                    self.error(
                        Diagnostic::error(e.span, format!("`{}()` must be assigned to a map", name.name))
                            .with_label("its result is lost here")
                            .with_note(format!("write e.g. `@x = {}(...)`", name.name)),
                    );
                    return None;
                }
                _ => {}
            }
        }
        let e = self.expr(e, cx);
        Some(StmtKind::Expr(e))
    }

    fn arity(&mut self, name: &ast::Ident, args: &[ast::Expr], min: usize, max: usize) -> Option<()> {
        if (min..=max).contains(&args.len()) {
            return Some(());
        }
        let want = match (min, max) {
            (0, 0) => "no arguments".to_string(),
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, b) => format!("{a} to {b} arguments"),
        };
        let span = args.first().map_or(name.span, |a| a.span.to(args[args.len() - 1].span));
        self.error(
            Diagnostic::error(span, format!("`{}()` takes {want}, but {} {} given", name.name, args.len(), if args.len() == 1 { "was" } else { "were" }))
                .with_label(format!("expected {want}"))
                .with_secondary(name.span, "in this call"),
        );
        None
    }

    fn printf(&mut self, span: Span, args: &[ast::Expr], cx: &mut ProbeCx) -> Option<StmtKind> {
        let Some((fmt, rest)) = args.split_first() else {
            self.error(
                Diagnostic::error(span, "`printf()` needs a format string")
                    .with_label("no arguments")
                    .with_note("write e.g. `printf(\"%d\\n\", pid)`"),
            );
            return None;
        };
        let A::Str(format_text) = &fmt.kind else {
            self.error(
                Diagnostic::error(fmt.span, "printf's format must be a string literal")
                    .with_label("not a string literal"),
            );
            return None;
        };
        let pieces = match format::parse(format_text) {
            Ok(p) => p,
            Err(e) => {
                self.error(Diagnostic::error(fmt.span, e.message.clone()).with_label("in this format string"));
                return None;
            }
        };
        let convs: Vec<_> = format::conversions(&pieces).cloned().collect();
        let checked: Vec<Expr> = rest.iter().map(|a| self.expr(a, cx)).collect();
        if convs.len() != checked.len() {
            let d = Diagnostic::error(
                span,
                format!(
                    "the format has {} conversion{} but {} argument{} follow{}",
                    convs.len(),
                    if convs.len() == 1 { "" } else { "s" },
                    checked.len(),
                    if checked.len() == 1 { "" } else { "s" },
                    if checked.len() == 1 { "s" } else { "" },
                ),
            )
            .with_label("wrong number of arguments")
            .with_secondary(fmt.span, "the format string");
            self.error(d);
            return None;
        }
        let mut ok = true;
        for (conv, arg) in convs.iter().zip(&checked) {
            let fits = if conv.takes_string() { arg.ty.is_str() } else { arg.ty.is_int() };
            if !fits {
                ok = false;
                let want = if conv.takes_string() { "a string" } else { "an integer" };
                self.error(
                    Diagnostic::error(arg.span, format!("`%{}` needs {want}, but this is {}", conv.conv, arg.ty))
                        .with_label(format!("expected {want}"))
                        .with_secondary(fmt.span, "the format string"),
                );
            }
        }
        if !ok {
            return None;
        }
        let id = self.printfs.len();
        self.printfs.push(Printf {
            format: format_text.clone(),
            args: checked.iter().map(|a| a.ty.clone()).collect(),
            span,
        });
        Some(StmtKind::Printf { id, args: checked })
    }

    fn assign(&mut self, target: &ast::Expr, value: &ast::Expr, cx: &mut ProbeCx) -> Option<StmtKind> {
        match &target.kind {
            A::Map { name, keys } => {
                let map = self.map_id(name);
                let keys = self.map_keys(map, keys, target.span, cx)?;
                let (update, kind) = self.map_update(value, cx)?;
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

    fn map_update(&mut self, value: &ast::Expr, cx: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        if let A::Call { name, args } = &value.kind {
            let agg = name.name.as_str();
            if agg == "count" {
                self.arity(name, args, 0, 0)?;
                return Some((MapUpdate::Count, MapValue::Count));
            }
            if matches!(agg, "sum" | "min" | "max" | "avg") {
                self.arity(name, args, 1, 1)?;
                let arg = self.expr(&args[0], cx);
                self.expect_int(&arg, &format!("`{agg}()`"))?;
                let signed = arg.ty.is_signed();
                return Some(match agg {
                    "sum" => (MapUpdate::Sum(arg), MapValue::Sum { signed }),
                    "min" => (MapUpdate::Min(arg), MapValue::Min { signed }),
                    "max" => (MapUpdate::Max(arg), MapValue::Max { signed }),
                    _ => (MapUpdate::Avg(arg), MapValue::Avg { signed }),
                });
            }
        }
        let e = self.expr(value, cx);
        if e.ty == Type::Void {
            self.error(Diagnostic::error(e.span, "this has no value to store in a map").with_label("no value"));
            return None;
        }
        let ty = e.ty.clone();
        Some((MapUpdate::Set(e), MapValue::Plain(ty)))
    }

    fn map_id(&self, name: &str) -> MapId {
        // Every map name was collected before checking.
        self.map_ids[&format!("@{name}")]
    }

    /// Learns or checks a map's value kind.
    fn learn_value(&mut self, map: MapId, kind: MapValue, span: Span) {
        let slot = &mut self.maps[map.0];
        let Some(old) = &slot.value else {
            slot.value = Some(kind);
            slot.value_span = span;
            return;
        };
        let merged = match (old, &kind) {
            (MapValue::Plain(a), MapValue::Plain(b)) if a.compatible(b) => Some(MapValue::Plain(a.unify(b))),
            (MapValue::Sum { signed: a }, MapValue::Sum { signed: b }) => Some(MapValue::Sum { signed: *a || *b }),
            (MapValue::Min { signed: a }, MapValue::Min { signed: b }) => Some(MapValue::Min { signed: *a || *b }),
            (MapValue::Max { signed: a }, MapValue::Max { signed: b }) => Some(MapValue::Max { signed: *a || *b }),
            (MapValue::Avg { signed: a }, MapValue::Avg { signed: b }) => Some(MapValue::Avg { signed: *a || *b }),
            (MapValue::Count, MapValue::Count) => Some(MapValue::Count),
            _ => None,
        };
        match merged {
            Some(m) => slot.value = Some(m),
            None => {
                let (name, first, old) = (slot.name.clone(), slot.value_span, old.describe());
                if span != first {
                    self.error(
                        Diagnostic::error(span, format!("map `{name}` already holds {old}, so it cannot hold {}", kind.describe()))
                            .with_label("conflicting value")
                            .with_secondary(first, "its value is set here"),
                    );
                }
            }
        }
    }

    /// Checks the keys of a map access and learns or checks the key types.
    fn map_keys(&mut self, map: MapId, keys: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<Vec<Expr>> {
        let keys: Vec<Expr> = keys.iter().map(|k| self.expr(k, cx)).collect();
        for k in &keys {
            if !(k.ty.is_int() || k.ty.is_str()) {
                self.error(Diagnostic::error(k.span, format!("a {} cannot be a map key", k.ty)).with_label("not a valid key"));
                return None;
            }
        }
        let types: Vec<Type> = keys.iter().map(|k| k.ty.clone()).collect();
        let slot = &mut self.maps[map.0];
        match &slot.key {
            None => {
                slot.key = Some(types);
                slot.key_span = span;
            }
            Some(old) => {
                let same = old.len() == types.len() && old.iter().zip(&types).all(|(a, b)| a.compatible(b));
                if same {
                    slot.key = Some(old.iter().zip(&types).map(|(a, b)| a.unify(b)).collect());
                } else if slot.key_span != span {
                    let describe = |t: &[Type]| match t.len() {
                        0 => "no key".to_string(),
                        _ => format!("[{}]", t.iter().map(Type::to_string).collect::<Vec<_>>().join(", ")),
                    };
                    let (name, first, old) = (slot.name.clone(), slot.key_span, describe(old));
                    self.error(
                        Diagnostic::error(span, format!("map `{name}` is used with key {} here, but with key {old} before", describe(&types)))
                            .with_label("conflicting key type")
                            .with_secondary(first, "first used here")
                            .with_note("a map's keys must have the same types everywhere"),
                    );
                    return None;
                }
            }
        }
        Some(keys)
    }

    fn declare_var(&mut self, name: &str, value: &Expr, cx: &mut ProbeCx) -> Option<VarId> {
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

    fn expect_int(&mut self, e: &Expr, what: &str) -> Option<()> {
        if e.ty.is_int() {
            return Some(());
        }
        self.error(
            Diagnostic::error(e.span, format!("{what} needs an integer, but this is {}", e.ty)).with_label("expected an integer"),
        );
        None
    }

    fn expr(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Expr {
        let span = e.span;
        let (kind, ty) = match self.expr_kind(e, cx) {
            Some(kt) => kt,
            // An error was reported; go on with a harmless stand-in so the
            // rest of the program is still checked.
            None => (ExprKind::Int(0), Type::I64),
        };
        Expr { kind, ty, span }
    }

    fn expr_kind(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let span = e.span;
        Some(match &e.kind {
            A::Int(v) => (ExprKind::Int(*v), if *v > i64::MAX as u64 { Type::U64 } else { Type::I64 }),
            A::Bool(b) => (ExprKind::Int(u64::from(*b)), Type::U64),
            A::Str(s) => (ExprKind::Str(s.clone()), Type::Str { size: s.len() as u32 + 1 }),
            A::Ident(name) => return self.builtin(name, span, cx),
            A::Var(name) => {
                let var_name = format!("${name}");
                let Some(&id) = cx.var_ids.get(&var_name) else {
                    self.error(
                        Diagnostic::error(span, format!("unknown variable `{var_name}`"))
                            .with_label("not assigned before this use")
                            .with_note(format!("assign it first in this probe, e.g. `{var_name} = 0;`")),
                    );
                    return None;
                };
                (ExprKind::Var(id), cx.vars[id.0].ty.clone())
            }
            A::Map { name, keys } => {
                let map = self.map_id(name);
                let keys = self.map_keys(map, keys, span, cx)?;
                let value = self.maps[map.0].value.clone();
                let ty = match value {
                    Some(MapValue::Plain(t)) => t,
                    // Not known yet in the first pass; the second pass knows.
                    None if self.pass == Pass::Infer => Type::I64,
                    None => Type::I64,
                    Some(agg) => {
                        self.error(
                            Diagnostic::error(span, format!("reading the value of {} in an expression is not available in this build of rbpf", agg.describe()))
                                .with_label("an aggregation")
                                .with_note("its value is printed when the program ends"),
                        );
                        return None;
                    }
                };
                (ExprKind::MapRead { map, keys }, ty)
            }
            A::Call { name, args } => return self.call_expr(name, args, span, cx),
            A::Unary { op, expr } => {
                let inner = self.expr(expr, cx);
                let ty = match op {
                    UnaryOp::Neg | UnaryOp::BitNot => {
                        self.expect_int(&inner, &format!("`{}`", if *op == UnaryOp::Neg { "-" } else { "~" }))?;
                        Type::Int { bits: 64, signed: *op == UnaryOp::Neg || inner.ty.is_signed() }
                    }
                    UnaryOp::Not => {
                        self.expect_int(&inner, "`!`")?;
                        Type::U64
                    }
                    UnaryOp::Deref | UnaryOp::AddrOf => {
                        self.unavailable(span, "pointer dereference and address-of");
                        return None;
                    }
                };
                (ExprKind::Unary { op: *op, expr: Box::new(inner) }, ty)
            }
            A::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs, cx);
                let r = self.expr(rhs, cx);
                if l.ty.is_str() || r.ty.is_str() {
                    let d = if matches!(op, BinaryOp::Eq | BinaryOp::Ne) && l.ty.is_str() && r.ty.is_str() {
                        Diagnostic::error(span, "comparing strings is not available in this build of rbpf")
                            .with_label("string comparison")
                    } else {
                        let which = if l.ty.is_str() { &l } else { &r };
                        Diagnostic::error(which.span, format!("`{}` needs integers, but this is {}", op.symbol(), which.ty))
                            .with_label("expected an integer")
                    };
                    self.error(d);
                    return None;
                }
                self.expect_int(&l, &format!("`{}`", op.symbol()))?;
                self.expect_int(&r, &format!("`{}`", op.symbol()))?;
                let ty = if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                    Type::U64
                } else {
                    Type::Int { bits: 64, signed: l.ty.is_signed() && r.ty.is_signed() }
                };
                (ExprKind::Binary { op: *op, lhs: Box::new(l), rhs: Box::new(r) }, ty)
            }
            A::Field { expr, field, .. } => return self.field(expr, field, span, cx),
            A::Positional(_) | A::PositionalCount => {
                self.unavailable(span, "positional parameters");
                return None;
            }
            A::Ternary { .. } => return self.unavailable_expr(span, "the ternary operator `?:`"),
            A::TupleIndex { .. } | A::Tuple(_) => return self.unavailable_expr(span, "tuples"),
            A::Index { .. } => return self.unavailable_expr(span, "indexing"),
            A::Cast { .. } => return self.unavailable_expr(span, "casts"),
            A::IncDec { .. } => return self.unavailable_expr(span, "`++` and `--`"),
            A::Sizeof(_) => return self.unavailable_expr(span, "`sizeof`"),
        })
    }

    fn unavailable_expr(&mut self, span: Span, what: &str) -> Option<(ExprKind, Type)> {
        self.unavailable(span, what);
        None
    }

    fn builtin(&mut self, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let b = match name {
            "pid" => Builtin::Pid,
            "tid" => Builtin::Tid,
            "uid" => Builtin::Uid,
            "gid" => Builtin::Gid,
            "comm" => Builtin::Comm,
            "nsecs" => Builtin::Nsecs,
            "elapsed" => Builtin::Elapsed,
            "cpu" => Builtin::Cpu,
            "probe" => {
                let probe = cx.resolved.name.clone();
                let size = (probe.len() as u32 + 1).max(DEFAULT_STRLEN);
                return Some((ExprKind::Str(probe), Type::Str { size }));
            }
            "args" => {
                self.error(
                    Diagnostic::error(span, "`args` is a record: use one of its fields")
                        .with_label("write `args.FIELD`"),
                );
                return None;
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("unknown builtin `{name}`"))
                        .with_label("not a builtin variable")
                        .with_note("builtins are: pid, tid, uid, gid, comm, nsecs, elapsed, cpu, probe, args"),
                );
                return None;
            }
        };
        let ty = match b {
            Builtin::Comm => Type::Str { size: COMM_LEN },
            Builtin::Nsecs | Builtin::Elapsed => Type::U64,
            Builtin::Pid | Builtin::Tid | Builtin::Uid | Builtin::Gid | Builtin::Cpu => Type::U32,
        };
        if b == Builtin::Elapsed {
            self.uses_elapsed = true;
        }
        Some((ExprKind::Builtin(b), ty))
    }

    fn field(&mut self, base: &ast::Expr, field: &ast::Ident, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if base.kind != A::Ident("args".into()) {
            self.unavailable(span, "field access on anything but `args`");
            return None;
        }
        let ProbeKind::Tracepoint { category, name, format } = &cx.resolved.kind else {
            self.error(
                Diagnostic::error(base.span, format!("`args` is not available in a `{}` probe", cx.resolved.name))
                    .with_label("this probe has no arguments"),
            );
            return None;
        };
        let Some(f) = format.field(&field.name) else {
            let known: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
            self.error(
                Diagnostic::error(field.span, format!("tracepoint `{category}:{name}` has no field `{}`", field.name))
                    .with_label("no such field")
                    .with_note(format!("its fields are: {}", known.join(", "))),
            );
            return None;
        };
        let ty = match f.kind {
            FieldKind::Int if matches!(f.size, 1 | 2 | 4 | 8) => Type::Int { bits: (f.size * 8) as u8, signed: f.signed },
            FieldKind::Pointer { to_char } => Type::Ptr { to_char, user: category == "syscalls" },
            FieldKind::Array { chars: true } => Type::Str { size: f.size },
            FieldKind::DataLoc { chars: true } => Type::Str { size: DEFAULT_STRLEN },
            _ => {
                self.error(
                    Diagnostic::error(field.span, format!("field `{}` ({}) cannot be read by this build of rbpf", f.name, f.c_type))
                        .with_label("unsupported field type"),
                );
                return None;
            }
        };
        Some((ExprKind::TracepointField(f.clone()), ty))
    }

    fn call_expr(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        match name.name.as_str() {
            "str" => {
                self.arity(name, args, 1, 2)?;
                let ptr = self.expr(&args[0], cx);
                if ptr.ty.is_str() {
                    // str() of a string is the string itself.
                    return Some((ptr.kind, ptr.ty));
                }
                self.expect_int(&ptr, "`str()`")?;
                let len = match args.get(1) {
                    Some(a) => {
                        let l = self.expr(a, cx);
                        self.expect_int(&l, "the length of `str()`")?;
                        Some(Box::new(l))
                    }
                    None => None,
                };
                // A constant length shrinks the buffer, as in bpftrace.
                let size = match len.as_deref().map(|l| &l.kind) {
                    Some(ExprKind::Int(n)) => (*n as u32).saturating_add(1).min(DEFAULT_STRLEN),
                    _ => DEFAULT_STRLEN,
                };
                Some((ExprKind::StrRead { ptr: Box::new(ptr), len }, Type::Str { size }))
            }
            "printf" | "exit" => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` has no value", name.name))
                        .with_label("use it as a statement"),
                );
                None
            }
            "count" | "sum" | "min" | "max" | "avg" => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` must be assigned to a map", name.name))
                        .with_label("not directly in an expression")
                        .with_note(format!("write e.g. `@x = {}(...)`", name.name)),
                );
                None
            }
            other => {
                self.error(
                    Diagnostic::error(name.span, format!("unknown function `{other}`"))
                        .with_label("not a function rbpf knows")
                        .with_note("functions are: printf, str, exit, count, sum, min, max, avg"),
                );
                None
            }
        }
    }
}

fn collect_maps_block(block: &ast::Block, out: &mut BTreeMap<String, Span>) {
    for stmt in &block.stmts {
        match &stmt.kind {
            ast::StmtKind::Expr(e) => collect_maps_expr(e, out),
            ast::StmtKind::Assign { target, value, .. } => {
                collect_maps_expr(target, out);
                collect_maps_expr(value, out);
            }
            ast::StmtKind::If { cond, then, else_ } => {
                collect_maps_expr(cond, out);
                collect_maps_block(then, out);
                if let Some(b) = else_ {
                    collect_maps_block(b, out);
                }
            }
            ast::StmtKind::While { cond, body } => {
                collect_maps_expr(cond, out);
                collect_maps_block(body, out);
            }
            ast::StmtKind::Unroll { count, body } => {
                collect_maps_expr(count, out);
                collect_maps_block(body, out);
            }
            ast::StmtKind::For { iter, body, .. } => {
                if let ast::ForIter::Range { start, end } = iter {
                    collect_maps_expr(start, out);
                    collect_maps_expr(end, out);
                }
                collect_maps_block(body, out);
            }
            ast::StmtKind::Block(b) => collect_maps_block(b, out),
            ast::StmtKind::Break | ast::StmtKind::Continue | ast::StmtKind::Return => {}
        }
    }
}

/// Collects map names, each with the span of its first use.
fn collect_maps_expr(e: &ast::Expr, out: &mut BTreeMap<String, Span>) {
    match &e.kind {
        A::Map { name, keys } => {
            out.entry(format!("@{name}")).or_insert(e.span);
            keys.iter().for_each(|k| collect_maps_expr(k, out));
        }
        A::Call { args, .. } => args.iter().for_each(|a| collect_maps_expr(a, out)),
        A::Tuple(items) => items.iter().for_each(|a| collect_maps_expr(a, out)),
        A::Unary { expr, .. }
        | A::Field { expr, .. }
        | A::TupleIndex { expr, .. }
        | A::Cast { expr, .. }
        | A::IncDec { expr, .. } => collect_maps_expr(expr, out),
        A::Binary { lhs, rhs, .. } | A::Index { expr: lhs, index: rhs } => {
            collect_maps_expr(lhs, out);
            collect_maps_expr(rhs, out);
        }
        A::Ternary { cond, then, else_ } => {
            collect_maps_expr(cond, out);
            collect_maps_expr(then, out);
            collect_maps_expr(else_, out);
        }
        A::Sizeof(arg) => {
            if let ast::SizeofArg::Expr(e) = arg.as_ref() {
                collect_maps_expr(e, out);
            }
        }
        A::Int(_) | A::Str(_) | A::Bool(_) | A::Ident(_) | A::Var(_) | A::Positional(_) | A::PositionalCount => {}
    }
}

#[cfg(test)]
mod tests;
