//! Reads through memory: casts to pointer types, `p->field` (and `.` on a
//! pointer or on a struct reached through one, as bpftrace ≥ 0.25 allows),
//! `*p`, `p[i]` and pointer arithmetic scaled by the pointee's size, typed
//! by the C types of [`crate::ctypes`]. A chain of members is one address
//! computation; only the value at its end (and the pointers it follows) is
//! read, with one helper call of exactly that value's size.

use std::rc::Rc;

use super::expr::int_type;
use super::types::no_member;
use super::{Checker, ProbeCx};
use crate::ast::{self, BinaryOp, ExprKind as A, UnaryOp};
use crate::checked::{Expr, ExprKind, LoadBits};
use crate::ctypes::{AddrSpace, CType, RecordKind};
use crate::probes::ProbeKind;
use crate::types::{Pointee, Type};
use crate::{Diagnostic, Span};

/// A place in memory: an address and the C type stored there.
struct Place {
    /// The address, a 64-bit integer expression.
    addr: Expr,
    /// What is stored there.
    ty: CType,
    /// Whether the address is in user memory.
    user: bool,
    /// For a bit field: its bits in the bytes at `addr`.
    bits: Option<LoadBits>,
}

/// Whether `e` names memory rather than computing a value: a member
/// (other than `args.NAME`), `*p` or `p[i]`.
fn is_place(e: &ast::Expr) -> bool {
    match &e.kind {
        A::Field { expr, .. } => expr.kind != A::Ident("args".into()),
        A::Unary { op: UnaryOp::Deref, .. } => true,
        A::Index { expr, .. } => !is_args_field(expr),
        _ => false,
    }
}

/// `args.NAME`, whose arrays the tracepoint record holds.
pub(super) fn is_args_field(e: &ast::Expr) -> bool {
    matches!(&e.kind, A::Field { expr, .. } if expr.kind == A::Ident("args".into()))
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
        if !is_place(e) {
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

    /// `p + n`, `p - n` on a typed pointer: `n` counts pointees, as in C.
    pub(super) fn pointer_arithmetic(&mut self, op: BinaryOp, l: Expr, r: Expr) -> Option<(ExprKind, Type)> {
        let Type::Ptr { pointee: Some(p), .. } = &l.ty else { return None };
        let size = self.complete(&p.0).size().unwrap_or(1);
        let ty = l.ty.clone();
        let scaled = match r.kind {
            ExprKind::Int(n) => ExprKind::Int(n.wrapping_mul(size)),
            _ => ExprKind::Binary { op: BinaryOp::Mul, lhs: Box::new(r.clone()), rhs: Box::new(int(size, r.span)) },
        };
        let rhs = Expr { kind: scaled, ty: Type::I64, span: r.span };
        Some((ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(rhs) }, ty))
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
                let base = match (*arrow, is_place(expr)) {
                    (false, true) => match self.place(expr, cx)? {
                        // `s.f` on a struct in memory: its member.
                        p if matches!(self.complete(&p.ty), CType::Record(_)) => p,
                        // `p.f` on a pointer: `p->f`, as bpftrace ≥ 0.25 reads it.
                        p => self.through(p, expr.span, "`.`")?,
                    },
                    _ => {
                        let v = self.expr(expr, cx);
                        self.deref(v, if *arrow { "`->`" } else { "`.`" })?
                    }
                };
                self.member(base, field)
            }
            A::Unary { op: UnaryOp::Deref, expr } => {
                let v = self.expr(expr, cx);
                self.deref(v, "`*`")
            }
            A::Index { expr, index } => {
                let i = self.expr(index, cx);
                self.expect_int(&i, "an index")?;
                // An array in memory is indexed in place; a pointer (a
                // value, or one stored in memory) counts from its pointee.
                let base = if is_place(expr) {
                    match self.place(expr, cx)? {
                        p if matches!(self.complete(&p.ty), CType::Array { .. }) => p,
                        p => self.through(p, expr.span, "`[]`")?,
                    }
                } else {
                    let v = self.expr(expr, cx);
                    self.deref(v, "`[]`")?
                };
                self.element(base, i, expr.span)
            }
            _ => unreachable!("only members, `*` and `[]` name memory"),
        }
    }

    /// The place a pointer value points to.
    fn deref(&mut self, v: Expr, what: &str) -> Option<Place> {
        match &v.ty {
            Type::Ptr { pointee: Some(p), user, .. } => {
                let (ty, user) = ((*p.0).clone(), *user);
                Some(Place { addr: v, ty, user, bits: None })
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
        Some(Place { addr: offset_by(base.addr, offset), ty, user: base.user, bits })
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
        let addr = match i.kind {
            ExprKind::Int(n) => {
                if let Some(len) = len.filter(|l| *l > 0 && n >= *l) {
                    self.error(
                        Diagnostic::error(i.span, format!("index {} is out of bounds for `{}`", n as i64, base.ty))
                            .with_label(format!("the array has {len} elements")),
                    );
                    return None;
                }
                offset_by(base.addr, n.wrapping_mul(size))
            }
            _ => {
                let span = i.span;
                let scaled = Expr { kind: ExprKind::Binary { op: BinaryOp::Mul, lhs: Box::new(i), rhs: Box::new(int(size, span)) }, ty: Type::U64, span };
                Expr { kind: ExprKind::Binary { op: BinaryOp::Add, lhs: Box::new(base.addr), rhs: Box::new(scaled) }, ty: Type::U64, span }
            }
        };
        Some(Place { addr, ty: element, user: base.user, bits: None })
    }

    /// The value stored at `place`: an integer of its width and sign, a
    /// typed pointer, or a char array as a string. Struct and other array
    /// values are not read whole.
    fn read_place(&mut self, place: Place, span: Span) -> Option<(ExprKind, Type)> {
        let (size, ty) = match self.complete(&place.ty) {
            CType::Int { size, signed } => (size, Type::Int { bits: (size * 8) as u8, signed }),
            CType::Enum(e) => (e.size, Type::Int { bits: (e.size * 8) as u8, signed: e.signed }),
            CType::Pointer { pointee, space } => {
                let user = match space {
                    AddrSpace::Kernel => false,
                    AddrSpace::User => true,
                    // A pointer read from memory points where its holder is.
                    AddrSpace::Unknown => place.user,
                };
                (8, typed_pointer((*pointee).clone(), user))
            }
            CType::Array { element, len } if matches!(element.resolved(), CType::Int { size: 1, .. }) && len > 0 => {
                // One byte more than the array for the NUL: a full array
                // prints all its characters, as bpftrace prints it.
                (len as u32, Type::Str { size: len as u32 + 1 })
            }
            other => {
                let what = match other {
                    CType::Record(_) | CType::Named { .. } => "a struct or union value",
                    CType::Array { .. } => "an array value",
                    _ => "a value of this type",
                };
                self.error(
                    Diagnostic::error(span, format!("{what} (`{}`) cannot be read whole", place.ty))
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
        let kind = ExprKind::Load { addr: Box::new(place.addr), user: place.user, size, bitfield: place.bits };
        Some((kind, ty))
    }
}

/// The pointer type of a value pointing to `pointee`.
fn typed_pointer(pointee: CType, user: bool) -> Type {
    let to_char = matches!(pointee.resolved(), CType::Int { size: 1, .. });
    Type::Ptr { to_char, user, pointee: Some(Pointee(Rc::new(pointee))) }
}

/// Whether a probe's pointers point to user memory.
fn probe_is_user(kind: &ProbeKind) -> bool {
    matches!(kind, ProbeKind::Uprobe { .. } | ProbeKind::Usdt { .. })
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
