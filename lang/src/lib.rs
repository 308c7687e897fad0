//! rbpf-lang: the bpftrace language front end.
//!
//! `preprocess` obeys a script's `#include`, `#define` and conditionals;
//! `parse` turns its text into an [`ast::Program`]; `check` resolves names,
//! infers types and expands probes into a [`checked::Program`]. None of them
//! touches the kernel: host facts (tracepoint formats, ...) come through the
//! [`target::Target`] trait.

pub mod ast;
pub mod cdefs;
pub mod check;
pub mod checked;
pub mod ctypes;
pub mod diagnostic;
pub mod format;
pub mod parse;
pub mod preprocess;
pub mod probes;
pub mod target;
pub mod types;
mod span;

pub use diagnostic::{Diagnostic, Severity, Source};
pub use check::{check, check_with, Options};
pub use parse::parse;
pub use preprocess::preprocess;
pub use span::Span;
