//! Semantic checks: resolves probes, builtins, variables and maps, infers
//! and checks types, and produces the [`checked::Program`](crate::checked::Program) that code
//! generation consumes.
//!
//! Map types are inferred from every use in the program, wherever it stands
//! (a probe may read a map that a later probe writes), so the probes are
//! walked twice: the first walk only learns map and variable types, the
//! second reports diagnostics against the complete picture.

use std::collections::{BTreeSet, HashMap};

use crate::ast::{self, ExprKind as A};
use crate::checked::{Builtin, Expr, ExprKind, Map, MapId, MapValue, Printf, Probe, Program, Var, VarId};
use crate::probes::{self, ResolvedProbe};
use crate::target::Target;
use crate::types::{Type, DEFAULT_STRLEN};
use crate::{Diagnostic, Severity, Span};

/// What the command line adds to a program.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Positional parameters: `$1` is `params[0]`; `$#` is their count.
    pub params: Vec<String>,
    /// `--unsafe`: allows `system()` and `signal()`.
    pub allow_unsafe: bool,
    /// `-p PID`: every probe that runs in a task's context fires for this
    /// process only.
    pub pid: Option<u32>,
    /// `-c CMD`: the child's process id, the value of `cpid`.
    pub cpid: Option<u32>,
    /// `-c CMD`: the command line, whose program `watchpoint:FUNC+argN`
    /// finds its function in.
    pub command: Option<String>,
    /// `-k` (1) or `-kk` (2): report failed helper calls; see
    /// [`Program::helper_checks`].
    pub helper_checks: u8,
    /// BPFTRACE_PERF_RB_PAGES: see [`Program::ringbuf_pages`].
    pub ringbuf_pages: Option<u32>,
    /// `--usdt-file-activation`: USDT semaphores are raised in every
    /// process that maps the probe's file, also with `-p`.
    pub usdt_file_activation: bool,
    /// The string length an embedding program asks for, as
    /// BPFTRACE_MAX_STRLEN would: wins over the config block (and over
    /// the environment), from 1 to 200.
    pub strlen: Option<u32>,
    /// The keys a map holds, as BPFTRACE_MAX_MAP_KEYS would: wins over the
    /// config block (and over the environment).
    pub max_map_keys: Option<u32>,
    /// BPFTRACE_NO_CPP_DEMANGLE: whether C++ names are demangled where the
    /// checker names a function (`func` in a uprobe); wins over the config
    /// block's `cpp_demangle`. Unset and unconfigured, they are.
    pub cpp_demangle: Option<bool>,
    /// BPFTRACE_NO_USER_SYMBOLS=1: user addresses print in hex, and so
    /// does `func` in a uprobe on a function (its address, as bpftrace
    /// prints it there).
    pub no_user_symbols: bool,
}

/// Checks a parsed program against the host's facts.
pub fn check(program: &ast::Program, target: &dyn Target) -> Result<Program, Vec<Diagnostic>> {
    check_with(program, target, &Options::default())
}

/// [`check`], with the command line's parameters and permissions.
pub fn check_with(program: &ast::Program, target: &dyn Target, options: &Options) -> Result<Program, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    // The environment wins over the config block, as in bpftrace.
    let env = match options.strlen.map_or_else(env_strlen, |n| setting("the string length", n, MAX_STRLEN)) {
        Ok(env) => env,
        Err(d) => return Err(vec![d]),
    };
    let mut strlen = env.unwrap_or(DEFAULT_STRLEN);
    let env_keys = match options.max_map_keys.map_or_else(env_map_keys, |n| setting("the number of map keys", n, MAX_MAP_KEYS)) {
        Ok(keys) => keys,
        Err(d) => return Err(vec![d]),
    };
    let mut max_map_keys = env_keys.unwrap_or(DEFAULT_MAP_KEYS);
    // The runtime's settings: the environment (read by the caller, in
    // `options`) wins over the block here too.
    let (mut ringbuf_pages, mut max_probes, mut log_size) = (options.ringbuf_pages, None, None);
    let (mut cat_bytes_max, mut max_bpf_progs, mut cpp_demangle, mut cache_user_symbols) = (None, None, None, None);
    let (mut no_user_symbols, mut config_warnings) = (options.no_user_symbols, Vec::new());
    for entry in &program.config {
        match config_entry(entry) {
            Ok(Config::Strlen(n)) => strlen = env.unwrap_or(n),
            Ok(Config::MapKeys(n)) => max_map_keys = env_keys.unwrap_or(n),
            Ok(Config::PerfRbPages(n)) => ringbuf_pages = options.ringbuf_pages.or(Some(n)),
            Ok(Config::MaxProbes(n)) => max_probes = Some(n),
            Ok(Config::LogSize(n)) => log_size = Some(n),
            Ok(Config::CatBytesMax(n)) => cat_bytes_max = Some(n),
            Ok(Config::MaxBpfProgs(n)) => max_bpf_progs = Some(n),
            Ok(Config::CppDemangle(on)) => cpp_demangle = Some(on),
            Ok(Config::CacheUserSymbols(on)) => cache_user_symbols = Some(on),
            Ok(Config::NoUserSymbols(on)) => no_user_symbols = on,
            Ok(Config::Accepted) => {}
            Ok(Config::NoEffect(warning)) => config_warnings.push(warning),
            Err(d) => diags.push(d),
        }
    }

    // Expand attach points first: every later error is about a probe that exists.
    // Each with whether it may fail to attach (below).
    let mut expanded: Vec<(&ast::Probe, ResolvedProbe, Span, bool)> = Vec::new();
    let mut skipped = Vec::new();
    let mut expanded_programs = Vec::new();
    for probe in &program.probes {
        let before = expanded.len();
        // As in bpftrace, a wildcard of a list that matches nothing is left
        // out when another attach point of the list matches (a tool names
        // each kernel's spelling of a function: `kprobe:f, kprobe:f.isra.*`).
        let mut unmatched = Vec::new();
        // Attach points naming what is missing (a library's function): skipped
        // with a warning when another attach point of the probe resolves.
        let mut missing = Vec::new();
        for ap in &probe.attach_points {
            let text = match expand_positionals(&ap.text, ap.span, &options.params) {
                Ok(text) => text,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            let scope = probes::Scope {
                pid: options.pid,
                args: probes::uprobe_args::reads_args(probe),
                allow_unsafe: options.allow_unsafe,
                usdt_file_activation: options.usdt_file_activation,
                command: options.command.as_deref().and_then(|c| c.split_whitespace().next()),
            };
            let resolved = probes::resolve(&text, ap.span, target, &scope).and_then(|resolved| {
                let has_process = options.pid.is_some() || options.cpid.is_some();
                resolved.iter().try_for_each(|r| probes::watchpoint::require_process(&r.kind, ap.span, has_process))?;
                Ok(resolved)
            });
            // As in bpftrace, a probe of a list or of a wildcard that the
            // kernel refuses to attach is skipped with a warning; one named
            // alone stops the program.
            let optional = probe.attach_points.len() > 1 || probes::is_glob(&text);
            match resolved {
                Ok(resolved) => {
                    // Counted as bpftrace counts its programs, whatever
                    // rbpf's multi-attach links share.
                    if needs_one_program_per_match(probe, false) {
                        expanded_programs.push(resolved.len() as u64);
                    }
                    let multi = probes::kprobe::multi_attach(&resolved, &text, target)
                        .or_else(|| probes::uprobe::multi_attach(&resolved, &text, target));
                    match multi {
                        Some(multi) if !needs_one_program_per_match(probe, matches!(multi.kind, probes::ProbeKind::UprobeMulti { .. })) => expanded.push((probe, multi, ap.span, optional)),
                        _ => expanded.extend(resolved.into_iter().map(|r| (probe, r, ap.span, optional))),
                    }
                }
                Err(d) if d.severity == Severity::Warning => missing.push((d, text)),
                Err(d) if probe.attach_points.len() > 1 && probes::matches_nothing(&d) => unmatched.push(d),
                Err(d) => diags.push(d),
            }
        }
        let matched = expanded.len() > before;
        if !matched {
            diags.append(&mut unmatched);
        }
        for (mut d, text) in missing {
            if matched {
                d.message = format!("{}: skipping `{text}`", d.message);
                skipped.push(d);
            } else {
                d.severity = Severity::Error;
                diags.push(d);
            }
        }
    }

    if let Some(d) = iterator_mixed(&expanded) {
        diags.push(d);
    }

    let mut checker = Checker::new(program, options, strlen);
    checker.ncpus = target.possible_cpus().max(1);
    checker.demangle = options.cpp_demangle.or(cpp_demangle).unwrap_or(true);
    checker.no_user_symbols = no_user_symbols;
    let (types, mut type_diags) = types::TypeTable::build(program, target);
    checker.types = types;
    checker.symbols = symbols::Symbols::resolve(&expanded, target);
    diags.append(&mut type_diags);
    let mut pass = Pass::Infer;
    loop {
        checker.pass = pass;
        checker.diags.clear();
        checker.printfs.clear();
        checker.print_values.clear();
        checker.time_formats.clear();
        checker.join_separators.clear();
        checker.skb_outputs.clear();
        checker.uses_elapsed = false;
        checker.unrolled = 0;
        let mut probes = Vec::with_capacity(expanded.len());
        for (index, (probe, resolved, span, optional)) in expanded.iter().enumerate() {
            probes.push(checker.check_probe(index, probe, resolved, *span, *optional));
        }
        checker.probes = probes;
        // Inference runs again while it meets kernel types (the structs
        // that pointer members point to) it can now look up.
        match pass {
            Pass::Infer if checker.types.learn_wanted(target) => {
                // What this pass learnt of variables and maps came from
                // stand-ins for the reads it could not type yet (a struct
                // value is no int64): the next pass learns it afresh.
                checker.var_types.clear();
                for slot in &mut checker.maps {
                    slot.key = None;
                    slot.value = None;
                }
            }
            Pass::Infer => pass = Pass::Report,
            Pass::Report => break,
        }
    }
    diags.append(&mut checker.diags);
    // A map whose only assignment was refused above needs no second message.
    let clean = diags.is_empty();
    for (id, slot) in checker.maps.iter().enumerate() {
        if clean && slot.value.is_none() {
            diags.push(
                Diagnostic::error(slot.span, format!("map `{}` is read but never assigned", slot.name))
                    .with_label("never assigned a value")
                    .with_note(format!("assign it somewhere, e.g. `{} = count()`", checker.map_names[id])),
            );
        }
    }
    dedup(&mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let mut warnings = config_warnings;
    warnings.extend(warnings::warnings(&checker.probes));
    let maps = checker
        .maps
        .into_iter()
        .map(|m| Map {
            name: m.name,
            key: m.key.unwrap_or_default(),
            value: m.value.unwrap_or(MapValue::Count),
            span: m.span,
            element_ops: m.element_ops,
        })
        .collect();
    Ok(Program {
        probes: checker.probes,
        maps,
        printfs: checker.printfs,
        uses_elapsed: checker.uses_elapsed,
        print_values: checker.print_values,
        time_formats: checker.time_formats,
        join_separators: checker.join_separators,
        skb_outputs: checker.skb_outputs,
        ncpus: target.possible_cpus().max(1),
        max_map_keys,
        helper_checks: options.helper_checks,
        ringbuf_pages,
        max_probes,
        log_size,
        cat_bytes_max,
        max_bpf_progs,
        cpp_demangle,
        cache_user_symbols,
        no_user_symbols,
        expanded_programs,
        skipped,
        warnings,
    })
}

/// bpftrace's default number of keys a map holds.
const DEFAULT_MAP_KEYS: u32 = 4096;

/// The most keys rbpf lets a map hold: the kernel allocates hash maps
/// lazily, but a per-CPU one reserves its values on every CPU.
const MAX_MAP_KEYS: u32 = 1 << 24;

/// `BPFTRACE_MAP_KEYS_MAX` (bpftrace 0.17's name) or `BPFTRACE_MAX_MAP_KEYS`
/// (later bpftrace's), which win over the config block as for strings.
/// A value that is no count, or more than rbpf lets a map hold, is an
/// error (bpftrace's first line for the former; bpftrace itself fails
/// later, creating the map) rather than quietly replaced.
fn env_map_keys() -> Result<Option<u32>, Diagnostic> {
    let Some((name, value)) = ["BPFTRACE_MAP_KEYS_MAX", "BPFTRACE_MAX_MAP_KEYS"]
        .iter()
        .find_map(|name| Some((*name, std::env::var_os(name)?)))
    else {
        return Ok(None);
    };
    let value = value.to_string_lossy();
    let error = |message: String| Diagnostic::error(Span::new(0, 0), message);
    match value.trim().parse::<u64>() {
        Ok(n @ 1..) if n <= u64::from(MAX_MAP_KEYS) => Ok(Some(n as u32)),
        Ok(n @ 1..) => Err(error(format!("{name}={n} is more than the {MAX_MAP_KEYS} keys a map can hold"))
            .with_note("a per-CPU map reserves room for every key on every CPU")),
        _ => Err(error(format!("Env var '{name}' did not contain a valid uint64_t, or was zero-valued."))
            .with_note(format!("{name} is the number of keys a map holds, from 1 to {MAX_MAP_KEYS}"))),
    }
}

/// The longest string the stack of a BPF program can hold next to a map
/// key and an event record built from it.
const MAX_STRLEN: u32 = 200;

/// The string length from the environment. A value that is not a length
/// from 1 to [`MAX_STRLEN`] is an error, as in bpftrace, rather than
/// quietly replaced: the user asked for strings of that length.
fn env_strlen() -> Result<Option<u32>, Diagnostic> {
    let Some((name, value)) = ["BPFTRACE_MAX_STRLEN", "BPFTRACE_STRLEN"]
        .iter()
        .find_map(|name| Some((*name, std::env::var_os(name)?)))
    else {
        return Ok(None);
    };
    let value = value.to_string_lossy();
    // No source text to point at: an empty span at the start, no label.
    let error = |message: String| Diagnostic::error(Span::new(0, 0), message);
    match value.trim().parse::<u64>() {
        Ok(n @ 1..) if n <= u64::from(MAX_STRLEN) => Ok(Some(n as u32)),
        // bpftrace's words.
        Ok(n @ 1..) => Err(error(format!("'{name}' {n} exceeds the current maximum of {MAX_STRLEN} bytes."))
            .with_note("strings live on the BPF stack, which has 512 bytes")),
        _ => Err(error(format!("Env var '{name}' did not contain a valid uint64_t, or was zero-valued."))
            .with_note(format!("{name} is a string length from 1 to {MAX_STRLEN}, not `{value}`"))),
    }
}

/// A setting of [`Options`], checked against the bounds of its
/// environment variable.
fn setting(what: &str, n: u32, max: u32) -> Result<Option<u32>, Diagnostic> {
    if (1..=max).contains(&n) {
        Ok(Some(n))
    } else {
        Err(Diagnostic::error(Span::new(0, 0), format!("{what} must be from 1 to {max}, not {n}")))
    }
}

enum Config {
    Strlen(u32),
    MapKeys(u32),
    PerfRbPages(u32),
    MaxProbes(u64),
    LogSize(u64),
    CatBytesMax(u64),
    MaxBpfProgs(u64),
    CppDemangle(bool),
    CacheUserSymbols(bool),
    NoUserSymbols(bool),
    /// A valid setting that changes nothing in rbpf, as it is its default
    /// or names a step rbpf does not have.
    Accepted,
    /// A valid setting of later bpftrace that rbpf does not follow: the
    /// program runs, with this warning.
    NoEffect(Diagnostic),
}

/// The config keys rbpf knows, as later bpftrace names them (its older
/// names are taken too: `strlen`, `map_keys_max`, `cat_bytes_max`,
/// `no_cpp_demangle`).
const CONFIG_KEYS: &str = "max_strlen, max_map_keys, max_probes, max_bpf_progs, max_cat_bytes, log_size, perf_rb_pages, \
     cpp_demangle, cache_user_symbols, no_user_symbols, max_type_res_iterations, on_stack_limit, lazy_symbolication, \
     probe_inline, print_maps_on_exit, use_blazesym, stack_mode, str_trunc_trailer, symbol_source, missing_probes, license";

/// One `config = { key = value }` entry.
fn config_entry(entry: &ast::ConfigEntry) -> Result<Config, Diagnostic> {
    let key = entry.key.name.as_str();
    let int = || match entry.value.kind {
        A::Int(v) => Ok(v),
        _ => Err(Diagnostic::error(entry.value.span, format!("`{key}` needs an integer")).with_label("not an integer literal")),
    };
    let boolean = || match entry.value.kind {
        A::Bool(b) => Ok(b),
        A::Int(v @ (0 | 1)) => Ok(v == 1),
        _ => Err(Diagnostic::error(entry.value.span, format!("`{key}` must be 0 or 1 (or true or false)")).with_label("not a boolean")),
    };
    let one_of = |values: &[&str]| match &entry.value.kind {
        A::Ident(v) | A::Str(v) if values.contains(&v.as_str()) => Ok(()),
        _ => Err(Diagnostic::error(entry.value.span, format!("`{key}` must be one of: {}", values.join(", "))).with_label("not one of them")),
    };
    let no_effect = || {
        Config::NoEffect(
            Diagnostic::warning(entry.key.span, format!("config option `{key}` has no effect in rbpf"))
                .with_label("taken, not followed")
                .with_note("see README.md, Differences from bpftrace"),
        )
    };
    match key.to_ascii_lowercase().trim_start_matches("bpftrace_") {
        "max_strlen" | "strlen" => {
            let v = int()?;
            if v == 0 || v > u64::from(MAX_STRLEN) {
                return Err(Diagnostic::error(entry.value.span, format!("`{key}` must be between 1 and {MAX_STRLEN}"))
                    .with_label("out of range")
                    .with_note("strings live on the BPF stack, which has 512 bytes"));
            }
            Ok(Config::Strlen(v as u32))
        }
        "max_map_keys" | "map_keys_max" => {
            let v = int()?;
            if v == 0 || v > u64::from(MAX_MAP_KEYS) {
                return Err(Diagnostic::error(entry.value.span, format!("`{key}` must be between 1 and {MAX_MAP_KEYS}"))
                    .with_label("out of range"));
            }
            Ok(Config::MapKeys(v as u32))
        }
        // Counts above 0, as their environment variables are.
        "perf_rb_pages" | "max_probes" | "log_size" | "max_bpf_progs" | "max_cat_bytes" | "cat_bytes_max" => {
            let v = int()?;
            if v == 0 || (key.ends_with("pages") && v > u64::from(u32::MAX)) {
                return Err(Diagnostic::error(entry.value.span, format!("`{key}` must be a count above 0")).with_label("out of range"));
            }
            Ok(match key.to_ascii_lowercase().trim_start_matches("bpftrace_") {
                "perf_rb_pages" => Config::PerfRbPages(v as u32),
                "max_probes" => Config::MaxProbes(v),
                "max_bpf_progs" => Config::MaxBpfProgs(v),
                "log_size" => Config::LogSize(v),
                _ => Config::CatBytesMax(v),
            })
        }
        "cpp_demangle" | "no_cpp_demangle" => {
            let on = match entry.value.kind {
                A::Bool(b) => b,
                A::Int(v @ (0 | 1)) => v == 1,
                _ => {
                    return Err(Diagnostic::error(entry.value.span, format!("`{key}` must be 0 or 1 (or true or false)"))
                        .with_label("not a boolean"))
                }
            };
            Ok(Config::CppDemangle(if key.to_ascii_lowercase().contains("no_") { !on } else { on }))
        }
        // Later bpftrace's values, and 0.17's 0 and 1 (1 is the default).
        "cache_user_symbols" => match &entry.value.kind {
            A::Ident(v) if v == "PER_PID" || v == "PER_PROGRAM" => Ok(Config::CacheUserSymbols(true)),
            A::Ident(v) if v == "NONE" => Ok(Config::CacheUserSymbols(false)),
            A::Int(v @ (0 | 1)) => Ok(Config::CacheUserSymbols(*v == 1)),
            _ => Err(Diagnostic::error(
                entry.value.span,
                "Invalid value for cache_user_symbols: valid values are PER_PID, PER_PROGRAM, and NONE.",
            )
            .with_label("not a cache mode")),
        },
        "no_user_symbols" => boolean().map(Config::NoUserSymbols),
        // Rounds of asking clang for more types, which rbpf does not have
        // (it reads types from BTF as it meets them): any count is taken.
        "max_type_res_iterations" => int().map(|_| Config::Accepted),
        // Later bpftrace's settings that rbpf does not follow; the values
        // are checked as later bpftrace checks them.
        "on_stack_limit" => int().map(|_| no_effect()),
        "lazy_symbolication" | "probe_inline" | "use_blazesym" => boolean().map(|_| no_effect()),
        // Maps are printed at exit, as this default says.
        "print_maps_on_exit" => match boolean()? {
            true => Ok(Config::Accepted),
            false => Ok(no_effect()),
        },
        "stack_mode" => one_of(&["bpftrace", "perf", "raw"]).map(|_| no_effect()),
        "symbol_source" => one_of(&["symbol_table", "dwarf"]).map(|_| no_effect()),
        "missing_probes" => one_of(&["ignore", "warn", "error"]).map(|_| no_effect()),
        "str_trunc_trailer" | "license" => match &entry.value.kind {
            A::Str(_) => Ok(no_effect()),
            _ => Err(Diagnostic::error(entry.value.span, format!("`{key}` needs a string")).with_label("not a string literal")),
        },
        // bpftrace reads these from the environment alone.
        "btf" | "vmlinux" => Err(Diagnostic::error(entry.key.span, format!("{key} can only be set as an environment variable"))
            .with_label("not a config option")
            .with_note(format!("set BPFTRACE_{} instead", key.to_ascii_uppercase().trim_start_matches("BPFTRACE_")))),
        _ => Err(Diagnostic::error(entry.key.span, format!("unknown config option `{key}`"))
            .with_label("not an option rbpf knows")
            .with_note(format!("options are: {CONFIG_KEYS}"))),
    }
}

/// The same mistake in a block shared by several attach points is reported once.
fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    diags.retain(|d| seen.insert((d.span, d.message.clone())));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Infer,
    Report,
}

/// A map as learnt so far.
struct MapSlot {
    name: String,
    key: Option<Vec<Type>>,
    key_span: Span,
    value: Option<MapValue>,
    value_span: Span,
    span: Span,
    /// See [`Map::element_ops`].
    element_ops: bool,
}

struct Checker {
    pass: Pass,
    diags: Vec<Diagnostic>,
    /// Sorted by name; the index is the MapId.
    maps: Vec<MapSlot>,
    map_names: Vec<String>,
    map_ids: HashMap<String, MapId>,
    printfs: Vec<Printf>,
    print_values: Vec<Type>,
    time_formats: Vec<String>,
    join_separators: Vec<String>,
    skb_outputs: Vec<String>,
    ncpus: u32,
    /// Whether `func` in a uprobe names a C++ function demangled.
    demangle: bool,
    /// Whether `func` in a uprobe prints the function's address.
    no_user_symbols: bool,
    uses_elapsed: bool,
    /// The unrolled size of the probes checked so far in this pass (each
    /// probe an attach point expands into counts: each is its own program).
    unrolled: u64,
    probes: Vec<Probe>,
    /// Variable types learnt in the first pass, by probe index and name.
    var_types: HashMap<(usize, String), Type>,
    params: Vec<String>,
    allow_unsafe: bool,
    /// `-p PID`, added to the predicate of every probe in a task's context.
    pid_filter: Option<u32>,
    cpid: Option<u32>,
    /// The size of strings read from memory (`str()`), NUL included.
    strlen: u32,
    /// The types and enumerators the program can name.
    types: types::TypeTable,
    /// The addresses `kaddr()` and `uaddr()` name.
    symbols: symbols::Symbols,
}

/// Whether a wildcard's matches must stay one program each rather than
/// share a multi-attached one: when the body reads `probe` (a constant of
/// each program, as in bpftrace) and the link gives its functions no
/// cookies (`cookies`: a uprobe multi link does), or needs BPF callbacks
/// (loops over maps, `len()`), which the multi-attach loader does not link.
fn needs_one_program_per_match(probe: &ast::Probe, cookies: bool) -> bool {
    probe.any(
        &mut |s| matches!(&s.kind, ast::StmtKind::For { iter: ast::ForIter::Map(_), .. }),
        &mut |e| match &e.kind {
            // A uprobe multi link gives each function a cookie, from which
            // the program names its probe.
            ast::ExprKind::Ident(name) if cookies && name == "probe" => false,
            ast::ExprKind::Ident(name) => builtins::builtin(name).is_some_and(|b| b.one_program_per_match),
            ast::ExprKind::Call { name, .. } => functions::function(&name.name).is_some_and(|f| f.one_program_per_match),
            _ => false,
        },
    )
}

/// `pid == PID && predicate`: `-p PID`'s filter in front of the probe's own
/// predicate, which runs only for that process.
fn pid_predicate(pid: u32, predicate: Option<Expr>, span: Span) -> Expr {
    let int = |kind: ExprKind, ty: Type| Box::new(Expr { kind, ty, span });
    let is_pid = Expr {
        kind: ExprKind::Binary {
            op: ast::BinaryOp::Eq,
            lhs: int(ExprKind::Builtin(Builtin::Pid), Type::U32),
            rhs: int(ExprKind::Int(u64::from(pid)), Type::I64),
        },
        ty: Type::U64,
        span,
    };
    match predicate {
        Some(p) => Expr { kind: ExprKind::Binary { op: ast::BinaryOp::And, lhs: Box::new(is_pid), rhs: Box::new(p) }, ty: Type::U64, span },
        None => is_pid,
    }
}

/// The context of the probe being checked.
struct ProbeCx<'a> {
    index: usize,
    resolved: &'a ResolvedProbe,
    vars: Vec<Var>,
    var_ids: HashMap<String, VarId>,
    /// How many loops enclose the statement being checked.
    loops: u32,
    /// How many `for` loops over a map enclose it: their bodies run in a
    /// callback, with no access to the probe's context.
    map_loops: u32,
    /// How many `unroll`s enclose the statement being checked.
    unrolls: u32,
    /// The size after unrolling (see [`unroll::unrolled_size`]) of the
    /// outermost `unroll`s checked so far in this probe.
    unrolled: u64,
}

impl Checker {
    fn new(program: &ast::Program, options: &Options, strlen: u32) -> Self {
        let names = maps_used::maps_used(program);
        let mut maps = Vec::new();
        let mut map_ids = HashMap::new();
        let mut map_names = Vec::new();
        for (name, span) in names {
            map_ids.insert(name.clone(), MapId(maps.len()));
            map_names.push(name.clone());
            maps.push(MapSlot { name, key: None, key_span: span, value: None, value_span: span, span, element_ops: false });
        }
        Checker {
            pass: Pass::Infer,
            diags: Vec::new(),
            maps,
            map_names,
            map_ids,
            printfs: Vec::new(),
            print_values: Vec::new(),
            time_formats: Vec::new(),
            join_separators: Vec::new(),
            skb_outputs: Vec::new(),
            ncpus: 1,
            demangle: true,
            no_user_symbols: false,
            uses_elapsed: false,
            unrolled: 0,
            probes: Vec::new(),
            var_types: HashMap::new(),
            params: options.params.clone(),
            allow_unsafe: options.allow_unsafe,
            pid_filter: options.pid,
            cpid: options.cpid,
            strlen,
            types: types::TypeTable::default(),
            symbols: symbols::Symbols::default(),
        }
    }

    fn error(&mut self, d: Diagnostic) {
        if self.pass == Pass::Report {
            self.diags.push(d);
        }
    }

    /// `index` is the probe's position in the expansion, the same in both
    /// passes, so variable types learnt in the first carry to the second.
    fn check_probe(&mut self, index: usize, probe: &ast::Probe, resolved: &ResolvedProbe, span: Span, optional: bool) -> Probe {
        let mut cx = ProbeCx { index, resolved, vars: Vec::new(), var_ids: HashMap::new(), loops: 0, map_loops: 0, unrolls: 0, unrolled: 0 };
        let predicate = probe.predicate.as_ref().map(|p| {
            let e = self.expr(p, &mut cx);
            self.expect_int(&e, "a predicate");
            e
        });
        let body = self.block(&probe.body, &mut cx);
        self.unrolled = self.unrolled.saturating_add(cx.unrolled);
        let predicate = match self.pid_filter {
            // A probe attached for that process alone needs no test.
            Some(pid) if resolved.kind.runs_in_a_task() && !resolved.kind.attached_to_process() => Some(pid_predicate(pid, predicate, span)),
            _ => predicate,
        };
        Probe { kind: resolved.kind.clone(), name: resolved.name.clone(), span, optional, predicate, body, vars: cx.vars }
    }
}

/// An attach point with its positional parameters (`$1`, `$2`, ...)
/// replaced by their text, as bpftrace's reference guide documents
/// (`uprobe:$1:main`, `interval:ms:$1`, `tracepoint:syscalls:sys_enter_$1`),
/// and its quoted pieces (`uprobe:"/lib/libstdc++.so.6":f`) unquoted.
/// A parameter that was not given is an error: the probe it would name is
/// not the one the user meant. As in bpftrace, a parameter ends its piece
/// of the attach point: text after it (`sys_enter_$1*`) must be quoted
/// (`sys_enter_$1"*"`), or be another parameter (`$2$1`).
pub(crate) fn expand_positionals(text: &str, span: Span, params: &[String]) -> Result<String, Diagnostic> {
    if !text.contains(['$', '"']) {
        return Ok(text.to_string());
    }
    let at = |i: usize, len: usize| Span::new(span.start as usize + i, span.start as usize + i + len);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if let Some(quoted) = rest.strip_prefix('"') {
            // The grammar pairs the quotes; the text between is literal.
            let len = quoted.find('"').unwrap_or(quoted.len());
            out.push_str(&quoted[..len]);
            i += len + 2;
            continue;
        }
        let digits = rest.strip_prefix('$').map_or(0, |r| r.bytes().take_while(u8::is_ascii_digit).count());
        if digits == 0 {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let n = rest[1..1 + digits].parse::<usize>().unwrap_or(usize::MAX);
        let Some(param) = n.checked_sub(1).and_then(|k| params.get(k)) else {
            let given = match params.len() {
                0 => "none was given".to_string(),
                1 => "only 1 was given".to_string(),
                k => format!("only {k} were given"),
            };
            return Err(Diagnostic::error(at(i, 1 + digits), format!("the attach point uses positional parameter ${n}, but {given}"))
                .with_label("no such parameter")
                .with_note("give the parameters after the program: `rbpf -e 'PROGRAM' ARG1 ARG2 ...`"));
        };
        out.push_str(param);
        i += 1 + digits;
        let trailing = text[i..].find([':', '"']).unwrap_or(text.len() - i);
        // Another parameter may follow at once (`$2$1`): nothing to quote.
        let next_param = text[i..].strip_prefix('$').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        if trailing > 0 && !next_param {
            let extra = &text[i..i + trailing];
            return Err(Diagnostic::error(at(i, trailing), format!("found trailing text '{extra}' in positional parameter index"))
                .with_label("text right after a positional parameter")
                .with_note(format!("quote the trailing text, as bpftrace asks: `${n}\"{extra}\"`")));
        }
    }
    Ok(out)
}

/// A positional parameter's integer value: decimal or `0x` hex.
fn parse_int(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Some(neg) = t.strip_prefix('-') {
        return neg.parse::<u64>().ok().filter(|v| *v <= 1 << 63).map(|v| v.wrapping_neg());
    }
    t.parse().ok()
}

mod aggregations;
mod buffers;
pub mod builtins;
mod expr;
mod fields;
pub mod functions;
mod kernel_calls;
mod maps;
mod maps_used;
mod memory;
mod printf;
mod rendered;
mod statements;
mod stacks;
mod stmt;
mod symbols;
mod strings;
mod tuple;
mod tuple_compare;
mod types;
mod unroll;
mod warnings;

/// An iterator probe runs when its iterator is read, not on an event, so
/// it is the program's only probe: bpftrace's man page says it "can't be
/// mixed with any other probe, not even other iterator" (BEGIN and END
/// included).
fn iterator_mixed(expanded: &[(&ast::Probe, ResolvedProbe, Span, bool)]) -> Option<Diagnostic> {
    let (_, iter, span, _) = expanded.iter().find(|(_, r, _, _)| matches!(r.kind, probes::ProbeKind::Iter { .. }))?;
    let (_, other, other_span, _) = expanded.iter().find(|(_, r, s, _)| s != span || r.name != iter.name)?;
    Some(
        Diagnostic::error(*span, "an iterator probe cannot be mixed with other probes")
            .with_label(format!("`{}` must be the program's only probe", iter.name))
            .with_secondary(*other_span, format!("`{}` is another probe", other.name))
            .with_note("run the other probes in a program of their own"),
    )
}

#[cfg(test)]
mod tests;
