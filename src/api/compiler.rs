//! Compiling a program from its text: [`Compiler`] holds the options the
//! command line would give (positional parameters, string length, map
//! keys, `--unsafe`, includes); [`Program`] is the result, ready to run;
//! [`Diagnostics`] says why a program did not compile.

use std::fmt;
use std::path::PathBuf;

use codespan_reporting::term::termcolor::WriteColor;

use crate::{lang, Compiled, CompileError, Diagnostic, HostTarget, Source, Target};

/// Compiles programs with options, as a builder: each option returns the
/// compiler, and [`Compiler::compile`] may be called any number of times.
///
/// ```
/// let program = rbpf::Compiler::new()
///     .param("42")
///     .string_length(32)
///     .compile(r#"BEGIN { printf("%d\n", $1); exit(); }"#)?;
/// assert_eq!(program.maps().count(), 0);
/// # Ok::<(), rbpf::Diagnostics>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Compiler {
    options: lang::Options,
    includes: lang::preprocess::Options,
    name: Option<String>,
}

impl Compiler {
    /// A compiler with bpftrace's defaults: no parameters, safe mode.
    pub fn new() -> Compiler {
        Compiler::default()
    }

    /// Adds a positional parameter: the first is `$1`; `$#` counts them.
    pub fn param(mut self, value: impl Into<String>) -> Compiler {
        self.options.params.push(value.into());
        self
    }

    /// Adds positional parameters, in order.
    pub fn params<I, S>(mut self, values: I) -> Compiler
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.params.extend(values.into_iter().map(Into::into));
        self
    }

    /// The longest string, in bytes (BPFTRACE_MAX_STRLEN; 1 to 200):
    /// wins over the program's `config` block and the environment.
    pub fn string_length(mut self, bytes: u32) -> Compiler {
        self.options.strlen = Some(bytes);
        self
    }

    /// The keys each map holds (BPFTRACE_MAX_MAP_KEYS): wins over the
    /// program's `config` block and the environment.
    pub fn max_map_keys(mut self, keys: u32) -> Compiler {
        self.options.max_map_keys = Some(keys);
        self
    }

    /// `--unsafe`: allows what changes the system (`system()`,
    /// `signal()`).
    pub fn allow_unsafe(mut self, allow: bool) -> Compiler {
        self.options.allow_unsafe = allow;
        self
    }

    /// `-I DIR`: a directory `#include` looks in, after those added before.
    pub fn include_dir(mut self, dir: impl Into<PathBuf>) -> Compiler {
        self.includes.include_dirs.push(dir.into());
        self
    }

    /// `--include FILE`: a header included before the program's first line.
    pub fn include(mut self, file: impl Into<String>) -> Compiler {
        self.includes.include_files.push(file.into());
        self
    }

    /// The name diagnostics give the program's text (`program` unless
    /// set): a script's file name, say.
    pub fn source_name(mut self, name: impl Into<String>) -> Compiler {
        self.name = Some(name.into());
        self
    }

    /// Compiles `text` for this machine.
    pub fn compile(&self, text: impl Into<String>) -> Result<Program, Diagnostics> {
        self.compile_for(text, &HostTarget::new())
    }

    /// Compiles `text` for the machine `target` describes.
    pub fn compile_for(&self, text: impl Into<String>, target: &dyn Target) -> Result<Program, Diagnostics> {
        let source = Source::new(self.name.as_deref().unwrap_or("program"), text);
        match crate::compile_with_includes(&source, target, &self.options, &self.includes) {
            Ok(compiled) => Ok(Program { source, compiled }),
            Err(CompileError::Program(diagnostics)) => Err(Diagnostics { source, diagnostics }),
            Err(CompileError::Codegen(e)) => {
                // No place in the source to point at: an empty span
                // without a label renders without a snippet.
                let diagnostics = vec![Diagnostic::error(lang::Span::new(0, 0), e.to_string())];
                Err(Diagnostics { source, diagnostics })
            }
        }
    }
}

/// A compiled program: run it with [`Program::start`] (a handle, events
/// as values) or [`Program::run`] (to its end, through an
/// [`Output`](crate::Output)).
#[derive(Debug)]
pub struct Program {
    source: Source,
    compiled: Compiled,
}

impl Program {
    /// Compiles `text` for this machine with the default options
    /// ([`Compiler`] sets others).
    pub fn compile(text: impl Into<String>) -> Result<Program, Diagnostics> {
        Compiler::new().compile(text)
    }

    /// The program's text.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// What bpftrace would warn of; the program runs all the same.
    /// [`render`](crate::render) shows them as the command line does.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.compiled.warnings
    }

    /// The maps the program declares, in the order they print at its end.
    pub fn maps(&self) -> impl Iterator<Item = &crate::MapInfo> {
        self.compiled.object.manifest.maps.iter()
    }

    /// Every stage of the compilation: the syntax tree, the checked
    /// program, the BPF object and its manifest.
    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }
}

/// Why a program did not compile: its diagnostics (errors, and warnings
/// found with them), with the text they point into. `Display` renders
/// them as the command line does, without colour.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    source: Source,
    diagnostics: Vec<Diagnostic>,
}

impl Diagnostics {
    /// The diagnostics, in the order found: severity, message, the span
    /// (byte range into [`Diagnostics::source`]) with its label, further
    /// labelled spans, and notes with hints.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The program's text, which the spans index.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Renders them through codespan-reporting, as the command line does
    /// (in colour if `out` takes colour).
    pub fn render(&self, out: &mut dyn WriteColor) {
        crate::render(&self.source, &self.diagnostics, out);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(lang::diagnostic::render_to_string(&self.source, &self.diagnostics).trim_end())
    }
}

impl std::error::Error for Diagnostics {}
