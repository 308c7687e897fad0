//! `fentry:[MODULE:]FUNC` and `fexit:[MODULE:]FUNC` (also `kfunc` and
//! `kretfunc`): a kernel function's entry or return through a BPF
//! trampoline, with its arguments typed from the kernel's BTF (`args.NAME`)
//! and, in fexit, its return value (`retval`).

use std::collections::HashSet;

use super::list::{matching, ListError, ListedProbe};
use super::{glob_match, is_glob, matching_kernel_functions, ContextValue, ProbeKind, ResolvedProbe, Scope};
use crate::target::{KernelFunction, Target, TargetError};
use crate::{Diagnostic, Span};

pub fn resolve_entry(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, false)
}

pub fn resolve_return(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, true)
}

fn resolve(parts: &[&str], span: Span, target: &dyn Target, ret: bool) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let kind = if ret { "fexit" } else { "fentry" };
    let (module, func) = match parts {
        [func] if !func.is_empty() => (None, *func),
        [module, func] if !func.is_empty() && !module.is_empty() => (Some(*module), *func),
        _ => {
            return Err(Diagnostic::error(span, format!("an {kind} probe is written `{kind}:FUNCTION` or `{kind}:MODULE:FUNCTION`"))
                .with_label(format!("expected e.g. `{kind}:vfs_read`")));
        }
    };
    let functions: Vec<(String, KernelFunction)> = if is_glob(func) || module.is_some_and(is_glob) {
        let mut names: Vec<String> =
            matching_kernel_functions(target, module, func, span)?.into_iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        // Only the functions BTF describes: each is looked up once.
        let functions: Vec<(String, KernelFunction)> =
            names.into_iter().filter_map(|name| Some((name.clone(), target.kernel_function(&name).ok()?))).collect();
        if functions.is_empty() {
            return Err(Diagnostic::error(span, format!("no kernel function with BTF matches `{}`", parts.join(":")))
                .with_label("matches nothing"));
        }
        functions
    } else {
        let function = match target.kernel_function(func) {
            Ok(f) => f,
            Err(TargetError::NotFound) => {
                return Err(Diagnostic::error(span, format!("the kernel's BTF has no function `{func}`"))
                    .with_label("no such function, or not one fentry can attach to")
                    .with_note("kprobe attaches to functions without BTF"));
            }
            Err(TargetError::Unavailable(why)) => {
                return Err(Diagnostic::error(span, format!("{kind} probes are not available: {why}"))
                    .with_label("this kernel cannot attach this probe"));
            }
        };
        vec![(func.to_string(), function)]
    };
    Ok(functions
        .into_iter()
        .map(|(name, function)| {
            let probe_name = match module {
                Some(m) if !is_glob(m) => format!("{kind}:{m}:{name}"),
                _ => format!("{kind}:{name}"),
            };
            ResolvedProbe {
                kind: ProbeKind::Fentry { func: name, module: module.map(str::to_string), function, ret },
                name: probe_name,
            }
        })
        .collect())
}

pub fn list_entry(parts: &[&str], verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list(parts, verbose, target, "kfunc")
}

pub fn list_return(parts: &[&str], verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list(parts, verbose, target, "kretfunc")
}

/// The most arguments a BPF trampoline passes on x86-64 before Linux 6.6;
/// bpftrace 0.17 lists no function with more.
const MAX_ARGUMENTS: usize = 6;

/// `kfunc:[MODULE:]FUNC` with wildcards: the functions of the kernel's BTF
/// that ftrace can trace (`available_filter_functions`; every BTF function
/// when that cannot be read), named `kfunc:vmlinux:FUNC` as bpftrace 0.17
/// prints them; with `verbose`, each one's arguments and return value.
/// Only the kernel's own BTF is read, not its modules'.
fn list(parts: &[&str], verbose: bool, target: &dyn Target, kind: &str) -> Result<Vec<ListedProbe>, ListError> {
    let (module, func) = match parts {
        [func] => ("*", *func),
        [module, func] => (*module, *func),
        _ => return Err(ListError::Usage(format!("a {kind} is listed as `{kind}:FUNCTION` or `{kind}:MODULE:FUNCTION`"))),
    };
    if !glob_match(module, "vmlinux") {
        return Ok(Vec::new());
    }
    let names = target.kernel_function_names()?;
    let traceable: Option<HashSet<String>> = target
        .kernel_functions()
        .ok()
        .map(|functions| functions.into_iter().filter(|f| f.module.is_none()).map(|f| f.name).collect());
    let mut probes = Vec::new();
    for name in matching(func, names.iter().map(String::as_str)) {
        if traceable.as_ref().is_some_and(|t| !t.contains(name)) {
            continue;
        }
        let function = match target.kernel_function(name) {
            Ok(f) => f,
            Err(TargetError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        if function.args.fields.len() + usize::from(function.variadic) > MAX_ARGUMENTS {
            continue;
        }
        let mut probe = ListedProbe::new(format!("{kind}:vmlinux:{name}"));
        if verbose {
            probe.details = details(&function);
        }
        probes.push(probe);
    }
    Ok(probes)
}

/// `TYPE NAME` for each argument, then `TYPE retval`, as bpftrace 0.17
/// prints them; a variadic function's `...` is its `void ` line.
fn details(function: &KernelFunction) -> Vec<String> {
    let mut lines: Vec<String> = function.args.fields.iter().map(|a| format!("{} {}", a.c_type, a.name)).collect();
    if function.variadic {
        lines.push("void ".to_string());
    }
    lines.extend(function.retval.iter().map(|r| format!("{} retval", r.c_type)));
    lines
}

/// `retval` of `fexit:func`: the BTF-typed return value.
pub(super) fn retval(function: &KernelFunction, func: &str, span: Span) -> Result<ContextValue, Diagnostic> {
    match &function.retval {
        Some(f) => Ok(ContextValue::Field(f.clone())),
        None => Err(Diagnostic::error(span, format!("`{func}` returns nothing (void)")).with_label("no return value to read")),
    }
}
