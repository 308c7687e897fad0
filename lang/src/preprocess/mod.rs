//! The preprocessor: `#include`, `#define`, `#undef` and conditionals, run on
//! a script's text before [`parse`](fn@crate::parse).
//!
//! Every line stays in place: a directive line, and a line a conditional
//! leaves out, become blanks of the same length, so that byte offsets (and
//! so lines and columns) after them are unchanged. Only a macro use changes
//! the text's length; the [`SourceMap`] records each such use, and maps a
//! span of the preprocessed text back to the user's file (a span inside an
//! expansion maps to the macro's name and arguments).
//!
//! As in bpftrace, types come from the kernel's BTF, not from headers: an
//! `#include <...>` of a header that no `-I` directory holds is accepted
//! without being read (kernel headers are never read), while an
//! `#include "..."`, which names the user's own file, must exist; a file
//! found is read for its macros and conditionals. `BPFTRACE_HAVE_BTF` is
//! always defined. Since macros are not in BTF, a few system headers that
//! are not read still define their well-known constants (`TASK_RUNNING`,
//! `AF_INET`: see `headers.rs`).

mod definitions;
mod expand;
mod expr;
mod headers;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::{Diagnostic, Span};
use expand::{Macro, Macros};

/// Where included files are looked for, and which are included first.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The directory of the script (`#include "..."` looks there first);
    /// `None` for a program given with `-e` or on standard input, whose
    /// quoted includes are looked for in the current directory.
    pub script_dir: Option<PathBuf>,
    /// `-I DIR`, in order.
    pub include_dirs: Vec<PathBuf>,
    /// `--include FILE`, in order: included before the script's first line.
    pub include_files: Vec<String>,
}

/// A program's text after preprocessing, and the way back to its source.
#[derive(Clone, Debug, Default)]
pub struct Preprocessed {
    /// The text to parse.
    pub text: String,
    /// Maps spans of `text` to spans of the source.
    pub map: SourceMap,
}

/// One macro use: `orig_len` bytes of the source at `orig_start` became
/// `out_len` bytes of the preprocessed text at `out_start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expansion {
    out_start: usize,
    out_len: usize,
    orig_start: usize,
    orig_len: usize,
}

/// Maps spans of the preprocessed text back to the source; the identity
/// when no macro was used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// In the order of the text.
    expansions: Vec<Expansion>,
}

impl SourceMap {
    /// The span of the source that `span` of the preprocessed text came
    /// from: an end inside an expansion maps to the end of the macro use,
    /// a start to its start.
    pub fn span(&self, span: Span) -> Span {
        Span::new(self.offset(span.start as usize, false), self.offset(span.end as usize, true))
    }

    fn offset(&self, offset: usize, is_end: bool) -> usize {
        let mut delta = 0isize;
        for e in &self.expansions {
            let out_end = e.out_start + e.out_len;
            let (before, inside) = if is_end {
                (offset <= e.out_start, offset <= out_end)
            } else {
                (offset < e.out_start, offset < out_end)
            };
            if before {
                break;
            }
            if inside {
                return if is_end { e.orig_start + e.orig_len } else { e.orig_start };
            }
            delta += e.orig_len as isize - e.out_len as isize;
        }
        offset.saturating_add_signed(delta)
    }

    /// The diagnostic with every span mapped back to the source.
    pub fn diagnostic(&self, mut d: Diagnostic) -> Diagnostic {
        d.span = self.span(d.span);
        for (span, _) in &mut d.secondary {
            *span = self.span(*span);
        }
        d
    }

    /// Every diagnostic mapped back to the source.
    pub fn diagnostics(&self, diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
        diagnostics.into_iter().map(|d| self.diagnostic(d)).collect()
    }
}

/// Includes nested deeper than this are a loop.
const MAX_INCLUDE_DEPTH: usize = 32;

/// Preprocesses a program's text. Errors point into `text`, or, for an
/// `--include` file, at no place (their message names the file).
pub fn preprocess(text: &str, options: &Options) -> Result<Preprocessed, Vec<Diagnostic>> {
    let mut pp = Preprocessor { options, macros: Macros::new(), errors: Vec::new(), included: String::new() };
    pp.macros.insert("BPFTRACE_HAVE_BTF".to_string(), Macro { params: None, body: "1".to_string() });
    let cwd = PathBuf::from(".");
    for file in &options.include_files {
        let request = Include { name: file.clone(), quoted: false };
        let from = options.script_dir.as_deref().unwrap_or(&cwd);
        match pp.resolve(&request, from, true) {
            Ok(Some(path)) => {
                if let Err(message) = pp.include_file(&path, 1) {
                    pp.errors.push(Diagnostic::error(Span::default(), message));
                }
            }
            Ok(None) if headers::is_system_header(file) => pp.define_known(file),
            Ok(None) => pp.errors.push(Diagnostic::error(
                Span::default(),
                format!("--include {file}: cannot find included file `{file}` in the current directory or the -I directories"),
            )),
            Err(message) => pp.errors.push(Diagnostic::error(Span::default(), format!("--include {file}: {message}"))),
        }
    }
    let mut out = Output::default();
    pp.run(text, &mut Some(&mut out), 0);
    if pp.errors.is_empty() {
        Ok(Preprocessed { text: out.text, map: SourceMap { expansions: out.expansions } })
    } else {
        Err(pp.errors)
    }
}

#[derive(Default)]
struct Output {
    text: String,
    expansions: Vec<Expansion>,
}

struct Preprocessor<'a> {
    options: &'a Options,
    macros: Macros,
    errors: Vec<Diagnostic>,
    /// The C definitions of the files the last `#include` (or the
    /// `--include` files) read, on one line, for the program's text.
    included: String,
}

/// An open `#if`, `#ifdef` or `#ifndef`.
struct Conditional {
    /// The directive that opened it.
    span: Span,
    /// Whether the text around the conditional is kept.
    outer_active: bool,
    /// Whether one of its branches was taken already.
    taken: bool,
    /// Whether the current branch is kept.
    active: bool,
    /// Whether its `#else` was seen.
    in_else: bool,
}

/// An `#include` line's request.
struct Include {
    name: String,
    quoted: bool,
}

/// A directive's logical line: its text with continuations joined and
/// comments blanked, and the source offset of each of its bytes.
struct Directive {
    text: String,
    offsets: Vec<usize>,
    end: usize,
}

impl Directive {
    /// The source span of `text[start..end]`.
    fn span(&self, start: usize, end: usize) -> Span {
        let at = |i: usize| self.offsets.get(i).copied().unwrap_or(self.end);
        if end > start {
            Span::new(at(start), at(end - 1) + 1)
        } else {
            Span::new(at(start), at(start))
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits off the identifier at the start of `text` (after spaces).
fn ident(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let len = text.find(|c| !is_ident_char(c)).unwrap_or(text.len());
    if len == 0 || text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(text.split_at(len))
}

impl Preprocessor<'_> {
    /// Runs over `text`: directives are obeyed, and kept lines, with their
    /// macros expanded, go to `out` (`None` for an included file, of which
    /// only the macros count).
    fn run(&mut self, text: &str, out: &mut Option<&mut Output>, depth: usize) {
        let mut stack: Vec<Conditional> = Vec::new();
        let mut in_comment = false;
        // Kept lines not yet expanded: from `pending` to `pos`.
        let mut pending = 0;
        let mut pos = 0;
        let mut first = true;
        if !text.starts_with("#!") {
            self.emit_included(0, "", out);
        }
        while pos < text.len() {
            let line_end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
            let line = &text[pos..line_end];
            let next = (line_end + 1).min(text.len());
            let is_shebang = first && line.starts_with("#!");
            first = false;
            if is_shebang {
                self.flush(text, pending, next, out);
                self.emit_included(next, "", out);
                pos = next;
                pending = next;
                continue;
            }
            if in_comment || !line.trim_start().starts_with('#') {
                let active = stack.last().is_none_or(|c| c.active);
                in_comment = comment_state(line, in_comment);
                if !active {
                    self.flush(text, pending, pos, out);
                    blank(text, pos, next, out);
                    pending = next;
                }
                pos = next;
                continue;
            }
            self.flush(text, pending, pos, out);
            let directive = logical_line(text, pos);
            let next = (directive.end + 1).min(text.len());
            in_comment = expand::opens_comment(&text[pos..directive.end]);
            self.directive(&directive, &mut stack, depth);
            if self.included.is_empty() {
                blank(text, pos, next, out);
            } else {
                // An #include line becomes the definitions it read.
                self.emit_included(pos, &text[pos..directive.end], out);
                blank(text, directive.end, next, out);
            }
            pos = next;
            pending = pos;
        }
        self.flush(text, pending, pos, out);
        for open in stack {
            self.errors.push(
                Diagnostic::error(open.span, "unterminated conditional directive")
                    .with_label("this has no matching #endif"),
            );
        }
    }

    /// Writes the definitions the last include read into `out`, as the
    /// expansion of the source `orig` at `orig_start` (the `#include`
    /// line; nothing for `--include`), keeping the line's
    /// newlines so that the lines after it stay in place.
    fn emit_included(&mut self, orig_start: usize, orig: &str, out: &mut Option<&mut Output>) {
        let definitions = std::mem::take(&mut self.included);
        let Some(out) = out.as_deref_mut() else { return };
        if definitions.is_empty() {
            return;
        }
        let out_start = out.text.len();
        out.text.push_str(&definitions);
        out.text.push(' ');
        // A directive continued with `\` spans several lines.
        out.text.extend(std::iter::repeat_n('\n', orig.matches('\n').count()));
        out.expansions.push(Expansion { out_start, out_len: out.text.len() - out_start, orig_start, orig_len: orig.len() });
    }

    /// Expands the kept lines `text[from..to]` into `out`.
    fn flush(&mut self, text: &str, from: usize, to: usize, out: &mut Option<&mut Output>) {
        let Some(out) = out.as_deref_mut() else { return };
        if from >= to {
            return;
        }
        let (written, used) = (out.text.len(), out.expansions.len());
        if let Err((start, end, message)) = expand::expand_into(&text[from..to], from, &self.macros, &mut out.text, &mut out.expansions) {
            self.errors.push(Diagnostic::error(Span::new(from + start, from + end), message).with_label("in this macro use"));
            // Keep the text unexpanded, so that later spans stay right.
            out.text.truncate(written);
            out.expansions.truncate(used);
            out.text.push_str(&text[from..to]);
        }
    }

    fn directive(&mut self, d: &Directive, stack: &mut Vec<Conditional>, depth: usize) {
        let body = d.text.trim_start();
        let hash = d.text.len() - body.len();
        let rest = body[1..].trim_start();
        let name_start = d.text.len() - rest.len();
        let (name, args) = match ident(rest) {
            Some((name, args)) => (name, args),
            // `#` alone is C's null directive.
            None if rest.trim().is_empty() => return,
            None => ("", rest),
        };
        let name_span = d.span(hash, name_start + name.len());
        let args_start = d.text.len() - args.len();
        let args_span = d.span(args_start + (args.len() - args.trim_start().len()), d.text.trim_end().len());
        let active = stack.last().is_none_or(|c| c.active);
        match name {
            "if" | "ifdef" | "ifndef" => {
                let holds = active && self.condition(name, args, args_span, name_span);
                stack.push(Conditional { span: name_span, outer_active: active, taken: holds, active: holds, in_else: false });
            }
            "elif" | "else" => {
                let Some(open) = stack.last_mut() else {
                    let e = Diagnostic::error(name_span, format!("#{name} without #if")).with_label("no #if is open here");
                    self.errors.push(e);
                    return;
                };
                if open.in_else {
                    let e = Diagnostic::error(name_span, format!("#{name} after #else"))
                        .with_label(format!("this #{name} follows the #else"))
                        .with_secondary(open.span, "in this conditional");
                    self.errors.push(e);
                    return;
                }
                let (outer_active, taken) = (open.outer_active, open.taken);
                let holds = if name == "else" {
                    outer_active && !taken
                } else {
                    outer_active && !taken && self.condition("if", args, args_span, name_span)
                };
                let open = stack.last_mut().expect("checked above");
                open.in_else = name == "else";
                open.active = holds;
                open.taken |= holds;
            }
            "endif" => {
                if stack.pop().is_none() {
                    self.errors.push(Diagnostic::error(name_span, "#endif without #if").with_label("no #if is open here"));
                }
            }
            // In a group a conditional leaves out, only conditionals count.
            _ if !active => {}
            "define" => self.define(args, args_span, name_span),
            "undef" => match ident(args) {
                Some((macro_name, tail)) if tail.trim().is_empty() => {
                    self.macros.remove(macro_name);
                }
                _ => self.errors.push(
                    Diagnostic::error(args_span.to(name_span), "bad #undef").with_label("expected one macro name"),
                ),
            },
            "include" => self.include(args.trim(), args_span, name_span, depth),
            "error" => {
                let message = args.trim();
                self.errors.push(Diagnostic::error(name_span.to(args_span), format!("#error {message}")).with_label("here"));
            }
            // Compiler hints and warnings have nothing to say to BPF.
            "pragma" | "warning" => {}
            _ => {
                let shown = if name.is_empty() { rest.split_whitespace().next().unwrap_or_default() } else { name };
                self.errors.push(
                    Diagnostic::error(name_span, format!("unknown preprocessor directive `#{shown}`"))
                        .with_label("not a directive")
                        .with_note("the directives are #include, #define, #undef, #if, #ifdef, #ifndef, #elif, #else, #endif, #error and #pragma"),
                );
            }
        }
    }

    /// Whether an `#if`, `#ifdef` or `#ifndef` condition holds.
    fn condition(&mut self, kind: &str, args: &str, args_span: Span, name_span: Span) -> bool {
        if kind != "if" {
            return match ident(args) {
                Some((macro_name, tail)) if tail.trim().is_empty() => {
                    self.macros.contains_key(macro_name) == (kind == "ifdef")
                }
                _ => {
                    let e = Diagnostic::error(args_span.to(name_span), format!("bad #{kind}")).with_label("expected one macro name");
                    self.errors.push(e);
                    false
                }
            };
        }
        let result = replace_defined(args, &self.macros)
            .and_then(|text| expand::expand(&text, &self.macros, &mut Vec::new()))
            .and_then(|text| expr::evaluate(&text));
        match result {
            Ok(value) => value != 0,
            Err(message) => {
                let span = if args.trim().is_empty() { name_span } else { args_span };
                self.errors.push(Diagnostic::error(span, format!("bad #if condition: {message}")).with_label("in this condition"));
                false
            }
        }
    }

    fn define(&mut self, args: &str, args_span: Span, name_span: Span) {
        let bad = |label: &str| Diagnostic::error(args_span.to(name_span), "bad #define").with_label(label.to_string());
        let Some((name, rest)) = ident(args) else {
            self.errors.push(bad("expected a macro name after #define"));
            return;
        };
        let (params, body) = match rest.strip_prefix('(') {
            // `NAME(` with no space between: a function-like macro.
            Some(list) => {
                let Some(close) = list.find(')') else {
                    self.errors.push(bad("the parameter list has no closing `)`"));
                    return;
                };
                let mut params: Vec<String> = Vec::new();
                if !list[..close].trim().is_empty() {
                    for param in list[..close].split(',') {
                        let param = param.trim();
                        if param == "..." {
                            self.errors.push(bad("variadic macros are not supported"));
                            return;
                        }
                        if ident(param).is_none_or(|(p, tail)| !tail.is_empty() || p.is_empty()) || params.iter().any(|p| p == param) {
                            self.errors.push(bad("expected distinct parameter names separated by commas"));
                            return;
                        }
                        params.push(param.to_string());
                    }
                }
                (Some(params), &list[close + 1..])
            }
            None if rest.is_empty() || rest.starts_with(char::is_whitespace) => (None, rest),
            None => {
                self.errors.push(bad("expected a space between the macro name and its value"));
                return;
            }
        };
        let body = body.trim().to_string();
        if body.contains("##") || (params.is_some() && body.contains('#')) {
            self.errors.push(bad("the `#` and `##` operators are not supported"));
            return;
        }
        self.macros.insert(name.to_string(), Macro { params, body });
    }

    fn include(&mut self, args: &str, args_span: Span, name_span: Span, depth: usize) {
        let request = if let Some(name) = args.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
            Include { name: name.to_string(), quoted: true }
        } else if let Some(name) = args.strip_prefix('<').and_then(|a| a.strip_suffix('>')) {
            Include { name: name.to_string(), quoted: false }
        } else {
            let e = Diagnostic::error(args_span.to(name_span), "bad #include").with_label("expected \"FILE\" or <FILE>");
            self.errors.push(e);
            return;
        };
        let cwd = PathBuf::from(".");
        let from = self.options.script_dir.as_deref().unwrap_or(&cwd);
        let path = match self.resolve(&request, from, false) {
            Ok(Some(path)) => path,
            Ok(None) => {
                self.define_known(&request.name);
                return;
            }
            Err(message) => {
                let e = Diagnostic::error(args_span, message)
                    .with_label("not found")
                    .with_note("a quoted #include names a file of your own, looked for beside the script, in the current directory and in the -I directories; system headers go between < >, and their types come from the kernel's BTF");
                self.errors.push(e);
                return;
            }
        };
        if let Err(message) = self.include_file(&path, depth + 1) {
            self.errors.push(Diagnostic::error(args_span, message).with_label("in this file"));
        }
    }

    /// Defines the macros of a system header that is not read.
    fn define_known(&mut self, header: &str) {
        for (name, value) in headers::known_macros(header) {
            self.macros.insert(name.to_string(), Macro { params: None, body: value.to_string() });
        }
    }

    /// The file an include names: `Ok(None)` for a system header that is
    /// nowhere to be found (its types come from BTF), an error for a file of
    /// the user's that is missing. `--include` (`cli`) takes a path as given
    /// too, and insists on one that looks like a path.
    fn resolve(&self, request: &Include, from: &Path, cli: bool) -> Result<Option<PathBuf>, String> {
        let name = Path::new(&request.name);
        let mut candidates = Vec::new();
        if name.is_absolute() {
            candidates.push(name.to_path_buf());
        } else {
            if request.quoted || cli {
                candidates.push(if cli { name.to_path_buf() } else { from.join(name) });
            }
            // Then the current directory, where bpftrace finds a quoted
            // include too when the script is elsewhere.
            if request.quoted && !cli {
                candidates.push(name.to_path_buf());
            }
            candidates.extend(self.options.include_dirs.iter().map(|dir| dir.join(name)));
        }
        if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
            return Ok(Some(found));
        }
        let looks_like_path = name.is_absolute() || request.name.starts_with("./") || request.name.starts_with("../");
        if request.quoted || looks_like_path {
            return Err(format!("cannot find included file `{}`", request.name));
        }
        Ok(None)
    }

    /// Reads an included file for its macros and its C definitions (added
    /// to `included`); an error in it is told with its file name and line.
    fn include_file(&mut self, path: &Path, depth: usize) -> Result<(), String> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(format!("#include nested more than {MAX_INCLUDE_DEPTH} deep at `{}`: does it include itself?", path.display()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read included file `{}`: {e}", path.display()))?;
        let errors_before = self.errors.len();
        let options = self.options;
        let inner = Options {
            script_dir: path.parent().map(Path::to_path_buf),
            include_dirs: options.include_dirs.clone(),
            include_files: Vec::new(),
        };
        let mut nested =
            Preprocessor { options: &inner, macros: std::mem::take(&mut self.macros), errors: Vec::new(), included: String::new() };
        let mut out = Output::default();
        nested.run(&text, &mut Some(&mut out), depth);
        self.macros = nested.macros;
        let definitions = definitions::c_definitions(&out.text);
        if !definitions.is_empty() {
            if !self.included.is_empty() {
                self.included.push(' ');
            }
            self.included.push_str(&definitions);
        }
        self.errors.truncate(errors_before);
        match nested.errors.first() {
            None => Ok(()),
            Some(e) => {
                let line = text[..(e.span.start as usize).min(text.len())].matches('\n').count() + 1;
                Err(format!("{}:{line}: {}", path.display(), e.message))
            }
        }
    }
}

/// Whether `line` ends inside a `/*` comment, given whether it starts in one.
fn comment_state(line: &str, in_comment: bool) -> bool {
    if in_comment {
        match line.find("*/") {
            Some(end) => expand::opens_comment(&line[end + 2..]),
            None => true,
        }
    } else {
        expand::opens_comment(line)
    }
}

/// Blanks `text[from..to]` into `out`: a space for every byte but newlines.
fn blank(text: &str, from: usize, to: usize, out: &mut Option<&mut Output>) {
    let Some(out) = out.as_deref_mut() else { return };
    out.text.extend(text.as_bytes()[from..to].iter().map(|&b| if b == b'\n' { '\n' } else { ' ' }));
}

/// The directive starting at `start`: its lines joined where one ends in
/// `\`, comments blanked. `end` is where its last line ends.
fn logical_line(text: &str, start: usize) -> Directive {
    let mut joined = String::new();
    let mut offsets = Vec::new();
    let mut pos = start;
    loop {
        let line_end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
        let line = text[pos..line_end].trim_end_matches('\r');
        match line.strip_suffix('\\') {
            Some(body) if line_end < text.len() => {
                joined.push_str(body);
                offsets.extend(pos..pos + body.len());
                pos = line_end + 1;
            }
            _ => {
                joined.push_str(line);
                offsets.extend(pos..pos + line.len());
                pos = line_end;
                break;
            }
        }
    }
    // A comment is a space, in a directive as anywhere; a `/*` left open
    // runs on to the lines after, which `run` skips as comment.
    let mut text_out = String::new();
    let mut offsets_out = Vec::new();
    for (start, end) in expand::pieces(&joined) {
        let piece = &joined[start..end];
        if piece.starts_with("//") || piece.starts_with("/*") {
            text_out.push(' ');
            offsets_out.push(offsets[start]);
        } else {
            text_out.push_str(piece);
            offsets_out.extend_from_slice(&offsets[start..end]);
        }
    }
    Directive { text: text_out, offsets: offsets_out, end: pos }
}

/// Replaces `defined NAME` and `defined(NAME)` with 1 or 0, before the
/// condition's macros are expanded (C's order).
fn replace_defined(text: &str, macros: &Macros) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = find_word(rest, "defined") {
        out.push_str(&rest[..at]);
        let after = rest[at + "defined".len()..].trim_start();
        let (inner, tail) = match after.strip_prefix('(') {
            Some(inside) => {
                let close = inside.find(')').ok_or("`defined(` has no closing `)`")?;
                (inside[..close].trim(), &inside[close + 1..])
            }
            None => {
                let (name, tail) = ident(after).ok_or("`defined` needs a macro name")?;
                (name, tail)
            }
        };
        match ident(inner) {
            Some((name, "")) => out.push_str(if macros.contains_key(name) { " 1 " } else { " 0 " }),
            _ => return Err("`defined` needs a macro name".to_string()),
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// The offset of `word` in `text` as a whole identifier.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before_ok = !text[..at].ends_with(is_ident_char);
        let after_ok = !text[at + word.len()..].starts_with(is_ident_char);
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}
