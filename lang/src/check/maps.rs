//! Maps: keys and values learnt from every use, aggregations, and the
//! functions that take a whole map.

use super::{tuple, Checker, ProbeCx};
use crate::ast::{self, ExprKind as A};
use crate::checked::{Expr, ExprKind, MapCommand, MapId, MapUpdate, MapValue, StmtKind};
use crate::types::{StackMode, Type, MAX_STACK_FRAMES};
use crate::{Diagnostic, Span};
use super::functions::Call;

impl Checker {
    /// `has_key(@m, key)`: 1 when the key is in the map.
    pub(super) fn has_key(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let args = call.args;
        let A::Map { name: map_name, keys } = &args[0].kind else {
            self.map_arg(&args[0], &call.name.name)?;
            return None;
        };
        if !keys.is_empty() {
            self.map_arg(&args[0], &call.name.name)?;
        }
        let map = self.map_id(map_name);
        let key_exprs = match &args[1].kind {
            A::Tuple(items) => items.clone(),
            _ => vec![args[1].clone()],
        };
        let keys = self.map_keys(map, &key_exprs, args[0].span.to(args[1].span), cx)?;
        Some((ExprKind::HasKey { map, keys }, Type::U64))
    }

    /// `len(@m)`: the number of its elements.
    pub(super) fn len(&mut self, call: &Call, _: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let args = call.args;
        let map = self.map_arg(&args[0], &call.name.name)?;
        self.maps[map.0].element_ops = true;
        Some((ExprKind::MapLen(map), Type::I64))
    }

    /// A whole map as an argument: `@m`, without keys.
    pub(super) fn map_arg(&mut self, a: &ast::Expr, function: &str) -> Option<MapId> {
        match &a.kind {
            A::Map { name, keys } if keys.is_empty() => Some(self.map_id(name)),
            _ => {
                self.error(
                    Diagnostic::error(a.span, format!("`{function}()` takes a map, such as `@m`"))
                        .with_label("not a map name"),
                );
                None
            }
        }
    }
    /// `delete(@m[k])` and `delete(@m, k)`.
    pub(super) fn delete(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        let args = call.args;
        let (map_name, key_exprs, span) = match (&args[0].kind, args.get(1)) {
            (A::Map { name, keys }, None) => (name, keys.clone(), args[0].span),
            (A::Map { name, keys }, Some(k)) if keys.is_empty() => {
                let keys = match &k.kind {
                    A::Tuple(items) => items.clone(),
                    _ => vec![k.clone()],
                };
                (name, keys, args[0].span.to(k.span))
            }
            _ => {
                self.error(
                    Diagnostic::error(args[0].span, "`delete()` takes a map element, `@m[key]` or `@m, key`")
                        .with_label("not a map element"),
                );
                return None;
            }
        };
        let map = self.map_id(map_name);
        if let Some(v) = &self.maps[map.0].value {
            if !v.is_readable() {
                self.error(
                    Diagnostic::error(span, format!("`delete()` cannot remove one key of {}", v.describe()))
                        .with_label("a histogram or stats map")
                        .with_note("`clear()` empties the whole map"),
                );
                return None;
            }
        }
        self.maps[map.0].element_ops = true;
        let keys = self.map_keys(map, &key_exprs, span, cx)?;
        Some(StmtKind::Delete { map, keys })
    }
    /// `print(@m)`, `print(@m, top, div)` and `print(value)`.
    pub(super) fn print(&mut self, call: &Call, cx: &mut ProbeCx) -> Option<StmtKind> {
        let args = call.args;
        if let A::Map { name: map_name, keys } = &args[0].kind {
            if keys.is_empty() {
                let map = self.map_id(map_name);
                let top = match args.get(1) {
                    Some(a) => self.const_arg(a, 0, i64::MAX, "the `top` of `print()`")? as u64,
                    None => 0,
                };
                let div = match args.get(2) {
                    Some(a) => self.const_arg(a, 1, i64::MAX, "the divisor of `print()`")? as u64,
                    None => 1,
                };
                return Some(StmtKind::MapCommand { map, command: MapCommand::Print { top, div } });
            }
        }
        if args.len() > 1 {
            self.error(
                Diagnostic::error(args[1].span, "`print()` of a value takes no other arguments")
                    .with_label("only `print(@map, top, div)` takes these"),
            );
            return None;
        }
        let value = self.expr(&args[0], cx);
        if let Type::Ptr { pointee: Some(_), .. } = value.ty {
            // bpftrace: "struct P * type passed to print() is not printable".
            self.error(
                Diagnostic::error(value.span, format!("`print()` cannot print a pointer ({})", value.ty))
                    .with_label("a typed pointer")
                    .with_note("print what it points to, or the address with `printf(\"%p\")`"),
            );
            return None;
        }
        if !(value.ty.is_int() || value.ty.prints_as_string() || value.ty.is_tuple() || value.ty.is_buf() || value.ty.is_cvalue()) {
            self.error(Diagnostic::error(value.span, format!("cannot print {}", value.ty)).with_label("no value"));
            return None;
        }
        let id = self.print_values.len();
        self.print_values.push(value.ty.clone());
        Some(StmtKind::PrintValue { id, value })
    }
    pub(super) fn map_update(&mut self, value: &ast::Expr, cx: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        if let Some(aggregation) = self.aggregation(value, cx) {
            return aggregation;
        }
        let e = self.expr(value, cx);
        if e.ty == Type::Void {
            self.error(Diagnostic::error(e.span, "this has no value to store in a map").with_label("no value"));
            return None;
        }
        let ty = e.ty.clone();
        Some((MapUpdate::Set(e), MapValue::Plain(ty)))
    }
    pub(super) fn map_id(&self, name: &str) -> MapId {
        // Every map name was collected before checking.
        self.map_ids[&format!("@{name}")]
    }
    /// Learns or checks a map's value kind.
    pub(super) fn learn_value(&mut self, map: MapId, kind: MapValue, span: Span) {
        let slot = &mut self.maps[map.0];
        let Some(old) = &slot.value else {
            slot.value = Some(kind);
            slot.value_span = span;
            return;
        };
        let merged = match (old, &kind) {
            (MapValue::Plain(a), MapValue::Plain(b)) if a.fits_map(b) => Some(MapValue::Plain(a.unify(b))),
            // bpftrace 0.17 keeps the sign of a map's first sum(), where
            // min(), max(), avg() and stats() turn signed with any signed
            // value.
            (MapValue::Sum { .. }, MapValue::Sum { .. }) => Some(old.clone()),
            (MapValue::Min { signed: a }, MapValue::Min { signed: b }) => Some(MapValue::Min { signed: *a || *b }),
            (MapValue::Max { signed: a }, MapValue::Max { signed: b }) => Some(MapValue::Max { signed: *a || *b }),
            (MapValue::Avg { signed: a }, MapValue::Avg { signed: b }) => Some(MapValue::Avg { signed: *a || *b }),
            (MapValue::Count, MapValue::Count) => Some(MapValue::Count),
            (MapValue::Stats { signed: a }, MapValue::Stats { signed: b }) => Some(MapValue::Stats { signed: *a || *b }),
            (MapValue::Hist { bits: a }, MapValue::Hist { bits: b }) if a == b => Some(old.clone()),
            (MapValue::Lhist { .. }, MapValue::Lhist { .. }) if *old == kind => Some(old.clone()),
            _ => None,
        };
        match merged {
            Some(m) => slot.value = Some(m),
            None => {
                // Two maps of one kind differ in their parameters: name them.
                let (old, new) = match (old.describe(), kind.describe()) {
                    (a, b) if a == b => (with_parameters(old), with_parameters(&kind)),
                    pair => pair,
                };
                let (name, first) = (slot.name.clone(), slot.value_span);
                if span == first && matches!((&slot.value, &kind), (Some(MapValue::Plain(a)), MapValue::Plain(b)) if holds_cvalue(a) || holds_cvalue(b)) {
                    self.error(attach_points_differ(&name, &old, &new, span));
                } else if span != first {
                    self.error(
                        Diagnostic::error(span, format!("map `{name}` already holds {old}, so it cannot hold {new}"))
                            .with_label("conflicting value")
                            .with_secondary(first, "its value is set here"),
                    );
                }
            }
        }
    }
    /// Checks the keys of a map access and learns or checks the key types.
    pub(super) fn map_keys(&mut self, map: MapId, keys: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<Vec<Expr>> {
        let keys = tuple::flatten_tuple_key(keys.iter().map(|k| self.expr(k, cx)).collect());
        for k in &keys {
            if !(k.ty.is_int() || k.ty.prints_as_string() || k.ty.is_tuple() || k.ty.is_buf() || k.ty.is_cvalue()) {
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
                let same = old.len() == types.len() && old.iter().zip(&types).all(|(a, b)| a.fits_map(b));
                if same {
                    slot.key = Some(old.iter().zip(&types).map(|(a, b)| a.unify(b)).collect());
                } else if slot.key_span == span && old.iter().chain(&types).any(holds_cvalue) {
                    let describe = |t: &[Type]| t.iter().map(Type::to_string).collect::<Vec<_>>().join(", ");
                    let d = attach_points_differ(&slot.name, &format!("keys [{}]", describe(old)), &format!("keys [{}]", describe(&types)), span);
                    self.error(d);
                    return None;
                } else if slot.key_span != span {
                    let describe = |t: &[Type]| match t.len() {
                        0 => "no key".to_string(),
                        _ => format!("[{}]", t.iter().map(key_type).collect::<Vec<_>>().join(", ")),
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
}

/// An aggregation with its parameters, for two of one kind that differ:
/// `hist(n, 2)`, `lhist(n, 0, 100, 10)`.
fn with_parameters(v: &MapValue) -> String {
    match v {
        MapValue::Hist { bits: 0 } => "hist(n)".to_string(),
        MapValue::Hist { bits } => format!("hist(n, {bits})"),
        MapValue::Lhist { min, max, step } => format!("lhist(n, {min}, {max}, {step})"),
        other => other.describe(),
    }
}

/// A key's type as a key message shows it: a stack with its mode and
/// frame limit where they are not the defaults (`kstack(perf, 3)`), since
/// stacks of other modes or limits are other key types.
fn key_type(t: &Type) -> String {
    match t {
        Type::Stack(stack) => {
            let name = if stack.user { "ustack" } else { "kstack" };
            let perf = stack.mode == StackMode::Perf;
            match (perf, stack.limit) {
                (false, MAX_STACK_FRAMES) => name.to_string(),
                (true, MAX_STACK_FRAMES) => format!("{name}(perf)"),
                (false, n) => format!("{name}({n})"),
                (true, n) => format!("{name}(perf, {n})"),
            }
        }
        Type::Tuple(items) => format!("({})", items.iter().map(key_type).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Whether `t` is or holds a struct, union or array value.
fn holds_cvalue(t: &Type) -> bool {
    match t {
        Type::CValue(_) => true,
        Type::Tuple(items) => items.iter().any(holds_cvalue),
        _ => false,
    }
}

/// One statement in a probe with several attach points gives a map
/// struct values of different types (a uprobe wildcard's `args`, one
/// struct per function): the map could hold only one of them.
fn attach_points_differ(name: &str, old: &str, new: &str, span: Span) -> Diagnostic {
    Diagnostic::error(span, format!("map `{name}` holds {old} from one attach point of this probe, but {new} from another"))
        .with_label("its type differs between the probe's attach points")
        .with_note("write a probe for each attach point, each with a map of its own")
}
