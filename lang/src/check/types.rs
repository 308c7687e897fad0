//! Named types: the script's C definitions laid out, and the kernel types
//! and enumerators the program names, looked up once before the probes are
//! checked (the only pass that asks the [`Target`] about types, so a
//! program that names none never reads the kernel's BTF); then `sizeof`,
//! `offsetof` and enum constants, folded to integer constants.

use std::cell::RefCell;
use std::collections::HashMap;

use super::expr::int_type;
use super::{builtins, Checker};
use crate::ast::{self, ExprKind as A, SizeofArg, Visitor};
use crate::cdefs::{self, ScriptTypes};
use crate::checked::ExprKind;
use crate::ctypes::{closest, CType};
use crate::target::{Target, TargetError};
use crate::types::Type;
use crate::{Diagnostic, Span};

/// The types and constants a program can name.
#[derive(Default)]
pub(super) struct TypeTable {
    script: ScriptTypes,
    /// Kernel types by C spelling; `None` when the kernel has none.
    kernel: HashMap<String, Option<CType>>,
    /// The structs and unions of traced binaries' DWARF that uprobe
    /// arguments point to, by C spelling.
    binary: HashMap<String, CType>,
    /// Kernel enumerators the program names.
    kernel_constants: HashMap<String, i64>,
    /// Why the kernel's types cannot be read, if they could not.
    unavailable: Option<String>,
    /// Kernel types met while checking (a struct a pointer member points
    /// to) that were not looked up before: [`TypeTable::learn_wanted`]
    /// looks them up, and the inference pass runs again.
    wanted: RefCell<Vec<String>>,
    /// For each named type the kernel lacks, its nearest kernel type of
    /// the same kind (`struct task_strct` → `struct task_struct`).
    kernel_hints: HashMap<String, String>,
}

impl TypeTable {
    /// Lays out the script's definitions and looks up every kernel type
    /// and enumerator the program names (and only those).
    pub(super) fn build(program: &ast::Program, target: &dyn Target) -> (TypeTable, Vec<Diagnostic>) {
        let mut kernel = HashMap::new();
        let mut unavailable = None;
        let lookup = |key: &str, kernel: &mut HashMap<String, Option<CType>>, unavailable: &mut Option<String>| {
            if let Some(t) = kernel.get(key) {
                return t.clone();
            }
            let t = match target.kernel_type(key) {
                Ok(t) => Some(t),
                Err(TargetError::NotFound) => None,
                Err(TargetError::Unavailable(why)) => {
                    unavailable.get_or_insert(why);
                    None
                }
            };
            kernel.insert(key.to_string(), t.clone());
            t
        };
        let (script, diags) = cdefs::layout(&program.definitions, &mut |key| lookup(key, &mut kernel, &mut unavailable));
        let mut names = Names::default();
        names.visit_program(program);
        let mut kernel_constants = HashMap::new();
        let mut kernel_hints = HashMap::new();
        let mut kernel_names: HashMap<Option<String>, Vec<String>> = HashMap::new();
        for key in names.types {
            if int_type(&key).is_some() || script.types.contains_key(&key) || lookup(&key, &mut kernel, &mut unavailable).is_some() {
                continue;
            }
            if unavailable.is_some() || builtins::builtin(&key).is_some() || script.constants.contains_key(&key) || kernel_hints.contains_key(&key) {
                continue;
            }
            // Not found: an error unless an enumerator (asked below). Only
            // now are the kernel's names of that kind read, once a kind.
            let (kind, name) = match key.split_once(' ') {
                Some((kind, name)) => (Some(kind.to_string()), name),
                None => (None, key.as_str()),
            };
            let known = kernel_names.entry(kind.clone()).or_insert_with(|| target.kernel_type_names(kind.as_deref()).unwrap_or_default());
            if let Some(hint) = nearest(name, known) {
                kernel_hints.insert(key.clone(), crate::ctypes::type_key(kind.as_deref(), hint));
            }
        }
        for name in names.idents {
            if script.constants.contains_key(&name) || builtins::builtin(&name).is_some() {
                continue;
            }
            match target.kernel_enum_constant(&name) {
                Ok(v) => {
                    kernel_constants.insert(name, v);
                }
                Err(TargetError::Unavailable(why)) => {
                    unavailable.get_or_insert(why);
                }
                Err(TargetError::NotFound) => {}
            }
        }
        (TypeTable { script, kernel, binary: HashMap::new(), kernel_constants, unavailable, wanted: RefCell::default(), kernel_hints }, diags)
    }

    /// The type spelt `key`: the script's definition wins over a traced
    /// binary's, which wins over the kernel's.
    pub(super) fn get(&self, key: &str) -> Option<&CType> {
        self.script.types.get(key).or_else(|| self.binary.get(key)).or_else(|| self.kernel.get(key)?.as_ref())
    }

    /// Learns the records a uprobe's arguments point to (from DWARF).
    pub(super) fn learn_binary(&mut self, types: &[(String, CType)]) {
        for (key, ty) in types {
            self.binary.entry(key.clone()).or_insert_with(|| ty.clone());
        }
    }

    /// As [`TypeTable::get`], noting a type not looked up yet so that
    /// [`TypeTable::learn_wanted`] looks it up.
    pub(super) fn get_or_want(&self, key: &str) -> Option<&CType> {
        if !self.script.types.contains_key(key) && !self.binary.contains_key(key) && !self.kernel.contains_key(key) {
            self.wanted.borrow_mut().push(key.to_string());
        }
        self.get(key)
    }

    /// Looks up the kernel types wanted since the last call; whether any
    /// was found (and checking must run again to use it).
    pub(super) fn learn_wanted(&mut self, target: &dyn Target) -> bool {
        let mut learnt = false;
        for key in std::mem::take(self.wanted.get_mut()) {
            if self.kernel.contains_key(&key) {
                continue;
            }
            let t = match target.kernel_type(&key) {
                Ok(t) => Some(t),
                Err(TargetError::NotFound) => None,
                Err(TargetError::Unavailable(why)) => {
                    self.unavailable.get_or_insert(why);
                    None
                }
            };
            learnt |= t.is_some();
            self.kernel.insert(key, t);
        }
        learnt
    }

    /// The value of an enumerator, the script's first.
    pub(super) fn constant(&self, name: &str) -> Option<i64> {
        self.script.constants.get(name).or_else(|| self.kernel_constants.get(name)).copied()
    }

    /// Whether `name` names a type (for `sizeof(pid_t)`, which parses as
    /// an expression).
    fn is_type(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The error for a type that is not known, with the closest known name.
    pub(super) fn unknown(&self, key: &str, span: Span) -> Diagnostic {
        let mut d = Diagnostic::error(span, format!("unknown type `{key}`")).with_label("not defined in the script or the kernel");
        if let Some(why) = &self.unavailable {
            return d.with_note(format!("the kernel's types cannot be read: {why}"));
        }
        let known = self.script.types.keys().chain(self.kernel.iter().filter(|(_, t)| t.is_some()).map(|(k, _)| k));
        let ints = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"];
        let kernel_hint = self.kernel_hints.get(key).map(String::as_str);
        if let Some(hint) = closest(key, known.map(String::as_str).chain(ints).chain(kernel_hint)) {
            d = d.with_note(format!("did you mean `{hint}`?"));
        }
        d
    }
}

/// The name among `known` nearest to `name` (see [`closest`]), looking only
/// at names whose length is within the distance `closest` accepts, so that
/// a scan of the kernel's tens of thousands of names stays cheap.
fn nearest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (name.len() / 3).max(2);
    closest(name, known.iter().map(String::as_str).filter(|k| k.len().abs_diff(name.len()) <= limit))
}

/// The type `curtask` points to.
pub(super) const TASK_STRUCT: &str = "struct task_struct";

/// The type names and bare identifiers a program writes.
#[derive(Default)]
struct Names {
    types: Vec<String>,
    idents: Vec<String>,
}

impl Visitor<'_> for Names {
    fn visit_expr(&mut self, e: &ast::Expr) {
        match &e.kind {
            // Looked up here so that following it needs no second pass.
            A::Ident(name) if name == "curtask" => self.types.push(TASK_STRUCT.to_string()),
            A::Ident(name) => self.idents.push(name.clone()),
            A::Sizeof(arg) | A::Offsetof { of: arg, .. } => match arg.as_ref() {
                SizeofArg::Type(t) => self.types.push(t.name.clone()),
                SizeofArg::Expr(ast::Expr { kind: A::Ident(name), .. }) => self.types.push(name.clone()),
                SizeofArg::Expr(_) => {}
            },
            A::Cast { ty, .. } if int_type(&ty.name).is_none() && ty.name != "void" => self.types.push(ty.name.clone()),
            _ => {}
        }
        ast::walk_expr(self, e);
    }
}

impl Checker {
    /// The size of a type named in `sizeof`; `None` after an error.
    pub(super) fn sizeof_type(&mut self, t: &ast::TypeName) -> Option<u64> {
        if t.pointer > 0 {
            return Some(8);
        }
        if let Some(Type::Int { bits, .. }) = int_type(&t.name) {
            return Some(u64::from(bits / 8));
        }
        let ty = self.named_type(&t.name, t.span)?;
        self.size_of(&ty, &t.name, t.span)
    }

    /// `sizeof(NAME)` where NAME is no builtin or enumerator: a typedef,
    /// or else an unknown type (as bpftrace calls it an unknown
    /// identifier, not an unknown builtin).
    pub(super) fn sizeof_typedef(&mut self, e: &ast::Expr) -> Option<Option<u64>> {
        let A::Ident(name) = &e.kind else { return None };
        if builtins::builtin(name).is_some() || (!self.types.is_type(name) && self.types.constant(name).is_some()) {
            return None;
        }
        let Some(ty) = self.named_type(name, e.span) else { return Some(None) };
        Some(self.size_of(&ty, name, e.span))
    }

    /// The type spelt `key`, or an error.
    pub(super) fn named_type(&mut self, key: &str, span: Span) -> Option<CType> {
        match self.types.get(key) {
            Some(t) => Some(t.clone()),
            None => {
                let d = self.types.unknown(key, span);
                self.error(d);
                None
            }
        }
    }

    fn size_of(&mut self, ty: &CType, key: &str, span: Span) -> Option<u64> {
        let size = ty.size();
        if size.is_none() {
            self.error(
                Diagnostic::error(span, format!("`{key}` has no size"))
                    .with_label(format!("`{ty}` is incomplete or has no size")),
            );
        }
        size
    }

    /// An enumerator read as an integer constant, if `name` is one.
    pub(super) fn enum_constant(&self, name: &str) -> Option<(ExprKind, Type)> {
        if builtins::builtin(name).is_some() {
            return None;
        }
        let v = self.types.constant(name)?;
        Some((ExprKind::Int(v as u64), Type::I64))
    }

    /// `offsetof(TYPE, a.b)`: the byte offset of the member, a constant.
    pub(super) fn offsetof(&mut self, of: &SizeofArg, path: &[ast::Ident]) -> Option<(ExprKind, Type)> {
        let (key, key_span) = match of {
            SizeofArg::Type(t) if t.pointer == 0 && int_type(&t.name).is_none() => (t.name.clone(), t.span),
            // A bare name that is no builtin or enumerator is a type, known
            // or not.
            SizeofArg::Expr(ast::Expr { kind: A::Ident(name), span })
                if self.types.is_type(name) || (builtins::builtin(name).is_none() && self.types.constant(name).is_none()) =>
            {
                (name.clone(), *span)
            }
            SizeofArg::Type(ast::TypeName { span, .. }) | SizeofArg::Expr(ast::Expr { span, .. }) => {
                self.error(
                    Diagnostic::error(*span, "`offsetof()` needs a struct or union type")
                        .with_label("not a struct or union type")
                        .with_note("write e.g. `offsetof(struct task_struct, pid)`"),
                );
                return None;
            }
        };
        let mut ty = self.named_type(&key, key_span)?;
        let mut offset = 0;
        for field in path {
            let CType::Record(record) = ty.resolved() else {
                self.error(
                    Diagnostic::error(field.span, format!("`{ty}` has no members"))
                        .with_label(format!("`{ty}` is not a struct or union")),
                );
                return None;
            };
            let Some(found) = record.member(&field.name) else {
                self.error(no_member(record, field));
                return None;
            };
            if found.member.bitfield.is_some() {
                self.error(
                    Diagnostic::error(field.span, format!("`{}` is a bit field, which has no byte offset", field.name))
                        .with_label("a bit field"),
                );
                return None;
            }
            offset += found.offset;
            ty = found.member.ty.clone();
        }
        Some((ExprKind::Int(offset), Type::U64))
    }
}

/// The error for `record.field` where the record has no such member, with
/// the closest member's name as a hint.
pub(super) fn no_member(record: &crate::ctypes::Record, field: &ast::Ident) -> Diagnostic {
    let d = Diagnostic::error(field.span, format!("`{}` has no member `{}`", record.describe(), field.name)).with_label("no such member");
    match closest(&field.name, record.member_names()) {
        Some(hint) => d.with_note(format!("did you mean `{hint}`?")),
        None => d,
    }
}
