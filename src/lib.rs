//! rbpf as a library: compile bpftrace-language programs to BPF and run
//! them inside your own tokio runtime, receiving their output as typed
//! values, reading their maps while they run.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if !rbpf::kernel_allows_bpf()? { return Ok(()) }
//! use rbpf::{Event, MapEntry, Program, Value};
//!
//! let program = Program::compile(r#"BEGIN { printf("hi %d\n", 42); @x[1] = 2; exit(); }"#)?;
//! let mut running = program.start()?;
//! let mut printed = Vec::new();
//! while let Some(event) = running.recv().await {
//!     match event {
//!         Event::Printf { text, args } => printed.push((text, args)),
//!         Event::Map { name, entries } => assert_eq!((name, entries), ("@x".into(), vec![MapEntry { key: vec![Value::Int(1)], value: Value::Int(2) }])),
//!         _ => {}
//!     }
//! }
//! assert_eq!(printed, [(b"hi 42\n".to_vec(), vec![Value::Int(42)])]);
//! assert_eq!(running.wait().await?, 0);
//! # Ok(())
//! # }
//! ```
//!
//! [`Compiler`] sets options (positional parameters, string length, map
//! keys, `--unsafe`, includes); a program that does not compile gives
//! [`Diagnostics`], data with spans that render as the command line
//! renders them. [`Running`] is the handle of a started program: its
//! [`Event`]s, [`Running::read_map`], [`Running::stop`] and
//! [`Running::wait`]; dropping it detaches the program. Several programs
//! may run at once, each with its own handle. An [`Output`] of your own
//! receives the same events through [`Program::run`].

#![warn(missing_docs)]

mod api;

pub use rbpf_codegen as codegen;
pub use rbpf_lang as lang;
pub use rbpf_runtime as runtime;

pub use api::compiler::{Compiler, Diagnostics, Program};
pub use api::running::Running;
pub use codespan_reporting;
pub use rbpf_codegen::manifest::{MapInfo, Object};
pub use rbpf_lang::target::Target;
pub use rbpf_lang::{Diagnostic, Severity, Source, Span};
pub use rbpf_runtime::output::Forward;
pub use rbpf_runtime::{
    Bucket, Event, HelperError, Histogram, HostTarget, MapEntry, MapHandle, Output, RuntimeError, Session, SessionOptions, Stats,
    StopHandle, Value,
};

/// Renders diagnostics that point into `source` through
/// codespan-reporting, as the command line does (in colour if `out`
/// takes colour): the warnings of [`Program::warnings`], say.
pub fn render(source: &Source, diagnostics: &[Diagnostic], out: &mut dyn codespan_reporting::term::termcolor::WriteColor) {
    lang::diagnostic::render(source, diagnostics, out);
}

/// Whether this process may load BPF programs: false where the kernel
/// refuses (not root, no CAP_BPF, a seccomp filter), so that an example or
/// a test can skip cleanly; with `RBPF_REQUIRE_KERNEL=1` in the
/// environment, such a refusal is an error instead.
pub fn kernel_allows_bpf() -> Result<bool, RuntimeError> {
    // A one-element array: the least the kernel can be asked to create.
    const ARRAY: u32 = 2;
    match runtime::sys::map_create("rbpf_probe", ARRAY, 4, 4, 1, 0) {
        Ok(_) => Ok(true),
        Err(_) if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() != Ok("1") => Ok(false),
        Err(source) => Err(RuntimeError::Syscall { call: "BPF_MAP_CREATE", object: "a first map".into(), source }),
    }
}

/// Every stage's result, kept for inspection (`-d` prints them all).
#[derive(Debug)]
pub struct Compiled {
    /// The program as parsed.
    pub ast: lang::ast::Program,
    /// The program as checked: names resolved, types inferred, probes expanded.
    pub checked: lang::checked::Program,
    /// The BPF ELF object and its manifest, ready to run.
    pub object: Object,
    /// Maps the spans of the preprocessed text that `ast`, `checked` and
    /// `object` carry back to the source (see [`lang::preprocess`](mod@lang::preprocess)).
    pub source_map: lang::preprocess::SourceMap,
    /// bpftrace's warnings (the program runs all the same), pointing into
    /// the source.
    pub warnings: Vec<Diagnostic>,
}

/// Why a program did not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The program is wrong: the diagnostics point into its source.
    #[error("the program has errors")]
    Program(Vec<Diagnostic>),
    /// Code generation failed.
    #[error(transparent)]
    Codegen(#[from] codegen::CodegenError),
}

impl CompileError {
    /// The diagnostics, rendered without colour, as one text.
    pub fn render(&self, source: &Source) -> String {
        match self {
            CompileError::Program(diags) => lang::diagnostic::render_to_string(source, diags),
            other => other.to_string(),
        }
    }
}

/// Parses, checks and compiles a program for the machine `target` describes.
pub fn compile(source: &Source, target: &dyn lang::target::Target) -> Result<Compiled, CompileError> {
    compile_with(source, target, &lang::Options::default())
}

/// [`compile`], with positional parameters and `--unsafe` from `options`.
pub fn compile_with(
    source: &Source,
    target: &dyn lang::target::Target,
    options: &lang::Options,
) -> Result<Compiled, CompileError> {
    compile_with_includes(source, target, options, &lang::preprocess::Options::default())
}

/// [`compile_with`], with `-I` directories, `--include` files and the
/// script's directory for the preprocessor in `includes`. Diagnostics point
/// into `source` itself, also after a macro was expanded.
pub fn compile_with_includes(
    source: &Source,
    target: &dyn lang::target::Target,
    options: &lang::Options,
    includes: &lang::preprocess::Options,
) -> Result<Compiled, CompileError> {
    let preprocessed = lang::preprocess(&source.text, includes).map_err(CompileError::Program)?;
    let map = &preprocessed.map;
    let ast = lang::parse(&preprocessed.text).map_err(|d| CompileError::Program(map.diagnostics(d)))?;
    let checked = lang::check_with(&ast, target, options).map_err(|d| CompileError::Program(map.diagnostics(d)))?;
    let object = codegen::compile(&checked).map_err(|e| match e.span() {
        Some(span) => CompileError::Program(vec![Diagnostic::error(map.span(span), e.to_string()).with_label("here")]),
        None => CompileError::Codegen(e),
    })?;
    let warnings = map.diagnostics(checked.warnings.clone());
    Ok(Compiled { ast, checked, object, warnings, source_map: preprocessed.map })
}
