//! `fentry:[MODULE:]FUNC` and `fexit:[MODULE:]FUNC` (also `kfunc` and
//! `kretfunc`): a kernel function's entry or return through a BPF
//! trampoline, with its arguments typed from the kernel's BTF (`args.NAME`)
//! and, in fexit, its return value (`retval`).

use super::{is_glob, matching_kernel_functions, ProbeKind, ResolvedProbe};
use crate::target::{KernelFunction, Target, TargetError};
use crate::{Diagnostic, Span};

pub fn resolve_entry(parts: &[&str], span: Span, target: &dyn Target) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, false)
}

pub fn resolve_return(parts: &[&str], span: Span, target: &dyn Target) -> Result<Vec<ResolvedProbe>, Diagnostic> {
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
