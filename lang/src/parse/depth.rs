//! Bounds on nesting: every pass after the grammar walks the tree by
//! recursion, so a program nested deeper than these bounds is refused with a
//! span before any pass can overflow the stack.
//!
//! Two measures, both taken without recursion:
//! - before pest runs, the nesting of brackets, `?:` and `else if` in the
//!   text, since pest itself recurses once per level (about 20 KiB of stack
//!   per parenthesis in a debug build);
//! - after the tree is built, its depth, which also counts what pest reads
//!   by iteration but every later pass recurses on: chains of prefix
//!   operators (`- - - x`, `!!!!x`) and of binary operators (`a + b + ...`).
//!   A tree that is too deep is taken apart by iteration too, since dropping
//!   it would recurse.

use crate::ast::*;
use crate::{Diagnostic, Span};

/// The deepest nesting of brackets, `?:` and `else if` accepted. Scripts
/// written by people nest a dozen levels at most.
pub(super) const MAX_NESTING: usize = 100;

/// The deepest syntax tree accepted (statements and expressions, counted
/// one level per node). With it, the checker and code generator stay under
/// 2.5 MiB of stack in a debug build and far less in a release build, well
/// inside a main thread's 8 MiB.
pub(super) const MAX_DEPTH: usize = 250;

fn too_deep(span: Span, what: &str, limit: usize) -> Diagnostic {
    Diagnostic::error(span, format!("the program is nested too deeply: {what} are limited to {limit} levels"))
        .with_label("too deeply nested here")
        .with_note("split the expression with variables, or the blocks into separate probes")
}

/// Refuses text whose nesting would make the grammar recurse more than
/// [`MAX_NESTING`] levels. Strings and comments are skipped; `?` and
/// `else if` count until the next `;` or `,` of their bracket level, since
/// until then they nest (`a ? b : c ? d : e`).
pub(super) fn check_text_nesting(text: &str) -> Result<(), Diagnostic> {
    let bytes = text.as_bytes();
    // For each open bracket, the `?`/`else if` count of its level so far.
    let mut levels: Vec<usize> = vec![0];
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let mut opened = false;
        match c {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            // Outside every bracket, `//` and `/*` right after an attach
            // point's character are part of the attach point (pest reads
            // `uprobe:/lib/*.so:f` greedily), so the text is read on.
            b'/' if levels.len() == 1 && i > 0 && is_attach_byte(bytes[i - 1]) => {}
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            // An unclosed `/*` is no comment to pest either: `/` and `*`.
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                if let Some(end) = text[i + 2..].find("*/") {
                    i += 2 + end + 1;
                }
            }
            b'(' | b'[' | b'{' => {
                levels.push(0);
                depth += 1;
                opened = true;
            }
            b')' | b']' | b'}' => {
                if levels.len() > 1 {
                    let extra = levels.pop().unwrap_or(0);
                    depth = depth.saturating_sub(extra + 1);
                }
                // A block not followed by `else` ends its `if` statement.
                if c == b'}' && !next_word_is(text, i + 1, "else") {
                    if let Some(level) = levels.last_mut() {
                        depth -= *level;
                        *level = 0;
                    }
                }
            }
            b';' | b',' => {
                if let Some(level) = levels.last_mut() {
                    depth -= *level;
                    *level = 0;
                }
            }
            b'?' => {
                if let Some(level) = levels.last_mut() {
                    *level += 1;
                    depth += 1;
                    opened = true;
                }
            }
            b'e' if text[i..].starts_with("else")
                && !is_ident_byte(bytes.get(i + 4))
                && !is_ident_byte(i.checked_sub(1).and_then(|p| bytes.get(p)))
                && next_word_is(text, i + 4, "if") =>
            {
                if let Some(level) = levels.last_mut() {
                    *level += 1;
                    depth += 1;
                    opened = true;
                }
                i += 3;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'0'..=b'9' => {
                // Skip the whole word, so that `welse` is no `else`.
                while is_ident_byte(bytes.get(i + 1)) {
                    i += 1;
                }
            }
            _ => {}
        }
        if opened && depth > MAX_NESTING {
            let at = if c == b'e' { i - 3 } else { i };
            let len = if c == b'e' { 4 } else { 1 };
            return Err(too_deep(Span::new(at, at + len), "brackets, `?:` and `else if`", MAX_NESTING));
        }
        i += 1;
    }
    Ok(())
}

/// Whether the first word at or after `at`, past blanks, is `word`.
fn next_word_is(text: &str, at: usize, word: &str) -> bool {
    let rest = text.get(at..).unwrap_or("").trim_start();
    rest.starts_with(word) && !is_ident_byte(rest.as_bytes().get(word.len()))
}

/// A character an attach point may hold (grammar.pest's `attach_char`).
fn is_attach_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_:/.-+*?$[]@=".contains(&b)
}

fn is_ident_byte(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A node of the tree, for walks that keep their own stack.
enum Node<'a> {
    Expr(&'a Expr),
    Stmt(&'a Stmt),
    Block(&'a Block),
}

/// A walk with its own stack: each `visit_*` call stacks the node, one
/// level below the node being walked, instead of recursing into it.
struct Stacker<'a> {
    stack: Vec<(Node<'a>, usize)>,
    depth: usize,
}

impl<'a> Visitor<'a> for Stacker<'a> {
    fn visit_block(&mut self, b: &'a Block) {
        self.stack.push((Node::Block(b), self.depth + 1));
    }

    fn visit_stmt(&mut self, s: &'a Stmt) {
        self.stack.push((Node::Stmt(s), self.depth + 1));
    }

    fn visit_expr(&mut self, e: &'a Expr) {
        self.stack.push((Node::Expr(e), self.depth + 1));
    }
}

/// The span of the first node found deeper than [`MAX_DEPTH`], if any.
pub(super) fn deepest_node_over_limit(program: &Program) -> Option<Span> {
    // Config values and each probe's predicate and body, at depth 1.
    let mut walk = Stacker { stack: Vec::new(), depth: 0 };
    walk_program(&mut walk, program);
    while let Some((node, depth)) = walk.stack.pop() {
        let span = match &node {
            Node::Expr(e) => e.span,
            Node::Stmt(s) => s.span,
            Node::Block(b) => b.span,
        };
        if depth > MAX_DEPTH {
            return Some(span);
        }
        walk.depth = depth;
        match node {
            Node::Block(b) => walk_block(&mut walk, b),
            Node::Stmt(s) => walk_stmt(&mut walk, s),
            Node::Expr(e) => walk_expr(&mut walk, e),
        }
    }
    None
}

/// The diagnostic for a tree deeper than [`MAX_DEPTH`], having taken the
/// tree apart without recursion. Taking apart moves each node's children
/// out of it, which the by-reference [`Visitor`] cannot do, so this walk
/// names the children itself.
pub(super) fn refuse_deep_tree(program: Program, span: Span) -> Diagnostic {
    let mut exprs: Vec<Expr> = program.config.into_iter().map(|c| c.value).collect();
    let mut stmts: Vec<Stmt> = Vec::new();
    for p in program.probes {
        exprs.extend(p.predicate);
        stmts.extend(p.body.stmts);
    }
    while !exprs.is_empty() || !stmts.is_empty() {
        if let Some(s) = stmts.pop() {
            match s.kind {
                StmtKind::Expr(e) => exprs.push(e),
                StmtKind::Assign { target, value, .. } => exprs.extend([target, value]),
                StmtKind::If { cond, then, else_ } => {
                    exprs.push(cond);
                    stmts.extend(then.stmts);
                    stmts.extend(else_.into_iter().flat_map(|b| b.stmts));
                }
                StmtKind::While { cond: e, body } | StmtKind::Unroll { count: e, body } => {
                    exprs.push(e);
                    stmts.extend(body.stmts);
                }
                StmtKind::For { iter, body, .. } => {
                    if let ForIter::Range { start, end } = iter {
                        exprs.extend([start, end]);
                    }
                    stmts.extend(body.stmts);
                }
                StmtKind::Block(b) => stmts.extend(b.stmts),
                StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
            }
        }
        if let Some(e) = exprs.pop() {
            match e.kind {
                ExprKind::Map { keys: items, .. } | ExprKind::Call { args: items, .. } | ExprKind::Tuple(items) => {
                    exprs.extend(items)
                }
                ExprKind::Unary { expr, .. }
                | ExprKind::Field { expr, .. }
                | ExprKind::TupleIndex { expr, .. }
                | ExprKind::Cast { expr, .. }
                | ExprKind::IncDec { expr, .. } => exprs.push(*expr),
                ExprKind::Binary { lhs, rhs, .. } | ExprKind::Index { expr: lhs, index: rhs } => {
                    exprs.extend([*lhs, *rhs])
                }
                ExprKind::Ternary { cond, then, else_ } => exprs.extend([*cond, *then, *else_]),
                ExprKind::Sizeof(arg) | ExprKind::Offsetof { of: arg, .. } => {
                    if let SizeofArg::Expr(e) = *arg {
                        exprs.push(e);
                    }
                }
                _ => {}
            }
        }
    }
    too_deep(span, "statements and expressions", MAX_DEPTH)
}
