//! Macro expansion: `#define` constants and function-like macros replaced in
//! the program's text, never inside string literals or comments, and never
//! inside their own expansion (C's rule, which makes recursion terminate).

use std::collections::HashMap;

use super::Expansion;

/// A `#define`d macro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Macro {
    /// `None` for an object-like macro, the parameter names otherwise.
    pub params: Option<Vec<String>>,
    /// The replacement text, comments removed.
    pub body: String,
}

/// More text than this from one macro use is a runaway definition
/// (`#define A B B`, `#define B C C`, ...), not a program.
const MAX_EXPANSION: usize = 1 << 20;

/// Macro uses inside macro bodies and arguments nest at most this deep:
/// expansion recurses once per level, and the compiler must not need more
/// than the main thread's stack.
const MAX_DEPTH: usize = 256;

/// The macros in force, by name.
pub(super) type Macros = HashMap<String, Macro>;

/// Where the scanner stands in the text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lexeme {
    /// Copied as is: a comment, a string, a number, punctuation, space.
    Verbatim,
    /// An identifier, which may name a macro.
    Ident,
    /// An identifier right after `@` or `$`: a map or variable name.
    Name,
}

/// Splits `text` into lexemes, each as (kind, start, end).
fn lexemes(text: &str) -> Vec<(Lexeme, usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let kind = if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            Lexeme::Verbatim
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
            Lexeme::Verbatim
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != c && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            Lexeme::Verbatim
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Lexeme::Verbatim
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if start > 0 && matches!(bytes[start - 1], b'@' | b'$') {
                Lexeme::Name
            } else {
                Lexeme::Ident
            }
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Lexeme::Verbatim
        };
        out.push((kind, start, i));
    }
    out
}

/// One macro use found in a text: its extent and its replacement.
struct Use {
    start: usize,
    end: usize,
    replacement: String,
}

/// Expands the macros of `text` (a run of the program's lines starting at
/// byte `base` of the source) into `out`, recording each top-level use in
/// `expansions` so that spans can be mapped back to the use.
pub(super) fn expand_into(
    text: &str,
    base: usize,
    macros: &Macros,
    out: &mut String,
    expansions: &mut Vec<Expansion>,
) -> Result<(), (usize, usize, String)> {
    let mut disabled = Vec::new();
    let mut copied = 0;
    for found in uses(text, macros, &mut disabled, 0)? {
        out.push_str(&text[copied..found.start]);
        expansions.push(Expansion {
            out_start: out.len(),
            out_len: found.replacement.len(),
            orig_start: base + found.start,
            orig_len: found.end - found.start,
        });
        out.push_str(&found.replacement);
        copied = found.end;
    }
    out.push_str(&text[copied..]);
    Ok(())
}

/// Expands every macro in `text` (a macro body or argument), with the
/// names in `disabled` left alone.
pub(super) fn expand(text: &str, macros: &Macros, disabled: &mut Vec<String>) -> Result<String, String> {
    expand_nested(text, macros, disabled, 0)
}

/// [`expand`] at `depth` levels of expansion.
fn expand_nested(text: &str, macros: &Macros, disabled: &mut Vec<String>, depth: usize) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err(format!("macros are nested more than {MAX_DEPTH} levels deep: is a definition recursive?"));
    }
    let mut out = String::new();
    let mut copied = 0;
    for found in uses(text, macros, disabled, depth).map_err(|(_, _, message)| message)? {
        out.push_str(&text[copied..found.start]);
        out.push_str(&found.replacement);
        copied = found.end;
        if out.len() > MAX_EXPANSION {
            return Err("the macro expands to more than a mebibyte of text: is its definition recursive?".to_string());
        }
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// The macro uses in `text`, expanded; an error carries its byte range.
fn uses(text: &str, macros: &Macros, disabled: &mut Vec<String>, depth: usize) -> Result<Vec<Use>, (usize, usize, String)> {
    let lexemes = lexemes(text);
    let mut found = Vec::new();
    let mut k = 0;
    while k < lexemes.len() {
        let (kind, start, end) = lexemes[k];
        k += 1;
        if kind != Lexeme::Ident {
            continue;
        }
        let name = &text[start..end];
        let Some(definition) = macros.get(name).filter(|_| !disabled.iter().any(|d| d == name)) else { continue };
        let fail = |message: String| (start, end, message);
        let replacement = match &definition.params {
            None => {
                disabled.push(name.to_string());
                let body = expand_nested(&definition.body, macros, disabled, depth + 1);
                disabled.pop();
                found.push(Use { start, end, replacement: body.map_err(fail)? });
                continue;
            }
            Some(params) => {
                // A function-like macro's name without `(` is no use of it.
                let mut open = k;
                while open < lexemes.len() && text[lexemes[open].1..lexemes[open].2].trim().is_empty() {
                    open += 1;
                }
                if open >= lexemes.len() || &text[lexemes[open].1..lexemes[open].2] != "(" {
                    continue;
                }
                let (args, close) = arguments(text, &lexemes, open)
                    .ok_or_else(|| (start, end, format!("the arguments of macro `{name}` have no closing `)`")))?;
                k = close + 1;
                let use_end = lexemes[close].2;
                let args = if params.is_empty() && args.len() == 1 && args[0].trim().is_empty() { Vec::new() } else { args };
                if args.len() != params.len() {
                    return Err((
                        start,
                        use_end,
                        format!("macro `{name}` takes {} argument{}, but {} were given", params.len(), plural(params.len()), args.len()),
                    ));
                }
                let mut expanded_args = Vec::with_capacity(args.len());
                for arg in &args {
                    expanded_args.push(expand_nested(arg.trim(), macros, disabled, depth + 1).map_err(|m| (start, use_end, m))?);
                }
                let substituted = substitute(&definition.body, params, &expanded_args);
                disabled.push(name.to_string());
                let body = expand_nested(&substituted, macros, disabled, depth + 1);
                disabled.pop();
                (body.map_err(|m| (start, use_end, m))?, use_end)
            }
        };
        found.push(Use { start, end: replacement.1, replacement: replacement.0 });
    }
    Ok(found)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The arguments of a macro use whose `(` is lexeme `open`, split at the
/// top-level commas, and the index of the closing `)`.
fn arguments(text: &str, lexemes: &[(Lexeme, usize, usize)], open: usize) -> Option<(Vec<String>, usize)> {
    let mut depth = 0usize;
    let mut args = Vec::new();
    let mut arg_start = lexemes[open].2;
    for (index, &(_, start, end)) in lexemes.iter().enumerate().skip(open) {
        match &text[start..end] {
            "(" => depth += 1,
            ")" => {
                depth -= 1;
                if depth == 0 {
                    args.push(text[arg_start..start].to_string());
                    return Some((args, index));
                }
            }
            "," if depth == 1 => {
                args.push(text[arg_start..start].to_string());
                arg_start = end;
            }
            _ => {}
        }
    }
    None
}

/// The body with each parameter replaced by its argument.
fn substitute(body: &str, params: &[String], args: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    for (kind, start, end) in lexemes(body) {
        let word = &body[start..end];
        match params.iter().position(|p| p == word).filter(|_| kind == Lexeme::Ident) {
            Some(i) => out.push_str(&args[i]),
            None => out.push_str(word),
        }
    }
    out
}

/// The extents of `text`'s lexemes: comments, strings, numbers,
/// identifiers, and single characters.
pub(super) fn pieces(text: &str) -> impl Iterator<Item = (usize, usize)> {
    lexemes(text).into_iter().map(|(_, start, end)| (start, end))
}

/// Whether `text` leaves a `/*` comment open at its end.
pub(super) fn opens_comment(text: &str) -> bool {
    lexemes(text).last().is_some_and(|&(_, start, _)| {
        let piece = &text[start..];
        piece.starts_with("/*") && !(piece.len() >= 4 && piece.ends_with("*/"))
    })
}
