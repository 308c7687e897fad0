//! The maps a program names, found before any probe is checked, so that
//! each gets its [`MapId`](crate::checked::MapId) (their index in name
//! order, bpftrace's printing order) whichever probe uses it first.

use std::collections::BTreeMap;

use crate::ast::{self, Visitor};
use crate::Span;

/// Every map the probes name (with its `@`), with the span of its first
/// use in source order.
pub(super) fn maps_used(program: &ast::Program) -> BTreeMap<String, Span> {
    let mut maps = MapsUsed::default();
    // Config values are constants: no map there.
    for probe in &program.probes {
        maps.visit_probe(probe);
    }
    maps.0
}

#[derive(Default)]
struct MapsUsed(BTreeMap<String, Span>);

impl MapsUsed {
    fn saw(&mut self, name: &str, span: Span) {
        self.0.entry(format!("@{name}")).or_insert(span);
    }
}

impl Visitor<'_> for MapsUsed {
    fn visit_stmt(&mut self, stmt: &ast::Stmt) {
        if let ast::StmtKind::For { iter: ast::ForIter::Map(map), .. } = &stmt.kind {
            self.saw(&map.name, map.span);
        }
        ast::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &ast::Expr) {
        if let ast::ExprKind::Map { name, .. } = &expr.kind {
            self.saw(name, expr.span);
        }
        ast::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &[(&str, &str)]) {
        let program = crate::parse(text).unwrap();
        let found: Vec<(String, &str)> =
            maps_used(&program).into_iter().map(|(name, span)| (name, text[span.start as usize..span.end as usize].trim_end())).collect();
        let expect: Vec<(String, &str)> = expect.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        assert_eq!(found, expect);
    }

    #[test]
    fn first_use_in_source_order() {
        check(
            "BEGIN /@p[@k] > 0/ { @b = @a[@c]; for ($kv : @d) { @e++; } @a[1] = 2; }",
            &[("@a", "@a[@c]"), ("@b", "@b"), ("@c", "@c"), ("@d", "@d"), ("@e", "@e"), ("@k", "@k"), ("@p", "@p[@k]")],
        );
    }

    #[test]
    fn inside_every_kind_of_statement() {
        check(
            "BEGIN { if (@a) { @b = 1; } else { @c = sizeof(@d); } while (@e < 3) { { @f = (@g, @h.0)[0]; } } \
             unroll (2) { @i = @j ? -@k : (uint8)@l; } for ($i : @m..@n) { print(@o); } }",
            &[
                ("@a", "@a"),
                ("@b", "@b"),
                ("@c", "@c"),
                ("@d", "@d"),
                ("@e", "@e"),
                ("@f", "@f"),
                ("@g", "@g"),
                ("@h", "@h"),
                ("@i", "@i"),
                ("@j", "@j"),
                ("@k", "@k"),
                ("@l", "@l"),
                ("@m", "@m"),
                ("@n", "@n"),
                ("@o", "@o"),
            ],
        );
    }
}
