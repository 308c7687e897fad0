//! C definitions written in a script before its probes — structs,
//! unions, enums and typedefs, as bpftrace accepts them — parsed by rbpf
//! itself (bpftrace hands them to clang). The grammar (grammar.pest) only
//! cuts out each definition's text; this module parses that text into a
//! small declaration tree, and [`layout`] lays it out with x86-64 System V
//! rules into [`ctypes`](crate::ctypes) types.

mod layout;

pub use layout::{layout, ScriptTypes};

use crate::{Diagnostic, Span};

/// One top-level definition, `...;`, as parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    /// `typedef` written before it.
    pub typedef: bool,
    /// The type specifier: `struct P { ... }`, `enum E { ... }`, `int`, ...
    pub specifier: Specifier,
    /// The declarators after it: the typedefs' names (a bare
    /// `struct P { ... };` has none).
    pub declarators: Vec<Declarator>,
    /// The whole definition, `;` included.
    pub span: Span,
}

/// A type specifier.
#[derive(Clone, Debug, PartialEq)]
pub enum Specifier {
    /// `void`
    Void,
    /// An integer spelled with C's keywords (`unsigned long`, `char`, `_Bool`).
    Int {
        /// Bytes.
        size: u32,
        /// Whether it is signed.
        signed: bool,
    },
    /// `float` (4) or `double` (8).
    Float(u32),
    /// `struct X`, `union X`, with or without a body.
    Record(RecordSpec),
    /// `enum X`, with or without a body.
    Enum(EnumSpec),
    /// A typedef name (`u32`, `pid_t`, one defined earlier in the script).
    Name(String, Span),
}

/// `struct NAME { members } __attribute__((packed))`
#[derive(Clone, Debug, PartialEq)]
pub struct RecordSpec {
    /// `struct` or `union`.
    pub kind: crate::ctypes::RecordKind,
    /// The tag, if any.
    pub name: Option<String>,
    /// The members, when the body is written.
    pub body: Option<Vec<MemberDecl>>,
    /// `__attribute__((packed))` was written.
    pub packed: bool,
    /// The specifier as written.
    pub span: Span,
}

/// One member declaration: `int a, *b, c : 3;`
#[derive(Clone, Debug, PartialEq)]
pub struct MemberDecl {
    /// Its type specifier.
    pub specifier: Specifier,
    /// Its declarators with their bit-field widths; none for an anonymous
    /// struct or union member.
    pub declarators: Vec<(Declarator, Option<ConstExpr>)>,
    /// The declaration as written.
    pub span: Span,
}

/// `enum NAME { A, B = 5 }`
#[derive(Clone, Debug, PartialEq)]
pub struct EnumSpec {
    /// The tag, if any.
    pub name: Option<String>,
    /// The enumerators and their values as written, when the body is written.
    pub body: Option<Vec<(String, Span, Option<ConstExpr>)>>,
    /// The specifier as written.
    pub span: Span,
}

/// A declarator: a name (none for an unnamed bit field) and what is done
/// to the specifier's type, in the order it is applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Declarator {
    /// The declared name.
    pub name: Option<(String, Span)>,
    /// Applied to the base type, first to last.
    pub derived: Vec<Derived>,
    /// The declarator as written.
    pub span: Span,
}

/// One step from a base type to a declared one.
#[derive(Clone, Debug, PartialEq)]
pub enum Derived {
    /// `*`
    Pointer,
    /// `[N]`, or `[]` (a flexible array member).
    Array(Option<ConstExpr>),
    /// `(params)`: a function (which only a pointer may point to).
    Function,
}

/// An integer constant expression, as in array lengths, bit-field widths
/// and enumerator values.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstExpr {
    /// A number.
    Int(i64, Span),
    /// An enumerator's name.
    Name(String, Span),
    /// `op e`: `-`, `~`, `!`, `+`.
    Unary(char, Box<ConstExpr>),
    /// `a op b`; `op` as written.
    Binary(&'static str, Box<ConstExpr>, Box<ConstExpr>),
}

impl ConstExpr {
    /// Where it is written.
    pub fn span(&self) -> Span {
        match self {
            ConstExpr::Int(_, s) | ConstExpr::Name(_, s) => *s,
            ConstExpr::Unary(_, e) => e.span(),
            ConstExpr::Binary(_, a, b) => a.span().to(b.span()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Punct(&'static str),
}

const PUNCTS: &[&str] = &["<<", ">>", "{", "}", "(", ")", "[", "]", ";", ",", ":", "*", "=", "+", "-", "~", "!", "/", "%", "&", "|", "^"];

/// Splits `text` (starting at byte `base` of the script) into tokens with spans.
fn tokenize(text: &str, base: usize) -> Result<Vec<(Token, Span)>, Diagnostic> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let span = |a: usize, b: usize| Span::new(base + a, base + b);
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if text[i..].starts_with("//") {
            i += text[i..].find('\n').unwrap_or(text.len() - i);
        } else if text[i..].starts_with("/*") {
            i += text[i + 2..].find("*/").map_or(text.len() - i, |e| e + 4);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let len = text[i..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len() - i);
            out.push((Token::Ident(text[i..i + len].to_string()), span(i, i + len)));
            i += len;
        } else if c.is_ascii_digit() {
            let len = text[i..].find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(text.len() - i);
            let word = &text[i..i + len];
            let digits = word.trim_end_matches(['u', 'U', 'l', 'L']);
            let value = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
                u64::from_str_radix(hex, 16).ok()
            } else if digits.len() > 1 && digits.starts_with('0') {
                u64::from_str_radix(&digits[1..], 8).ok()
            } else {
                digits.parse::<u64>().ok()
            };
            let Some(value) = value else {
                return Err(Diagnostic::error(span(i, i + len), format!("`{word}` is not a valid number")).with_label("invalid number"));
            };
            out.push((Token::Int(value as i64), span(i, i + len)));
            i += len;
        } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            out.push((Token::Punct(p), span(i, i + p.len())));
            i += p.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            return Err(Diagnostic::error(span(i, i + ch.len_utf8()), format!("unexpected `{ch}` in a C definition"))
                .with_label("not part of a struct, union, enum or typedef definition"));
        }
    }
    Ok(out)
}

/// Parses the text of one top-level definition (`struct P { ... };`),
/// which starts at byte `base` of the script.
pub fn parse_definition(text: &str, base: usize) -> Result<Definition, Diagnostic> {
    let tokens = tokenize(text, base)?;
    let end = Span::new(base + text.len(), base + text.len());
    let mut p = Parser { tokens, at: 0, end };
    let typedef = p.eat_word("typedef");
    let specifier = p.specifier()?;
    let mut declarators = Vec::new();
    // bpftrace takes a struct, union or enum definition without its `;`
    // when a probe follows it (the grammar ends the text at the brace).
    let ends_at_brace = !typedef && p.peek().is_none() && p.at > 0 && p.prev_is("}");
    if ends_at_brace {
        return Ok(Definition { typedef, specifier, declarators, span: Span::new(base, base + text.len()) });
    }
    if !p.is(";") {
        loop {
            declarators.push(p.declarator(false)?);
            if !p.eat(",") {
                break;
            }
        }
    }
    p.expect(";")?;
    if let Some((_, span)) = p.tokens.get(p.at) {
        return Err(Diagnostic::error(*span, "unexpected text after the definition's `;`").with_label("expected the end of the definition"));
    }
    Ok(Definition { typedef, specifier, declarators, span: Span::new(base, base + text.len()) })
}

struct Parser {
    tokens: Vec<(Token, Span)>,
    at: usize,
    /// The empty span after the text, for "expected ..., found the end".
    end: Span,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn span(&self) -> Span {
        self.tokens.get(self.at).map_or(self.end, |(_, s)| *s)
    }

    /// Whether the token before the current one is the punctuation `text`.
    fn prev_is(&self, text: &str) -> bool {
        self.at.checked_sub(1).and_then(|i| self.tokens.get(i)).is_some_and(|(t, _)| matches!(t, Token::Punct(p) if *p == text))
    }

    fn prev_span(&self) -> Span {
        self.at.checked_sub(1).and_then(|i| self.tokens.get(i)).map_or(self.end, |(_, s)| *s)
    }

    fn is(&self, punct: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(p)) if *p == punct)
    }

    fn eat(&mut self, punct: &str) -> bool {
        let yes = self.is(punct);
        self.at += usize::from(yes);
        yes
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let yes = self.is_word(word);
        self.at += usize::from(yes);
        yes
    }

    fn error(&self, expected: &str) -> Diagnostic {
        let found = match self.peek() {
            None => "the end of the definition".to_string(),
            Some(Token::Ident(w)) => format!("`{w}`"),
            Some(Token::Int(v)) => format!("`{v}`"),
            Some(Token::Punct(p)) => format!("`{p}`"),
        };
        Diagnostic::error(self.span(), format!("expected {expected} in this C definition, found {found}"))
            .with_label(format!("expected {expected}"))
    }

    fn expect(&mut self, punct: &'static str) -> Result<(), Diagnostic> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(self.error(&format!("`{punct}`")))
        }
    }

    fn ident(&mut self) -> Option<(String, Span)> {
        match self.peek() {
            Some(Token::Ident(w)) if !is_keyword(w) => {
                let w = w.clone();
                self.at += 1;
                Some((w, self.prev_span()))
            }
            _ => None,
        }
    }

    /// Skips `__attribute__((...))`; says whether it held `packed`.
    fn attributes(&mut self) -> Result<bool, Diagnostic> {
        let mut packed = false;
        while self.eat_word("__attribute__") || self.eat_word("__attribute") {
            self.expect("(")?;
            self.skip_to_closing_paren(|w| packed |= w == "packed" || w == "__packed__")?;
        }
        Ok(packed)
    }

    /// Skips tokens up to and past the `)` that closes a `(` already
    /// eaten, nested parentheses included; `word` sees each identifier.
    fn skip_to_closing_paren(&mut self, mut word: impl FnMut(&str)) -> Result<(), Diagnostic> {
        let mut depth = 1;
        while depth > 0 {
            match self.peek() {
                None => return Err(self.error("`)`")),
                Some(Token::Punct("(")) => depth += 1,
                Some(Token::Punct(")")) => depth -= 1,
                Some(Token::Ident(w)) => word(w),
                _ => {}
            }
            self.at += 1;
        }
        Ok(())
    }

    fn specifier(&mut self) -> Result<Specifier, Diagnostic> {
        let start = self.span();
        let mut words: Vec<String> = Vec::new();
        loop {
            self.attributes()?;
            match self.peek() {
                Some(Token::Ident(w)) if matches!(w.as_str(), "const" | "volatile" | "restrict" | "__restrict" | "static" | "extern") => {
                    self.at += 1;
                }
                Some(Token::Ident(w)) if matches!(w.as_str(), "struct" | "union") && words.is_empty() => {
                    let kind = if w == "struct" { crate::ctypes::RecordKind::Struct } else { crate::ctypes::RecordKind::Union };
                    self.at += 1;
                    let mut packed = self.attributes()?;
                    let name = self.ident().map(|(n, _)| n);
                    let body = if self.eat("{") { Some(self.members()?) } else { None };
                    if name.is_none() && body.is_none() {
                        return Err(self.error("a name or `{`"));
                    }
                    packed |= self.attributes()?;
                    self.qualifiers();
                    return Ok(Specifier::Record(RecordSpec { kind, name, body, packed, span: start.to(self.prev_span()) }));
                }
                Some(Token::Ident(w)) if w == "enum" && words.is_empty() => {
                    self.at += 1;
                    self.attributes()?;
                    let name = self.ident().map(|(n, _)| n);
                    let body = if self.eat("{") { Some(self.enumerators()?) } else { None };
                    if name.is_none() && body.is_none() {
                        return Err(self.error("a name or `{`"));
                    }
                    self.attributes()?;
                    self.qualifiers();
                    return Ok(Specifier::Enum(EnumSpec { name, body, span: start.to(self.prev_span()) }));
                }
                Some(Token::Ident(w)) if is_type_word(w) => {
                    words.push(w.clone());
                    self.at += 1;
                }
                Some(Token::Ident(w)) if words.is_empty() && !is_keyword(w) => {
                    let name = w.clone();
                    self.at += 1;
                    let span = self.prev_span();
                    self.qualifiers();
                    return Ok(Specifier::Name(name, span));
                }
                _ => break,
            }
        }
        if words.is_empty() {
            return Err(self.error("a type"));
        }
        let span = start.to(self.prev_span());
        int_specifier(&words).ok_or_else(|| {
            Diagnostic::error(span, format!("`{}` is not a C type", words.join(" "))).with_label("not a valid combination of type keywords")
        })
    }

    fn qualifiers(&mut self) {
        while self.eat_word("const") || self.eat_word("volatile") {}
    }

    /// The members up to the closing `}`.
    fn members(&mut self) -> Result<Vec<MemberDecl>, Diagnostic> {
        let mut out = Vec::new();
        while !self.eat("}") {
            if self.eat(";") {
                continue;
            }
            let start = self.span();
            let specifier = self.specifier()?;
            let mut declarators = Vec::new();
            if !self.is(";") {
                loop {
                    let d = self.declarator(true)?;
                    let width = if self.eat(":") { Some(self.const_expr(0)?) } else { None };
                    self.attributes()?;
                    declarators.push((d, width));
                    if !self.eat(",") {
                        break;
                    }
                }
            }
            self.expect(";")?;
            out.push(MemberDecl { specifier, declarators, span: start.to(self.prev_span()) });
        }
        Ok(out)
    }

    fn enumerators(&mut self) -> Result<Vec<(String, Span, Option<ConstExpr>)>, Diagnostic> {
        let mut out = Vec::new();
        while !self.eat("}") {
            let Some((name, span)) = self.ident() else { return Err(self.error("an enumerator's name")) };
            let value = if self.eat("=") { Some(self.const_expr(0)?) } else { None };
            out.push((name, span, value));
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(out)
    }

    /// A declarator; `abstract_ok` allows one without a name (an unnamed
    /// bit field).
    fn declarator(&mut self, abstract_ok: bool) -> Result<Declarator, Diagnostic> {
        let start = self.span();
        let mut pointers = 0;
        while self.eat("*") {
            pointers += 1;
            self.qualifiers();
            self.eat_word("restrict");
            self.eat_word("__restrict");
        }
        let mut inner = None;
        let mut name = None;
        if self.is("(") && matches!(self.tokens.get(self.at + 1), Some((Token::Punct("*"), _))) {
            self.at += 1;
            inner = Some(self.declarator(false)?);
            self.expect(")")?;
        } else if let Some(n) = self.ident() {
            name = Some(n);
        } else if !abstract_ok || !self.is(":") {
            return Err(self.error("a name"));
        }
        let mut suffixes = Vec::new();
        loop {
            if self.eat("[") {
                let len = if self.is("]") { None } else { Some(self.const_expr(0)?) };
                self.expect("]")?;
                suffixes.push(Derived::Array(len));
            } else if self.eat("(") {
                self.skip_to_closing_paren(|_| {})?;
                suffixes.push(Derived::Function);
            } else {
                break;
            }
        }
        let mut derived = vec![Derived::Pointer; pointers];
        derived.extend(suffixes.into_iter().rev());
        if let Some(inner) = inner {
            name = inner.name;
            derived.extend(inner.derived);
        }
        Ok(Declarator { name, derived, span: start.to(self.prev_span()) })
    }

    /// Precedence climbing over C's integer operators.
    fn const_expr(&mut self, min: u8) -> Result<ConstExpr, Diagnostic> {
        let mut lhs = self.const_unary()?;
        while let Some(Token::Punct(op)) = self.peek() {
            let op: &'static str = op;
            let prec = match op {
                "|" => 1,
                "^" => 2,
                "&" => 3,
                "<<" | ">>" => 4,
                "+" | "-" => 5,
                "*" | "/" | "%" => 6,
                _ => break,
            };
            if prec < min {
                break;
            }
            self.at += 1;
            let rhs = self.const_expr(prec + 1)?;
            lhs = ConstExpr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn const_unary(&mut self) -> Result<ConstExpr, Diagnostic> {
        let span = self.span();
        match self.peek().cloned() {
            Some(Token::Int(v)) => {
                self.at += 1;
                Ok(ConstExpr::Int(v, span))
            }
            Some(Token::Ident(w)) if !is_keyword(&w) => {
                self.at += 1;
                Ok(ConstExpr::Name(w, span))
            }
            Some(Token::Punct("(")) => {
                self.at += 1;
                let e = self.const_expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Token::Punct(op @ ("-" | "~" | "!" | "+"))) => {
                self.at += 1;
                let e = self.const_unary()?;
                Ok(ConstExpr::Unary(op.chars().next().unwrap_or('+'), Box::new(e)))
            }
            _ => Err(self.error("a constant")),
        }
    }
}

/// The keywords that combine into an integer or floating type.
fn is_type_word(w: &str) -> bool {
    matches!(w, "void" | "char" | "short" | "int" | "long" | "signed" | "unsigned" | "_Bool" | "float" | "double" | "__signed__")
}

fn is_keyword(w: &str) -> bool {
    is_type_word(w)
        || matches!(w, "struct" | "union" | "enum" | "typedef" | "const" | "volatile" | "restrict" | "static" | "extern" | "__attribute__")
}

/// The type C's keywords spell (`unsigned long int`, `char`, `double`).
fn int_specifier(words: &[String]) -> Option<Specifier> {
    let count = |w: &str| words.iter().filter(|x| *x == w).count();
    let unsigned = count("unsigned") > 0;
    let signed = count("signed") + count("__signed__") > 0;
    if unsigned && signed || count("unsigned") > 1 {
        return None;
    }
    let longs = count("long");
    let base: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "__signed__" | "long"))
        .collect();
    let spec = match (base.as_slice(), longs) {
        (["void"], 0) if !unsigned && !signed => Specifier::Void,
        (["float"], 0) if !unsigned && !signed => Specifier::Float(4),
        (["double"], 0) if !unsigned && !signed => Specifier::Float(8),
        // x86-64's 80-bit extended precision, kept in 16 bytes, aligned to 16.
        (["double"], 1) if !unsigned && !signed => Specifier::Float(16),
        (["_Bool"], 0) if !unsigned && !signed => Specifier::Int { size: 1, signed: false },
        // Plain `char` is signed on x86-64, as gcc makes it.
        (["char"], 0) => Specifier::Int { size: 1, signed: !unsigned },
        (["short"] | ["short", "int"] | ["int", "short"], 0) => Specifier::Int { size: 2, signed: !unsigned },
        (["int"] | [], 0) => Specifier::Int { size: 4, signed: !unsigned },
        (["int"] | [], 1 | 2) => Specifier::Int { size: 8, signed: !unsigned },
        _ => return None,
    };
    Some(spec)
}

#[cfg(test)]
mod tests;
