//! Register pressure: how many callee-saved registers evaluating an
//! expression holds at once, so that a value waits on the stack only when
//! what is evaluated after it would not fit in the registers left.

use rbpf_lang::checked::{BufSource, Expr, ExprKind};

/// The registers [`super::ProgramGen::int`] (or a string or buffer built
/// from `e`) needs free to evaluate `e`, its result included, given that
/// binary operators spill their left operand when the right one needs more
/// than is left. An upper bound: too high costs a needless spill in a
/// deep expression, too low a refusal.
pub(super) fn needed(e: &Expr) -> usize {
    use ExprKind as E;
    match &e.kind {
        // An immediate operand, unless it takes a 64-bit load.
        E::Int(v) => usize::from(i32::try_from(*v as i64).is_err()),
        // Built straight into their slot, with r0–r5 as scratch.
        E::Str(_) | E::ProbeByCookie(_) | E::TracepointField(_) => 1,
        E::Builtin(_) | E::Var(_) | E::VarIncDec { .. } | E::MapLen(_) | E::Arg(_) | E::UsdtArg(_) | E::Retval | E::FuncIp => 1,
        E::MapRead { keys, .. } | E::HasKey { keys, .. } | E::MapIncDec { keys, .. } | E::Tuple(keys) | E::Call { args: keys, .. } => {
            keys.iter().map(needed).max().unwrap_or(0).max(1)
        }
        E::Retype(x) | E::Cast(x) | E::Load { addr: x, .. } | E::Member { value: x, .. } | E::Unary { expr: x, .. } | E::TupleIndex { expr: x, .. } => {
            needed(x).max(1)
        }
        E::Binary { lhs, rhs, .. }
        | E::StrEq { lhs, rhs, .. }
        | E::Ntop { af: lhs, addr: rhs } => needed(lhs).max(needed(rhs)).max(1),
        // The string is built in its slot before the length is evaluated.
        E::StrPrefix { str, len } => needed(str).max(needed(len)).max(1),
        // The address is held while the length is evaluated.
        E::StrRead { ptr, len } => match len {
            None => needed(ptr).max(1),
            Some(len) => needed(ptr).max(1 + needed(len)).max(2),
        },
        E::BufRead { source, len } => {
            let source = match source {
                BufSource::Memory(x) | BufSource::Str(x) => needed(x),
                BufSource::Field(_) => 0,
            };
            source.max(1 + len.as_deref().map_or(0, needed)).max(1)
        }
        // Each member is stored before the next is evaluated.
        E::Record(members) => members.iter().map(|m| needed(&m.value)).max().unwrap_or(0).max(1),
        // The branches run one at a time and end in the same register.
        E::Ternary { cond, then, else_ } => needed(cond).max(needed(then)).max(needed(else_)).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_lang::ast::BinaryOp;
    use rbpf_lang::checked::Builtin;
    use rbpf_lang::types::Type;
    use rbpf_lang::Span;

    fn expr(kind: ExprKind) -> Expr {
        Expr { kind, ty: Type::Int { bits: 64, signed: false }, span: Span::default() }
    }

    fn add(lhs: Expr, rhs: Expr) -> Expr {
        expr(ExprKind::Binary { op: BinaryOp::Add, lhs: Box::new(lhs), rhs: Box::new(rhs) })
    }

    #[test]
    fn nesting_needs_no_more_registers_than_its_deepest_operand() {
        let pid = || expr(ExprKind::Builtin(Builtin::Pid));
        assert_eq!(needed(&expr(ExprKind::Int(5))), 0);
        assert_eq!(needed(&expr(ExprKind::Int(1 << 40))), 1);
        assert_eq!(needed(&pid()), 1);
        let mut deep = pid();
        for _ in 0..50 {
            deep = add(pid(), deep);
        }
        assert_eq!(needed(&deep), 1);
        let ternary = expr(ExprKind::Ternary { cond: Box::new(pid()), then: Box::new(expr(ExprKind::Int(3))), else_: Box::new(pid()) });
        assert_eq!(needed(&add(pid(), ternary)), 1);
    }
}
