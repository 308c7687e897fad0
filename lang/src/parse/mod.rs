//! The parser: pest grammar (grammar.pest) to [`ast::Program`](crate::ast::Program), with
//! syntax errors turned into one readable, spanned [`Diagnostic`].

mod depth;

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use crate::ast::*;
use crate::{Diagnostic, Span};
use grammar::{Grammar, Rule};

/// The pest parser and its `Rule`s, kept private: the rules are the
/// grammar's business, the AST is the interface.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub(super) struct Grammar;
}

/// Parses a whole program. A `#!` first line is a comment.
pub fn parse(text: &str) -> std::result::Result<Program, Vec<Diagnostic>> {
    // Blank out a shebang line, keeping byte offsets for spans.
    let owned;
    let text = if text.starts_with("#!") {
        let end = text.find('\n').unwrap_or(text.len());
        owned = format!("{}{}", " ".repeat(end), &text[end..]);
        owned.as_str()
    } else {
        text
    };
    depth::check_text_nesting(text).map_err(|d| vec![d])?;
    let mut pairs = Grammar::parse(Rule::program, text).map_err(|e| vec![syntax_error(text, e)])?;
    let program = pairs.next().expect("the program rule matched");
    let span = span_of(&program);
    let mut out = Program { definitions: Vec::new(), config: Vec::new(), probes: Vec::new(), span };
    let mut errors = Vec::new();
    for pair in program.into_inner() {
        match pair.as_rule() {
            Rule::c_definition => match crate::cdefs::parse_definition(pair.as_str(), pair.as_span().start()) {
                Ok(d) => out.definitions.push(d),
                Err(d) => errors.push(d),
            },
            Rule::config => {
                for entry in pair.into_inner() {
                    let span = span_of(&entry);
                    let mut inner = entry.into_inner();
                    let key = ident(inner.next().expect("config key"));
                    match expr(inner.next().expect("config value")) {
                        Ok(value) => out.config.push(ConfigEntry { key, value, span }),
                        Err(d) => errors.push(d),
                    }
                }
            }
            Rule::probe => match probe(pair) {
                Ok(p) => out.probes.push(p),
                Err(d) => errors.push(d),
            },
            _ => {}
        }
    }
    if let Some(span) = depth::deepest_node_over_limit(&out) {
        errors.push(depth::refuse_deep_tree(out, span));
        return Err(errors);
    }
    if out.probes.is_empty() && errors.is_empty() {
        errors.push(
            Diagnostic::error(Span::new(0, text.len().min(1)), "the program has no probes")
                .with_label("expected a probe")
                .with_note("a probe is written `ATTACH_POINT { statements }`, e.g. `BEGIN { printf(\"hello\\n\"); }`"),
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

type Result<T> = std::result::Result<T, Diagnostic>;

fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident { name: pair.as_str().to_string(), span: span_of(&pair) }
}

fn probe(pair: Pair<Rule>) -> Result<Probe> {
    let span = span_of(&pair);
    let mut attach_points = Vec::new();
    let mut predicate = None;
    let mut body = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::attach_point => attach_points.push(AttachPoint { text: p.as_str().to_string(), span: span_of(&p) }),
            Rule::predicate => predicate = Some(expr(p.into_inner().next().expect("predicate expr"))?),
            Rule::block | Rule::angle_block => body = Some(block(p)?),
            _ => {}
        }
    }
    let body = body.expect("a probe has a block");
    Ok(Probe { attach_points, predicate, body, span })
}

fn block(pair: Pair<Rule>) -> Result<Block> {
    let span = span_of(&pair);
    let stmts_pair = pair.into_inner().next().expect("block statements");
    let mut stmts = Vec::new();
    for p in stmts_pair.into_inner() {
        stmts.push(stmt(p)?);
    }
    Ok(Block { stmts, span })
}

fn stmt(pair: Pair<Rule>) -> Result<Stmt> {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::if_stmt => if_stmt(pair)?,
        Rule::while_stmt | Rule::unroll_stmt => {
            let rule = pair.as_rule();
            let mut inner = pair.into_inner().skip(1);
            let e = expr(inner.next().expect("loop condition"))?;
            let body = block(inner.next().expect("loop body"))?;
            if rule == Rule::while_stmt {
                StmtKind::While { cond: e, body }
            } else {
                StmtKind::Unroll { count: e, body }
            }
        }
        Rule::for_stmt => {
            let mut inner = pair.into_inner().skip(1);
            let v = inner.next().expect("for variable");
            let var = Ident { name: v.as_str()[1..].to_string(), span: span_of(&v) };
            let it = inner.next().expect("for iterable");
            let iter = if it.as_rule() == Rule::range {
                let mut bounds = it.into_inner();
                let start = expr(bounds.next().expect("range start"))?;
                let end = expr(bounds.next().expect("range end"))?;
                ForIter::Range { start, end }
            } else {
                let name = it.into_inner().next().expect("map name");
                ForIter::Map(Ident { name: name.as_str()[1..].to_string(), span: span_of(&name) })
            };
            let body = block(inner.next().expect("for body"))?;
            StmtKind::For { var, iter, body }
        }
        Rule::block => StmtKind::Block(block(pair)?),
        Rule::break_stmt => StmtKind::Break,
        Rule::continue_stmt => StmtKind::Continue,
        Rule::return_stmt => StmtKind::Return,
        Rule::assign => {
            let mut inner = pair.into_inner();
            let target = primary(inner.next().expect("assignment target"))?;
            let op = match inner.next().expect("assignment operator").as_str().trim() {
                "=" => None,
                "+=" => Some(BinaryOp::Add),
                "-=" => Some(BinaryOp::Sub),
                "*=" => Some(BinaryOp::Mul),
                "/=" => Some(BinaryOp::Div),
                "%=" => Some(BinaryOp::Mod),
                "&=" => Some(BinaryOp::BitAnd),
                "|=" => Some(BinaryOp::BitOr),
                "^=" => Some(BinaryOp::BitXor),
                "<<=" => Some(BinaryOp::Shl),
                _ => Some(BinaryOp::Shr),
            };
            let value = expr(inner.next().expect("assigned value"))?;
            StmtKind::Assign { target, op, value }
        }
        Rule::expr => StmtKind::Expr(expr(pair)?),
        other => unreachable!("statement rule {other:?}"),
    };
    Ok(Stmt { kind, span })
}

fn if_stmt(pair: Pair<Rule>) -> Result<StmtKind> {
    let mut inner = pair.into_inner().filter(|p| !matches!(p.as_rule(), Rule::kw_if | Rule::kw_else));
    let cond = expr(inner.next().expect("if condition"))?;
    let then = block(inner.next().expect("if body"))?;
    let else_ = match inner.next() {
        None => None,
        Some(p) if p.as_rule() == Rule::if_stmt => {
            let span = span_of(&p);
            let nested = Stmt { kind: if_stmt(p)?, span };
            Some(Block { stmts: vec![nested], span })
        }
        Some(p) => Some(block(p)?),
    };
    Ok(StmtKind::If { cond, then, else_ })
}

fn expr(pair: Pair<Rule>) -> Result<Expr> {
    match pair.as_rule() {
        Rule::expr | Rule::expr_noterm => expr(pair.into_inner().next().expect("expression")),
        Rule::ternary => {
            let span = span_of(&pair);
            let mut inner = pair.into_inner();
            let cond = expr(inner.next().expect("condition"))?;
            match (inner.next(), inner.next()) {
                (Some(a), Some(b)) => Ok(Expr {
                    kind: ExprKind::Ternary { cond: Box::new(cond), then: Box::new(expr(a)?), else_: Box::new(expr(b)?) },
                    span,
                }),
                _ => Ok(cond),
            }
        }
        Rule::binary => binary(pair),
        Rule::unary => unary(pair),
        _ => primary(pair),
    }
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: std::sync::OnceLock<PrattParser<Rule>> = std::sync::OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::or, Assoc::Left))
            .op(Op::infix(Rule::and, Assoc::Left))
            .op(Op::infix(Rule::bor, Assoc::Left))
            .op(Op::infix(Rule::bxor, Assoc::Left))
            .op(Op::infix(Rule::band, Assoc::Left))
            .op(Op::infix(Rule::eq, Assoc::Left) | Op::infix(Rule::ne, Assoc::Left))
            .op(Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left))
            .op(Op::infix(Rule::shl, Assoc::Left) | Op::infix(Rule::shr, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left) | Op::infix(Rule::rem, Assoc::Left))
    })
}

fn binary(pair: Pair<Rule>) -> Result<Expr> {
    pratt()
        .map_primary(unary)
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let op = match op.as_rule() {
                Rule::or => BinaryOp::Or,
                Rule::and => BinaryOp::And,
                Rule::bor => BinaryOp::BitOr,
                Rule::bxor => BinaryOp::BitXor,
                Rule::band => BinaryOp::BitAnd,
                Rule::eq => BinaryOp::Eq,
                Rule::ne => BinaryOp::Ne,
                Rule::lt => BinaryOp::Lt,
                Rule::le => BinaryOp::Le,
                Rule::gt => BinaryOp::Gt,
                Rule::ge => BinaryOp::Ge,
                Rule::shl => BinaryOp::Shl,
                Rule::shr => BinaryOp::Shr,
                Rule::add => BinaryOp::Add,
                Rule::sub => BinaryOp::Sub,
                Rule::mul => BinaryOp::Mul,
                Rule::div => BinaryOp::Div,
                _ => BinaryOp::Mod,
            };
            let span = lhs.span.to(rhs.span);
            Ok(Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span })
        })
        .parse(pair.into_inner())
}

fn unary(pair: Pair<Rule>) -> Result<Expr> {
    if pair.as_rule() != Rule::unary {
        return expr(pair);
    }
    let mut prefixes: Vec<Pair<Rule>> = pair.into_inner().collect();
    let operand = prefixes.pop().expect("unary operand");
    let mut e = postfix_expr(operand)?;
    // Prefix operators apply innermost first.
    for p in prefixes.into_iter().rev() {
        let span = span_of(&p).to(e.span);
        let kind = match p.as_rule() {
            Rule::pre_inc | Rule::pre_dec => {
                ExprKind::IncDec { expr: Box::new(e), increment: p.as_rule() == Rule::pre_inc, prefix: true }
            }
            Rule::cast => ExprKind::Cast { ty: type_name(p.into_inner().next().expect("cast type")), expr: Box::new(e) },
            rule => {
                let op = match rule {
                    Rule::neg => UnaryOp::Neg,
                    Rule::not => UnaryOp::Not,
                    Rule::bitnot => UnaryOp::BitNot,
                    Rule::deref => UnaryOp::Deref,
                    _ => UnaryOp::AddrOf,
                };
                ExprKind::Unary { op, expr: Box::new(e) }
            }
        };
        e = Expr { kind, span };
    }
    Ok(e)
}

fn type_name(pair: Pair<Rule>) -> TypeName {
    let span = span_of(&pair);
    let mut name = String::new();
    let mut pointer = 0;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::pointer_star => pointer += 1,
            _ => name = p.as_str().split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
    TypeName { name, pointer, span }
}

fn postfix_expr(pair: Pair<Rule>) -> Result<Expr> {
    let mut inner = pair.into_inner();
    let mut e = primary(inner.next().expect("primary"))?;
    for p in inner {
        let span = e.span.to(span_of(&p));
        let kind = match p.as_rule() {
            Rule::arrow | Rule::field => {
                let arrow = p.as_rule() == Rule::arrow;
                let field = ident(p.into_inner().next().expect("field name"));
                ExprKind::Field { expr: Box::new(e), field, arrow }
            }
            Rule::tuple_index => {
                let digits = p.into_inner().next().expect("tuple index");
                let index_span = span_of(&digits);
                let index = digits.as_str().parse::<u32>().map_err(|_| {
                    Diagnostic::error(index_span, "this tuple index is too large").with_label("not a valid index")
                })?;
                ExprKind::TupleIndex { expr: Box::new(e), index, index_span }
            }
            Rule::index => ExprKind::Index { expr: Box::new(e), index: Box::new(expr(p.into_inner().next().expect("index"))?) },
            rule => ExprKind::IncDec { expr: Box::new(e), increment: rule == Rule::post_inc, prefix: false },
        };
        e = Expr { kind, span };
    }
    Ok(e)
}

fn primary(pair: Pair<Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::int => ExprKind::Int(integer(pair.as_str(), span)?),
        Rule::string => ExprKind::Str(unescape(pair.into_inner().next().expect("string body").as_str(), span)?),
        Rule::bool => ExprKind::Bool(pair.as_str() == "true"),
        Rule::ident => ExprKind::Ident(pair.as_str().to_string()),
        Rule::var => ExprKind::Var(pair.as_str()[1..].to_string()),
        Rule::positional => {
            // Parameters count from $1; bpftrace refuses $0 in these words.
            let n = pair.as_str()[1..].parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(|| {
                Diagnostic::error(span, format!("param {} is out of integer range [1, {}]", pair.as_str(), i64::MAX))
                    .with_label("no such parameter")
                    .with_note("positional parameters are numbered from $1 (`$#` is how many were given)")
            })?;
            ExprKind::Positional(n)
        }
        Rule::positional_count => ExprKind::PositionalCount,
        Rule::map => {
            let mut inner = pair.into_inner();
            let name = inner.next().expect("map name").as_str()[1..].to_string();
            let keys = inner.map(expr).collect::<Result<Vec<_>>>()?;
            ExprKind::Map { name, keys }
        }
        Rule::call => {
            let mut inner = pair.into_inner();
            let name = ident(inner.next().expect("function name"));
            let args = inner.map(expr).collect::<Result<Vec<_>>>()?;
            ExprKind::Call { name, args }
        }
        Rule::sizeof_expr => {
            let arg = pair.into_inner().nth(1).expect("sizeof argument");
            let arg = if arg.as_rule() == Rule::type_name { SizeofArg::Type(type_name(arg)) } else { SizeofArg::Expr(expr(arg)?) };
            ExprKind::Sizeof(Box::new(arg))
        }
        Rule::offsetof_expr => {
            let mut inner = pair.into_inner().skip(1);
            let of = inner.next().expect("offsetof type");
            let of = if of.as_rule() == Rule::type_name { SizeofArg::Type(type_name(of)) } else { SizeofArg::Expr(expr(of)?) };
            ExprKind::Offsetof { of: Box::new(of), path: inner.map(ident).collect() }
        }
        Rule::paren => {
            let mut items = pair.into_inner().map(expr).collect::<Result<Vec<_>>>()?;
            // `(a)` is parentheses; bpftrace has no one-element tuples.
            if items.len() == 1 {
                return Ok(Expr { span, ..items.remove(0) });
            }
            ExprKind::Tuple(items)
        }
        Rule::expr | Rule::ternary | Rule::binary | Rule::unary => return expr(pair),
        Rule::postfix_expr => return postfix_expr(pair),
        other => unreachable!("primary rule {other:?}"),
    };
    Ok(Expr { kind, span })
}

fn integer(text: &str, span: Span) -> Result<u64> {
    if let Some((coefficient, exponent)) = text.split_once(['e', 'E']).filter(|_| !text.starts_with("0x") && !text.starts_with("0X")) {
        return scientific(coefficient, exponent, span);
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let parsed = if let Some(hex) = clean.strip_prefix("0x").or_else(|| clean.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else if clean.len() > 1 && clean.starts_with('0') {
        u64::from_str_radix(&clean[1..], 8)
    } else {
        clean.parse::<u64>()
    };
    parsed.map_err(|_| {
        Diagnostic::error(span, "this integer does not fit in 64 bits, or is not a valid number")
            .with_label("invalid integer literal")
    })
}

/// `1e6`: an integer written as one digit times a power of ten, as
/// bpftrace 0.17 takes it (a coefficient of one digit, an exponent of at
/// most 16, so that any such literal fits its int64).
fn scientific(coefficient: &str, exponent: &str, span: Span) -> Result<u64> {
    let digit = coefficient.parse::<u64>().ok().filter(|_| coefficient.len() == 1);
    let Some(digit) = digit else {
        return Err(Diagnostic::error(span, "the coefficient of a scientific literal must be one digit, 0 to 9")
            .with_label("more than one digit")
            .with_note("write the number out (`12000`) or as a product (`12 * 1e3`)"));
    };
    match exponent.parse::<u32>() {
        Ok(e) if e <= 16 => Ok(digit * 10u64.pow(e)),
        _ => Err(Diagnostic::error(span, "the exponent of a scientific literal is at most 16")
            .with_label("too large for an integer")),
    }
}

fn unescape(body: &str, span: Span) -> Result<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match chars.peek().and_then(|(_, d)| d.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            chars.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    let at = span.start as usize + 1 + i;
                    return Err(Diagnostic::error(Span::new(at, at + 2), "`\\x` must be followed by hex digits")
                        .with_label("invalid escape"));
                }
                out.push(char::from(v as u8));
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|(_, d)| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from((v & 0xff) as u8));
            }
            other => {
                let at = span.start as usize + 1 + i;
                return Err(Diagnostic::error(Span::new(at, at + 1 + other.len_utf8()), format!("unknown escape `\\{other}`"))
                    .with_label("invalid escape")
                    .with_note("escapes are \\n \\t \\r \\\\ \\\" \\' \\xNN and octal \\NNN"));
            }
        }
    }
    Ok(out)
}

/// One readable diagnostic for a pest error: where input stopped matching,
/// what was found there, and what could have come instead.
fn syntax_error(text: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found_char = text[pos.min(text.len())..].chars().next();
    let end = pos + found_char.map_or(0, char::len_utf8);
    let span = Span::new(pos, end);
    let found = match found_char {
        None => "the end of the program".to_string(),
        Some('\n') => "the end of the line".to_string(),
        Some(c) => format!("`{c}`"),
    };
    if found_char == Some('"') && !string_is_closed(&text[pos + 1..]) {
        return Diagnostic::error(span, "unterminated string literal")
            .with_label("this string is never closed")
            .with_note("close it with `\"`");
    }
    if text[pos..].starts_with("/*") && !text[pos + 2..].contains("*/") {
        return Diagnostic::error(Span::new(pos, pos + 2), "unterminated comment")
            .with_label("this comment is never closed")
            .with_note("close it with `*/`");
    }
    // An unclosed block shows as an error at the end.
    if found_char.is_none() {
        let open = text.matches('{').count();
        let close = text.matches('}').count();
        if open > close {
            return Diagnostic::error(span, "unexpected end of the program: a block is not closed")
                .with_label("expected `}`");
        }
    }
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| describe(*r)).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let message = match expected.as_slice() {
        [] => format!("unexpected {found}"),
        [one] => format!("expected {one}, found {found}"),
        many => format!("expected {} or {}, found {found}", many[..many.len() - 1].join(", "), many[many.len() - 1]),
    };
    let d = Diagnostic::error(span, message).with_label(format!("unexpected {found}"));
    if expected.contains(&"an operator") && found_char.is_some_and(|c| c == '@' || c == '$' || c.is_alphabetic()) {
        return d.with_note("statements are separated by `;`");
    }
    d
}

/// Whether a string whose opening quote was just passed ends on its line.
fn string_is_closed(rest: &str) -> bool {
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return true,
            '\n' => return false,
            _ => escaped = false,
        }
    }
    false
}

/// What a grammar rule is called in an error message; `None` for rules a
/// user need not hear about.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::probe | Rule::attach_point => "a probe",
        Rule::predicate => "a predicate `/.../`",
        Rule::block => "`{`",
        Rule::angle_block => "`<`",
        Rule::stmts => "a statement",
        Rule::expr | Rule::ternary | Rule::binary | Rule::unary | Rule::postfix_expr | Rule::expr_noterm => "an expression",
        Rule::int => "a number",
        Rule::string => "a string",
        Rule::ident => "a name",
        Rule::map | Rule::map_name => "a map",
        Rule::var => "a variable",
        Rule::call => "a function call",
        Rule::assign_op => "`=`",
        Rule::or | Rule::and | Rule::eq | Rule::ne | Rule::shl | Rule::shr | Rule::le | Rule::ge | Rule::lt | Rule::gt
        | Rule::bor | Rule::bxor | Rule::band | Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::rem => "an operator",
        Rule::arrow | Rule::field | Rule::tuple_index | Rule::index | Rule::post_inc | Rule::post_dec => "an operator",
        Rule::EOI => "the end of the program",
        Rule::config_entry => "a config option",
        Rule::type_name => "a type",
        Rule::c_definition => "a C definition",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
