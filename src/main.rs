//! The `rbpf` command: bpftrace's command line over rbpf's compiler and runtime.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use rbpf::runtime::process::Followed;
use rbpf::runtime::output::Forward;
use rbpf::runtime::{BackgroundWriter, Buffering, FlameFiles, FlameOutput, JsonOutput, Output, TextOutput};
use rbpf::{lang, runtime, CompileError, Source};

mod env;
mod usage;

/// A bpftrace-compatible tracer that compiles straight to BPF.
#[derive(Parser, Debug)]
// -h and -V are handled here, not by clap: bpftrace prints its own usage
// text (on standard error, also after a bad option) and `NAME vVERSION`.
#[command(name = "rbpf", disable_help_flag = true, disable_version_flag = true)]
struct Cli {
    /// Print the usage text and exit.
    #[arg(short = 'h', long = "help")]
    help: bool,

    /// Print the version (`rbpf vX.Y.Z`, in bpftrace's shape) and exit.
    #[arg(short = 'V', long = "version")]
    version: bool,

    /// Print what this kernel supports (helpers, map and probe types,
    /// features), in bpftrace's layout, and exit.
    #[arg(long)]
    info: bool,

    /// Report failed helper calls with the source line: `-k` for the
    /// helpers that are not reads, `-kk` for every helper, reads included.
    #[arg(short = 'k', action = clap::ArgAction::Count)]
    helper_checks: u8,

    /// Print no warnings.
    #[arg(long)]
    no_warnings: bool,

    /// The program to run, given on the command line (the last one, when
    /// given twice, as bpftrace takes it).
    #[arg(short = 'e', value_name = "PROGRAM", overrides_with = "program")]
    program: Option<String>,

    /// A script file to run (`-` reads the program from standard input),
    /// then the program's positional parameters ($1, $2, ...). With -e,
    /// every argument is a parameter.
    #[arg(value_name = "FILE|ARG")]
    args: Vec<String>,

    /// Output format: `text` or `json` (as bpftrace -f json).
    #[arg(short = 'f', value_name = "FORMAT", default_value = "text")]
    format: String,

    /// Write the output to FILE instead of standard output.
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Keep messages quiet: no "Attaching N probes..." line.
    #[arg(short = 'q')]
    quiet: bool,

    /// Output buffering mode: `line` (the default), `full` or `none`.
    #[arg(short = 'B', value_name = "MODE")]
    buffering: Option<String>,

    /// Allow unsafe builtin functions (system, signal).
    #[arg(long = "unsafe")]
    allow_unsafe: bool,

    /// Print the AST, the checked program, the map definitions and the BPF
    /// disassembly (and the verifier's log on a load error); `-dd` also
    /// the verifier's log of every program loaded, as -v does.
    #[arg(short = 'd', long = "debug", alias = "verbose", action = clap::ArgAction::Count)]
    debug: u8,

    /// bpftrace's option to write its LLVM IR: refused with why, since
    /// rbpf has none.
    #[arg(long = "emit-llvm", value_name = "FILE")]
    emit_llvm: Option<PathBuf>,

    /// Compile, load into the kernel, attach and detach without running.
    #[arg(long)]
    dry_run: bool,

    /// Run COMMAND as a child (held until the probes are attached; `cpid`
    /// is its pid) and stop when it exits.
    #[arg(short = 'c', value_name = "COMMAND")]
    command: Option<String>,

    /// Trace only the process PID (every probe in a task's context), and
    /// stop when it exits.
    #[arg(short = 'p', value_name = "PID", allow_hyphen_values = true)]
    pid: Option<String>,

    /// Raise a USDT probe's semaphore in every process that maps its
    /// file, not only in the -p process.
    #[arg(long)]
    usdt_file_activation: bool,

    /// List probes: those the search (the first argument, e.g.
    /// 'tracepoint:syscalls:*open*' or '*sleep*') matches, every probe
    /// without one, or those of the program given with -e.
    #[arg(short = 'l')]
    list: bool,

    /// Look for `#include "FILE"` and `#include <FILE>` files in DIR too
    /// (after the script's directory for a quoted one). Repeatable.
    #[arg(short = 'I', value_name = "DIR")]
    include_dirs: Vec<PathBuf>,

    /// Include FILE before the program's first line, as `#include <FILE>`
    /// would (a path as given, then the -I directories). Repeatable.
    #[arg(long = "include", value_name = "FILE")]
    include_files: Vec<String>,

    /// When the program ends, draw its map keyed by stacks (`@[kstack] =
    /// count()`, `@[ustack, comm] = sum(...)`) as an interactive flame
    /// graph SVG in FILE. Other key parts (comm, pid) are root frames.
    #[arg(long = "flamegraph", value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,

    /// When the program ends, write its map keyed by stacks to FILE in the
    /// folded format of flame graph tools (`root;caller;callee count`).
    #[arg(long = "folded", value_name = "FILE")]
    folded: Option<PathBuf>,

    /// The map --flamegraph and --folded draw (e.g. `@stacks`), when the
    /// program has several keyed by stacks.
    #[arg(long = "flame-map", value_name = "@MAP")]
    flame_map: Option<String>,

    /// With -l: show each probe's arguments (tracepoint fields, kernel
    /// function parameters and return value). When running: print the
    /// verifier's statistics of each program.
    #[arg(short = 'v')]
    verbose: bool,

    /// Compile the program and write it to FILE as a BPF ELF object that
    /// `rbpf FILE` runs later, without compiling; nothing runs now.
    #[arg(long = "emit-elf", value_name = "FILE")]
    emit_elf: Option<PathBuf>,

    /// Compile for the machine described in DIR (written there by
    /// --describe-target) rather than for this one.
    #[arg(long = "target", value_name = "DIR")]
    target: Option<PathBuf>,

    /// Write a description of this machine (its tracepoints' layouts, CPUs,
    /// attach features and kernel BTF) into DIR, for --target elsewhere,
    /// and exit.
    #[arg(long = "describe-target", value_name = "DIR")]
    describe_target: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Bad options exit 1 as every other bad input does (and as bpftrace does);
    // clap's own default is 2. Help and version still exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("rbpf: {}", usage::describe(&e));
            eprint!("{}", usage::TEXT);
            return ExitCode::FAILURE;
        }
    };
    if cli.help {
        eprint!("{}", usage::TEXT);
        return ExitCode::SUCCESS;
    }
    if cli.version {
        println!("rbpf v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if cli.program.is_none() && cli.args.is_empty() && !cli.list && !cli.info && cli.describe_target.is_none() {
        // bpftrace's usage text, then what was missing, where the eye lands.
        eprint!("{}", usage::TEXT);
        eprintln!("ERROR: no program given: pass one with -e 'PROGRAM', or a script file");
        return ExitCode::FAILURE;
    }
    if cli.command.is_some() && cli.pid.is_some() {
        // bpftrace's words and status, and its usage text after them.
        eprintln!("ERROR: USAGE: Cannot use both -c and -p.");
        eprint!("{}", usage::TEXT);
        return ExitCode::FAILURE;
    }
    if cli.emit_llvm.is_some() {
        eprintln!(
            "ERROR: --emit-llvm: rbpf has no LLVM IR to write: it compiles the program straight to BPF instructions\n  \
             = --emit-elf FILE writes the compiled BPF object; -d prints its disassembly"
        );
        return ExitCode::FAILURE;
    }
    match run(&cli) {
        // exit(code) sets the status, as a shell would see it.
        Ok(code) => ExitCode::from((code & 0xff) as u8),
        Err(Failure::Reported) => ExitCode::FAILURE,
        Err(Failure::ClosedPipe) => {
            // The reader went away (`rbpf ... | head -1`): the probes are
            // detached by now; end quietly, by SIGPIPE as bpftrace does,
            // so a shell sees status 141 and prints nothing.
            // SAFETY: restoring a signal's default action and raising it
            // in our own process has no memory preconditions.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
            ExitCode::from(141)
        }
        Err(Failure::Other(e)) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    /// Diagnostics were already printed.
    Reported,
    /// The output was a pipe whose reader went away: nothing to say.
    ClosedPipe,
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// The program's source and its positional parameters.
fn read_source(cli: &Cli) -> anyhow::Result<(Source, Vec<String>)> {
    if let Some(text) = &cli.program {
        return Ok((Source::new("-e", text.clone()), cli.args.clone()));
    }
    let Some((path, params)) = cli.args.split_first() else {
        bail!("no program given: pass one with -e 'PROGRAM', or a script file (see rbpf --help)");
    };
    let params = params.to_vec();
    let path = PathBuf::from(path);
    if path.as_os_str() == "-" {
        let bytes = read_script(std::io::stdin()).context("cannot read the program from standard input")?;
        let text = script_text(bytes).map_err(|why| anyhow::anyhow!("the program on standard input {why}"))?;
        return Ok((Source::new("stdin", text), params));
    }
    // bpftrace's words first, so that scripts grepping for them still match.
    let bytes = std::fs::File::open(&path).and_then(read_script).map_err(|e| {
        let path = path.display();
        let reason = usage::os_reason(&e);
        anyhow::anyhow!("failed to open file '{path}': {reason}\n  = cannot read script file {path}: the first argument is the script (or give the program with -e)")
    })?;
    let text = script_text(bytes).map_err(|why| {
        anyhow::anyhow!("script file '{}' {why}\n  = the first argument is the script (or give the program with -e)", path.display())
    })?;
    Ok((Source::new(path.display().to_string(), text), params))
}

/// More than any script holds: reading stops there, so that /dev/zero or
/// a runaway pipe cannot fill the memory.
const SCRIPT_LIMIT: usize = 64 << 20;

/// A script's bytes, at most one more than [`SCRIPT_LIMIT`].
fn read_script(input: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input.take(SCRIPT_LIMIT as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A script file's text, or why it is none: a compiled file, a NUL byte
/// or bytes that are not UTF-8, placed by line and column, or more than
/// [`SCRIPT_LIMIT`].
fn script_text(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.starts_with(b"\x7fELF") {
        return Err("is an ELF file (compiled code), not a script".into());
    }
    let place = |bytes: &[u8], at: usize| {
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1) + 1;
        format!("line {line}, column {column}")
    };
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(format!("is a binary file, not a script: it has a NUL byte at {}", place(&bytes, at)));
    }
    if bytes.len() > SCRIPT_LIMIT {
        return Err(format!("is larger than {} MiB, more than any script", SCRIPT_LIMIT >> 20));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let byte = e.as_bytes()[at];
        format!("is not UTF-8 text: the byte {byte:#04x} at {} is not valid UTF-8", place(e.as_bytes(), at))
    })
}

/// What the preprocessor needs: -I, --include, and the script's directory
/// for its quoted includes.
fn preprocess_options(cli: &Cli) -> lang::preprocess::Options {
    let script_dir = match (&cli.program, cli.args.first()) {
        (None, Some(path)) if path != "-" => {
            let parent = std::path::Path::new(path).parent().unwrap_or(std::path::Path::new(""));
            Some(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() })
        }
        _ => None,
    };
    lang::preprocess::Options {
        script_dir,
        include_dirs: cli.include_dirs.clone(),
        include_files: cli.include_files.clone(),
    }
}

fn report(source: &Source, diagnostics: &[lang::Diagnostic]) {
    let choice = if std::io::stderr().is_terminal() { ColorChoice::Auto } else { ColorChoice::Never };
    let mut stderr = StandardStream::stderr(choice);
    lang::diagnostic::render(source, diagnostics, &mut stderr);
}

/// The options that shape the output, checked before anything compiles,
/// with bpftrace's messages.
struct OutputChoice {
    json: bool,
    buffering: Buffering,
}

fn output_choice(cli: &Cli) -> anyhow::Result<OutputChoice> {
    let json = match cli.format.as_str() {
        "text" => false,
        "json" => true,
        other => bail!("Invalid output format \"{other}\"\nValid formats: 'text', 'json'"),
    };
    let buffering = match &cli.buffering {
        Some(mode) => mode.parse().map_err(|e: String| anyhow::anyhow!("USAGE: {e}."))?,
        None => Buffering::Line,
    };
    Ok(OutputChoice { json, buffering })
}

/// The writer for -o FILE, or standard output.
fn open_output(cli: &Cli) -> anyhow::Result<Box<dyn Write + Send>> {
    match &cli.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| {
                anyhow::anyhow!("Failed to open output file: \"{}\": {}", path.display(), usage::os_reason(&e))
            })?;
            Ok(Box::new(file))
        }
        None => Ok(Box::new(io::stdout())),
    }
}

fn run(cli: &Cli) -> Result<i32, Failure> {
    if cli.info {
        // On standard error, as bpftrace prints it.
        eprint!("{}", runtime::features::Features::detect().render(env!("CARGO_PKG_VERSION")));
        return Ok(0);
    }
    if cli.list {
        return list(cli);
    }
    let pid = pid(cli)?;
    let choice = output_choice(cli)?;
    let settings = env::Settings::from_env()?;
    if let Some(path) = &cli.describe_target {
        return describe_target(path);
    }
    let mut program = match saved_object(cli)? {
        Some(program) => program,
        None => match compile_program(cli, pid)? {
            Some(program) => program,
            // Written to the --emit-elf file: nothing runs now.
            None => return Ok(0),
        },
    };
    // The environment wins over the program's `config = { }` block.
    let settings = settings.or(std::mem::take(&mut program.config));
    settings.check_program_count(&program.expanded_programs)?;
    settings.check_probe_count(probe_count(&program.object.manifest))?;
    if let Some(bytes) = settings.log_size {
        runtime::sys::set_verifier_log_size(bytes.min(u64::from(u32::MAX)) as usize);
    }
    let followed = match (program.followed.take(), &cli.command, pid) {
        (Some(child), _, _) => Some(child),
        (None, Some(command), _) => Some(Followed::spawn(command).map_err(anyhow::Error::from)?),
        (None, None, Some(pid)) => Some(Followed::attach(pid).map_err(anyhow::Error::from)?),
        (None, None, None) => None,
    };
    let (source, source_map) = (&program.source, &program.source_map);
    let flame = flame_files(cli, &program.object.manifest)?;
    let options = runtime::SessionOptions {
        dry_run: cli.dry_run,
        quiet: cli.quiet,
        verifier_stats: cli.verbose || cli.debug > 1,
        cat_bytes_max: settings.cat_bytes_max,
        symbols: settings.symbols(),
        ..Default::default()
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    // Written on a thread of its own: an output nobody reads never keeps
    // a stop request waiting.
    let (writer, backlog) = BackgroundWriter::spawn(open_output(cli)?).context("cannot start the output thread")?;
    let mut session = match runtime::Session::load(&program.object, &options) {
        Ok(s) => s,
        Err(e) => return Err(runtime_failure(source, source_map, &program.object.manifest, e, cli.debug > 0)),
    };
    // -v: bpftrace's layout, on standard error so that the trace's own
    // output (JSON above all) stays clean.
    for stats in session.verifier_stats() {
        eprint!("\nProgram ID: {}\n\nThe verifier log: \n{}\n", stats.id, stats.log.trim_end());
        eprintln!("\nAttaching {}", stats.probe);
    }
    if let Some(followed) = followed {
        session.follow(followed);
    }
    session.pace_output(backlog);
    let writer: Box<dyn Write> = Box::new(writer);
    let mut out: Box<dyn Output + '_> = if choice.json {
        Box::new(JsonOutput::with_buffering(writer, choice.buffering))
    } else {
        Box::new(TextOutput::with_buffering(writer, choice.buffering))
    };
    if cli.output.is_some() {
        out = Box::new(StoppedOnStdout(out));
    }
    if program.helper_checks > 0 {
        out = Box::new(HelperErrors { inner: out, source, source_map, json: choice.json, no_warnings: cli.no_warnings });
    }
    if cli.no_warnings {
        out = Box::new(NoWarnings { inner: out, json: choice.json });
    }
    if let Some(files) = flame {
        out = Box::new(FlameOutput::new(out, files));
    }
    tokio.block_on(session.run(&mut out)).map_err(|e| runtime_failure(source, source_map, &program.object.manifest, e, cli.debug > 0))
}

/// A program ready to load: compiled now or read from a saved object,
/// with what its messages need to point into its source.
struct Program {
    object: rbpf::Object,
    source: Source,
    source_map: lang::preprocess::SourceMap,
    /// The program's `config = { }` settings (for an object, the limits
    /// saved with it), which the environment overrides.
    config: env::Settings,
    /// `-k`, `-kk`: failed helper calls are reported at their source line.
    helper_checks: u8,
    /// The -c child, when it had to exist before compiling (`cpid`).
    followed: Option<Followed>,
    /// The BPF programs bpftrace would count against
    /// BPFTRACE_MAX_BPF_PROGS, per attach point; none for a saved object,
    /// compiled already (bpftrace counts while compiling).
    expanded_programs: Vec<u64>,
}

/// `rbpf FILE` where FILE is an ELF object (told by its magic number, not
/// its name) saved by --emit-elf: read and checked against this kernel,
/// nothing compiled. Its positional parameters were compiled in.
fn saved_object(cli: &Cli) -> Result<Option<Program>, Failure> {
    let Some(path) = cli.args.first().filter(|_| cli.program.is_none() && cli.describe_target.is_none()) else { return Ok(None) };
    let mut magic = [0u8; 4];
    let is_object = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && rbpf::codegen::object_file::is_elf(&magic);
    if !is_object {
        return Ok(None);
    }
    if cli.args.len() > 1 {
        return Err(anyhow::anyhow!("positional parameters are compiled into an object: give them with --emit-elf, not when running {path}").into());
    }
    if let Some(flag) = [(cli.emit_elf.is_some(), "--emit-elf"), (cli.target.is_some(), "--target")].iter().find_map(|(set, f)| set.then_some(f)) {
        return Err(anyhow::anyhow!("{flag} compiles a program, and {path} is a compiled object already").into());
    }
    // They change the code: the object has them or not.
    if let Some(flag) = [(cli.helper_checks > 0, "-k"), (cli.allow_unsafe, "--unsafe"), (cli.usdt_file_activation, "--usdt-file-activation")]
        .iter()
        .find_map(|(set, f)| set.then_some(f))
    {
        return Err(anyhow::anyhow!("{flag} is compiled into an object: give it with --emit-elf, not when running {path}").into());
    }
    let file = runtime::open_object(std::path::Path::new(path), &runtime::HostTarget::new()).map_err(anyhow::Error::from)?;
    if cli.debug > 0 {
        print_object_debug(&file.object);
    }
    let source = file.source.clone().map_or_else(|| Source::new(path.clone(), String::new()), |(name, text)| Source::new(name, text));
    Ok(Some(Program {
        object: file.object,
        source,
        // The object keeps the preprocessed text its spans point into.
        source_map: lang::preprocess::SourceMap::default(),
        config: env::Settings { max_probes: file.max_probes, log_size: file.log_size, ..Default::default() },
        helper_checks: file.helper_checks,
        followed: None,
        expanded_programs: Vec::new(),
    }))
}

/// Compiles the program of the command line for this machine or the one
/// --target describes; with --emit-elf, saves it instead of returning it.
fn compile_program(cli: &Cli, pid: Option<u32>) -> Result<Option<Program>, Failure> {
    let (source, params) = read_source(cli)?;
    if cli.emit_elf.is_some() && (cli.command.is_some() || pid.is_some()) {
        return Err(anyhow::anyhow!("-c and -p are given when the object runs, not to --emit-elf: a process id compiled in would name another process by then").into());
    }
    let settings = env::Settings::from_env()?;
    let host = settings.target();
    // The described machine's kernel facts, and its BTF from the copy beside them.
    let described_parts = match &cli.target {
        Some(dir) => Some(runtime::saved::open_description(dir).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let described = described_parts.as_ref().map(|(description, btf)| lang::target::DescribedTarget::new(description.clone(), btf));
    let target: &dyn lang::target::Target = match &described {
        Some(described) => described,
        None => &host,
    };
    // `cpid` is a constant: the child is spawned before the program
    // compiles, here (held until the probes are attached) when -c is given.
    let followed = match &cli.command {
        Some(command) if cli.emit_elf.is_none() => Some(Followed::spawn(command).map_err(anyhow::Error::from)?),
        _ => None,
    };
    let options = lang::Options {
        params,
        allow_unsafe: cli.allow_unsafe,
        pid,
        cpid: followed.as_ref().map(Followed::pid),
        command: cli.command.clone(),
        helper_checks: cli.helper_checks.min(2),
        ringbuf_pages: settings.ringbuf_pages.map(|p| p.min(u64::from(u32::MAX)) as u32),
        usdt_file_activation: cli.usdt_file_activation,
        cpp_demangle: settings.cpp_demangle,
        no_user_symbols: settings.no_user_symbols,
        ..Default::default()
    };
    let includes = preprocess_options(cli);
    let compiled = match rbpf::compile_with_includes(&source, target, &options, &includes) {
        Ok(c) => c,
        Err(CompileError::Program(diags)) => {
            report(&source, &diags);
            return Err(Failure::Reported);
        }
        Err(e) => return Err(Failure::Other(e.into())),
    };
    env::check_node_count(settings.node_max, lang::ast::node_count(&compiled.ast))?;
    if !cli.no_warnings {
        // One line each, as bpftrace warns of a probe it skips.
        for warning in &compiled.checked.skipped {
            eprintln!("WARNING: {}", warning.message);
        }
        report(&source, &compiled.warnings);
    }
    if cli.debug > 0 {
        print_debug(&compiled);
    }
    let mut file = rbpf::codegen::object_file::ObjectFile::new(compiled.object, &compiled.checked);
    // The program's `config = { }` limits, which the environment overrides.
    let config = env::Settings::config(&compiled.checked);
    (file.max_probes, file.log_size) = (config.max_probes, config.log_size);
    file.helper_checks = options.helper_checks;
    if let Some(path) = &cli.emit_elf {
        // The text the object's spans point into.
        let text = lang::preprocess(&source.text, &includes).map(|p| p.text).unwrap_or_default();
        file.source = Some((source.name.clone(), text));
        let bytes = rbpf::codegen::object_file::write(&file).map_err(anyhow::Error::from)?;
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(None);
    }
    if described.is_some() {
        // Compiled for a description: run here only if its layouts are ours.
        file.check_layouts(&host).map_err(anyhow::Error::from)?;
    }
    let program = Program {
        object: file.object,
        source,
        source_map: compiled.source_map,
        config,
        helper_checks: file.helper_checks,
        followed,
        expanded_programs: compiled.checked.expanded_programs.clone(),
    };
    Ok(Some(program))
}

/// `--describe-target DIR`: this machine's description, for --target.
fn describe_target(dir: &std::path::Path) -> Result<i32, Failure> {
    runtime::saved::save_host_description(dir).map_err(|e| anyhow::anyhow!("cannot describe this machine: {e}"))?;
    Ok(0)
}

/// Where --flamegraph and --folded write, and the map they draw: chosen
/// (and the files created) before anything loads, so a program without a
/// map to draw, or a file that cannot be written, fails at once. Nothing
/// is created for --dry-run.
fn flame_files(cli: &Cli, manifest: &rbpf::codegen::manifest::Manifest) -> anyhow::Result<Option<FlameFiles>> {
    let flag = match (&cli.flamegraph, &cli.folded) {
        (Some(_), _) => "--flamegraph",
        (None, Some(_)) => "--folded",
        (None, None) if cli.flame_map.is_some() => bail!("--flame-map names the map that --flamegraph or --folded draws: give one of them"),
        (None, None) => return Ok(None),
    };
    let name = cli.flame_map.as_deref().map(|n| if n.starts_with('@') { n.to_string() } else { format!("@{n}") });
    let map = runtime::flame_map(manifest, name.as_deref()).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    let create = |path: &Option<PathBuf>, flag: &str| -> anyhow::Result<Option<(Box<dyn Write>, String)>> {
        if path.as_ref().is_some_and(|p| p.as_os_str() == "-") {
            bail!("{flag}: give a file name: standard output carries the program's own output");
        }
        let Some(path) = path.as_ref().filter(|_| !cli.dry_run) else { return Ok(None) };
        let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Some((Box::new(file), path.display().to_string())))
    };
    Ok(Some(FlameFiles { map: map.name.clone(), svg: create(&cli.flamegraph, "--flamegraph")?, folded: create(&cli.folded, "--folded")? }))
}

/// The probes a program attaches, as bpftrace counts them against
/// BPFTRACE_MAX_PROBES: BEGIN and END too, each function of a
/// multi-attach link.
fn probe_count(manifest: &rbpf::codegen::Manifest) -> u64 {
    use rbpf::codegen::manifest::Attach;
    manifest
        .programs
        .iter()
        .map(|p| match &p.attach {
            Attach::Dispatcher { .. } | Attach::WatchpointFunction { .. } => 0,
            Attach::KprobeMulti { funcs, .. } | Attach::UprobeMulti { funcs, .. } => funcs.len() as u64,
            _ => 1,
        })
        .sum()
}

/// The largest pid Linux can give (`PID_MAX_LIMIT` on 64-bit machines),
/// the bound bpftrace checks `-p` against.
const PID_MAX_LIMIT: u64 = 4_194_304;

/// `-p PID`, checked as bpftrace checks it and refused in its words.
fn pid(cli: &Cli) -> Result<Option<u32>, Failure> {
    use std::num::IntErrorKind;
    let Some(text) = &cli.pid else { return Ok(None) };
    // Leading blanks and a `+` are taken, as strtol takes them.
    let refused = match text.trim_start().parse::<i64>() {
        Ok(n) if (1..=PID_MAX_LIMIT as i64).contains(&n) => return Ok(Some(n as u32)),
        Ok(_) => format!("pid '{text}' out of valid pid range [1,{PID_MAX_LIMIT}]"),
        Err(e) if matches!(e.kind(), IntErrorKind::PosOverflow | IntErrorKind::NegOverflow) => format!("pid '{text}' outside of integer range"),
        Err(_) => format!("pid '{text}' is not a valid decimal number"),
    };
    Err(anyhow::anyhow!(refused).into())
}

/// `-l [SEARCH]` and `-l -e PROGRAM`: prints the probes as bpftrace -l does,
/// and on standard error what could not be listed. Nothing is loaded.
fn list(cli: &Cli) -> Result<i32, Failure> {
    let target = env::Settings::from_env()?.target();
    let listing = match &cli.program {
        Some(text) => {
            let source = Source::new("-e", text.clone());
            let preprocessed = lang::preprocess(&source.text, &preprocess_options(cli)).map_err(|diags| {
                report(&source, &diags);
                Failure::Reported
            })?;
            let map = &preprocessed.map;
            let ast = lang::parse(&preprocessed.text).map_err(|diags| {
                report(&source, &map.diagnostics(diags));
                Failure::Reported
            })?;
            let listed = match pid(cli)? {
                Some(pid) => lang::probes::list_program_in_process(&ast, pid, cli.verbose, &target),
                None => lang::probes::list_program(&ast, cli.verbose, &target),
            };
            listed.map_err(|diags| {
                report(&source, &map.diagnostics(diags));
                Failure::Reported
            })?
        }
        None => {
            let search = cli.args.first().map_or("", String::as_str);
            match pid(cli)? {
                Some(pid) => lang::probes::list_in_process(search, pid, cli.verbose, &target),
                None => lang::probes::list(search, cli.verbose, &target),
            }
            .map_err(|e| Failure::Other(e.into()))?
        }
    };
    for warning in listing.warnings.iter().filter(|_| !cli.no_warnings) {
        eprintln!("WARNING: {warning}");
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = listing.probes.iter().try_for_each(|probe| {
        writeln!(out, "{}", probe.name)?;
        probe.details.iter().try_for_each(|line| writeln!(out, "    {line}"))
    });
    match written.and_then(|()| out.flush()) {
        // A reader that stops early (`rbpf -l | head`) is not an error.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Failure::Other(anyhow::Error::new(e).context("cannot write the list"))),
        _ => Ok(0),
    }
}

/// With -o FILE, bpftrace still prints the two newlines that end tracing
/// on standard output; everything else goes to the file.
struct StoppedOnStdout<'a>(Box<dyn Output + 'a>);

impl Forward for StoppedOnStdout<'_> {
    fn inner(&mut self) -> &mut dyn Output {
        self.0.as_mut()
    }
    fn stopped(&mut self) -> io::Result<()> {
        let mut stdout = io::stdout();
        stdout.write_all(b"\n\n")?;
        stdout.flush()
    }
}

/// With -k/-kk: a failed helper call is shown at its source line, in the
/// output itself in text mode (as bpftrace 0.17 writes it, with
/// --no-warnings silencing it), as a `helper_error` event with its line
/// and column in JSON mode (kept under --no-warnings, as bpftrace keeps it).
struct HelperErrors<'a> {
    inner: Box<dyn Output + 'a>,
    source: &'a Source,
    source_map: &'a lang::preprocess::SourceMap,
    json: bool,
    no_warnings: bool,
}

impl Forward for HelperErrors<'_> {
    fn inner(&mut self) -> &mut dyn Output {
        self.inner.as_mut()
    }
    fn helper_error(&mut self, error: &runtime::HelperError) -> io::Result<()> {
        if self.no_warnings && !self.json {
            return Ok(());
        }
        let span = self.source_map.span(error.span);
        let location = bpftrace_location(self.source, span.start as usize, span.end as usize);
        self.inner.helper_error(&runtime::HelperError { location: Some(location), ..error.clone() })
    }
}

/// Where bpftrace 0.17 places a call that starts at byte `start` and ends
/// before `end` of `source`. Its lexer moves a location's start only past
/// blanks outside strings and comments, so a call's place starts where
/// the run of text it is in starts: `f(x,str(0))` places `str(0)` at `f`.
fn bpftrace_location(source: &Source, start: usize, end: usize) -> runtime::SourceLocation {
    let text = source.text.as_str();
    let (start, end) = (start.min(text.len()), end.min(text.len()));
    let begin = token_run_start(text, start);
    let line_start = text[..begin].rfind('\n').map_or(0, |at| at + 1);
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let first = line_of(begin);
    let last = first + text.get(begin..end).unwrap_or_default().matches('\n').count();
    let line_end = text[line_start..].find('\n').map_or(text.len(), |at| line_start + at);
    // bpftrace names a program given with -e `stdin`, as it does one read
    // from standard input.
    let file = if source.name == "-e" { "stdin".to_string() } else { source.name.clone() };
    runtime::SourceLocation {
        file,
        lines: (first, last),
        columns: (begin - line_start + 1, end.max(begin) - line_start + 1),
        text: text[line_start..line_end].to_string(),
    }
}

/// The byte after the last blank (outside strings and comments) at or
/// before `at`, or the start of `text`.
fn token_run_start(text: &str, at: usize) -> usize {
    enum In {
        Code,
        String,
        LineComment,
        BlockComment,
    }
    let mut state = In::Code;
    let mut begin = 0;
    let mut escaped = false;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate().take(at) {
        let next = bytes.get(i + 1).copied();
        state = match state {
            In::Code if b.is_ascii_whitespace() => {
                begin = i + 1;
                In::Code
            }
            In::Code if b == b'"' => In::String,
            In::Code if b == b'/' && next == Some(b'/') => In::LineComment,
            In::Code if b == b'/' && next == Some(b'*') => In::BlockComment,
            In::Code => In::Code,
            In::String if escaped => {
                escaped = false;
                In::String
            }
            In::String if b == b'\\' => {
                escaped = true;
                In::String
            }
            In::String if b == b'"' => In::Code,
            In::String => In::String,
            In::LineComment if b == b'\n' => {
                begin = i + 1;
                In::Code
            }
            In::LineComment => In::LineComment,
            In::BlockComment if b == b'\n' => {
                begin = i + 1;
                In::BlockComment
            }
            In::BlockComment if b == b'/' && i > 0 && bytes[i - 1] == b'*' => In::Code,
            In::BlockComment => In::BlockComment,
        };
    }
    begin
}

/// --no-warnings: the warnings of a run (a probe skipped, events lost, a
/// map that filled up) are not printed; errors still are.
struct NoWarnings<'a> {
    inner: Box<dyn Output + 'a>,
    json: bool,
}

impl Forward for NoWarnings<'_> {
    fn inner(&mut self) -> &mut dyn Output {
        self.inner.as_mut()
    }
    fn warning(&mut self, _message: &str) -> io::Result<()> {
        Ok(())
    }
    fn failed_updates(&mut self, map: &str, failed: u64, max_entries: u32) -> io::Result<()> {
        // A record of the JSON output, not a warning: kept.
        match self.json {
            true => self.inner.failed_updates(map, failed, max_entries),
            false => Ok(()),
        }
    }
}

/// A runtime error; a verifier rejection is shown at the source line of the
/// refused instruction, with the verifier's log under -d.
fn runtime_failure(
    source: &Source,
    source_map: &lang::preprocess::SourceMap,
    manifest: &rbpf::codegen::Manifest,
    e: runtime::RuntimeError,
    debug: bool,
) -> Failure {
    if matches!(&e, runtime::RuntimeError::Output(io) if io.kind() == io::ErrorKind::BrokenPipe) {
        return Failure::ClosedPipe;
    }
    if let Some((span, message)) = e.source_location(manifest) {
        let span = source_map.span(span);
        let mut d = if e.is_too_complex() {
            // A limit of the verifier, not a fault of the code: it walks
            // every iteration of a loop, up to a million instructions.
            lang::Diagnostic::error(span, message)
                .with_label("the verifier gave up here")
                .with_note("the kernel's verifier checks every iteration of a loop and every path through the probe, up to a million instructions: fewer iterations or less work in each make it fit")
        } else if let Some(helper) = missing_helper(&message).map(str::to_string) {
            // The kernel lacks a helper (or refuses it to this probe
            // type): a fact of the kernel, not a fault of the code.
            let d = lang::Diagnostic::error(span, message).with_label("this kernel does not offer what this needs here");
            match helper.as_str() {
                "bpf_override_return" => d.with_note(
                    "override() needs a kernel built with CONFIG_BPF_KPROBE_OVERRIDE (and CONFIG_FUNCTION_ERROR_INJECTION); this one is not",
                ),
                _ => d.with_note(format!("{helper} is not available to this probe type in this kernel (`rbpf --info` lists what it has)")),
            }
        } else if message.contains("helper call is not allowed in probe") {
            // bpf_d_path: only in the functions the kernel's allowlist names.
            lang::Diagnostic::error(span, message)
                .with_label("the kernel allows this helper in some functions only")
                .with_note("path() works in fentry/fexit probes of the functions the kernel lets bpf_d_path run in, e.g. vfs_getattr, filp_close, dentry_open, vfs_truncate, vfs_fallocate, security_file_open")
        } else {
            lang::Diagnostic::error(span, message)
                .with_label("the kernel's verifier refused the code for this")
                .with_note("this is a bug in rbpf: please report it with the program")
        };
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

/// The helper a verifier's complaint says the kernel does not offer the
/// program (`program of this type cannot use helper bpf_override_return#58`,
/// `unknown func bpf_d_path#147`).
fn missing_helper(message: &str) -> Option<&str> {
    let rest = ["cannot use helper ", "unknown func "].iter().find_map(|m| message.split_once(m).map(|(_, rest)| rest))?;
    Some(rest.split('#').next().unwrap_or(rest))
}

fn print_debug(compiled: &rbpf::Compiled) {
    println!("AST\n---\n{:#?}\n", compiled.ast);
    println!("Checked program\n---------------\n{:#?}\n", compiled.checked);
    print_object_debug(&compiled.object);
}

/// `-d`'s maps and disassembly, also of a saved object.
fn print_object_debug(object: &rbpf::Object) {
    let manifest = &object.manifest;
    println!("Maps\n----");
    for m in &manifest.maps {
        println!(
            "{} ({}): {} key {} bytes, value {} bytes ({:?}), max_entries {}",
            m.name,
            m.bpf_name,
            m.map_type().1,
            m.key_size,
            m.kernel_value_size(),
            m.value,
            m.max_entries
        );
    }
    if let Some(rb) = &manifest.ringbuf {
        println!("{rb}: ringbuf, {} bytes", manifest.ringbuf_size);
    }
    println!();
    match rbpf::codegen::disassemble_object(object) {
        Ok(text) => println!("{text}"),
        Err(e) => println!("cannot disassemble: {e}"),
    }
}
