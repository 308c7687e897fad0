//! `iter:task[:PIN]` and `iter:task_file[:PIN]` (also `it`): BPF iterators,
//! which the kernel runs once per task (or per open file of every task)
//! when the iterator is read; `ctx->NAME` reads the iterator's context
//! (`struct bpf_iter__task`, `struct bpf_iter__task_file`), typed from the
//! kernel's BTF function `bpf_iter_task` / `bpf_iter_task_file`, whose
//! parameters are that context's members, laid out one per u64 slot.

use super::list::{matching, ListError, ListedProbe};
use super::{ProbeKind, ResolvedProbe, Scope};
use crate::target::{Target, TargetError};
use crate::{Diagnostic, Span};

/// The iterators bpftrace 0.17 offers, with the context member the kernel
/// passes as NULL on its last call (after the last object).
const ITERATORS: &[(&str, &str)] = &[("task", "task"), ("task_file", "file")];

pub fn resolve(parts: &[&str], span: Span, target: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let (name, pin) = match parts {
        [name] => (*name, None),
        [name, pin] if !pin.is_empty() => (*name, Some(pin.to_string())),
        _ => {
            return Err(Diagnostic::error(span, "an iterator probe is written `iter:NAME` or `iter:NAME:PIN`")
                .with_label("expected e.g. `iter:task` or `iter:task:list`"));
        }
    };
    let Some(&(_, object)) = ITERATORS.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = ITERATORS.iter().map(|(n, _)| *n).collect();
        return Err(Diagnostic::error(span, format!("unknown iterator `{name}`"))
            .with_label("not an iterator rbpf knows")
            .with_note(format!("the iterators are: {}", known.join(", "))));
    };
    let func = format!("bpf_iter_{name}");
    let function = match target.kernel_function(None, &func) {
        Ok(f) => f,
        Err(TargetError::NotFound) => {
            return Err(Diagnostic::error(span, format!("iter {name} not available for your kernel version"))
                .with_label("the kernel's BTF has no such iterator")
                .with_note(format!("iterators need the BTF function `{func}`")));
        }
        Err(TargetError::Unavailable(why)) => {
            return Err(Diagnostic::error(span, format!("iter probes are not available: {why}"))
                .with_label("needs the kernel's BTF"));
        }
    };
    let Some(object_offset) = function.args.field(object).map(|f| f.offset) else {
        return Err(Diagnostic::error(span, format!("the kernel's `{func}` has no `{object}`"))
            .with_label("an iterator this rbpf does not understand"));
    };
    let probe_name = match &pin {
        Some(pin) => format!("iter:{name}:{pin}"),
        None => format!("iter:{name}"),
    };
    Ok(vec![ResolvedProbe {
        kind: ProbeKind::Iter { name: name.to_string(), pin, function, object_offset },
        name: probe_name,
    }])
}

/// `iter:NAME` for each iterator the kernel's BTF has (its function
/// `bpf_iter_NAME`), as bpftrace 0.17 lists them.
pub fn list(parts: &[&str], _verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    let pattern = match parts {
        [name] | [name, _] => *name,
        _ => return Err(ListError::Usage("an iterator is listed as `iter:NAME`".to_string())),
    };
    let names: Vec<&str> = ITERATORS.iter().map(|(n, _)| *n).collect();
    Ok(matching(pattern, names)
        .into_iter()
        .filter(|name| target.kernel_function(None, &format!("bpf_iter_{name}")).is_ok())
        .map(|name| ListedProbe::new(format!("iter:{name}")))
        .collect())
}
