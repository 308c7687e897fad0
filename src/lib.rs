//! rbpf as a library: compile bpftrace-language programs to BPF objects and
//! run them, receiving their output through an [`Output`] of your own.
//!
//! ```no_run
//! use rbpf::{compile, Source};
//! use rbpf_runtime::HostTarget;
//!
//! let source = Source::new("-e", "BEGIN { printf(\"hello\\n\"); exit(); }");
//! let compiled = compile(&source, &HostTarget::new()).map_err(|e| e.render(&source))?;
//! println!("{} bytes of BPF ELF", compiled.object.elf.len());
//! # Ok::<(), String>(())
//! ```

pub use rbpf_codegen as codegen;
pub use rbpf_lang as lang;
pub use rbpf_runtime as runtime;

pub use rbpf_codegen::manifest::Object;
pub use rbpf_lang::{Diagnostic, Source};
pub use rbpf_runtime::{Output, Session, SessionOptions};

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
    /// `object` carry back to the source (see [`lang::preprocess`]).
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
