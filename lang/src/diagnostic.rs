//! Diagnostics as plain data, and their rendering with codespan-reporting.
//!
//! The language crates return `Vec<Diagnostic>`; only the edge (the CLI, or an
//! embedding program) decides how to show them.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::WriteColor, Config};

use crate::Span;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The program is refused.
    Error,
    /// The program runs, but probably not as meant.
    Warning,
}

/// One message about the program, pointing at the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The primary span and what to say under it.
    pub span: Span,
    /// The text under the primary span (may be empty).
    pub label: String,
    /// Further spans, e.g. "first used here".
    pub secondary: Vec<(Span, String)>,
    /// Free-standing notes: hints on what to do.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`, with no label or notes yet.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A warning at `span`: the program still runs.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(span, message) }
    }

    /// Says `label` under the primary span.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a secondary span with its label.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether it refuses the program.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A program's text and the name it is shown under (a file path, `-e` or `stdin`).
#[derive(Clone, Debug)]
pub struct Source {
    /// The name diagnostics show: a path, `-e` or `stdin`.
    pub name: String,
    /// The program.
    pub text: String,
}

impl Source {
    /// A source named `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source { name: name.into(), text: text.into() }
    }
}

/// Renders diagnostics the way rustc does: name, line and column, the source
/// line with the span underlined, the message and notes.
pub fn render(source: &Source, diagnostics: &[Diagnostic], out: &mut dyn WriteColor) {
    let file = SimpleFile::new(source.name.as_str(), source.text.as_str());
    let config = Config::default();
    for d in diagnostics {
        let clamp = |s: Span| {
            let len = source.text.len();
            let start = (s.start as usize).min(len);
            start..(s.end as usize).clamp(start, len)
        };
        // An empty span without a label is about no place in the source
        // (an environment variable, say): no snippet then.
        let spanless = d.span.start == d.span.end && d.label.is_empty();
        let mut labels = if spanless { Vec::new() } else { vec![Label::primary((), clamp(d.span)).with_message(&d.label)] };
        labels.extend(
            d.secondary.iter().map(|(s, m)| Label::secondary((), clamp(*s)).with_message(m)),
        );
        let cs = match d.severity {
            Severity::Error => CsDiagnostic::error(),
            Severity::Warning => CsDiagnostic::warning(),
        }
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(d.notes.clone());
        // Writing to an in-memory buffer or a terminal; a failed write of a
        // diagnostic has nowhere better to be reported.
        let _ = term::emit_to_write_style(out, &config, &file, &cs);
    }
}

/// Renders diagnostics without colour into a string (tests, logs, library users).
pub fn render_to_string(source: &Source, diagnostics: &[Diagnostic]) -> String {
    let mut buf = codespan_reporting::term::termcolor::NoColor::new(Vec::new());
    render(source, diagnostics, &mut buf);
    String::from_utf8_lossy(&buf.into_inner()).into_owned()
}
