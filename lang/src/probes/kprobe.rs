//! `kprobe:FUNC[+OFFSET]`, `kprobe:MODULE:FUNC` and `kretprobe:[MODULE:]FUNC`:
//! a kernel function's entry (or an instruction in it) or its return.
//! Wildcards expand against the functions the kernel can trace.

use super::list::{matching, ListError, ListedProbe};
use super::{glob_match, is_glob, matching_kernel_functions, parse_number, ProbeKind, ResolvedProbe, Scope};
use crate::target::{Target, TargetError};
use crate::{Diagnostic, Span};

pub fn resolve_entry(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, false)
}

pub fn resolve_return(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, true)
}

fn resolve(parts: &[&str], span: Span, target: &dyn Target, ret: bool) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let kind = if ret { "kretprobe" } else { "kprobe" };
    let usage = || {
        Diagnostic::error(span, format!("a {kind} is written `{kind}:FUNCTION` or `{kind}:MODULE:FUNCTION`"))
            .with_label(format!("expected e.g. `{kind}:vfs_read`"))
    };
    let (module, func) = match parts {
        [func] => (None, *func),
        [module, func] => (Some(*module), *func),
        _ => return Err(usage()),
    };
    if func.is_empty() || module.is_some_and(str::is_empty) {
        return Err(usage());
    }
    let (func, offset) = match func.split_once('+') {
        Some(_) if ret => {
            return Err(Diagnostic::error(span, "a kretprobe attaches to a function, not an offset in it")
                .with_label("name the function alone"));
        }
        Some((name, off)) => {
            let off = parse_number(off).ok_or_else(|| {
                Diagnostic::error(span, format!("`{off}` is not an offset")).with_label("expected FUNCTION+NUMBER")
            })?;
            (name, off)
        }
        None => (func, 0),
    };
    if offset != 0 && !is_glob(func) {
        check_offset(func, offset, span, target)?;
    }
    if let Err(TargetError::Unavailable(why)) = target.kprobes() {
        return Err(Diagnostic::error(span, format!("kprobes are not available: {why}"))
            .with_label("this kernel cannot attach this probe"));
    }
    let probe = |func: &str, module: Option<&str>| {
        let name = match (module, offset) {
            (Some(m), _) => format!("{kind}:{m}:{func}"),
            (None, 0) => format!("{kind}:{func}"),
            (None, off) => format!("{kind}:{func}+{off}"),
        };
        ResolvedProbe {
            kind: ProbeKind::Kprobe { func: func.to_string(), module: module.map(str::to_string), offset, ret },
            name,
        }
    };
    if !is_glob(func) && !module.is_some_and(is_glob) {
        return Ok(vec![probe(func, module)]);
    }
    if offset != 0 {
        return Err(Diagnostic::error(span, "an offset needs one function, not a wildcard").with_label("name one function"));
    }
    let mut probes: Vec<ResolvedProbe> = matching_kernel_functions(target, module, func, span)?
        .iter()
        .map(|f| probe(&f.name, if module.is_some() { f.module.as_deref() } else { None }))
        .collect();
    probes.sort_by(|a, b| a.name.cmp(&b.name));
    probes.dedup_by(|a, b| a.name == b.name);
    if probes.is_empty() {
        return Err(Diagnostic::error(span, format!("no kernel function matches `{}`", parts.join(":")))
            .with_label("matches nothing")
            .with_note("the traceable functions are listed in /sys/kernel/tracing/available_filter_functions"));
    }
    Ok(probes)
}

/// An offset into `func` is refused, as bpftrace refuses it, when the
/// kernel image's symbol table says the function is shorter; without an
/// image the kernel judges it when attaching.
fn check_offset(func: &str, offset: u64, span: Span, target: &dyn Target) -> Result<(), Diagnostic> {
    match target.kernel_function_size(func) {
        Ok(Some(size)) if offset >= size => Err(Diagnostic::error(span, format!("Offset outside the function bounds ('{func}' size is {size})"))
            .with_label("past the function's end")
            .with_note("the size is the kernel image's (BPFTRACE_VMLINUX)")),
        Ok(_) => Ok(()),
        Err(TargetError::Unavailable(why)) => Err(Diagnostic::error(span, format!("cannot check the offset into `{func}`: {why}"))
            .with_label("this offset")
            .with_note("BPFTRACE_VMLINUX names the kernel image whose symbol table bounds it")),
        Err(_) => Ok(()),
    }
}

/// A wildcard's kprobes as one multi-attached probe named as written
/// (`kprobe:vfs_*`), when the kernel has multi-attach links and there is
/// more than one function at offset 0. `None` leaves them one program each.
pub(crate) fn multi_attach(probes: &[ResolvedProbe], written: &str, target: &dyn Target) -> Option<ResolvedProbe> {
    let mut funcs = Vec::with_capacity(probes.len());
    let mut ret = None;
    for p in probes {
        let ProbeKind::Kprobe { func, offset: 0, ret: r, .. } = &p.kind else { return None };
        if ret.replace(*r).is_some_and(|prev| prev != *r) {
            return None;
        }
        funcs.push(func.clone());
    }
    if funcs.len() < 2 || !target.kprobe_multi() {
        return None;
    }
    let (_, rest) = written.split_once(':')?;
    let ret = ret?;
    let kind = if ret { "kretprobe" } else { "kprobe" };
    Some(ResolvedProbe { kind: ProbeKind::KprobeMulti { funcs, ret }, name: format!("{kind}:{rest}") })
}

pub fn list_entry(parts: &[&str], _verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list(parts, target, "kprobe")
}

pub fn list_return(parts: &[&str], _verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list(parts, target, "kretprobe")
}

/// `kprobe:FUNC` with wildcards, from `available_filter_functions`: named
/// without their module, as bpftrace 0.17 lists them (a function of a
/// module attaches by its name alone). `kprobe:MODULE:FUNC` lists a
/// module's functions with the module; bpftrace 0.17 refuses that form.
fn list(parts: &[&str], target: &dyn Target, kind: &str) -> Result<Vec<ListedProbe>, ListError> {
    let (module, func) = match parts {
        [func] => (None, *func),
        [module, func] => (Some(*module), *func),
        _ => return Err(ListError::Usage(format!("a {kind} is listed as `{kind}:FUNCTION` or `{kind}:MODULE:FUNCTION`"))),
    };
    // `FUNC+OFFSET` lists the function's probe.
    let func = func.split_once('+').map_or(func, |(name, _)| name);
    // GCC's split-off parts of functions (`.part.N`) are not listed, as in
    // bpftrace 0.17: they are not the function a caller calls.
    let functions: Vec<_> = target.kernel_functions()?.into_iter().filter(|f| !f.name.contains(".part.")).collect();
    Ok(match module {
        None => matching(func, functions.iter().map(|f| f.name.as_str()))
            .into_iter()
            .map(|name| ListedProbe::new(format!("{kind}:{name}")))
            .collect(),
        Some(module) => {
            let mut probes: Vec<ListedProbe> = functions
                .iter()
                .filter_map(|f| Some((f.module.as_deref()?, f.name.as_str())))
                .filter(|(m, name)| glob_match(module, m) && glob_match(func, name))
                .map(|(m, name)| ListedProbe::new(format!("{kind}:{m}:{name}")))
                .collect();
            probes.sort_by(|a, b| a.name.cmp(&b.name));
            probes.dedup();
            probes
        }
    })
}
