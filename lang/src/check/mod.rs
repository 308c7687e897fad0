//! Semantic checks: resolves probes, builtins, variables and maps, infers
//! and checks types, and produces the [`checked::Program`] that code
//! generation consumes.
//!
//! Map types are inferred from every use in the program, wherever it stands
//! (a probe may read a map that a later probe writes), so the probes are
//! walked twice: the first walk only learns map and variable types, the
//! second reports diagnostics against the complete picture.

use std::collections::{BTreeSet, HashMap};

use crate::ast::{self, BinaryOp, ExprKind as A, UnaryOp};
use crate::checked::{
    Builtin, Expr, ExprKind, Map, MapCommand, MapId, MapUpdate, MapValue, Printf, Probe, Program, Stmt, StmtKind, Var,
    VarId,
};
use crate::format;
use crate::probes::{self, PerfCounter, ProbeKind, ResolvedProbe};
use crate::target::{FieldKind, Target, TracepointField};
use crate::types::{Type, COMM_LEN, DEFAULT_STRLEN};
use crate::{Diagnostic, Span};

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
}

/// Checks a parsed program against the host's facts.
pub fn check(program: &ast::Program, target: &dyn Target) -> Result<Program, Vec<Diagnostic>> {
    check_with(program, target, &Options::default())
}

/// [`check`], with the command line's parameters and permissions.
pub fn check_with(program: &ast::Program, target: &dyn Target, options: &Options) -> Result<Program, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    // The environment wins over the config block, as in bpftrace.
    let env = match env_strlen() {
        Ok(env) => env,
        Err(d) => return Err(vec![d]),
    };
    let mut strlen = env.unwrap_or(DEFAULT_STRLEN);
    let env_keys = env_map_keys();
    let mut max_map_keys = env_keys.unwrap_or(DEFAULT_MAP_KEYS);
    for entry in &program.config {
        match config_entry(entry) {
            Ok(Config::Strlen(n)) => strlen = env.unwrap_or(n),
            Ok(Config::MapKeys(n)) => max_map_keys = env_keys.unwrap_or(n),
            Err(d) => diags.push(d),
        }
    }

    // Expand attach points first: every later error is about a probe that exists.
    let mut expanded: Vec<(&ast::Probe, ResolvedProbe, Span)> = Vec::new();
    for probe in &program.probes {
        for ap in &probe.attach_points {
            let text = match expand_positionals(&ap.text, ap.span, &options.params) {
                Ok(text) => text,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            let resolved = probes::resolve(&text, ap.span, target, &probes::Scope { pid: options.pid }).and_then(|resolved| {
                let has_process = options.pid.is_some() || options.cpid.is_some();
                resolved.iter().try_for_each(|r| probes::watchpoint::require_process(&r.kind, ap.span, has_process))?;
                Ok(resolved)
            });
            match resolved {
                Ok(resolved) => match probes::kprobe::multi_attach(&resolved, &text, target) {
                    Some(multi) if !needs_one_program_per_match(probe) => expanded.push((probe, multi, ap.span)),
                    _ => expanded.extend(resolved.into_iter().map(|r| (probe, r, ap.span))),
                },
                Err(d) => diags.push(d),
            }
        }
    }

    let mut checker = Checker::new(program, options, strlen);
    checker.ncpus = target.possible_cpus().max(1);
    for pass in [Pass::Infer, Pass::Report] {
        checker.pass = pass;
        checker.diags.clear();
        checker.printfs.clear();
        checker.print_values.clear();
        checker.time_formats.clear();
        checker.join_separators.clear();
        checker.uses_elapsed = false;
        checker.unrolled = 0;
        let mut probes = Vec::with_capacity(expanded.len());
        for (index, (probe, resolved, span)) in expanded.iter().enumerate() {
            probes.push(checker.check_probe(index, probe, resolved, *span));
        }
        checker.probes = probes;
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
        ncpus: target.possible_cpus().max(1),
        max_map_keys,
    })
}

/// bpftrace's default number of keys a map holds.
const DEFAULT_MAP_KEYS: u32 = 4096;

/// The most keys rbpf lets a map hold: the kernel allocates hash maps
/// lazily, but a per-CPU one reserves its values on every CPU.
const MAX_MAP_KEYS: u32 = 1 << 24;

/// `BPFTRACE_MAP_KEYS_MAX` (bpftrace 0.17's name) or `BPFTRACE_MAX_MAP_KEYS`
/// (later bpftrace's), which win over the config block as for strings.
fn env_map_keys() -> Option<u32> {
    ["BPFTRACE_MAP_KEYS_MAX", "BPFTRACE_MAX_MAP_KEYS"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse::<u32>().ok())
        .map(|n| n.clamp(1, MAX_MAP_KEYS))
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
        Ok(n @ 1..) => Err(error(format!("{name}={n} is more than the {MAX_STRLEN} bytes a string can have"))
            .with_note("strings live on the BPF stack, which has 512 bytes")),
        _ => Err(error(format!("{name} must be a string length from 1 to {MAX_STRLEN}, not `{value}`"))),
    }
}

enum Config {
    Strlen(u32),
    MapKeys(u32),
}

/// One `config = { key = value }` entry.
fn config_entry(entry: &ast::ConfigEntry) -> Result<Config, Diagnostic> {
    let key = entry.key.name.as_str();
    let int = || match entry.value.kind {
        A::Int(v) => Ok(v),
        _ => Err(Diagnostic::error(entry.value.span, format!("`{key}` needs an integer")).with_label("not an integer literal")),
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
        _ => Err(Diagnostic::error(entry.key.span, format!("unknown config option `{key}`"))
            .with_label("not an option rbpf knows")
            .with_note("options are: max_strlen, max_map_keys")),
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
    ncpus: u32,
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
}

/// Whether a wildcard's matches must stay one program each rather than
/// share a multi-attached one: when the body reads `probe` (a constant of
/// each program, as in bpftrace), or needs BPF callbacks (loops over maps,
/// `len()`), which the multi-attach loader does not link.
fn needs_one_program_per_match(probe: &ast::Probe) -> bool {
    probe.any(
        &mut |s| matches!(&s.kind, ast::StmtKind::For { iter: ast::ForIter::Map(_), .. }),
        &mut |e| match &e.kind {
            ast::ExprKind::Ident(name) => name == "probe",
            ast::ExprKind::Call { name, .. } => name.name == "len",
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
            ncpus: 1,
            uses_elapsed: false,
            unrolled: 0,
            probes: Vec::new(),
            var_types: HashMap::new(),
            params: options.params.clone(),
            allow_unsafe: options.allow_unsafe,
            pid_filter: options.pid,
            cpid: options.cpid,
            strlen,
        }
    }

    fn error(&mut self, d: Diagnostic) {
        if self.pass == Pass::Report {
            self.diags.push(d);
        }
    }

    /// `index` is the probe's position in the expansion, the same in both
    /// passes, so variable types learnt in the first carry to the second.
    fn check_probe(&mut self, index: usize, probe: &ast::Probe, resolved: &ResolvedProbe, span: Span) -> Probe {
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
        Probe { kind: resolved.kind.clone(), name: resolved.name.clone(), span, predicate, body, vars: cx.vars }
    }

    fn block(&mut self, block: &ast::Block, cx: &mut ProbeCx) -> Vec<Stmt> {
        let mut out = Vec::new();
        for stmt in &block.stmts {
            self.stmt(stmt, cx, &mut out);
        }
        out
    }

    fn stmt(&mut self, stmt: &ast::Stmt, cx: &mut ProbeCx, out: &mut Vec<Stmt>) {
        let span = stmt.span;
        let kind = match &stmt.kind {
            ast::StmtKind::Expr(e) => match self.call_stmt(e, cx) {
                Some(kind) => kind,
                None => return,
            },
            ast::StmtKind::Assign { target, op: None, value } => match self.assign(target, value, cx) {
                Some(kind) => kind,
                None => return,
            },
            ast::StmtKind::Assign { target, op: Some(op), value } => {
                // `x op= v` is `x = x op v`.
                let value = ast::Expr {
                    kind: A::Binary { op: *op, lhs: Box::new(target.clone()), rhs: Box::new(value.clone()) },
                    span,
                };
                match self.assign(target, &value, cx) {
                    Some(kind) => kind,
                    None => return,
                }
            }
            ast::StmtKind::If { cond, then, else_ } => {
                let cond = self.expr(cond, cx);
                self.expect_int(&cond, "an `if` condition");
                let then = self.block(then, cx);
                let else_ = else_.as_ref().map(|b| self.block(b, cx)).unwrap_or_default();
                StmtKind::If { cond, then, else_ }
            }
            ast::StmtKind::Block(b) => {
                out.extend(self.block(b, cx));
                return;
            }
            ast::StmtKind::While { cond, body } => {
                let cond = self.expr(cond, cx);
                self.expect_int(&cond, "a `while` condition");
                cx.loops += 1;
                let body = self.block(body, cx);
                cx.loops -= 1;
                StmtKind::While { cond, body, step: Vec::new() }
            }
            ast::StmtKind::Unroll { count, body } => {
                let n = match count.kind {
                    A::Int(n) if (1..=100).contains(&n) => n as u32,
                    _ => {
                        self.error(
                            Diagnostic::error(count.span, "`unroll` needs a count between 1 and 100")
                                .with_label("not an integer literal from 1 to 100"),
                        );
                        return;
                    }
                };
                // Refused before the body is checked: its own unrolls would
                // only repeat the message.
                let size = u64::from(n).saturating_mul(unroll::unrolled_size(body));
                if cx.unrolls == 0 {
                    cx.unrolled = cx.unrolled.saturating_add(size);
                }
                let in_program = self.unrolled.saturating_add(cx.unrolled);
                if size > unroll::MAX_UNROLLED_NODES
                    || cx.unrolled > unroll::MAX_UNROLLED_NODES
                    || in_program > unroll::MAX_UNROLLED_NODES_PROGRAM
                {
                    let per_program = format!(
                        "a BPF program holds at most 1,000,000 instructions; rbpf allows {} statements and expressions after unrolling; use a `while` loop, or smaller counts",
                        unroll::MAX_UNROLLED_NODES
                    );
                    let (message, note) = if size > unroll::MAX_UNROLLED_NODES {
                        (format!("this `unroll` repeats its body into {size} statements and expressions, more than one BPF program can hold"), per_program)
                    } else if cx.unrolled > unroll::MAX_UNROLLED_NODES {
                        (format!("with this `unroll`, the probe's unrolled bodies add up to {} statements and expressions, more than one BPF program can hold", cx.unrolled), per_program)
                    } else {
                        // Said once, not once for every probe after it.
                        if self.unrolled > unroll::MAX_UNROLLED_NODES_PROGRAM {
                            return;
                        }
                        self.unrolled = in_program;
                        (
                            format!(
                                "with this `unroll`, the unrolled bodies of all probes add up to more than {} statements and expressions",
                                unroll::MAX_UNROLLED_NODES_PROGRAM
                            ),
                            "each probe an attach point matches is a program of its own, with its own copy of the body; use a `while` loop, smaller counts or fewer probes".to_string(),
                        )
                    };
                    self.error(Diagnostic::error(count.span, message).with_label("unrolled too far").with_note(note));
                    return;
                }
                cx.unrolls += 1;
                let body = self.block(body, cx);
                cx.unrolls -= 1;
                StmtKind::Unroll { count: n, body }
            }
            ast::StmtKind::For { var, iter: ast::ForIter::Range { start, end }, body } => {
                return self.for_range(var, start, end, body, span, cx, out);
            }
            ast::StmtKind::For { var, iter: ast::ForIter::Map(map), body } => {
                return self.for_map(var, map, body, span, cx, out);
            }
            ast::StmtKind::Break | ast::StmtKind::Continue => {
                let word = if stmt.kind == ast::StmtKind::Break { "break" } else { "continue" };
                if cx.loops == 0 {
                    self.error(
                        Diagnostic::error(span, format!("`{word}` outside of a loop"))
                            .with_label("not inside `while` or `for`"),
                    );
                    return;
                }
                if word == "break" { StmtKind::Break } else { StmtKind::Continue }
            }
            ast::StmtKind::Return => {
                if cx.map_loops > 0 {
                    self.error(
                        Diagnostic::error(span, "`return` is not allowed inside a `for` loop over a map")
                            .with_label("inside a loop over a map")
                            .with_note("the loop's body runs once per element; `break` ends the loop"),
                    );
                    return;
                }
                StmtKind::Return
            }
        };
        out.push(Stmt { kind, span });
    }

    /// `for ($i : start..end) { body }`: `$i` counts from `start` up to
    /// `end`, excluded.
    #[allow(clippy::too_many_arguments)]
    fn for_range(
        &mut self,
        var: &ast::Ident,
        start: &ast::Expr,
        end: &ast::Expr,
        body: &ast::Block,
        span: Span,
        cx: &mut ProbeCx,
        out: &mut Vec<Stmt>,
    ) {
        let start = self.expr(start, cx);
        let end = self.expr(end, cx);
        if self.expect_int(&start, "a range").is_none() || self.expect_int(&end, "a range").is_none() {
            return;
        }
        let zero = Expr { kind: ExprKind::Int(0), ty: Type::I64, span: var.span };
        let Some(id) = self.declare_var(var.name.trim_start_matches('$'), &zero, cx) else {
            return;
        };
        // The end is evaluated once, before the loop; its hidden variable
        // has a name no program can write.
        let end_var = format!("for-end-{}", span.start);
        let Some(end_id) = self.declare_var(&end_var, &end, cx) else { return };
        out.push(Stmt { kind: StmtKind::VarAssign { var: id, value: start }, span });
        out.push(Stmt { kind: StmtKind::VarAssign { var: end_id, value: end }, span });
        let read = |id: VarId, ty: Type| Expr { kind: ExprKind::Var(id), ty, span };
        let cond = Expr {
            kind: ExprKind::Binary {
                op: BinaryOp::Lt,
                lhs: Box::new(read(id, Type::I64)),
                rhs: Box::new(read(end_id, Type::I64)),
            },
            ty: Type::U64,
            span,
        };
        let step = Stmt {
            kind: StmtKind::VarAssign {
                var: id,
                value: Expr {
                    kind: ExprKind::Binary {
                        op: BinaryOp::Add,
                        lhs: Box::new(read(id, Type::I64)),
                        rhs: Box::new(Expr { kind: ExprKind::Int(1), ty: Type::I64, span }),
                    },
                    ty: Type::I64,
                    span,
                },
            },
            span,
        };
        cx.loops += 1;
        let body = self.block(body, cx);
        cx.loops -= 1;
        out.push(Stmt { kind: StmtKind::While { cond, body, step: vec![step] }, span });
    }

    /// `for ($kv : @map) { body }`: `$kv` is a new variable, the tuple
    /// (key, value), with the keys as a tuple of their own when the map
    /// has several. The body may use the variables declared before the
    /// loop; those it declares itself end with it, as in bpftrace.
    fn for_map(
        &mut self,
        var: &ast::Ident,
        map_name: &ast::Ident,
        body: &ast::Block,
        span: Span,
        cx: &mut ProbeCx,
        out: &mut Vec<Stmt>,
    ) {
        let var_name = format!("${}", var.name);
        if cx.var_ids.contains_key(&var_name) {
            self.error(
                Diagnostic::error(var.span, format!("the loop variable `{var_name}` is already a variable of this probe"))
                    .with_label("shadows an existing variable")
                    .with_note("give the loop variable a name of its own"),
            );
            return;
        }
        let map = self.map_id(&map_name.name);
        let slot = &self.maps[map.0];
        let value = match &slot.value {
            Some(MapValue::Plain(t)) => t.clone(),
            Some(MapValue::Count) => Type::U64,
            Some(MapValue::Sum { signed } | MapValue::Min { signed } | MapValue::Max { signed }) => {
                Type::Int { bits: 64, signed: *signed }
            }
            Some(agg @ (MapValue::Avg { .. } | MapValue::Stats { .. } | MapValue::Hist { .. } | MapValue::Lhist { .. })) => {
                let what = agg.describe();
                self.error(
                    Diagnostic::error(map_name.span, format!("a `for` loop cannot iterate over a map of {what}"))
                        .with_label(format!("holds {what}"))
                        .with_secondary(slot.value_span, "its value is set here")
                        .with_note("loops iterate over maps of plain values, count(), sum(), min() or max()"),
                );
                return;
            }
            // Never assigned: reported once the whole program is checked.
            None => Type::I64,
        };
        let key = match slot.key.as_deref() {
            Some([]) => {
                self.error(
                    Diagnostic::error(map_name.span, format!("map `{}` has no keys to iterate over", slot.name))
                        .with_label("a map without keys")
                        .with_secondary(slot.key_span, "used without keys here")
                        .with_note("a `for` loop iterates over a map with keys, such as `@m[k] = v`"),
                );
                return;
            }
            Some([one]) => padded(one),
            Some(several) => Type::Tuple(several.iter().map(padded).collect()),
            None => Type::I64,
        };
        let value = padded(&value);
        let declared_before = cx.vars.len();
        let id = VarId(declared_before);
        cx.vars.push(Var { name: var_name.clone(), ty: Type::Tuple(vec![key, value]) });
        cx.var_ids.insert(var_name, id);
        cx.loops += 1;
        cx.map_loops += 1;
        let body = self.block(body, cx);
        cx.loops -= 1;
        cx.map_loops -= 1;
        // The loop's own variables end with it.
        cx.var_ids.retain(|_, v| v.0 < declared_before);
        let outer = crate::checked::VarUse::of(&body).used.into_iter().filter(|v| v.0 < declared_before).collect();
        out.push(Stmt { kind: StmtKind::ForMap { var: id, map, body, outer }, span });
    }

    fn unavailable(&mut self, span: Span, what: &str) {
        self.error(
            Diagnostic::error(span, format!("{what} is not available in this build of rbpf"))
                .with_label("not compiled by this version"),
        );
    }

    /// An expression statement: a call with an effect, or an expression.
    fn call_stmt(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<StmtKind> {
        if let A::IncDec { expr, increment, .. } = &e.kind {
            // `@x++` as a statement is `@x = @x + 1`. A variable's `$x++`
            // stays an increment: `$x + 1` would widen a narrow variable
            // to int64, where bpftrace wraps it in its type.
            if matches!(expr.kind, A::Var(_)) {
                let e = self.expr(e, cx);
                return (e.ty != Type::Void).then_some(StmtKind::Expr(e));
            }
            let op = if *increment { BinaryOp::Add } else { BinaryOp::Sub };
            let value = ast::Expr {
                kind: A::Binary { op, lhs: expr.clone(), rhs: Box::new(ast::Expr { kind: A::Int(1), span: e.span }) },
                span: e.span,
            };
            return self.assign(expr, &value, cx);
        }
        if let A::Call { name, args } = &e.kind {
            match name.name.as_str() {
                "printf" => return self.printf(e.span, args, cx),
                "exit" => {
                    self.arity(name, args, 0, 1)?;
                    let code = match args.first() {
                        None => 0,
                        Some(a) => match a.kind {
                            A::Int(v) if v <= 255 => v as i32,
                            _ => {
                                self.error(
                                    Diagnostic::error(a.span, "`exit()` takes an exit status from 0 to 255")
                                        .with_label("not an integer literal from 0 to 255"),
                                );
                                return None;
                            }
                        },
                    };
                    return Some(StmtKind::Exit { code });
                }
                "delete" => return self.delete(name, args, cx),
                "clear" | "zero" => {
                    self.arity(name, args, 1, 1)?;
                    let map = self.map_arg(&args[0], &name.name)?;
                    let command = if name.name == "clear" { MapCommand::Clear } else { MapCommand::Zero };
                    return Some(StmtKind::MapCommand { map, command });
                }
                "print" => return self.print(name, args, cx),
                "join" => return self.join(name, args, cx),
                "signal" => {
                    self.arity(name, args, 1, 1)?;
                    self.require_unsafe(name)?;
                    if let Some(why) = signal_has_no_task(cx.resolved) {
                        self.error(
                            Diagnostic::error(e.span, format!("`signal()` cannot be used in {why}"))
                                .with_label("no task to signal here")
                                .with_note("signal() sends to the task the probe fired in: use it in tracepoint, uprobe, usdt, kprobe or profile probes"),
                        );
                        return None;
                    }
                    let literal = match &args[0].kind {
                        A::Int(n) => Some(i128::from(*n)),
                        A::Unary { op: UnaryOp::Neg, expr } => match expr.kind {
                            A::Int(n) => Some(-i128::from(n)),
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some(n) = literal.filter(|n| !(1..=64).contains(n)) {
                        self.error(
                            Diagnostic::error(args[0].span, format!("{n} is not a valid signal"))
                                .with_label("not from 1 to 64")
                                .with_note("signal numbers are 1 to 64; names are written e.g. \"SIGKILL\" or \"KILL\""),
                        );
                        return None;
                    }
                    let sig = match &args[0].kind {
                        A::Str(s) => match signal_number(s) {
                            Some(n) => Expr { kind: ExprKind::Int(n), ty: Type::U64, span: args[0].span },
                            None => {
                                self.error(
                                    Diagnostic::error(args[0].span, format!("unknown signal `{s}`"))
                                        .with_label("not a signal name")
                                        .with_note("write e.g. \"SIGKILL\", \"KILL\" or a number"),
                                );
                                return None;
                            }
                        },
                        _ => {
                            let e = self.expr(&args[0], cx);
                            self.expect_int(&e, "`signal()`")?;
                            e
                        }
                    };
                    return Some(StmtKind::Signal(sig));
                }
                "system" | "cat" => {
                    if name.name == "system" {
                        self.require_unsafe(name)?;
                    }
                    let StmtKind::Printf { id, args } = self.printf(e.span, args, cx)? else { return None };
                    return Some(if name.name == "system" { StmtKind::System { id, args } } else { StmtKind::Cat { id, args } });
                }
                "time" => {
                    self.arity(name, args, 0, 1)?;
                    let format = match args.first().map(|a| &a.kind) {
                        None => "%H:%M:%S\n".to_string(),
                        Some(A::Str(f)) => f.clone(),
                        Some(_) => {
                            self.error(
                                Diagnostic::error(args[0].span, "`time()` takes a strftime format string literal")
                                    .with_label("not a string literal"),
                            );
                            return None;
                        }
                    };
                    let id = self.time_formats.len();
                    self.time_formats.push(format);
                    return Some(StmtKind::Time { id });
                }
                "count" | "sum" | "min" | "max" | "avg" | "stats" | "hist" | "lhist" => {
                    self.error(
                        Diagnostic::error(e.span, format!("`{}()` must be assigned to a map", name.name))
                            .with_label("its result is lost here")
                            .with_note(format!("write e.g. `@x = {}(...)`", name.name)),
                    );
                    return None;
                }
                _ => {}
            }
        }
        let e = self.expr(e, cx);
        Some(StmtKind::Expr(e))
    }

    /// `system()` and `signal()` can harm the machine: bpftrace asks for
    /// `--unsafe`, and so does rbpf.
    fn require_unsafe(&mut self, name: &ast::Ident) -> Option<()> {
        if self.allow_unsafe {
            return Some(());
        }
        self.error(
            Diagnostic::error(name.span, format!("`{}()` is unsafe", name.name))
                .with_label("needs --unsafe")
                .with_note("run rbpf with --unsafe to allow it"),
        );
        None
    }

    /// A whole map as an argument: `@m`, without keys.
    fn map_arg(&mut self, a: &ast::Expr, function: &str) -> Option<MapId> {
        match &a.kind {
            A::Map { name, keys } if keys.is_empty() => Some(self.map_id(name)),
            _ => {
                self.error(
                    Diagnostic::error(a.span, format!("`{function}()` takes a map, such as `@m`"))
                        .with_label("not a map name"),
                );
                None
            }
        }
    }

    /// `delete(@m[k])` and `delete(@m, k)`.
    fn delete(&mut self, name: &ast::Ident, args: &[ast::Expr], cx: &mut ProbeCx) -> Option<StmtKind> {
        self.arity(name, args, 1, 2)?;
        let (map_name, key_exprs, span) = match (&args[0].kind, args.get(1)) {
            (A::Map { name, keys }, None) => (name, keys.clone(), args[0].span),
            (A::Map { name, keys }, Some(k)) if keys.is_empty() => {
                let keys = match &k.kind {
                    A::Tuple(items) => items.clone(),
                    _ => vec![k.clone()],
                };
                (name, keys, args[0].span.to(k.span))
            }
            _ => {
                self.error(
                    Diagnostic::error(args[0].span, "`delete()` takes a map element, `@m[key]` or `@m, key`")
                        .with_label("not a map element"),
                );
                return None;
            }
        };
        let map = self.map_id(map_name);
        if let Some(v) = &self.maps[map.0].value {
            if !v.is_readable() {
                self.error(
                    Diagnostic::error(span, format!("`delete()` cannot remove one key of {}", v.describe()))
                        .with_label("a histogram or stats map")
                        .with_note("`clear()` empties the whole map"),
                );
                return None;
            }
        }
        self.maps[map.0].element_ops = true;
        let keys = self.map_keys(map, &key_exprs, span, cx)?;
        Some(StmtKind::Delete { map, keys })
    }

    /// `print(@m)`, `print(@m, top, div)` and `print(value)`.
    fn print(&mut self, name: &ast::Ident, args: &[ast::Expr], cx: &mut ProbeCx) -> Option<StmtKind> {
        self.arity(name, args, 1, 3)?;
        if let A::Map { name: map_name, keys } = &args[0].kind {
            if keys.is_empty() {
                let map = self.map_id(map_name);
                let top = match args.get(1) {
                    Some(a) => self.const_arg(a, 0, i64::MAX, "the `top` of `print()`")? as u64,
                    None => 0,
                };
                let div = match args.get(2) {
                    Some(a) => self.const_arg(a, 1, i64::MAX, "the divisor of `print()`")? as u64,
                    None => 1,
                };
                return Some(StmtKind::MapCommand { map, command: MapCommand::Print { top, div } });
            }
        }
        if args.len() > 1 {
            self.error(
                Diagnostic::error(args[1].span, "`print()` of a value takes no other arguments")
                    .with_label("only `print(@map, top, div)` takes these"),
            );
            return None;
        }
        let value = self.expr(&args[0], cx);
        if !(value.ty.is_int() || value.ty.prints_as_string() || value.ty.is_tuple() || value.ty.is_buf()) {
            self.error(Diagnostic::error(value.span, format!("cannot print {}", value.ty)).with_label("no value"));
            return None;
        }
        let id = self.print_values.len();
        self.print_values.push(value.ty.clone());
        Some(StmtKind::PrintValue { id, value })
    }

    fn arity(&mut self, name: &ast::Ident, args: &[ast::Expr], min: usize, max: usize) -> Option<()> {
        if (min..=max).contains(&args.len()) {
            return Some(());
        }
        let want = match (min, max) {
            (0, 0) => "no arguments".to_string(),
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, b) => format!("{a} to {b} arguments"),
        };
        let span = args.first().map_or(name.span, |a| a.span.to(args[args.len() - 1].span));
        self.error(
            Diagnostic::error(span, format!("`{}()` takes {want}, but {} {} given", name.name, args.len(), if args.len() == 1 { "was" } else { "were" }))
                .with_label(format!("expected {want}"))
                .with_secondary(name.span, "in this call"),
        );
        None
    }

    fn printf(&mut self, span: Span, args: &[ast::Expr], cx: &mut ProbeCx) -> Option<StmtKind> {
        let Some((fmt, rest)) = args.split_first() else {
            self.error(
                Diagnostic::error(span, "`printf()` needs a format string")
                    .with_label("no arguments")
                    .with_note("write e.g. `printf(\"%d\\n\", pid)`"),
            );
            return None;
        };
        let A::Str(format_text) = &fmt.kind else {
            self.error(
                Diagnostic::error(fmt.span, "printf's format must be a string literal")
                    .with_label("not a string literal"),
            );
            return None;
        };
        let pieces = match format::parse(format_text) {
            Ok(p) => p,
            Err(e) => {
                self.error(Diagnostic::error(fmt.span, e.message.clone()).with_label("in this format string"));
                return None;
            }
        };
        let convs: Vec<_> = format::conversions(&pieces).cloned().collect();
        // An argument that was refused already needs no second message
        // about its stand-in's type.
        let mut refused = Vec::with_capacity(rest.len());
        let checked: Vec<Expr> = rest
            .iter()
            .map(|a| {
                let before = self.diags.len();
                let e = self.expr(a, cx);
                refused.push(self.diags.len() > before);
                e
            })
            .collect();
        if convs.len() != checked.len() {
            let d = Diagnostic::error(
                span,
                format!(
                    "the format has {} conversion{} but {} argument{} follow{}",
                    convs.len(),
                    if convs.len() == 1 { "" } else { "s" },
                    checked.len(),
                    if checked.len() == 1 { "" } else { "s" },
                    if checked.len() == 1 { "s" } else { "" },
                ),
            )
            .with_label("wrong number of arguments")
            .with_secondary(fmt.span, "the format string");
            self.error(d);
            return None;
        }
        let mut ok = true;
        for ((conv, arg), refused) in convs.iter().zip(&checked).zip(refused) {
            if refused {
                ok = false;
                continue;
            }
            let (fits, want) = if conv.takes_buffer() {
                (arg.ty.is_buf(), "a buffer")
            } else if conv.takes_string() {
                (arg.ty.prints_as_string(), "a string")
            } else {
                (arg.ty.is_int(), "an integer")
            };
            if !fits {
                ok = false;
                let name = match (conv.conv, conv.buffer) {
                    ('r', format::BufferStyle::Escaped) => "rx".to_string(),
                    ('r', format::BufferStyle::Hex) => "rh".to_string(),
                    (c, _) => c.to_string(),
                };
                let mut d = Diagnostic::error(arg.span, format!("`%{name}` needs {want}, but this is {}", arg.ty))
                    .with_label(format!("expected {want}"))
                    .with_secondary(fmt.span, "the format string");
                if arg.ty.is_buf() {
                    d = d.with_note("print a buffer with `%r`, `%rx` or `%rh`");
                } else if conv.takes_buffer() {
                    d = d.with_note("`%r` prints what `buf()` returns");
                }
                self.error(d);
            }
        }
        if !ok {
            return None;
        }
        let id = self.printfs.len();
        self.printfs.push(Printf {
            format: format_text.clone(),
            args: checked.iter().map(|a| a.ty.clone()).collect(),
            span,
        });
        Some(StmtKind::Printf { id, args: checked })
    }

    fn assign(&mut self, target: &ast::Expr, value: &ast::Expr, cx: &mut ProbeCx) -> Option<StmtKind> {
        match &target.kind {
            A::Map { name, keys } => {
                let map = self.map_id(name);
                let keys = self.map_keys(map, keys, target.span, cx)?;
                let (mut update, kind) = self.map_update(value, cx)?;
                if let (MapUpdate::Set(e), Some(MapValue::Plain(ty))) = (&mut update, &self.maps[map.0].value) {
                    fit_to(e, ty);
                }
                self.learn_value(map, kind, value.span);
                Some(StmtKind::MapUpdate { map, keys, update })
            }
            A::Var(name) => {
                let value = self.expr(value, cx);
                if value.ty == Type::Void {
                    self.error(Diagnostic::error(value.span, "this has no value to assign").with_label("no value"));
                    return None;
                }
                let var = self.declare_var(name, &value, cx)?;
                let mut value = value;
                fit_to(&mut value, &cx.vars[var.0].ty);
                Some(StmtKind::VarAssign { var, value })
            }
            _ => {
                self.error(
                    Diagnostic::error(target.span, "only maps (`@x`) and variables (`$x`) can be assigned to")
                        .with_label("cannot assign to this"),
                );
                None
            }
        }
    }

    fn map_update(&mut self, value: &ast::Expr, cx: &mut ProbeCx) -> Option<(MapUpdate, MapValue)> {
        if let A::Call { name, args } = &value.kind {
            let agg = name.name.as_str();
            if agg == "count" {
                self.arity(name, args, 0, 0)?;
                return Some((MapUpdate::Count, MapValue::Count));
            }
            if matches!(agg, "sum" | "min" | "max" | "avg" | "stats") {
                self.arity(name, args, 1, 1)?;
                let arg = self.expr(&args[0], cx);
                self.expect_int(&arg, &format!("`{agg}()`"))?;
                let signed = arg.ty.is_signed();
                return Some(match agg {
                    "sum" => (MapUpdate::Sum(arg), MapValue::Sum { signed }),
                    "min" => (MapUpdate::Min(arg), MapValue::Min { signed }),
                    "max" => (MapUpdate::Max(arg), MapValue::Max { signed }),
                    "stats" => (MapUpdate::Stats(arg), MapValue::Stats { signed }),
                    _ => (MapUpdate::Avg(arg), MapValue::Avg { signed }),
                });
            }
            if agg == "hist" {
                self.arity(name, args, 1, 2)?;
                let arg = self.expr(&args[0], cx);
                self.expect_int(&arg, "`hist()`")?;
                let bits = match args.get(1) {
                    None => 0,
                    Some(k) => self.const_arg(k, 0, 5, "the second argument of `hist()`")? as u8,
                };
                return Some((MapUpdate::Hist(arg), MapValue::Hist { bits }));
            }
            if agg == "lhist" {
                self.arity(name, args, 4, 4)?;
                let arg = self.expr(&args[0], cx);
                self.expect_int(&arg, "`lhist()`")?;
                let min = self.const_arg(&args[1], 0, i64::MAX, "the minimum of `lhist()`")?;
                let max = self.const_arg(&args[2], 0, i64::MAX, "the maximum of `lhist()`")?;
                let step = self.const_arg(&args[3], 1, i64::MAX, "the step of `lhist()`")?;
                if max <= min {
                    self.error(
                        Diagnostic::error(args[2].span, "the maximum of `lhist()` must be above its minimum")
                            .with_label("not above the minimum")
                            .with_secondary(args[1].span, "the minimum"),
                    );
                    return None;
                }
                if (max - min) / step > 1000 {
                    self.error(
                        Diagnostic::error(args[3].span, "`lhist()` would have more than 1000 buckets")
                            .with_label("too small a step for this range"),
                    );
                    return None;
                }
                return Some((MapUpdate::Lhist(arg), MapValue::Lhist { min, max, step }));
            }
        }
        let e = self.expr(value, cx);
        if e.ty == Type::Void {
            self.error(Diagnostic::error(e.span, "this has no value to store in a map").with_label("no value"));
            return None;
        }
        let ty = e.ty.clone();
        Some((MapUpdate::Set(e), MapValue::Plain(ty)))
    }

    /// Whether `a` is a constant below zero: `-N`, or a positional
    /// parameter given as a negative number.
    fn negative_constant(&self, a: &ast::Expr) -> bool {
        match &a.kind {
            A::Unary { op: UnaryOp::Neg, expr } => matches!(expr.kind, A::Int(n) if n > 0),
            A::Positional(n) => self
                .params
                .get(*n as usize - 1)
                .is_some_and(|p| p.trim().starts_with('-') && parse_int(p).is_some_and(|v| v != 0)),
            _ => false,
        }
    }

    /// An argument that must be an integer literal in `lo..=hi`.
    fn const_arg(&mut self, a: &ast::Expr, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let v = match &a.kind {
            A::Int(v) if *v <= i64::MAX as u64 => Some(*v as i64),
            A::Unary { op: UnaryOp::Neg, expr } => match expr.kind {
                A::Int(v) if v <= i64::MAX as u64 => Some(-(v as i64)),
                _ => None,
            },
            A::Positional(n) => self.params.get(*n as usize - 1).and_then(|p| parse_int(p)).map(|v| v as i64),
            _ => None,
        };
        match v {
            Some(v) if (lo..=hi).contains(&v) => Some(v),
            _ => {
                let range = if hi == i64::MAX { format!("of at least {lo}") } else { format!("from {lo} to {hi}") };
                self.error(
                    Diagnostic::error(a.span, format!("{what} must be an integer literal {range}"))
                        .with_label("not a constant in range"),
                );
                None
            }
        }
    }

    fn map_id(&self, name: &str) -> MapId {
        // Every map name was collected before checking.
        self.map_ids[&format!("@{name}")]
    }

    /// Learns or checks a map's value kind.
    fn learn_value(&mut self, map: MapId, kind: MapValue, span: Span) {
        let slot = &mut self.maps[map.0];
        let Some(old) = &slot.value else {
            slot.value = Some(kind);
            slot.value_span = span;
            return;
        };
        let merged = match (old, &kind) {
            (MapValue::Plain(a), MapValue::Plain(b)) if a.fits_map(b) => Some(MapValue::Plain(a.unify(b))),
            (MapValue::Sum { signed: a }, MapValue::Sum { signed: b }) => Some(MapValue::Sum { signed: *a || *b }),
            (MapValue::Min { signed: a }, MapValue::Min { signed: b }) => Some(MapValue::Min { signed: *a || *b }),
            (MapValue::Max { signed: a }, MapValue::Max { signed: b }) => Some(MapValue::Max { signed: *a || *b }),
            (MapValue::Avg { signed: a }, MapValue::Avg { signed: b }) => Some(MapValue::Avg { signed: *a || *b }),
            (MapValue::Count, MapValue::Count) => Some(MapValue::Count),
            (MapValue::Stats { signed: a }, MapValue::Stats { signed: b }) => Some(MapValue::Stats { signed: *a || *b }),
            (MapValue::Hist { bits: a }, MapValue::Hist { bits: b }) if a == b => Some(old.clone()),
            (MapValue::Lhist { .. }, MapValue::Lhist { .. }) if *old == kind => Some(old.clone()),
            _ => None,
        };
        match merged {
            Some(m) => slot.value = Some(m),
            None => {
                let (name, first, old) = (slot.name.clone(), slot.value_span, old.describe());
                if span != first {
                    self.error(
                        Diagnostic::error(span, format!("map `{name}` already holds {old}, so it cannot hold {}", kind.describe()))
                            .with_label("conflicting value")
                            .with_secondary(first, "its value is set here"),
                    );
                }
            }
        }
    }

    /// Checks the keys of a map access and learns or checks the key types.
    fn map_keys(&mut self, map: MapId, keys: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<Vec<Expr>> {
        let keys = tuple::flatten_tuple_key(keys.iter().map(|k| self.expr(k, cx)).collect());
        for k in &keys {
            if !(k.ty.is_int() || k.ty.prints_as_string() || k.ty.is_tuple() || k.ty.is_buf()) {
                self.error(Diagnostic::error(k.span, format!("a {} cannot be a map key", k.ty)).with_label("not a valid key"));
                return None;
            }
        }
        let types: Vec<Type> = keys.iter().map(|k| k.ty.clone()).collect();
        let slot = &mut self.maps[map.0];
        match &slot.key {
            None => {
                slot.key = Some(types);
                slot.key_span = span;
            }
            Some(old) => {
                let same = old.len() == types.len() && old.iter().zip(&types).all(|(a, b)| a.fits_map(b));
                if same {
                    slot.key = Some(old.iter().zip(&types).map(|(a, b)| a.unify(b)).collect());
                } else if slot.key_span != span {
                    let describe = |t: &[Type]| match t.len() {
                        0 => "no key".to_string(),
                        _ => format!("[{}]", t.iter().map(Type::to_string).collect::<Vec<_>>().join(", ")),
                    };
                    let (name, first, old) = (slot.name.clone(), slot.key_span, describe(old));
                    self.error(
                        Diagnostic::error(span, format!("map `{name}` is used with key {} here, but with key {old} before", describe(&types)))
                            .with_label("conflicting key type")
                            .with_secondary(first, "first used here")
                            .with_note("a map's keys must have the same types everywhere"),
                    );
                    return None;
                }
            }
        }
        Some(keys)
    }

    fn declare_var(&mut self, name: &str, value: &Expr, cx: &mut ProbeCx) -> Option<VarId> {
        let var_name = format!("${name}");
        let key = (cx.index, var_name.clone());
        // The first pass learnt the widest type this variable takes.
        let ty = match self.var_types.get(&key) {
            Some(t) if t.compatible(&value.ty) => t.unify(&value.ty),
            Some(t) => {
                let t = t.clone();
                self.error(
                    Diagnostic::error(value.span, format!("`{var_name}` holds {t}, so it cannot be assigned {}", value.ty))
                        .with_label("conflicting type"),
                );
                return None;
            }
            None => value.ty.clone(),
        };
        self.var_types.insert(key, ty.clone());
        if let Some(&id) = cx.var_ids.get(&var_name) {
            cx.vars[id.0].ty = ty;
            return Some(id);
        }
        let id = VarId(cx.vars.len());
        cx.vars.push(Var { name: var_name.clone(), ty });
        cx.var_ids.insert(var_name, id);
        Some(id)
    }

    /// The text `str()` reads when its argument is known when the program is
    /// compiled: a string literal, a positional parameter (`str($1)`, its
    /// text even when it looks like a number; a missing parameter is ""), or a positional parameter plus a constant
    /// offset (`str($1 + 2)`, the text from its third byte). `Ok(None)` means
    /// the argument is read at run time.
    fn literal_str_arg(&mut self, arg: &ast::Expr) -> Option<Option<String>> {
        use ast::ExprKind as A;
        let param = |s: &Self, n: u32| s.params.get(n as usize - 1).cloned().unwrap_or_default();
        match &arg.kind {
            A::Str(text) => Some(Some(text.clone())),
            // bpftrace gives the parameter's text also when it looks like
            // a number: `str($1)` of `8080` is "8080".
            A::Positional(n) => Some(Some(param(self, *n))),
            A::Binary { op: BinaryOp::Add, lhs, rhs } => {
                let (A::Positional(n), A::Int(offset)) = (&lhs.kind, &rhs.kind) else {
                    return Some(None);
                };
                let text = param(self, *n);
                if *offset > text.len() as u64 {
                    self.error(
                        Diagnostic::error(
                            rhs.span,
                            format!("`str(${n} + N)` needs N at most the length of ${n}, which is {}", text.len()),
                        )
                        .with_label("past the end of the parameter"),
                    );
                    return None;
                }
                Some(Some(text[*offset as usize..].to_string()))
            }
            _ => Some(None),
        }
    }

    /// `str()` of a text known at compile time: at most `max_strlen - 1`
    /// bytes, or the first `n` bytes with a constant length `n`.
    fn str_of_literal(&mut self, text: String, len: Option<&ast::Expr>, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let mut keep = text.len().min(self.strlen.saturating_sub(1) as usize);
        if let Some(len) = len {
            let l = self.expr(len, cx);
            let ExprKind::Int(n) = l.kind else {
                self.error(
                    Diagnostic::error(l.span, "`str()` of a literal takes a constant length")
                        .with_label("not a constant"),
                );
                return None;
            };
            keep = keep.min(n as usize);
        }
        let mut end = keep;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = text[..end].to_string();
        let size = text.len() as u32 + 1;
        Some((ExprKind::Str(text), Type::Str { size }))
    }

    fn expect_str(&mut self, e: &Expr, what: &str) -> Option<()> {
        self.expect(e, e.ty.is_str(), what, "a string")
    }

    fn expect_int(&mut self, e: &Expr, what: &str) -> Option<()> {
        self.expect(e, e.ty.is_int(), what, "an integer")
    }

    /// Reports `what needs WANT, but this is TYPE` unless `fits`.
    fn expect(&mut self, e: &Expr, fits: bool, what: &str, want: &str) -> Option<()> {
        if fits {
            return Some(());
        }
        self.error(
            Diagnostic::error(e.span, format!("{what} needs {want}, but this is {}", e.ty))
                .with_label(format!("expected {want}")),
        );
        None
    }

    fn expr(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Expr {
        let span = e.span;
        let (kind, ty) = match self.expr_kind(e, cx) {
            Some(kt) => kt,
            // An error was reported; go on with a harmless stand-in so the
            // rest of the program is still checked.
            None => (ExprKind::Int(0), Type::I64),
        };
        Expr { kind, ty, span }
    }

    fn expr_kind(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let span = e.span;
        Some(match &e.kind {
            // bpftrace types every integer literal int64: 0xffffffffffffffff is -1.
            A::Int(v) => (ExprKind::Int(*v), Type::I64),
            A::Bool(b) => (ExprKind::Int(u64::from(*b)), Type::U64),
            A::Str(s) => (ExprKind::Str(s.clone()), Type::Str { size: s.len() as u32 + 1 }),
            A::Ident(name) => return self.builtin(name, span, cx),
            A::Var(name) => {
                let var_name = format!("${name}");
                let Some(&id) = cx.var_ids.get(&var_name) else {
                    self.error(
                        Diagnostic::error(span, format!("unknown variable `{var_name}`"))
                            .with_label("not assigned before this use")
                            .with_note(format!("assign it first in this probe, e.g. `{var_name} = 0;`")),
                    );
                    return None;
                };
                (ExprKind::Var(id), cx.vars[id.0].ty.clone())
            }
            A::Map { name, keys } => {
                let map = self.map_id(name);
                let keys = self.map_keys(map, keys, span, cx)?;
                let value = self.maps[map.0].value.clone();
                let ty = match value {
                    Some(MapValue::Plain(Type::Inet)) => {
                        self.error(
                            Diagnostic::error(span, "an address stored in a map cannot be read back")
                                .with_label("holds an ntop() value")
                                .with_note("keep it in a variable, or print the map"),
                        );
                        return None;
                    }
                    Some(MapValue::Plain(t)) => t,
                    // Not known yet in the first pass; the second pass knows.
                    None if self.pass == Pass::Infer => Type::I64,
                    None => Type::I64,
                    Some(MapValue::Count) => Type::U64,
                    Some(
                        MapValue::Sum { signed } | MapValue::Min { signed } | MapValue::Max { signed } | MapValue::Avg { signed },
                    ) => Type::Int { bits: 64, signed },
                    Some(agg) => {
                        self.error(
                            Diagnostic::error(span, format!("the value of {} cannot be read in an expression", agg.describe()))
                                .with_label("a histogram or stats map")
                                .with_note("print it with `print()`, or read a count(), sum(), min(), max() or avg() map"),
                        );
                        return None;
                    }
                };
                (ExprKind::MapRead { map, keys }, ty)
            }
            A::Call { name, args } => return self.call_expr(name, args, span, cx),
            A::Unary { op, expr } => {
                let inner = self.expr(expr, cx);
                let ty = match op {
                    UnaryOp::Neg | UnaryOp::BitNot => {
                        self.expect_int(&inner, &format!("`{}`", if *op == UnaryOp::Neg { "-" } else { "~" }))?;
                        Type::Int { bits: 64, signed: *op == UnaryOp::Neg || inner.ty.is_signed() }
                    }
                    UnaryOp::Not => {
                        self.expect_int(&inner, "`!`")?;
                        Type::U64
                    }
                    UnaryOp::Deref | UnaryOp::AddrOf => {
                        self.unavailable(span, "pointer dereference and address-of");
                        return None;
                    }
                };
                (ExprKind::Unary { op: *op, expr: Box::new(inner) }, ty)
            }
            A::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs, cx);
                let r = self.expr(rhs, cx);
                if l.ty.is_str() && r.ty.is_str() && matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                    let ne = *op == BinaryOp::Ne;
                    return Some((ExprKind::StrEq { lhs: Box::new(l), rhs: Box::new(r), ne }, Type::U64));
                }
                if l.ty.is_str() || r.ty.is_str() {
                    let which = if l.ty.is_str() { &l } else { &r };
                    self.error(
                        Diagnostic::error(which.span, format!("`{}` needs integers, but this is {}", op.symbol(), which.ty))
                            .with_label("expected an integer"),
                    );
                    return None;
                }
                self.expect_int(&l, &format!("`{}`", op.symbol()))?;
                self.expect_int(&r, &format!("`{}`", op.symbol()))?;
                let ty = if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                    Type::U64
                } else {
                    Type::Int { bits: 64, signed: l.ty.is_signed() && r.ty.is_signed() }
                };
                (ExprKind::Binary { op: *op, lhs: Box::new(l), rhs: Box::new(r) }, ty)
            }
            A::Field { expr, field, .. } => return self.field(expr, field, span, cx),
            A::Positional(n) => {
                let text = self.params.get(*n as usize - 1).cloned().unwrap_or_default();
                match parse_int(&text) {
                    Some(v) => (ExprKind::Int(v), if v > i64::MAX as u64 { Type::U64 } else { Type::I64 }),
                    // A parameter that is not a number is a string; one
                    // not given reads as 0 (and as "" in `str($N)`).
                    None if text.is_empty() => (ExprKind::Int(0), Type::I64),
                    None => (ExprKind::Str(text.clone()), Type::Str { size: text.len() as u32 + 1 }),
                }
            }
            A::PositionalCount => (ExprKind::Int(self.params.len() as u64), Type::I64),
            A::Ternary { cond, then, else_ } => {
                let cond = self.expr(cond, cx);
                self.expect_int(&cond, "a `?:` condition")?;
                let a = self.expr(then, cx);
                let b = self.expr(else_, cx);
                let ty = match (&a.ty, &b.ty) {
                    (x, y) if x.is_int() && y.is_int() => x.unify(y),
                    (Type::Str { .. }, Type::Str { .. }) => a.ty.unify(&b.ty),
                    (x, y) if x.is_buf() || y.is_buf() => {
                        let which = if x.is_buf() { &a } else { &b };
                        self.error(
                            Diagnostic::error(which.span, "`?:` cannot choose a buffer")
                                .with_label(format!("this is {}", which.ty))
                                .with_note("as in bpftrace, the branches must be integers or strings"),
                        );
                        return None;
                    }
                    _ => {
                        self.error(
                            Diagnostic::error(span, format!("the branches of `?:` have different types: {} and {}", a.ty, b.ty))
                                .with_label("both must be integers or both strings")
                                .with_secondary(a.span, format!("this is {}", a.ty))
                                .with_secondary(b.span, format!("this is {}", b.ty)),
                        );
                        return None;
                    }
                };
                (ExprKind::Ternary { cond: Box::new(cond), then: Box::new(a), else_: Box::new(b) }, ty)
            }
            A::Cast { ty, expr } => {
                let inner = self.expr(expr, cx);
                let Some(target) = int_type(&ty.name).filter(|_| ty.pointer == 0) else {
                    self.error(
                        Diagnostic::error(ty.span, format!("cannot cast to `{}`", ty.name))
                            .with_label("not an integer type")
                            .with_note("integer casts are: (uint8) (uint16) (uint32) (uint64) (int8) (int16) (int32) (int64)"),
                    );
                    return None;
                };
                self.expect_int(&inner, "a cast")?;
                (ExprKind::Cast(Box::new(inner)), target)
            }
            A::Sizeof(arg) => {
                let size = match arg.as_ref() {
                    ast::SizeofArg::Type(t) if t.pointer > 0 => 8,
                    ast::SizeofArg::Type(t) => match int_type(&t.name) {
                        Some(Type::Int { bits, .. }) => u64::from(bits / 8),
                        _ => {
                            self.error(
                                Diagnostic::error(t.span, format!("unknown type `{}`", t.name))
                                    .with_label("not a type rbpf knows"),
                            );
                            return None;
                        }
                    },
                    ast::SizeofArg::Expr(e) => {
                        let e = self.expr(e, cx);
                        match e.ty {
                            Type::Int { bits, .. } => u64::from(bits / 8),
                            Type::Ptr { .. } => 8,
                            Type::Str { size } => u64::from(size),
                            other => u64::from(other.stored_size()),
                        }
                    }
                };
                (ExprKind::Int(size), Type::U64)
            }
            A::Tuple(items) => return self.tuple(items, cx),
            A::TupleIndex { expr, index, index_span } => return self.tuple_index(expr, *index, *index_span, span, cx),
            A::Index { expr, index } => return self.index(expr, index, span, cx),
            A::IncDec { expr, increment, prefix } => {
                let delta = if *increment { 1 } else { -1 };
                if let A::Map { name, keys } = &expr.kind {
                    let map = self.map_id(name);
                    self.maps[map.0].element_ops = true;
                    let keys = self.map_keys(map, keys, expr.span, cx)?;
                    self.learn_value(map, MapValue::Plain(Type::I64), span);
                    if !matches!(self.maps[map.0].value, Some(MapValue::Plain(Type::Int { .. }))) {
                        return None;
                    }
                    return Some((ExprKind::MapIncDec { map, keys, delta, prefix: *prefix }, Type::I64));
                }
                if !matches!(expr.kind, A::Var(_)) {
                    self.error(
                        Diagnostic::error(expr.span, "`++` and `--` need a variable or a map entry")
                            .with_label("not a variable or map entry"),
                    );
                    return None;
                }
                let var = self.expr(expr, cx);
                self.expect_int(&var, if *increment { "`++`" } else { "`--`" })?;
                let ExprKind::Var(id) = var.kind else { return None };
                (ExprKind::VarIncDec { var: id, delta, prefix: *prefix }, var.ty)
            }
        })
    }

    fn unavailable_expr(&mut self, span: Span, what: &str) -> Option<(ExprKind, Type)> {
        self.unavailable(span, what);
        None
    }

    fn builtin(&mut self, name: &str, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let b = match name {
            "pid" => Builtin::Pid,
            "tid" => Builtin::Tid,
            "uid" => Builtin::Uid,
            "gid" => Builtin::Gid,
            "comm" => Builtin::Comm,
            "nsecs" => Builtin::Nsecs,
            "elapsed" => Builtin::Elapsed,
            "cpu" => Builtin::Cpu,
            "rand" => Builtin::Rand,
            "cgroup" => Builtin::Cgroup,
            "jiffies" => Builtin::Jiffies,
            "numaid" => Builtin::NumaId,
            "ncpus" => return Some((ExprKind::Int(u64::from(self.ncpus)), Type::U64)),
            "cpid" => {
                let Some(cpid) = self.cpid else {
                    self.error(
                        Diagnostic::error(span, "`cpid` is the pid of a child command, and there is none")
                            .with_label("no child command")
                            .with_note("run the command with -c 'CMD'"),
                    );
                    return None;
                };
                return Some((ExprKind::Int(u64::from(cpid)), Type::U32));
            }
            "username" => {
                let uid = Expr { kind: ExprKind::Builtin(Builtin::Uid), ty: Type::U32, span };
                return Some((ExprKind::Retype(Box::new(uid)), Type::Username));
            }
            "probe" => {
                let probe = cx.resolved.name.clone();
                let size = (probe.len() as u32 + 1).max(self.strlen);
                return Some((ExprKind::Str(probe), Type::Str { size }));
            }
            "retval" | "arg0" | "arg1" | "arg2" | "arg3" | "arg4" | "arg5" if cx.map_loops > 0 => {
                // A loop body is a callback without the probe's context.
                self.error(
                    Diagnostic::error(span, format!("`{name}` is not available inside a `for` loop over a map"))
                        .with_label("inside a loop over a map")
                        .with_note("read it into a variable before the loop"),
                );
                return None;
            }
            "retval" if cx.resolved.kind.is_return() && cx.resolved.kind.has_registers() => {
                return Some((ExprKind::Retval, Type::U64));
            }
            "retval" if cx.resolved.kind.is_return() => {
                let ProbeKind::Fentry { function, func, .. } = &cx.resolved.kind else { return None };
                let Some(f) = &function.retval else {
                    self.error(
                        Diagnostic::error(span, format!("`{func}` returns nothing (void)"))
                            .with_label("no return value to read"),
                    );
                    return None;
                };
                let f = f.clone();
                let ty = self.field_type(&f, false, span)?;
                return Some((ExprKind::TracepointField(f), ty));
            }
            "retval" => {
                self.error(
                    Diagnostic::error(span, format!("`retval` is not available in `{}`", cx.resolved.name))
                        .with_label("only return probes have a return value"),
                );
                return None;
            }
            "func" if matches!(cx.resolved.kind, ProbeKind::KprobeMulti { .. }) => {
                return Some((ExprKind::FuncIp, Type::Ksym));
            }
            "func" => {
                let Some(func) = cx.resolved.kind.function() else {
                    self.error(
                        Diagnostic::error(span, format!("`func` is not known in `{}`", cx.resolved.name))
                            .with_label("this probe is not in a named function"),
                    );
                    return None;
                };
                let func = func.to_string();
                let size = (func.len() as u32 + 1).max(self.strlen);
                return Some((ExprKind::Str(func), Type::Str { size }));
            }
            arg if arg.strip_prefix("arg").is_some_and(|n| n.parse::<u8>().is_ok()) => {
                let n: u8 = arg[3..].parse().unwrap_or(0);
                if matches!(cx.resolved.kind, ProbeKind::RawTracepoint { .. }) {
                    return self.raw_tracepoint_arg(n, arg, span);
                }
                if !cx.resolved.kind.has_registers() {
                    self.error(
                        Diagnostic::error(span, format!("`{arg}` is not available in `{}`", cx.resolved.name))
                            .with_label("only kprobes, uprobes and usdt probes have argN")
                            .with_note("tracepoints and fentry name their arguments: `args.NAME`"),
                    );
                    return None;
                }
                if let ProbeKind::Usdt { args, .. } = &cx.resolved.kind {
                    let Some(spec) = args.get(usize::from(n)) else {
                        let has = match args.len() {
                            0 => "no arguments".to_string(),
                            1 => "1 argument: arg0".to_string(),
                            2 => "2 arguments: arg0 and arg1".to_string(),
                            k => format!("{k} arguments: arg0 to arg{}", k - 1),
                        };
                        self.error(
                            Diagnostic::error(span, format!("`{}` has no `{arg}`", cx.resolved.name))
                                .with_label(format!("this probe has {has}")),
                        );
                        return None;
                    };
                    if let crate::probes::UsdtArgLocation::Unsupported(operand) = &spec.location {
                        self.error(
                            Diagnostic::error(span, format!("`{arg}` of `{}` is in a form rbpf cannot read", cx.resolved.name))
                                .with_label(format!("its note says `{operand}`"))
                                .with_note("rbpf reads registers, memory at a register plus an offset, globals (`sym(%rip)`) and constants"),
                        );
                        return None;
                    }
                    return Some((ExprKind::UsdtArg(spec.clone()), Type::U64));
                }
                if n >= 6 {
                    self.error(
                        Diagnostic::error(span, format!("`{arg}` is not in a register"))
                            .with_label("the first six arguments are arg0 to arg5"),
                    );
                    return None;
                }
                return Some((ExprKind::Arg(n), Type::U64));
            }
            "args" => {
                self.error(
                    Diagnostic::error(span, "`args` is a record: use one of its fields")
                        .with_label("write `args.FIELD`"),
                );
                return None;
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("unknown builtin `{name}`"))
                        .with_label("not a builtin variable")
                        .with_note("builtins are: pid, tid, uid, gid, comm, nsecs, elapsed, cpu, rand, cgroup, jiffies, numaid, ncpus, username, probe, func, args, arg0 to arg5, retval"),
                );
                return None;
            }
        };
        let ty = match b {
            Builtin::Comm => Type::Str { size: COMM_LEN },
            Builtin::Nsecs | Builtin::Elapsed => Type::U64,
            Builtin::Pid | Builtin::Tid | Builtin::Uid | Builtin::Gid | Builtin::Cpu | Builtin::Rand | Builtin::NumaId => {
                Type::U32
            }
            Builtin::Cgroup | Builtin::Jiffies => Type::U64,
        };
        if b == Builtin::Elapsed {
            self.uses_elapsed = true;
        }
        Some((ExprKind::Builtin(b), ty))
    }

    /// `argN` of a raw tracepoint: the Nth u64 of its context, which the
    /// kernel lays out as the tracepoint's arguments, one per slot.
    fn raw_tracepoint_arg(&mut self, n: u8, arg: &str, span: Span) -> Option<(ExprKind, Type)> {
        // The kernel passes raw tracepoints at most 12 arguments
        // (bpf_trace_run1 to bpf_trace_run12).
        if n >= 12 {
            self.error(
                Diagnostic::error(span, format!("`{arg}` is past a raw tracepoint's arguments"))
                    .with_label("raw tracepoints have at most twelve arguments, arg0 to arg11"),
            );
            return None;
        }
        let field = TracepointField {
            name: arg.to_string(),
            c_type: "u64".into(),
            offset: 8 * u32::from(n),
            size: 8,
            signed: false,
            kind: FieldKind::Int,
        };
        Some((ExprKind::TracepointField(field), Type::U64))
    }

    fn field(&mut self, base: &ast::Expr, field: &ast::Ident, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let (f, user) = self.resolve_field(base, field, span, cx)?;
        let ty = self.field_type(&f, user, field.span)?;
        Some((ExprKind::TracepointField(f), ty))
    }

    /// `args.NAME[i]`: element `i` of an array field, read as an integer of
    /// the element's C type. The index is a constant, checked against the
    /// array's length here, so the read stays inside the record.
    fn index(&mut self, base: &ast::Expr, index: &ast::Expr, span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        let A::Field { expr, field, .. } = &base.kind else {
            return self.unavailable_expr(span, "indexing anything but an array field of `args`");
        };
        let (f, _) = self.resolve_field(expr, field, base.span, cx)?;
        let Some((element, count)) = array_element(&f) else {
            self.error(
                Diagnostic::error(base.span, format!("`{}` ({}) is not an array", f.name, f.c_type))
                    .with_label("only array fields can be indexed"),
            );
            return None;
        };
        let i = self.const_arg(index, 0, i64::from(count) - 1, &format!("the index of `{}` ({})", f.name, f.c_type))? as u32;
        let f = TracepointField {
            name: format!("{}[{i}]", f.name),
            c_type: element.c_type,
            offset: f.offset + i * element.size,
            size: element.size,
            signed: element.signed,
            kind: FieldKind::Int,
        };
        let ty = Type::Int { bits: (f.size * 8) as u8, signed: f.signed };
        Some((ExprKind::TracepointField(f), ty))
    }

    /// The field `args.NAME` names, and whether it points to user memory.
    fn resolve_field(&mut self, base: &ast::Expr, field: &ast::Ident, span: Span, cx: &mut ProbeCx) -> Option<(TracepointField, bool)> {
        if base.kind != A::Ident("args".into()) {
            self.unavailable(span, "field access on anything but `args`");
            return None;
        }
        if cx.map_loops > 0 {
            // The loop's body is a callback of bpf_for_each_map_elem, which
            // has no pointer to the probe's context; bpftrace refuses too.
            self.error(
                Diagnostic::error(base.span, "`args` is not available inside a `for` loop over a map")
                    .with_label("inside a loop over a map")
                    .with_note("read it into a variable before the loop"),
            );
            return None;
        }
        let (what, format, user) = match &cx.resolved.kind {
            ProbeKind::Tracepoint { category, name, format, .. } => {
                (format!("tracepoint `{category}:{name}`"), format, category == "syscalls")
            }
            ProbeKind::Fentry { func, function, .. } => (format!("function `{func}`"), &function.args, false),
            _ => {
                self.error(
                    Diagnostic::error(base.span, format!("`args` is not available in a `{}` probe", cx.resolved.name))
                        .with_label("this probe has no arguments")
                        .with_note("probes on functions read their arguments as arg0, arg1, ..."),
                );
                return None;
            }
        };
        let Some(f) = format.field(&field.name).cloned() else {
            let known: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
            let part = if what.starts_with("tracepoint") { "field" } else { "argument" };
            self.error(
                Diagnostic::error(field.span, format!("{what} has no {part} `{}`", field.name))
                    .with_label(format!("no such {part}"))
                    .with_note(format!("its {part}s are: {}", known.join(", "))),
            );
            return None;
        };
        Some((f, user))
    }

    /// `args.NAME` when it is an array of 4 or 16 bytes (an IPv4 or IPv6
    /// address), typed as a buffer of that size; `None` for anything else,
    /// which the caller checks as an expression.
    fn address_field(&mut self, e: &ast::Expr, cx: &mut ProbeCx) -> Option<Expr> {
        let A::Field { expr, field, .. } = &e.kind else { return None };
        if expr.kind != A::Ident("args".into()) || cx.map_loops > 0 {
            return None;
        }
        let format = match &cx.resolved.kind {
            ProbeKind::Tracepoint { format, .. } => format,
            _ => return None,
        };
        let f = format.field(&field.name)?;
        let (element, _) = array_element(f)?;
        if element.size != 1 || !matches!(f.size, 4 | 16) {
            return None;
        }
        Some(Expr { kind: ExprKind::TracepointField(f.clone()), ty: Type::Buf { size: f.size }, span: e.span })
    }

    /// The type a tracepoint field or function argument reads as.
    fn field_type(&mut self, f: &TracepointField, user: bool, span: Span) -> Option<Type> {
        let ty = match f.kind {
            FieldKind::Int if matches!(f.size, 1 | 2 | 4 | 8) => Type::Int { bits: (f.size * 8) as u8, signed: f.signed },
            FieldKind::Pointer { to_char } => Type::Ptr { to_char, user },
            FieldKind::Array { chars: true } => Type::Str { size: f.size },
            FieldKind::DataLoc { chars: true } => Type::Str { size: self.strlen },
            _ => {
                self.error(
                    Diagnostic::error(span, format!("`{}` ({}) cannot be read by this build of rbpf", f.name, f.c_type))
                        .with_label("unsupported type"),
                );
                return None;
            }
        };
        Some(ty)
    }

    fn call_expr(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span, cx: &mut ProbeCx) -> Option<(ExprKind, Type)> {
        match name.name.as_str() {
            "str" => {
                self.arity(name, args, 1, 2)?;
                // bpftrace refuses a negative constant length; read at run
                // time, it would be taken as a huge unsigned one.
                if let Some(len) = args.get(1).filter(|a| self.negative_constant(a)) {
                    self.error(
                        Diagnostic::error(len.span, "`str()` cannot take a negative length")
                            .with_label("negative")
                            .with_note("the length is how many bytes to read, at most the string length (64 unless set)"),
                    );
                    return None;
                }
                // After an error, an empty string stands in so that the
                // error does not cascade into "needs a string" ones.
                let literal = self.literal_str_arg(&args[0]).unwrap_or(Some(String::new()));
                if let Some(text) = literal {
                    return self.str_of_literal(text, args.get(1), cx);
                }
                let ptr = self.expr(&args[0], cx);
                let len = match args.get(1) {
                    Some(a) => {
                        let l = self.expr(a, cx);
                        self.expect_int(&l, "the length of `str()`")?;
                        Some(Box::new(l))
                    }
                    None => None,
                };
                if ptr.ty.is_str() {
                    // str() of a string is the string itself, cut to the
                    // length when there is one.
                    let Some(len) = len else {
                        return Some((ptr.kind, ptr.ty));
                    };
                    let size = match len.kind {
                        ExprKind::Int(n) => u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1).min(ptr.ty.stored_size()),
                        _ => ptr.ty.stored_size(),
                    };
                    return Some((ExprKind::StrPrefix { str: Box::new(ptr), len }, Type::Str { size }));
                }
                self.expect_int(&ptr, "`str()`")?;
                // A constant length shrinks the buffer, as in bpftrace.
                let size = match len.as_deref().map(|l| &l.kind) {
                    Some(ExprKind::Int(n)) => (*n as u32).saturating_add(1).min(self.strlen),
                    _ => self.strlen,
                };
                Some((ExprKind::StrRead { ptr: Box::new(ptr), len }, Type::Str { size }))
            }
            "strftime" => {
                self.arity(name, args, 2, 2)?;
                let A::Str(format) = &args[0].kind else {
                    self.error(
                        Diagnostic::error(args[0].span, "`strftime()` takes a format string literal")
                            .with_label("not a string literal"),
                    );
                    return None;
                };
                let nsecs = self.expr(&args[1], cx);
                self.expect_int(&nsecs, "`strftime()`")?;
                let format_id = self.time_formats.len() as u32;
                self.time_formats.push(format.clone());
                Some((ExprKind::Retype(Box::new(nsecs)), Type::Timestamp { format: format_id }))
            }
            "ntop" => {
                self.arity(name, args, 1, 2)?;
                let addr_arg = args.last()?;
                // An address held in a byte array field (`__u8 saddr[4]`,
                // `__u8 saddr_v6[16]`): its bytes, and without a family,
                // the family its size says, as bpftrace does.
                let bytes = self.address_field(addr_arg, cx);
                let (af, addr) = match args {
                    [addr] => {
                        let family = if bytes.as_ref().is_some_and(|b| b.ty == Type::Buf { size: 16 }) { AF_INET6 } else { AF_INET };
                        let addr = bytes.unwrap_or_else(|| self.expr(addr, cx));
                        (Expr { kind: ExprKind::Int(family), ty: Type::U64, span: addr.span }, addr)
                    }
                    [af, addr] => {
                        let af = self.expr(af, cx);
                        self.expect_int(&af, "the address family of `ntop()`")?;
                        (af, bytes.unwrap_or_else(|| self.expr(addr, cx)))
                    }
                    _ => return None,
                };
                if !matches!(addr.ty, Type::Buf { .. }) {
                    self.expect_int(&addr, "`ntop()` of an IPv4 address")?;
                }
                Some((ExprKind::Ntop { af: Box::new(af), addr: Box::new(addr) }, Type::Inet))
            }
            "strlen" => {
                self.arity(name, args, 1, 1)?;
                let s = self.expr(&args[0], cx);
                self.expect_str(&s, "`strlen()`")?;
                Some((ExprKind::StrLen(Box::new(s)), Type::U64))
            }
            "strncmp" => {
                self.arity(name, args, 3, 3)?;
                let a = self.expr(&args[0], cx);
                let b = self.expr(&args[1], cx);
                self.expect_str(&a, "`strncmp()`")?;
                self.expect_str(&b, "`strncmp()`")?;
                let n = self.const_arg(&args[2], 0, i64::from(MAX_STRLEN), "the length of `strncmp()`")? as u32;
                Some((ExprKind::StrNCmp { lhs: Box::new(a), rhs: Box::new(b), n }, Type::U64))
            }
            "strcontains" => {
                self.arity(name, args, 2, 2)?;
                let h = self.expr(&args[0], cx);
                let n = self.expr(&args[1], cx);
                self.expect_str(&h, "`strcontains()`")?;
                self.expect_str(&n, "`strcontains()`")?;
                Some((ExprKind::StrContains { haystack: Box::new(h), needle: Box::new(n) }, Type::U64))
            }
            "bswap" => {
                self.arity(name, args, 1, 1)?;
                let x = self.expr(&args[0], cx);
                self.expect_int(&x, "`bswap()`")?;
                let ty = match x.ty {
                    Type::Int { bits, .. } => Type::Int { bits, signed: false },
                    _ => Type::U64,
                };
                Some((ExprKind::Bswap(Box::new(x)), ty))
            }
            "has_key" => {
                self.arity(name, args, 2, 2)?;
                let A::Map { name: map_name, keys } = &args[0].kind else {
                    self.map_arg(&args[0], "has_key")?;
                    return None;
                };
                if !keys.is_empty() {
                    self.map_arg(&args[0], "has_key")?;
                }
                let map = self.map_id(map_name);
                let key_exprs = match &args[1].kind {
                    A::Tuple(items) => items.clone(),
                    _ => vec![args[1].clone()],
                };
                let keys = self.map_keys(map, &key_exprs, args[0].span.to(args[1].span), cx)?;
                Some((ExprKind::HasKey { map, keys }, Type::U64))
            }
            "buf" => self.buf(name, args, cx),
            "len" => {
                self.arity(name, args, 1, 1)?;
                let map = self.map_arg(&args[0], "len")?;
                self.maps[map.0].element_ops = true;
                Some((ExprKind::MapLen(map), Type::I64))
            }
            "printf" | "exit" | "delete" | "clear" | "zero" | "print" | "signal" | "system" | "cat" | "time" | "join" => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` has no value", name.name))
                        .with_label("use it as a statement"),
                );
                None
            }
            "count" | "sum" | "min" | "max" | "avg" | "stats" | "hist" | "lhist" => {
                self.error(
                    Diagnostic::error(span, format!("`{}()` must be assigned to a map", name.name))
                        .with_label("not directly in an expression")
                        .with_note(format!("write e.g. `@x = {}(...)`", name.name)),
                );
                None
            }
            other => {
                self.error(
                    Diagnostic::error(name.span, format!("unknown function `{other}`"))
                        .with_label("not a function rbpf knows")
                        .with_note(format!("functions are: {}", FUNCTIONS.join(", "))),
                );
                None
            }
        }
    }
}

/// The type of a map key part or value as `$kv` of a `for` loop holds it:
/// the loop copies the key as the map stores it, each part taking a whole
/// number of u64s, so strings are widened to that size (a string reads up
/// to its NUL, so the extra bytes change nothing but the layout).
fn padded(t: &Type) -> Type {
    match t {
        Type::Str { size } => Type::Str { size: size.div_ceil(8) * 8 },
        other => other.clone(),
    }
}

/// Every function, for the note on an unknown one.
const FUNCTIONS: &[&str] = &[
    "printf", "print", "str", "exit", "count", "sum", "min", "max", "avg", "stats", "hist", "lhist", "delete",
    "clear", "zero", "has_key", "len", "strlen", "strncmp", "strcontains", "bswap", "time", "strftime", "ntop", "cat",
    "system", "signal", "buf", "join",
];

/// Address families, as `ntop()` takes them.
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

/// The element of an array field: its C type, size and signedness.
struct ArrayElement {
    c_type: String,
    size: u32,
    signed: bool,
}

/// The element type of an array field (`unsigned long[6]`, `__u8[4]`) and
/// the array's length; `None` for a field that is not a fixed array.
fn array_element(f: &TracepointField) -> Option<(ArrayElement, u32)> {
    if !matches!(f.kind, FieldKind::Array { .. }) {
        return None;
    }
    let (base, rest) = f.c_type.split_once('[')?;
    let count: u32 = rest.trim_end_matches(']').trim().parse().ok().filter(|n| *n > 0)?;
    let size = f.size / count;
    if !matches!(size, 1 | 2 | 4 | 8) || size * count != f.size {
        return None;
    }
    let base = base.replace("const", "").replace("volatile", "");
    let base = base.trim();
    // Signed as C types it: `char` and the plain integer types are, the
    // unsigned ones (`unsigned long`, `__u8`, `u32`, `size_t`) and pointers are not.
    let unsigned = base.contains("unsigned")
        || base.starts_with("__u")
        || base.starts_with('u')
        || base.ends_with('*')
        || matches!(base, "size_t" | "bool" | "_Bool");
    Some((ArrayElement { c_type: base.to_string(), size, signed: !unsigned }, count))
}

/// A signal by name (`SIGKILL`, `KILL`) or number.
/// Why a probe has no task `signal()` could mean, as bpftrace 0.17 judges
/// it: BEGIN and END run in rbpf itself (through BPF_PROG_TEST_RUN, so a
/// signal would hit rbpf), and timers, software and hardware counters and
/// watchpoints fire in whatever task the CPU happens to run.
fn signal_has_no_task(probe: &ResolvedProbe) -> Option<&'static str> {
    Some(match &probe.kind {
        ProbeKind::Begin => "BEGIN probes: they run in rbpf's own process",
        ProbeKind::End => "END probes: they run in rbpf's own process",
        ProbeKind::Interval { .. } => "interval probes",
        ProbeKind::PerfEvent { counter: PerfCounter::Software { .. }, .. } if !probe.name.starts_with("profile:") => {
            "software probes"
        }
        ProbeKind::PerfEvent { counter: PerfCounter::Hardware { .. }, .. } => "hardware probes",
        ProbeKind::Watchpoint { .. } => "watchpoint probes",
        _ => return None,
    })
}

fn signal_number(name: &str) -> Option<u64> {
    const SIGNALS: &[(&str, u64)] = &[
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("BUS", 7), ("FPE", 8),
        ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14), ("TERM", 15),
        ("STKFLT", 16), ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22),
        ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28), ("IO", 29),
        ("PWR", 30), ("SYS", 31),
    ];
    if let Ok(n) = name.parse::<u64>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let short = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(n, _)| *n == short).map(|(_, v)| *v)
}

/// An integer type by name, as casts and `sizeof` write it.
fn int_type(name: &str) -> Option<Type> {
    let (bits, signed) = match name {
        "uint8" | "u8" | "unsigned char" => (8, false),
        "uint16" | "u16" => (16, false),
        "uint32" | "u32" | "unsigned" => (32, false),
        "uint64" | "u64" => (64, false),
        "int8" | "i8" | "s8" | "char" => (8, true),
        "int16" | "i16" | "s16" | "short" => (16, true),
        "int32" | "i32" | "s32" | "int" | "signed" => (32, true),
        "int64" | "i64" | "s64" | "long" => (64, true),
        "bool" => (8, false),
        _ => return None,
    };
    Some(Type::Int { bits, signed })
}

/// A positional parameter's integer value: decimal or `0x` hex.
/// An attach point with its positional parameters (`$1`, `$2`, ...)
/// replaced by their text, as bpftrace's reference guide documents
/// (`uprobe:$1:main`, `interval:ms:$1`, `tracepoint:syscalls:sys_enter_$1`).
/// A parameter that was not given is an error: the probe it would name is
/// not the one the user meant.
fn expand_positionals(text: &str, span: Span, params: &[String]) -> Result<String, Diagnostic> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push('$');
            rest = &rest[at + 1..];
            continue;
        }
        let start = span.start as usize + (text.len() - rest.len()) + at;
        let here = Span::new(start, start + 1 + digits);
        let n = rest[at + 1..at + 1 + digits].parse::<usize>().unwrap_or(usize::MAX);
        match n.checked_sub(1).and_then(|i| params.get(i)) {
            Some(param) => out.push_str(param),
            None => {
                let given = match params.len() {
                    0 => "none was given".to_string(),
                    1 => "only 1 was given".to_string(),
                    k => format!("only {k} were given"),
                };
                return Err(Diagnostic::error(here, format!("the attach point uses positional parameter ${n}, but {given}"))
                    .with_label("no such parameter")
                    .with_note("give the parameters after the program: `rbpf -e 'PROGRAM' ARG1 ARG2 ...`"));
            }
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Ok(out)
}

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

/// Makes an integer stored into a map value or a variable of type `ty`
/// fit it. Every integer is 64 bits wide in a register, and the stored
/// type is at least as wide as any value assigned (the checker widens
/// it), so only the sign needs care: a narrower signed value stored where
/// an earlier assignment made the type unsigned keeps its bits, not its
/// sign (bpftrace stores (int16)-2 in such a map as 65534).
fn fit_to(e: &mut Expr, ty: &Type) {
    let (Type::Int { signed: false, .. }, Type::Int { bits: bits @ 8..=32, signed: true }) = (ty, &e.ty) else { return };
    let (bits, span) = (*bits, e.span);
    let inner = std::mem::replace(e, Expr { kind: ExprKind::Int(0), ty: Type::I64, span });
    *e = Expr { kind: ExprKind::Cast(Box::new(inner)), ty: Type::Int { bits, signed: false }, span };
}

mod buffers;
mod maps_used;
mod tuple;
mod unroll;

#[cfg(test)]
mod tests;
