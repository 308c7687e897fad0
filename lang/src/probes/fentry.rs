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
        // `vmlinux` names the kernel's own functions, which the list of
        // kernel functions gives without a module.
        let module_pattern = module.filter(|m| !glob_match(m, "vmlinux"));
        let mut symbols: Vec<(String, Option<String>)> = matching_kernel_functions(target, module_pattern, func, span)?
            .into_iter()
            .filter(|f| module.is_none_or(|m| glob_match(m, f.module.as_deref().unwrap_or("vmlinux"))))
            .map(|f| (f.name, f.module))
            .collect();
        symbols.sort();
        symbols.dedup();
        // Only the functions BTF describes: each is looked up once, in its
        // module's BTF.
        let functions: Vec<(String, KernelFunction)> = symbols
            .into_iter()
            .filter_map(|(name, m)| Some((name.clone(), target.kernel_function(Some(m.as_deref().unwrap_or("vmlinux")), &name).ok()?)))
            .collect();
        if functions.is_empty() {
            return Err(Diagnostic::error(span, format!("no kernel function with BTF matches `{}`", parts.join(":")))
                .with_label("matches nothing"));
        }
        functions
    } else {
        let function = match target.kernel_function(module, func) {
            Ok(f) => f,
            Err(TargetError::NotFound) => {
                let whose = match module {
                    Some(m) if m != "vmlinux" => format!("the BTF of module `{m}`"),
                    _ => "the kernel's BTF".to_string(),
                };
                return Err(Diagnostic::error(span, format!("{whose} has no function `{func}`"))
                    .with_label("no such function, or not one fentry can attach to")
                    .with_note("kprobe attaches to functions without BTF"));
            }
            Err(TargetError::Unavailable(why)) if module.is_some_and(|m| m != "vmlinux") => {
                return Err(Diagnostic::error(span, why).with_label("fentry on a module function needs its BTF"));
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
            // A module written or matched stays in the name; the module
            // the function was found in is the one it is attached in.
            let probe_name = match (module, &function.module) {
                (Some(m), _) if !is_glob(m) => format!("{kind}:{m}:{name}"),
                (Some(_), found) => format!("{kind}:{}:{name}", found.as_deref().unwrap_or("vmlinux")),
                (None, _) => format!("{kind}:{name}"),
            };
            ResolvedProbe {
                kind: ProbeKind::Fentry { func: name, module: function.module.clone(), function, ret },
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
/// and its loaded modules' that ftrace can trace (`available_filter_functions`;
/// every BTF function when that cannot be read), named `kfunc:MODULE:FUNC`
/// (`kfunc:vmlinux:FUNC` for the kernel's own) as bpftrace 0.17 prints
/// them; with `verbose`, each one's arguments and return value. A module's
/// BTF is read only when the module pattern matches its name.
fn list(parts: &[&str], verbose: bool, target: &dyn Target, kind: &str) -> Result<Vec<ListedProbe>, ListError> {
    let (module_pattern, func) = match parts {
        [func] => ("*", *func),
        [module, func] => (*module, *func),
        _ => return Err(ListError::Usage(format!("a {kind} is listed as `{kind}:FUNCTION` or `{kind}:MODULE:FUNCTION`"))),
    };
    let mut modules: Vec<String> = vec!["vmlinux".to_string()];
    modules.extend(target.kernel_btf_modules());
    modules.retain(|m| glob_match(module_pattern, m));
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    // Traceable functions by module, `vmlinux` for the kernel's own.
    let traceable: Option<HashSet<(String, String)>> = target.kernel_functions().ok().map(|functions| {
        functions.into_iter().map(|f| (f.module.unwrap_or_else(|| "vmlinux".to_string()), f.name)).collect()
    });
    let mut probes = Vec::new();
    for module in &modules {
        let names = match target.kernel_function_names(module) {
            Ok(names) => names,
            // A module unloaded since the directory was read.
            Err(_) if module != "vmlinux" => continue,
            Err(e) => return Err(e.into()),
        };
        for name in matching(func, names.iter().map(String::as_str)) {
            if traceable.as_ref().is_some_and(|t| !t.contains(&(module.clone(), name.to_string()))) {
                continue;
            }
            let function = match target.kernel_function(Some(module), name) {
                Ok(f) => f,
                Err(TargetError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            if function.args.fields.len() + usize::from(function.variadic) > MAX_ARGUMENTS {
                continue;
            }
            let mut probe = ListedProbe::new(format!("{kind}:{module}:{name}"));
            if verbose {
                probe.details = details(&function);
            }
            probes.push(probe);
        }
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
