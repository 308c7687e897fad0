//! The `rbpf` command: bpftrace's command line over rbpf's compiler and runtime.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use rbpf::{lang, runtime, CompileError, Source};

/// A bpftrace-compatible tracer that compiles straight to BPF.
#[derive(Parser, Debug)]
#[command(name = "rbpf", version, about, long_about = None)]
struct Cli {
    /// The program to run, given on the command line.
    #[arg(short = 'e', value_name = "PROGRAM")]
    program: Option<String>,

    /// A script file to run, or `-` to read the program from standard input.
    #[arg(value_name = "FILE", conflicts_with = "program")]
    file: Option<PathBuf>,

    /// Print the AST, the checked program, the map definitions and the BPF
    /// disassembly (and the verifier's log on a load error).
    #[arg(short = 'd', long = "debug", alias = "verbose")]
    debug: bool,

    /// Compile, load into the kernel, attach and detach without running.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        // exit(code) sets the status, as a shell would see it.
        Ok(code) => ExitCode::from((code & 0xff) as u8),
        Err(Failure::Reported) => ExitCode::FAILURE,
        Err(Failure::Other(e)) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    /// Diagnostics were already printed.
    Reported,
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

fn read_source(cli: &Cli) -> anyhow::Result<Source> {
    if let Some(text) = &cli.program {
        return Ok(Source::new("-e", text.clone()));
    }
    let Some(path) = &cli.file else {
        bail!("no program given: pass one with -e 'PROGRAM', or a script file (see rbpf --help)");
    };
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read the program from standard input")?;
        return Ok(Source::new("stdin", text));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read script file {}", path.display()))?;
    Ok(Source::new(path.display().to_string(), text))
}

fn report(source: &Source, diagnostics: &[lang::Diagnostic]) {
    let choice = if std::io::stderr().is_terminal() { ColorChoice::Auto } else { ColorChoice::Never };
    let mut stderr = StandardStream::stderr(choice);
    lang::diagnostic::render(source, diagnostics, &mut stderr);
}

fn run(cli: &Cli) -> Result<i32, Failure> {
    let source = read_source(cli)?;
    let target = runtime::HostTarget::new();
    let compiled = match rbpf::compile(&source, &target) {
        Ok(c) => c,
        Err(CompileError::Program(diags)) => {
            report(&source, &diags);
            return Err(Failure::Reported);
        }
        Err(e) => return Err(Failure::Other(e.into())),
    };
    if cli.debug {
        print_debug(&compiled);
    }
    let options = runtime::SessionOptions { dry_run: cli.dry_run, quiet: false };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    let mut session = match runtime::Session::load(&compiled.object, &options) {
        Ok(s) => s,
        Err(e) => return Err(runtime_failure(&source, &compiled, e, cli.debug)),
    };
    let mut out = runtime::TextOutput::stdout();
    tokio
        .block_on(session.run(&mut out))
        .map_err(|e| runtime_failure(&source, &compiled, e, cli.debug))
}

/// A runtime error; a verifier rejection is shown at the source line of the
/// refused instruction, with the verifier's log under -d.
fn runtime_failure(source: &Source, compiled: &rbpf::Compiled, e: runtime::RuntimeError, debug: bool) -> Failure {
    if let Some((span, message)) = e.source_location(&compiled.object.manifest) {
        let mut d = lang::Diagnostic::error(span, message).with_label("the kernel's verifier refused the code for this");
        d = d.with_note("this is a bug in rbpf: please report it with the program");
        if debug {
            if let Some(log) = e.verifier_log() {
                d = d.with_note(format!("verifier log:\n{log}"));
            }
        } else {
            d = d.with_note("run with -d to see the verifier's log");
        }
        report(source, &[d]);
        return Failure::Reported;
    }
    Failure::Other(e.into())
}

fn print_debug(compiled: &rbpf::Compiled) {
    println!("AST\n---\n{:#?}\n", compiled.ast);
    println!("Checked program\n---------------\n{:#?}\n", compiled.checked);
    let manifest = &compiled.object.manifest;
    println!("Maps\n----");
    for m in &manifest.maps {
        println!(
            "{} ({}): {} key {} bytes, value {} bytes ({:?}), max_entries {}",
            m.name,
            m.bpf_name,
            if m.percpu { "percpu_hash" } else { "hash" },
            m.key_size,
            m.value_size,
            m.value,
            m.max_entries
        );
    }
    if let Some(rb) = &manifest.ringbuf {
        println!("{rb}: ringbuf, {} bytes", manifest.ringbuf_size);
    }
    println!();
    match rbpf::codegen::disassemble_object(&compiled.object) {
        Ok(text) => println!("{text}"),
        Err(e) => println!("cannot disassemble: {e}"),
    }
}
