//! The `rbpf` command: bpftrace's command line over rbpf's compiler and runtime.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use rbpf::codegen::manifest::MapInfo;
use rbpf::runtime::process::Followed;
use rbpf::runtime::{BackgroundWriter, Buffering, FlameFiles, FlameOutput, JsonOutput, MapEntry, Output, TextOutput, Value};
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

    /// The program to run, given on the command line.
    #[arg(short = 'e', value_name = "PROGRAM")]
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
    /// disassembly (and the verifier's log on a load error).
    #[arg(short = 'd', long = "debug", alias = "verbose")]
    debug: bool,

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
    if cli.program.is_none() && cli.args.is_empty() && !cli.list && !cli.info {
        // bpftrace's usage text, then what was missing, where the eye lands.
        eprint!("{}", usage::TEXT);
        eprintln!("ERROR: no program given: pass one with -e 'PROGRAM', or a script file");
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
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read the program from standard input")?;
        return Ok((Source::new("stdin", text), params));
    }
    // bpftrace's words first, so that scripts grepping for them still match.
    let text = std::fs::read_to_string(&path)
        .map_err(|e| {
            let path = path.display();
            let reason = usage::os_reason(&e);
            anyhow::anyhow!("failed to open file '{path}': {reason}\n  = cannot read script file {path}: the first argument is the script (or give the program with -e)")
        })?;
    Ok((Source::new(path.display().to_string(), text), params))
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
    let (source, params) = read_source(cli)?;
    let target = runtime::HostTarget::new();
    // The child exists before the program compiles: `cpid` is a constant.
    let followed = match (&cli.command, pid) {
        (Some(command), _) => Some(Followed::spawn(command).map_err(anyhow::Error::from)?),
        (None, Some(pid)) => Some(Followed::attach(pid).map_err(anyhow::Error::from)?),
        (None, None) => None,
    };
    let cpid = cli.command.as_ref().and(followed.as_ref()).map(Followed::pid);
    let options = lang::Options {
        params,
        allow_unsafe: cli.allow_unsafe,
        pid,
        cpid,
        helper_checks: cli.helper_checks.min(2),
        ringbuf_pages: settings.ringbuf_pages.map(|p| p.min(u64::from(u32::MAX)) as u32),
        usdt_file_activation: cli.usdt_file_activation,
    };
    let compiled = match rbpf::compile_with_includes(&source, &target, &options, &preprocess_options(cli)) {
        Ok(c) => c,
        Err(CompileError::Program(diags)) => {
            report(&source, &diags);
            return Err(Failure::Reported);
        }
        Err(e) => return Err(Failure::Other(e.into())),
    };
    if !cli.no_warnings {
        // One line each, as bpftrace warns of a probe it skips.
        for warning in &compiled.checked.skipped {
            eprintln!("WARNING: {}", warning.message);
        }
        report(&source, &compiled.warnings);
    }
    let settings = settings.or_config(&compiled.checked);
    settings.check_probe_count(probe_count(&compiled.object.manifest))?;
    if let Some(bytes) = settings.log_size {
        runtime::sys::set_verifier_log_size(bytes.min(u64::from(u32::MAX)) as usize);
    }
    if cli.debug {
        print_debug(&compiled);
    }
    let flame = flame_files(cli, &compiled.object.manifest)?;
    let options = runtime::SessionOptions { dry_run: cli.dry_run, quiet: cli.quiet, verifier_stats: cli.verbose };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    // Written on a thread of its own: an output nobody reads never keeps
    // a stop request waiting.
    let (writer, backlog) = BackgroundWriter::spawn(open_output(cli)?).context("cannot start the output thread")?;
    let mut session = match runtime::Session::load(&compiled.object, &options) {
        Ok(s) => s,
        Err(e) => return Err(runtime_failure(&source, &compiled, e, cli.debug)),
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
    if cli.helper_checks > 0 {
        out = Box::new(HelperErrors { inner: out, source: &source, compiled: &compiled, json: choice.json });
    }
    if let Some(files) = flame {
        out = Box::new(FlameOutput::new(out, files));
    }
    tokio.block_on(session.run(out.as_mut())).map_err(|e| runtime_failure(&source, &compiled, e, cli.debug))
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
            Attach::Dispatcher { .. } => 0,
            Attach::KprobeMulti { funcs, .. } => funcs.len() as u64,
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
    let target = runtime::HostTarget::new();
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
            lang::probes::list_program(&ast, cli.verbose, &target).map_err(|diags| {
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
    for warning in &listing.warnings {
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

impl Output for StoppedOnStdout<'_> {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.0.attached(probes)
    }
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.0.printf(text)
    }
    fn value(&mut self, value: &Value) -> io::Result<()> {
        self.0.value(value)
    }
    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        self.0.time(text)
    }
    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        self.0.system(output)
    }
    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        self.0.cat(contents)
    }
    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        self.0.join(parts, separator)
    }
    fn error(&mut self, message: &str) -> io::Result<()> {
        self.0.error(message)
    }
    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        self.0.lost_events(count)
    }
    fn helper_error(&mut self, error: &runtime::HelperError) -> io::Result<()> {
        self.0.helper_error(error)
    }
    fn stopped(&mut self) -> io::Result<()> {
        let mut stdout = io::stdout();
        stdout.write_all(b"\n\n")?;
        stdout.flush()
    }
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        self.0.map(map, entries)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.0.finish()
    }
}

/// With -k/-kk: a failed helper call is shown at its source line, as a
/// warning on standard error in text mode (bpftrace's words first), as a
/// `helper_error` event with its line and column in JSON mode.
struct HelperErrors<'a> {
    inner: Box<dyn Output + 'a>,
    source: &'a Source,
    compiled: &'a rbpf::Compiled,
    json: bool,
}

impl Output for HelperErrors<'_> {
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.inner.attached(probes)
    }
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.inner.printf(text)
    }
    fn value(&mut self, value: &Value) -> io::Result<()> {
        self.inner.value(value)
    }
    fn time(&mut self, text: &[u8]) -> io::Result<()> {
        self.inner.time(text)
    }
    fn system(&mut self, output: &[u8]) -> io::Result<()> {
        self.inner.system(output)
    }
    fn cat(&mut self, contents: &[u8]) -> io::Result<()> {
        self.inner.cat(contents)
    }
    fn join(&mut self, parts: &[&[u8]], separator: &[u8]) -> io::Result<()> {
        self.inner.join(parts, separator)
    }
    fn error(&mut self, message: &str) -> io::Result<()> {
        self.inner.error(message)
    }
    fn helper_error(&mut self, error: &runtime::HelperError) -> io::Result<()> {
        let span = self.compiled.source_map.span(error.span);
        let before = self.source.text.get(..span.start as usize).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
        let located = runtime::HelperError { location: Some((line, col)), ..error.clone() };
        if self.json {
            return self.inner.helper_error(&located);
        }
        // What was printed so far comes first, as it happened.
        self.inner.flush()?;
        report(self.source, &[lang::Diagnostic::warning(span, located.message()).with_label("this call failed")]);
        Ok(())
    }
    fn lost_events(&mut self, count: u64) -> io::Result<()> {
        self.inner.lost_events(count)
    }
    fn stopped(&mut self) -> io::Result<()> {
        self.inner.stopped()
    }
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        self.inner.map(map, entries)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

/// A runtime error; a verifier rejection is shown at the source line of the
/// refused instruction, with the verifier's log under -d.
fn runtime_failure(source: &Source, compiled: &rbpf::Compiled, e: runtime::RuntimeError, debug: bool) -> Failure {
    if matches!(&e, runtime::RuntimeError::Output(io) if io.kind() == io::ErrorKind::BrokenPipe) {
        return Failure::ClosedPipe;
    }
    if let Some((span, message)) = e.source_location(&compiled.object.manifest) {
        let span = compiled.source_map.span(span);
        let mut d = if e.is_too_complex() {
            // A limit of the verifier, not a fault of the code: it walks
            // every iteration of a loop, up to a million instructions.
            lang::Diagnostic::error(span, message)
                .with_label("the verifier gave up here")
                .with_note("the kernel's verifier checks every iteration of a loop and every path through the probe, up to a million instructions: fewer iterations or less work in each make it fit")
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
    match rbpf::codegen::disassemble_object(&compiled.object) {
        Ok(text) => println!("{text}"),
        Err(e) => println!("cannot disassemble: {e}"),
    }
}
