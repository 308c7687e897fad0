//! Reads through memory: casts to pointer types, `p->field` (and `.` on a
//! pointer or on a struct reached through one, as bpftrace ≥ 0.25 allows),
//! `*p`, `p[i]` and pointer arithmetic scaled by the pointee's size, typed
//! by the C types of [`crate::ctypes`]. A chain of members is one address
//! computation; only the value at its end (and the pointers it follows) is
//! read, with one helper call of exactly that value's size.
//!
//! A struct, union or (non-char) array at the end of a chain is read whole
//! into a [`Type::CValue`]: one helper call of its size. Members of such a
//! value, held in a variable or a map, are read from its bytes
//! ([`ExprKind::Member`]) without touching memory again.

use std::rc::Rc;

use super::expr::int_type;
use super::types::no_member;
use super::{Checker, ProbeCx};
use crate::ast::{self, BinaryOp, ExprKind as A, UnaryOp};
use crate::checked::{Expr, ExprKind, LoadBits};
use crate::ctypes::{AddrSpace, CType, RecordKind};
use crate::probes::ProbeKind;
use crate::target::{FieldKind, TracepointField};
use crate::types::{is_char, Pointee, Type};
use crate::{Diagnostic, Span};

/// The largest struct, union or array value read whole: its bytes travel
/// on the 512-byte BPF stack (with a map key or an event record beside
/// them), so a bigger one could not be stored or printed.
pub const MAX_VALUE_SIZE: u64 = 256;

/// A place holding a C value: in memory, or inside a value already read.
struct Place {
    /// Where it is.
    base: Base,
    /// What is stored there.
    ty: CType,
    /// For a bit field: its bits in the bytes at the place.
    bits: Option<LoadBits>,
}

/// Where a [`Place`] is.
enum Base {
    /// In memory.
    Memory {
        /// The address, a 64-bit integer expression.
        addr: Expr,
        /// Whether the address is in user memory.
        user: bool,
    },
    /// `offset` bytes into a struct, union or array value.
    Value {
        /// The value.
        value: Expr,
        /// Bytes from its start.
        offset: u64,
        /// Whether the pointers it holds point to user memory.
        user: bool,
    },
}

impl Base {
    fn user(&self) -> bool {
        match self {
            Base::Memory { user, .. } | Base::Value { user, .. } => *user,
        }
    }

    /// The place `offset` bytes further.
    fn offset_by(self, offset: u64) -> Base {
        match self {
            Base::Memory { addr, user } => Base::Memory { addr: offset_by(addr, offset), user },
            Base::Value { value, offset: at, user } => Base::Value { value, offset: at + offset, user },
        }
    }
}

/// Whether `e` names memory rather than computing a value in a probe of
/// `kind`: a member (other than `args.NAME`), `*p` or `p[i]` (other than
/// an element of an array in the probe's context).
fn is_place(e: &ast::Expr, kind: &ProbeKind) -> bool {
    match &e.kind {
        A::Field { expr, .. } => !super::fields::is_context_record(expr, kind),
        A::Unary { op: UnaryOp::Deref, .. } => true,
        A::Index { expr, .. } => !is_context_array(expr, kind),
        _ => false,
    }
}

/// Whether `e` is `args.NAME` naming an array the probe's context holds
/// (a tracepoint's `char comm[16]`), indexed in the context. A pointer
/// field (`const char *const * argv`) and a uprobe's `args.NAME` (a
/// register) are values: `args.p[i]` reads through the pointer. Any
/// other field is taken as an array here, for [`Checker::index`] to say
/// what it is instead.
pub(super) fn is_context_array(e: &ast::Expr, kind: &ProbeKind) -> bool {
    let A::Field { expr, field, .. } = &e.kind else { return false };
    if !super::fields::is_context_record(expr, kind) || matches!(kind, ProbeKind::Uprobe { .. } | ProbeKind::UprobeMulti { .. }) {
        return false;
    }
    let format = match kind {
        ProbeKind::Tracepoint { format, .. } => format,
        ProbeKind::Fentry { function, .. } => &function.args,
        _ => return true,
    };
    !matches!(format.field(&field.name), Some(TracepointField { kind: FieldKind::Pointer { .. }, .. }))
}

impl Checker {
    /// `p->f`, `s.f`, `*p`, `p[i]`: the value read from memory.
    pub(super) fn memory_read(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let place = self.place(e, cx)?;
        self.read_place(place, e.span)
    }

    /// `sizeof(p->f)`, `sizeof(*p)`: the size of the C type there, which
    /// may be a struct or array no expression can read whole; `None` for
    /// an expression that names no memory, or after an error (`Some(None)`).
    pub(super) fn sizeof_place(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<Option<u64>> {
        if !is_place(e, &cx.resolved.kind) {
            return None;
        }
        let place = self.place(e, cx);
        Some(place.and_then(|p| self.complete(&p.ty).size()))
    }

    /// `(T *)e`, `(struct P *)e`, `(T **)e`: an integer or pointer given
    /// a pointer type. The address space is the operand's when it is a
    /// pointer, else the probe's (user memory for uprobes and USDT
    /// probes, kernel memory otherwise), as bpftrace decides it.
    pub(super) fn pointer_cast(&mut self, ty: &ast::TypeName, inner: Expr, cx: &ProbeCx) -> Option<(ExprKind, Type)> {
        let mut pointee = self.c_type(&ty.name, ty.span)?;
        for _ in 1..ty.pointer {
            pointee = CType::pointer(pointee, AddrSpace::Unknown);
        }
        self.expect_int(&inner, "a cast to a pointer")?;
        let user = match inner.ty {
            Type::Ptr { user, .. } => user,
            _ => probe_is_user(&cx.resolved.kind),
        };
        Some((ExprKind::Retype(Box::new(inner)), typed_pointer(pointee, user)))
    }

    /// `(T *)p->arr` where the member is an array: as in C (and bpftrace),
    /// the array decays to a pointer to its first element, so the cast is
    /// of the member's address, in the base pointer's address space, and
    /// nothing is read. `None` when `e` names no memory (the operand is
    /// then checked as any other); for a place that holds no array, its
    /// value is read and cast as usual.
    pub(super) fn array_pointer_cast(&mut self, ty: &ast::TypeName, e: &ast::Expr, cx: &mut ProbeCx) -> Option<Option<(ExprKind, Type)>> {
        if !is_place(e, &cx.resolved.kind) {
            return None;
        }
        let Some(place) = self.place(e, cx) else { return Some(None) };
        let inner = match (self.complete(&place.ty), place.base) {
            (CType::Array { .. }, Base::Memory { addr, user }) => {
                let mut pointee = match self.c_type(&ty.name, ty.span) {
                    Some(t) => t,
                    None => return Some(None),
                };
                for _ in 1..ty.pointer {
                    pointee = CType::pointer(pointee, AddrSpace::Unknown);
                }
                return Some(Some((ExprKind::Retype(Box::new(addr)), typed_pointer(pointee, user))));
            }
            (CType::Array { .. }, Base::Value { .. }) => {
                self.error(
                    Diagnostic::error(e.span, "an array inside a value held in a variable or map has no address")
                        .with_label("copied out of memory, not in it")
                        .with_note("cast the member where it is in memory, e.g. `(int8 *)$p->name` on the pointer `$p`"),
                );
                return Some(None);
            }
            (_, base) => {
                let span = e.span;
                match self.read_place(Place { base, ..place }, span) {
                    Some((kind, ty)) => Expr { kind, ty, span },
                    None => return Some(None),
                }
            }
        };
        Some(self.pointer_cast(ty, inner, cx))
    }

    /// The address of `e` when it names a struct or union in kernel memory
    /// (`args->filp->f_path`): a pointer to it, for a function that takes
    /// the struct by reference as bpftrace's `path()` does. None when `e`
    /// is something else (checked as an expression then).
    pub(super) fn record_address(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<Expr> {
        if !is_place(e, &cx.resolved.kind) {
            return None;
        }
        let place = self.place(e, cx)?;
        match (self.complete(&place.ty), place.base) {
            (ty @ CType::Record(_), Base::Memory { addr, user: false }) => {
                Some(Expr { kind: ExprKind::Retype(Box::new(addr)), ty: typed_pointer(ty, false), span: e.span })
            }
            _ => None,
        }
    }

    /// `(T)e` where `T` is no integer keyword: a typedef name (the
    /// script's, then the kernel's) of an integer type casts as that
    /// integer type does (`(pid_t)x` is `(int32)x`), of a pointer type
    /// retypes as a pointer cast does; an unknown name, or a struct, union
    /// or array type, is refused.
    pub(super) fn typedef_cast(&mut self, ty: &ast::TypeName, inner: Expr, cx: &ProbeCx) -> Option<(ExprKind, Type)> {
        if ty.name != "void" && !ty.name.contains(' ') && self.types.get(&ty.name).is_none() {
            self.named_type(&ty.name, ty.span);
            return None;
        }
        match self.types.get(&ty.name).map(|t| t.resolved().clone()) {
            Some(CType::Int { size: size @ (1 | 2 | 4 | 8), signed }) => {
                self.expect_int(&inner, "a cast")?;
                Some((ExprKind::Cast(Box::new(inner)), Type::Int { bits: size as u8 * 8, signed }))
            }
            Some(CType::Pointer { pointee, .. }) => {
                self.expect_int(&inner, "a cast to a pointer")?;
                let user = match inner.ty {
                    Type::Ptr { user, .. } => user,
                    _ => probe_is_user(&cx.resolved.kind),
                };
                Some((ExprKind::Retype(Box::new(inner)), typed_pointer((*pointee).clone(), user)))
            }
            _ => {
                self.value_cast(ty, &inner);
                None
            }
        }
    }

    /// A cast to a type that is no integer: refused, with the sizes when
    /// it is a struct, union or array type no integer converts to.
    pub(super) fn value_cast(&mut self, ty: &ast::TypeName, inner: &Expr) {
        let mut d = Diagnostic::error(ty.span, format!("cannot cast to `{}`", ty.name));
        d = match self.types.get(&ty.name).map(|t| (t.size(), t.to_string())) {
            Some((size, target)) => {
                // bpftrace refuses every cast to a struct type; a size that
                // differs is the likelier mistake, so say it when it does.
                let label = match size {
                    Some(s) if s == u64::from(inner.ty.stored_size()) => format!("`{target}` is not an integer type"),
                    Some(s) => format!("`{target}` has {s} bytes, but {} has {}", inner.ty, inner.ty.stored_size()),
                    None => format!("`{target}` has no size"),
                };
                d.with_label(label).with_note(format!("cast to a pointer, `({target} *)`, and read through it"))
            }
            None => d
                .with_label("not an integer type")
                .with_note("integer casts are: (uint8) (uint16) (uint32) (uint64) (int8) (int16) (int32) (int64)"),
        };
        self.error(d);
    }

    /// A binary operator with a pointer operand. As bpftrace 0.17: `p + n`,
    /// `n + p` and `p - n` count pointees, as in C; comparisons compare
    /// addresses; `&&` and `||` take a pointer as true when not null (as
    /// bpftrace ≥ 0.23 does; 0.17 refuses them); and `p - q` of two
    /// pointers to one type counts the pointees between them (signed), as
    /// C and bpftrace's later documentation have it. Every other operator
    /// means nothing on an address and is refused in 0.17's words.
    pub(super) fn pointer_binary(&mut self, op: BinaryOp, l: Expr, r: Expr, span: Span) -> Option<(ExprKind, Type)> {
        use BinaryOp as B;
        let (lp, rp) = (matches!(l.ty, Type::Ptr { .. }), matches!(r.ty, Type::Ptr { .. }));
        if op.is_comparison() || matches!(op, B::And | B::Or) {
            return Some((ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) }, Type::U64));
        }
        let fits = match op {
            B::Add => lp != rp,
            B::Sub => lp && (!rp || self.same_pointee(&l.ty, &r.ty)),
            _ => false,
        };
        if !fits {
            self.error(
                Diagnostic::error(span, format!("The {} operator can not be used on expressions of types {}, {}", op.symbol(), l.ty.bpftrace_name(), r.ty.bpftrace_name()))
                    .with_label(pointer_misuse(op, lp && rp))
                    .with_secondary(if lp { l.span } else { r.span }, format!("this is {}", if lp { &l.ty } else { &r.ty })),
            );
            return None;
        }
        // `n + p` is `p + n`.
        let (l, r) = if rp && !lp { (r, l) } else { (l, r) };
        let Type::Ptr { pointee: Some(_), .. } = &l.ty else {
            // A pointer to no known type counts bytes.
            let ty = Type::Int { bits: 64, signed: false };
            return Some((ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) }, ty));
        };
        let size = self.pointee_size(&l.ty);
        if rp && lp {
            return Some(pointer_difference(l, r, size));
        }
        let ty = l.ty.clone();
        let scaled = match r.kind {
            ExprKind::Int(n) => ExprKind::Int(n.wrapping_mul(size)),
            _ => ExprKind::Binary { op: BinaryOp::Mul, lhs: Box::new(r.clone()), rhs: Box::new(int(size, r.span)) },
        };
        let rhs = Expr { kind: scaled, ty: Type::I64, span: r.span };
        Some((ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(rhs) }, ty))
    }

    /// The bytes one step of a pointer of type `ty` covers: its pointee's
    /// size, or 1 for a pointer to no known type and for an integer.
    pub(super) fn pointee_size(&self, ty: &Type) -> u64 {
        match ty {
            Type::Ptr { pointee: Some(p), .. } => self.complete(&p.0).size().unwrap_or(1).max(1),
            _ => 1,
        }
    }

    /// Whether two pointers point to one type, however each names it (a
    /// cast spells the struct out, a member may name it only); pointers to
    /// no known type are taken as alike.
    fn same_pointee(&self, a: &Type, b: &Type) -> bool {
        match (a, b) {
            (Type::Ptr { pointee: Some(p), .. }, Type::Ptr { pointee: Some(q), .. }) => p == q || self.complete(&p.0) == self.complete(&q.0),
            (Type::Ptr { pointee: None, .. }, Type::Ptr { pointee: None, .. }) => true,
            _ => false,
        }
    }

    /// `-p`, `~p` on a pointer, refused in bpftrace 0.17's words.
    pub(super) fn pointer_unary(&mut self, op: UnaryOp, inner: &Expr, span: Span) {
        let symbol = if op == UnaryOp::Neg { "-" } else { "~" };
        self.error(
            Diagnostic::error(span, format!("The {symbol} operator can not be used on expressions of type '{}'", inner.ty.bpftrace_name()))
                .with_label(format!("this is {}", inner.ty))
                .with_note("cast it to an integer first, e.g. `(uint64)$p`, to compute with the address"),
        );
    }

    /// What `++` adds to a value of type `ty`: one pointee's size for a
    /// typed pointer, as `p + 1` adds (bpftrace 0.17 moves `$p++` so),
    /// else 1. `None` after an error: a pointee too big for the
    /// instruction's 32-bit immediate.
    pub(super) fn increment_step(&mut self, ty: &Type, span: Span) -> Option<i64> {
        let Type::Ptr { pointee: Some(p), .. } = ty else { return Some(1) };
        let size = self.pointee_size(ty);
        if i32::try_from(size).is_err() {
            self.error(
                Diagnostic::error(span, format!("`++` and `--` cannot move a pointer to `{}` ({size} bytes)", p.0))
                    .with_label("its pointee is too big")
                    .with_note("add to it instead, e.g. `$p = $p + 1`"),
            );
            return None;
        }
        Some(size as i64)
    }

    /// `a == b`, `a != b` on struct, union or array values of one type:
    /// compared byte for byte, as bpftrace compares them; every other
    /// operator, or another operand, is refused as bpftrace refuses it.
    pub(super) fn value_binary(&mut self, op: BinaryOp, l: Expr, r: Expr) -> Option<(ExprKind, Type)> {
        if matches!(op, BinaryOp::Eq | BinaryOp::Ne) && l.ty == r.ty {
            let ne = op == BinaryOp::Ne;
            return Some((ExprKind::StrEq { lhs: Box::new(l), rhs: Box::new(r), ne }, Type::U64));
        }
        let which = if l.ty.is_cvalue() { &l } else { &r };
        let d = if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
            let other = if l.ty.is_cvalue() { &r } else { &l };
            Diagnostic::error(other.span, format!("cannot compare `{}` with `{}`", which.ty, other.ty))
                .with_label(format!("this is {}", other.ty))
                .with_secondary(which.span, format!("this is `{}`", which.ty))
                .with_note("struct, union and array values compare only with values of the same type")
        } else {
            Diagnostic::error(which.span, format!("`{}` needs integers, but this is `{}`", op.symbol(), which.ty))
                .with_label("a struct, union or array value")
                .with_note("use one of its members, e.g. `$s.x`")
        };
        self.error(d);
        None
    }

    /// The type of `curtask`: a kernel pointer to `struct task_struct`.
    pub(super) fn task_struct_pointer(&self) -> Type {
        let task = CType::Named { kind: RecordKind::Struct, name: "task_struct".into() };
        typed_pointer(task, false)
    }

    /// The C type spelt `name`: an integer type, `void`, or a named type.
    fn c_type(&mut self, name: &str, span: Span) -> Option<CType> {
        if name == "void" {
            return Some(CType::Void);
        }
        if let Some(Type::Int { bits, signed }) = int_type(name) {
            return Some(CType::Int { size: u32::from(bits / 8), signed });
        }
        self.named_type(name, span)
    }

    /// The type with typedefs removed and a struct known by name looked
    /// up (the script's definition first, then the kernel's).
    fn complete(&self, ty: &CType) -> CType {
        match ty.resolved() {
            CType::Named { kind, name } => match self.types.get_or_want(&format!("{} {name}", kind.keyword())) {
                Some(t) => t.resolved().clone(),
                None => ty.resolved().clone(),
            },
            t => t.clone(),
        }
    }

    fn place(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<Place> {
        match &e.kind {
            A::Field { expr, field, arrow } => {
                let base = match (*arrow, is_place(expr, &cx.resolved.kind)) {
                    (false, true) => match self.place(expr, cx)? {
                        // `s.f` on a struct in memory: its member.
                        p if matches!(self.complete(&p.ty), CType::Record(_)) => p,
                        // `p.f` on a pointer: `p->f`, as bpftrace ≥ 0.25 reads it.
                        p => self.through(p, expr.span, "`.`")?,
                    },
                    (arrow, _) => {
                        // A base refused already (`args` where there is
                        // none) needs no second message about its stand-in.
                        let (kind, ty) = self.expr_kind(expr, cx)?;
                        let v = Expr { kind, ty, span: expr.span };
                        match v.ty {
                            // `$s.f` on a struct value: its member.
                            Type::CValue(_) if !arrow => value_place(v, cx),
                            _ => self.deref(v, if arrow { "`->`" } else { "`.`" })?,
                        }
                    }
                };
                self.member(base, field)
            }
            A::Unary { op: UnaryOp::Deref, expr } => {
                let v = self.expr(expr, cx);
                // An integer is an address, as bpftrace 0.17 reads it
                // (Debian's loads.bt: `*kaddr("avenrun")`): a uint64 there,
                // in the probe's address space; one annotated with its
                // address space (`*uptr(arg0)`) in that one. A pointer to
                // a type not known stays an error.
                let annotated = matches!(&expr.kind, A::Call { name, .. } if matches!(name.name.as_str(), "uptr" | "kptr"));
                let space = match &v.ty {
                    Type::Int { .. } => Some(probe_is_user(&cx.resolved.kind)),
                    Type::Ptr { pointee: None, user, .. } if annotated => Some(*user),
                    _ => None,
                };
                if let Some(user) = space {
                    return Some(Place { base: Base::Memory { addr: v, user }, ty: CType::Int { size: 8, signed: false }, bits: None });
                }
                self.deref(v, "`*`")
            }
            A::Index { expr, index } => {
                let i = self.expr(index, cx);
                self.expect_int(&i, "an index")?;
                // An array in memory is indexed in place; a pointer (a
                // value, or one stored in memory) counts from its pointee.
                // Only those: a struct or union indexed would count whole
                // records past itself, as bpftrace 0.17 refuses it.
                let base = if is_place(expr, &cx.resolved.kind) {
                    match self.place(expr, cx)? {
                        p if matches!(self.complete(&p.ty), CType::Array { .. }) => p,
                        p if matches!(self.complete(&p.ty), CType::Record(_)) => return self.not_indexable(&p.ty, expr.span, e.span),
                        p => self.through(p, expr.span, "`[]`")?,
                    }
                } else {
                    let v = self.expr(expr, cx);
                    match &v.ty {
                        Type::CValue(c) if matches!(self.complete(&c.0), CType::Array { .. }) => value_place(v, cx),
                        Type::CValue(c) => return self.not_indexable(&c.0, expr.span, e.span),
                        _ => self.deref(v, "`[]`")?,
                    }
                };
                self.element(base, i, expr.span)
            }
            _ => unreachable!("only members, `*` and `[]` name memory"),
        }
    }

    /// `s[i]` on a struct or union `ty`, which has no elements.
    fn not_indexable<T>(&mut self, ty: &CType, indexed: Span, span: Span) -> Option<T> {
        self.error(
            Diagnostic::error(span, format!("The array index operator [] can only be used on arrays and pointers, found {ty}"))
                .with_label("indexed here")
                .with_secondary(indexed, format!("`{ty}` is a struct or union"))
                .with_note("name a member instead, e.g. `$s.x`, or index a pointer to it"),
        );
        None
    }

    /// The place a pointer value points to.
    fn deref(&mut self, v: Expr, what: &str) -> Option<Place> {
        match &v.ty {
            Type::Ptr { pointee: Some(p), user, .. } => {
                let (ty, user) = ((*p.0).clone(), *user);
                Some(Place { base: Base::Memory { addr: v, user }, ty, bits: None })
            }
            Type::Ptr { .. } => {
                self.error(
                    Diagnostic::error(v.span, format!("{what} needs a pointer to a known type, but this is {}", v.ty))
                        .with_label("what it points to is not known")
                        .with_note("cast it first, e.g. `(struct task_struct *)arg0`"),
                );
                None
            }
            _ => {
                self.error(
                    Diagnostic::error(v.span, format!("{what} needs a pointer, but this is {}", v.ty))
                        .with_label("not a pointer")
                        .with_note("cast it to a pointer first, e.g. `(int32 *)arg0`"),
                );
                None
            }
        }
    }

    /// The place a pointer stored at `p` points to: the pointer is read.
    fn through(&mut self, p: Place, span: Span, what: &str) -> Option<Place> {
        if !matches!(self.complete(&p.ty), CType::Pointer { .. }) {
            self.error(
                Diagnostic::error(span, format!("{what} needs a pointer, a struct or an array, but this is `{}`", p.ty))
                    .with_label("not a pointer, struct or array"),
            );
            return None;
        }
        let (kind, ty) = self.read_place(p, span)?;
        self.deref(Expr { kind, ty, span }, what)
    }

    /// Member `field` of the struct or union at `base`.
    fn member(&mut self, base: Place, field: &ast::Ident) -> Option<Place> {
        let complete = self.complete(&base.ty);
        if let CType::Named { kind, name } = &complete {
            // Neither the script nor the kernel defines it (or the
            // kernel's types cannot be read: the note says why).
            let d = self.types.unknown(&format!("{} {name}", kind.keyword()), field.span);
            self.error(d);
            return None;
        }
        let CType::Record(record) = complete else {
            self.error(
                Diagnostic::error(field.span, format!("`{}` has no members", base.ty))
                    .with_label(format!("`{}` is not a struct or union", base.ty)),
            );
            return None;
        };
        let Some(found) = record.member(&field.name) else {
            self.error(no_member(&record, field));
            return None;
        };
        let (offset, bits) = match found.member.bitfield {
            None => (found.offset, None),
            Some(b) => {
                // From the byte holding the first bit, the fewest bytes
                // (1, 2, 4 or 8) that hold them all.
                let start = found.offset - found.member.offset + b.bit_offset / 8;
                let shift = (b.bit_offset % 8) as u32;
                (start, Some(LoadBits { shift, width: b.width }))
            }
        };
        let ty = found.member.ty.clone();
        Some(Place { base: base.base.offset_by(offset), ty, bits })
    }

    /// Element `i` of the array at `base`, or of the pointer it holds.
    fn element(&mut self, base: Place, i: Expr, span: Span) -> Option<Place> {
        let (element, len) = match self.complete(&base.ty) {
            CType::Array { element, len } => ((*element).clone(), Some(len)),
            other => (other, None),
        };
        let size = self.complete(&element).size().unwrap_or(0);
        if size == 0 {
            self.error(Diagnostic::error(span, format!("cannot index `{}`, whose elements have no size", base.ty)).with_label("no size"));
            return None;
        }
        let base_ty = base.ty;
        let base = match (i.kind, base.base) {
            (ExprKind::Int(n), base) => {
                if let Some(len) = len.filter(|l| *l > 0 && n >= *l) {
                    self.error(
                        Diagnostic::error(i.span, format!("index {} is out of bounds for `{}`", n as i64, base_ty))
                            .with_label(format!("the array has {len} elements")),
                    );
                    return None;
                }
                base.offset_by(n.wrapping_mul(size))
            }
            (_, Base::Value { .. }) => {
                // The verifier cannot bound a variable offset into a value
                // kept on the stack or in a map without a check per element.
                self.error(
                    Diagnostic::error(i.span, format!("an array value (`{base_ty}`) can only be indexed with a constant"))
                        .with_label("not a constant")
                        .with_note("index the array where it is in memory, e.g. `$p->arr[$i]`"),
                );
                return None;
            }
            (kind, Base::Memory { addr, user }) => {
                let i = Expr { kind, ..i };
                let span = i.span;
                let scaled = Expr { kind: ExprKind::Binary { op: BinaryOp::Mul, lhs: Box::new(i), rhs: Box::new(int(size, span)) }, ty: Type::U64, span };
                let addr = Expr { kind: ExprKind::Binary { op: BinaryOp::Add, lhs: Box::new(addr), rhs: Box::new(scaled) }, ty: Type::U64, span };
                Base::Memory { addr, user }
            }
        };
        Some(Place { base, ty: element, bits: None })
    }

    /// The value stored at `place`: an integer of its width and sign, a
    /// typed pointer, a char array as a string, or a struct, union or
    /// other array as a whole value.
    fn read_place(&mut self, place: Place, span: Span) -> Option<(ExprKind, Type)> {
        let user = place.base.user();
        let (size, ty) = match self.complete(&place.ty) {
            CType::Int { size, signed } => (size, Type::Int { bits: (size * 8) as u8, signed }),
            CType::Enum(e) => (e.size, Type::Int { bits: (e.size * 8) as u8, signed: e.signed }),
            CType::Pointer { pointee, space } => {
                let user = match space {
                    AddrSpace::User => true,
                    // A pointer read from memory points where its holder
                    // is. A kernel type's pointer (BTF marks every one
                    // Kernel) held in user memory points to user memory
                    // too: the `struct iovec` a process hands writev()
                    // holds its own addresses, as bpftrace 0.17 reads them.
                    AddrSpace::Kernel | AddrSpace::Unknown => user,
                };
                (8, typed_pointer((*pointee).clone(), user))
            }
            CType::Array { element, len } if is_char(&element) && len > 0 => {
                // One byte more than the array for the NUL: a full array
                // prints all its characters, as bpftrace prints it.
                (len as u32, Type::Str { size: len as u32 + 1 })
            }
            CType::Named { kind, name } => {
                let d = self.types.unknown(&format!("{} {name}", kind.keyword()), span);
                self.error(d);
                return None;
            }
            value @ (CType::Record(_) | CType::Array { .. }) => {
                let complete = self.complete_members(&value);
                match complete.size() {
                    Some(size @ 1..=MAX_VALUE_SIZE) => (size as u32, Type::CValue(Pointee(Rc::new(complete)))),
                    size => {
                        let size = size.map_or("no size".to_string(), |s| format!("{s} bytes"));
                        self.error(
                            Diagnostic::error(span, format!("`{}` ({size}) cannot be read whole", place.ty))
                                .with_label(format!("a value is at most {MAX_VALUE_SIZE} bytes"))
                                .with_note("read the members you need"),
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("a value of type `{}` cannot be read", place.ty))
                        .with_label(format!("this is `{}`", place.ty))
                        .with_note("read one of its members or elements"),
                );
                return None;
            }
        };
        let (size, ty) = match place.bits {
            None => (size, ty),
            Some(b) => {
                let bytes = (b.shift + b.width).div_ceil(8).next_power_of_two();
                (bytes, ty)
            }
        };
        let kind = match place.base {
            Base::Memory { addr, user } => ExprKind::Load { addr: Box::new(addr), user, size, bitfield: place.bits },
            Base::Value { value, offset, .. } => {
                ExprKind::Member { value: Box::new(value), offset: offset as u32, size, bitfield: place.bits }
            }
        };
        Some((kind, ty))
    }

    /// `ty` with every struct or union it holds by value (not behind a
    /// pointer) looked up by name, so that the runtime, which has no
    /// types of its own, can print every member.
    fn complete_members(&self, ty: &CType) -> CType {
        match self.complete(ty) {
            CType::Record(r) if r.members.iter().any(|m| needs_completion(&m.ty)) => {
                let mut r = (*r).clone();
                for m in &mut r.members {
                    if needs_completion(&m.ty) {
                        m.ty = self.complete_members(&m.ty);
                    }
                }
                CType::Record(Rc::new(r))
            }
            CType::Array { element, len } if needs_completion(&element) => {
                CType::Array { element: Rc::new(self.complete_members(&element)), len }
            }
            t => t,
        }
    }
}

/// Whether a member's type holds a struct known by name only, or a
/// typedef, which [`Checker::complete_members`] resolves.
fn needs_completion(ty: &CType) -> bool {
    match ty {
        CType::Named { .. } | CType::Typedef { .. } => true,
        CType::Record(r) => r.members.iter().any(|m| needs_completion(&m.ty)),
        CType::Array { element, .. } => needs_completion(element),
        _ => false,
    }
}

/// A place at the start of a struct, union or array value.
fn value_place(v: Expr, cx: &ProbeCx) -> Place {
    let Type::CValue(c) = &v.ty else { unreachable!("only values have value places") };
    let ty = (*c.0).clone();
    let user = cvalue_is_user(&v).unwrap_or_else(|| probe_is_user(&cx.resolved.kind));
    Place { base: Base::Value { value: v, offset: 0, user }, ty, bits: None }
}

/// Whether the pointers inside a struct value point to user memory, when
/// the value shows where it was read from; else the probe decides, as for
/// a cast.
fn cvalue_is_user(v: &Expr) -> Option<bool> {
    match &v.kind {
        ExprKind::Load { user, .. } => Some(*user),
        ExprKind::Member { value, .. } => cvalue_is_user(value),
        _ => None,
    }
}

/// `(l - r) / size` as a signed count: the code divides unsigned, as
/// bpftrace does, so a negative difference is divided as its magnitude.
/// The magnitude is unsigned, so the division the user never wrote draws
/// no warning of signed operands.
fn pointer_difference(l: Expr, r: Expr, size: u64) -> (ExprKind, Type) {
    let span = l.span.to(r.span);
    let bin = |op, lhs: &Expr, rhs: &Expr| Expr {
        kind: ExprKind::Binary { op, lhs: Box::new(lhs.clone()), rhs: Box::new(rhs.clone()) },
        ty: Type::U64,
        span,
    };
    let count = |lhs: &Expr, rhs: &Expr| match size {
        1 => bin(BinaryOp::Sub, lhs, rhs),
        _ => bin(BinaryOp::Div, &bin(BinaryOp::Sub, lhs, rhs), &int(size, span)),
    };
    let below = Expr { kind: ExprKind::Binary { op: BinaryOp::Lt, lhs: Box::new(l.clone()), rhs: Box::new(r.clone()) }, ty: Type::U64, span };
    let negative = Expr { kind: ExprKind::Unary { op: UnaryOp::Neg, expr: Box::new(count(&r, &l)) }, ty: Type::I64, span };
    let kind = ExprKind::Ternary { cond: Box::new(below), then: Box::new(negative), else_: Box::new(count(&l, &r)) };
    (kind, Type::I64)
}

/// Why a pointer operator was refused, under its span.
fn pointer_misuse(op: BinaryOp, both: bool) -> &'static str {
    match op {
        BinaryOp::Add if both => "two addresses do not add",
        BinaryOp::Sub if both => "pointers subtract only when they point to the same type",
        BinaryOp::Sub => "an integer minus an address means nothing",
        _ => "an address takes only `+` and `-` of an integer, comparisons, `&&` and `||`",
    }
}

/// The pointer type of a value pointing to `pointee`.
fn typed_pointer(pointee: CType, user: bool) -> Type {
    let to_char = matches!(pointee.resolved(), CType::Int { size: 1, .. });
    Type::Ptr { to_char, user, pointee: Some(Pointee(Rc::new(pointee))) }
}

/// Whether a probe's pointers point to user memory.
pub(super) fn probe_is_user(kind: &ProbeKind) -> bool {
    matches!(kind, ProbeKind::Uprobe { .. } | ProbeKind::UprobeMulti { .. } | ProbeKind::Usdt { .. })
}

fn int(v: u64, span: Span) -> Expr {
    Expr { kind: ExprKind::Int(v), ty: Type::U64, span }
}

/// `addr + offset`, with no addition for offset 0.
fn offset_by(addr: Expr, offset: u64) -> Expr {
    if offset == 0 {
        return addr;
    }
    let span = addr.span;
    Expr { kind: ExprKind::Binary { op: BinaryOp::Add, lhs: Box::new(addr), rhs: Box::new(int(offset, span)) }, ty: Type::U64, span }
}
