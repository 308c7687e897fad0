//! `args.NAME`: the fields of a tracepoint record, the arguments of a
//! BTF-typed kernel function or the parameters of a uprobe's function,
//! the elements of their arrays, and `args` as a whole.

use super::{Checker, ProbeCx};
use crate::ast::{self, ExprKind as A};
use crate::checked::{Expr, ExprKind, RecordMember};
use crate::probes::ProbeKind;
use crate::target::{FieldKind, TracepointField};
use std::rc::Rc;

use super::expr::int_type;
use crate::ctypes::{AddrSpace, CType, Member, Record, RecordKind};
use crate::types::{Pointee, Type};
use crate::{Diagnostic, Span};

/// Whether `e` names the probe's record of arguments: `args`, or in an
/// iterator probe `ctx` (its context, as bpftrace names it there).
pub(super) fn is_context_record(e: &ast::Expr, kind: &ProbeKind) -> bool {
    match &e.kind {
        A::Ident(name) if name == "args" => !matches!(kind, ProbeKind::Iter { .. }),
        A::Ident(name) if name == "ctx" => matches!(kind, ProbeKind::Iter { .. }),
        _ => false,
    }
}

impl Checker {
    pub(super) fn field(&mut self, base: &ast::Expr, field: &ast::Ident, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if let ProbeKind::Uprobe { args, .. } = &cx.resolved.kind {
            return self.uprobe_arg(args.as_deref(), field, cx);
        }
        let (f, user) = self.resolve_field(base, field, span, cx)?;
        let ty = self.field_type(&f, user, field.span)?;
        Some((ExprKind::TracepointField(f), ty))
    }

    /// `args.NAME` in a uprobe: a parameter read from its register, typed
    /// from the binary's DWARF (the structs its pointers reach are learnt
    /// for the reads through them).
    fn uprobe_arg(&mut self, function: Option<&crate::target::UserFunction>, field: &ast::Ident, cx: &ProbeCx) -> Option<(ExprKind, Type)> {
        self.outside_map_loop("args", field.span, cx)?;
        let arg = match crate::probes::uprobe_args::arg(function, &field.name, &cx.resolved.name, field.span) {
            Ok(arg) => arg,
            Err(d) => {
                self.error(d);
                return None;
            }
        };
        if let Some(function) = function {
            self.types.learn_binary(&function.types);
        }
        Some(uprobe_arg_value(&arg, field.span))
    }

    /// `args` as a whole in a uprobe: a struct value built from the
    /// argument registers, one member per named parameter, as later
    /// bpftrace has it (0.17 refuses `args` alone).
    fn uprobe_args_whole(&mut self, function: Option<&crate::target::UserFunction>, span: Span, cx: &ProbeCx) -> Option<(ExprKind, Type)> {
        self.outside_map_loop("args", span, cx)?;
        let (record, args) = match crate::probes::uprobe_args::args_whole(function, &cx.resolved.name, span) {
            Ok(whole) => whole,
            Err(d) => {
                self.error(d);
                return None;
            }
        };
        if let Some(function) = function {
            self.types.learn_binary(&function.types);
        }
        let values = record
            .members
            .iter()
            .zip(&args)
            .map(|(m, arg)| {
                let (kind, ty) = uprobe_arg_value(arg, span);
                RecordMember { offset: m.offset as u32, value: Expr { kind, ty, span } }
            })
            .collect();
        Some((ExprKind::Record(values), Type::CValue(Pointee(Rc::new(CType::Record(Rc::new(record)))))))
    }

    /// `args.NAME[i]`: element `i` of an array field, read as an integer of
    /// the element's C type. The index is a constant, checked against the
    /// array's length here, so the read stays inside the record.
    pub(super) fn index(&mut self, base: &ast::Expr, index: &ast::Expr, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let A::Field { expr, field, .. } = &base.kind else {
            return self.unavailable_expr(span, "indexing anything but an array field of `args`");
        };
        let (f, _) = self.resolve_field(expr, field, base.span, cx)?;
        let Some((element, count)) = array_element(&f) else {
            self.error(
                Diagnostic::error(base.span, format!("`{}` ({}) is not an array", f.name, f.c_type))
                    .with_label("only array fields can be indexed"),
            );
            return None;
        };
        let i = self.const_arg(index, 0, i64::from(count) - 1, &format!("the index of `{}` ({})", f.name, f.c_type))? as u32;
        let f = TracepointField {
            name: format!("{}[{i}]", f.name),
            c_type: element.c_type,
            offset: f.offset + i * element.size,
            size: element.size,
            signed: element.signed,
            kind: FieldKind::Int,
        };
        let ty = Type::Int { bits: (f.size * 8) as u8, signed: f.signed };
        Some((ExprKind::TracepointField(f), ty))
    }

    /// The field `args.NAME` names, and whether it points to user memory.
    pub(super) fn resolve_field(&mut self, base: &ast::Expr, field: &ast::Ident, span: Span, cx: &mut ProbeCx) -> Option<(TracepointField, bool)> {
        if !is_context_record(base, &cx.resolved.kind) {
            self.unavailable(span, "field access on anything but `args`");
            return None;
        }
        if cx.map_loops > 0 {
            // The loop's body is a callback of bpf_for_each_map_elem, which
            // has no pointer to the probe's context; bpftrace refuses too.
            self.error(
                Diagnostic::error(base.span, "`args` is not available inside a `for` loop over a map")
                    .with_label("inside a loop over a map")
                    .with_note("read it into a variable before the loop"),
            );
            return None;
        }
        let Some(crate::probes::ArgsRecord { what, format, user }) = cx.resolved.kind.args_record() else {
            self.error(
                Diagnostic::error(base.span, format!("`args` is not available in a `{}` probe", cx.resolved.name))
                    .with_label("this probe has no arguments")
                    .with_note("probes on functions read their arguments as arg0, arg1, ..."),
            );
            return None;
        };
        let Some(f) = format.field(&field.name).cloned() else {
            let known: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
            let part = if what.starts_with("tracepoint") { "field" } else { "argument" };
            self.error(
                Diagnostic::error(field.span, format!("{what} has no {part} `{}`", field.name))
                    .with_label(format!("no such {part}"))
                    .with_note(format!("its {part}s are: {}", known.join(", "))),
            );
            return None;
        };
        Some((f, user))
    }

    /// `args` as a whole: a struct value of every field (a tracepoint's,
    /// less the `common_*` header, as bpftrace's `args` has them), laid
    /// out as C lays out such a struct, a `__data_loc` string as a char
    /// array of the string length. Its name is bpftrace's for the record,
    /// `_tracepoint_CATEGORY_NAME`.
    pub(super) fn args_whole(&mut self, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        if let ProbeKind::Uprobe { args, .. } = &cx.resolved.kind {
            let function = args.clone();
            return self.uprobe_args_whole(function.as_deref(), span, cx);
        }
        let Some(crate::probes::ArgsRecord { what, format, user }) = cx.resolved.kind.args_record() else {
            self.error(
                Diagnostic::error(span, format!("`args` is not available in a `{}` probe", cx.resolved.name))
                    .with_label("this probe has no arguments")
                    .with_note("probes on functions read their arguments as arg0, arg1, ..."),
            );
            return None;
        };
        if cx.map_loops > 0 {
            self.error(
                Diagnostic::error(span, "`args` is not available inside a `for` loop over a map")
                    .with_label("inside a loop over a map")
                    .with_note("read it into a variable before the loop"),
            );
            return None;
        }
        let fields = format.fields.clone();
        let name = format!("_{}", cx.resolved.name.replace([':', '/', '.'], "_"));
        let mut members = Vec::with_capacity(fields.len());
        let mut values = Vec::with_capacity(fields.len());
        let (mut end, mut align) = (0u64, 1u64);
        for f in fields {
            let ty = self.field_type(&f, user, span)?;
            let (c_type, size) = match &ty {
                Type::Int { bits, signed } => (CType::Int { size: u32::from(bits / 8), signed: *signed }, u64::from(bits / 8)),
                Type::Ptr { pointee, user, .. } => {
                    let space = if *user { AddrSpace::User } else { AddrSpace::Kernel };
                    let to = pointee.as_ref().map_or(CType::Void, |p| (*p.0).clone());
                    (CType::pointer(to, space), 8)
                }
                Type::Str { size } => {
                    let element = Rc::new(CType::Int { size: 1, signed: true });
                    (CType::Array { element, len: u64::from(*size) }, u64::from(*size))
                }
                other => {
                    self.error(
                        Diagnostic::error(span, format!("`args` cannot hold `{}` ({other})", f.name)).with_label("a field of this type"),
                    );
                    return None;
                }
            };
            let field_align = c_type.align().unwrap_or(1);
            let offset = end.div_ceil(field_align) * field_align;
            align = align.max(field_align);
            end = offset + size;
            values.push(RecordMember { offset: offset as u32, value: Expr { kind: ExprKind::TracepointField(f.clone()), ty, span } });
            members.push(Member { name: Some(f.name.clone()), ty: c_type, offset, bitfield: None });
        }
        let size = end.div_ceil(align) * align;
        if size > super::memory::MAX_VALUE_SIZE {
            self.error(
                Diagnostic::error(span, format!("the arguments of {what} ({size} bytes) cannot be read whole"))
                    .with_label(format!("a value is at most {} bytes", super::memory::MAX_VALUE_SIZE))
                    .with_note("read the fields you need: `args.FIELD`"),
            );
            return None;
        }
        let record = Record { kind: RecordKind::Struct, name: Some(name), size, align, members };
        Some((ExprKind::Record(values), Type::CValue(Pointee(Rc::new(CType::Record(Rc::new(record)))))))
    }

    /// `args.NAME` when it is an array of 4 or 16 bytes (an IPv4 or IPv6
    /// address), typed as a buffer of that size; `None` for anything else,
    /// which the caller checks as an expression.
    pub(super) fn address_field(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<Expr> {
        let A::Field { expr, field, .. } = &e.kind else { return None };
        if expr.kind != A::Ident("args".into()) || cx.map_loops > 0 {
            return None;
        }
        let format = match &cx.resolved.kind {
            ProbeKind::Tracepoint { format, .. } => format,
            _ => return None,
        };
        let f = format.field(&field.name)?;
        let (element, _) = array_element(f)?;
        if element.size != 1 || !matches!(f.size, 4 | 16) {
            return None;
        }
        Some(Expr { kind: ExprKind::TracepointField(f.clone()), ty: Type::Buf { size: f.size }, span: e.span })
    }

    /// The type a tracepoint field or function argument reads as.
    pub(super) fn field_type(&mut self, f: &TracepointField, user: bool, span: Span) -> Option<Type> {
        let ty = match f.kind {
            FieldKind::Int if matches!(f.size, 1 | 2 | 4 | 8) => Type::Int { bits: (f.size * 8) as u8, signed: f.signed },
            FieldKind::Pointer { to_char } => Type::Ptr { to_char, user, pointee: self.field_pointee(&f.c_type) },
            FieldKind::Array { chars: true } => Type::Str { size: f.size },
            FieldKind::DataLoc { chars: true } => Type::Str { size: self.strlen },
            _ => {
                self.error(
                    Diagnostic::error(span, format!("`{}` ({}) cannot be read by this build of rbpf", f.name, f.c_type))
                        .with_label("unsupported type"),
                );
                return None;
            }
        };
        Some(ty)
    }
}

/// A uprobe parameter read from its register: an integer or enum cut to
/// its C type's width and sign, a pointer into the traced process's
/// memory typed by its pointee.
fn uprobe_arg_value(arg: &crate::probes::uprobe_args::UserArg, span: Span) -> (ExprKind, Type) {
    let register = Expr { kind: ExprKind::Arg(arg.register), ty: Type::U64, span };
    match arg.ty.resolved() {
        CType::Pointer { pointee, .. } => {
            let to_char = matches!(pointee.resolved(), CType::Int { size: 1, .. });
            let ty = Type::Ptr { to_char, user: true, pointee: Some(Pointee(pointee.clone())) };
            (ExprKind::Retype(Box::new(register)), ty)
        }
        CType::Enum(e) => (ExprKind::Cast(Box::new(register)), Type::Int { bits: (e.size * 8) as u8, signed: e.signed }),
        CType::Int { size, signed } => (ExprKind::Cast(Box::new(register)), Type::Int { bits: (size * 8) as u8, signed: *signed }),
        _ => unreachable!("uprobe_args::arg gives integers, enums and pointers"),
    }
}

/// The words of a C type that change nothing about what a pointer reads:
/// qualifiers, and the kernel's address-space annotations where a format
/// file keeps them (`void __seg_gs *`).
const QUALIFIERS: &[&str] = &["const", "volatile", "restrict", "__restrict", "__user", "__kernel", "__iomem", "__percpu", "__rcu", "__force", "__seg_gs", "__seg_fs"];

/// A pointer type's spelling taken apart: the words naming the type it
/// finally points to (qualifiers left out) and how many `*` lead there
/// (`const char *const *` is `["char"]` and 2). `None` for a spelling
/// that is no pointer, or has words after its first `*` that are not
/// qualifiers.
fn pointer_spelling(c_type: &str) -> Option<(Vec<&str>, usize)> {
    let mut base = Vec::new();
    let mut stars = 0;
    // `char*const*` splits at its stars as `char *const *` does at spaces.
    for (i, word) in c_type.split_whitespace().flat_map(|w| w.split('*').enumerate()) {
        stars += usize::from(i > 0);
        match word {
            "" => {}
            w if QUALIFIERS.contains(&w) => {}
            _ if stars > 0 => return None,
            w => base.push(w),
        }
    }
    (stars > 0 && !base.is_empty()).then_some((base, stars))
}

/// The integer type the C keywords `words` spell (`unsigned long`,
/// `char`, `short int`, `_Bool`): signed unless `unsigned`, but for plain
/// `char`, whose sign is the target's (signed on x86, as bpftrace's clang
/// has it). `None` when any word is no integer keyword.
fn c_integer(words: &[&str]) -> Option<CType> {
    let (mut sign, mut size, mut longs) = (None, None, 0);
    for word in words {
        match *word {
            "signed" => sign = Some(true),
            "unsigned" => sign = Some(false),
            "char" => size = Some(1),
            "short" => size = Some(2),
            "int" => {}
            "long" => longs += 1,
            "_Bool" | "bool" => return (words.len() == 1).then_some(CType::Int { size: 1, signed: false }),
            _ => return None,
        }
    }
    let size = size.unwrap_or(if longs > 0 { 8 } else { 4 });
    let plain_char_signed = cfg!(any(target_arch = "x86_64", target_arch = "x86"));
    let signed = sign.unwrap_or(size != 1 || plain_char_signed);
    Some(CType::Int { size, signed })
}

impl Checker {
    /// What a pointer field points to, from its C type's spelling (the
    /// format file's text), as bpftrace 0.17 types it from the same text:
    /// a struct or union (`const struct iovec *`, laid out from the
    /// kernel's BTF when followed), an integer (`unsigned int *`, `char *`),
    /// a typedef the kernel's BTF defines (`loff_t *`, `uid_t *`,
    /// `sigset_t *`, kernel integer names such as `u32` without BTF too),
    /// `void`, or a pointer to any of these (`const char *const *`,
    /// `struct iocb * *`). `None` when the spelling names nothing known:
    /// the pointer then can only be passed on or cast.
    fn field_pointee(&self, c_type: &str) -> Option<Pointee> {
        let (words, stars) = pointer_spelling(c_type)?;
        let mut pointee = match words.as_slice() {
            ["void"] => CType::Void,
            ["struct", name] => CType::Named { kind: RecordKind::Struct, name: (*name).to_string() },
            ["union", name] => CType::Named { kind: RecordKind::Union, name: (*name).to_string() },
            ["enum", name] => self.types.get_or_want(&format!("enum {name}"))?.clone(),
            words => match c_integer(words) {
                Some(int) => int,
                None => {
                    let [name] = words else { return None };
                    // Looked up in BTF (a later pass has it when this one
                    // has not); kernel integer names stand without it.
                    match (self.types.get_or_want(name), int_type(name)) {
                        (Some(t), _) => t.clone(),
                        (None, Some(Type::Int { bits, signed })) => CType::Int { size: u32::from(bits / 8), signed },
                        (None, _) => return None,
                    }
                }
            },
        };
        // A pointer read from the record points where the record's
        // pointers do (AddrSpace::Unknown takes its holder's space).
        for _ in 1..stars {
            pointee = CType::pointer(pointee, AddrSpace::Unknown);
        }
        Some(Pointee(Rc::new(pointee)))
    }
}

/// The element of an array field: its C type, size and signedness.
pub(super) struct ArrayElement {
    c_type: String,
    size: u32,
    signed: bool,
}

/// The element type of an array field (`unsigned long[6]`, `__u8[4]`) and
/// the array's length; `None` for a field that is not a fixed array.
pub(super) fn array_element(f: &TracepointField) -> Option<(ArrayElement, u32)> {
    if !matches!(f.kind, FieldKind::Array { .. }) {
        return None;
    }
    let (base, rest) = f.c_type.split_once('[')?;
    let count: u32 = rest.trim_end_matches(']').trim().parse().ok().filter(|n| *n > 0)?;
    let size = f.size / count;
    if !matches!(size, 1 | 2 | 4 | 8) || size * count != f.size {
        return None;
    }
    let base = base.replace("const", "").replace("volatile", "");
    let base = base.trim();
    // Signed as C types it: `char` and the plain integer types are, the
    // unsigned ones (`unsigned long`, `__u8`, `u32`, `size_t`) and pointers are not.
    let unsigned = base.contains("unsigned")
        || base.starts_with("__u")
        || base.starts_with('u')
        || base.ends_with('*')
        || matches!(base, "size_t" | "bool" | "_Bool");
    Some((ArrayElement { c_type: base.to_string(), size, signed: !unsigned }, count))
}
