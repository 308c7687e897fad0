//! `watchpoint:ADDR:LEN:MODE` (alias `w`): a hardware breakpoint on LEN
//! bytes at ADDR that runs the program on every read (`r`), write (`w`),
//! either (`rw`) or execution (`x`) of them. With `-p PID` or `-c CMD` the
//! address is in that process; without one it is a kernel address, watched
//! on every CPU, as in bpftrace.
//!
//! `watchpoint:FUNC+argN:LEN:MODE` watches, in the process of `-p` or
//! `-c`, the address that function of the process's program is passed as
//! argument N: each call reports the address to the runtime (from a
//! uprobe), which puts a breakpoint there, in each of its threads. The process is stopped until
//! it is in place; `asyncwatchpoint` (alias `aw`, only in this form) lets
//! it run on. As an extension, `watchpoint:BINARY:FUNC+argN:LEN:MODE`
//! names the binary (a library of the process, say) as uprobes do.

use super::{parse_number, uprobe, ProbeKind, ResolvedProbe, Scope, UprobeLocation, WatchMode};
use crate::target::Target;
use crate::{Diagnostic, Span};

/// Addresses with the top bit set are the kernel's half of the address
/// space on the 64-bit architectures rbpf runs on (x86-64, arm64).
const KERNEL_HALF: u64 = 1 << 63;

/// The arguments a function is passed in registers, which the uprobe
/// reads: x86-64's and arm64's first six (bpftrace's `arch::max_arg`).
const REGISTER_ARGS: u8 = 6;

pub fn resolve(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    if is_function_form(parts) {
        return resolve_function(parts, span, target, scope, false);
    }
    let [address, length, mode] = parts else {
        return Err(Diagnostic::error(span, "a watchpoint is written `watchpoint:ADDRESS:LENGTH:MODE`")
            .with_label("expected e.g. `watchpoint:0x10000000:8:w`")
            .with_note("LENGTH is 1, 2, 4 or 8 bytes; MODE is r, w, rw or x"));
    };
    // The parts' own spans, for pointing at the one that is wrong: the
    // attach point's text is `TYPE:ADDRESS:LENGTH:MODE`, so they are found
    // from its end.
    let part_span = |i: usize| {
        let after: usize = parts[i + 1..].iter().map(|p| p.len() + 1).sum();
        let end = (span.end as usize).saturating_sub(after);
        Span::new(end.saturating_sub(parts[i].len()).max(span.start as usize), end)
    };
    let Some(address_value) = parse_number(address) else {
        return Err(Diagnostic::error(part_span(0), format!("`{address}` is not an address"))
            .with_label("expected a decimal or 0x hexadecimal address"));
    };
    if address_value == 0 {
        return Err(Diagnostic::error(part_span(0), "a watchpoint needs a non-zero address").with_label("address 0"));
    }
    let length_value = match length.parse::<u8>() {
        Ok(n @ (1 | 2 | 4 | 8)) => n,
        _ => {
            return Err(Diagnostic::error(part_span(1), format!("a watchpoint's length is 1, 2, 4 or 8 bytes, not `{length}`"))
                .with_label("the length the debug registers can watch"));
        }
    };
    let mode_value = parse_mode(mode).map_err(|message| {
        Diagnostic::error(part_span(2), message).with_label("the mode").with_note("MODE is r, w, rw or x")
    })?;
    // An execution breakpoint covers one instruction: the kernel takes
    // only the size of a long as its length.
    if mode_value == WatchMode::Execute && length_value != 8 {
        return Err(Diagnostic::error(part_span(1), "an execution watchpoint's length must be 8")
            .with_label("the kernel watches one instruction, with the length of a long"));
    }
    // The debug registers watch naturally aligned ranges only; the kernel
    // refuses others with a bare EINVAL.
    if address_value % u64::from(length_value) != 0 {
        return Err(Diagnostic::error(part_span(0), format!("a watchpoint of {length_value} bytes needs an address that is a multiple of {length_value}"))
            .with_label(format!("{address_value:#x} is not aligned")));
    }
    Ok(vec![ResolvedProbe {
        kind: ProbeKind::Watchpoint { address: address_value, length: length_value, mode: mode_value },
        // bpftrace names the probe with the address in decimal.
        name: format!("watchpoint:{address_value}:{length_value}:{mode}"),
    }])
}

/// `asyncwatchpoint` exists only in the function-argument form.
pub fn resolve_async(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    if is_function_form(parts) {
        return resolve_function(parts, span, target, scope, true);
    }
    // bpftrace 0.17's words first.
    Err(Diagnostic::error(span, "asyncwatchpoint requires a function name: `asyncwatchpoint:FUNCTION+argN:LENGTH:MODE`")
        .with_label("needs a function and an argument")
        .with_note("to watch a fixed address, use `watchpoint:ADDRESS:LENGTH:MODE`"))
}

/// `FUNC+argN:LENGTH:MODE`, or `BINARY:FUNC+argN:LENGTH:MODE`.
fn is_function_form(parts: &[&str]) -> bool {
    match parts {
        [function, _, _] => function.contains('+'),
        [_, function, _, _] => function.contains('+'),
        _ => false,
    }
}

/// The function-argument form: the uprobe half is resolved as
/// `uprobe:BINARY:FUNC` is (wildcards too: one watchpoint per function
/// matched), in the binary named, else in the followed process's program:
/// `/proc/PID/exe` under `-p`, the command's program under `-c`.
fn resolve_function(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope, asynchronous: bool) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let kind = if asynchronous { "asyncwatchpoint" } else { "watchpoint" };
    let part_span = |i: usize| {
        let after: usize = parts[i + 1..].iter().map(|p| p.len() + 1).sum();
        let end = (span.end as usize).saturating_sub(after);
        Span::new(end.saturating_sub(parts[i].len()).max(span.start as usize), end)
    };
    let (binary, at) = match parts {
        [binary, _, _, _] => (Some(*binary), 1),
        _ => (None, 0),
    };
    let (function, length, mode) = (parts[at], parts[at + 1], parts[at + 2]);
    let Some((func, arg)) = function.split_once('+') else {
        return Err(Diagnostic::error(span, format!("a {kind} is written `{kind}:FUNCTION+argN:LENGTH:MODE`")));
    };
    let arg = match arg.strip_prefix("arg").map(str::parse::<u8>) {
        Some(Ok(n)) if n < REGISTER_ARGS => n,
        // bpftrace 0.17's words first.
        Some(_) if arg.len() > 3 && arg[3..].bytes().all(|b| b.is_ascii_digit()) => {
            return Err(Diagnostic::error(part_span(at), format!("{} doesn't support {arg}", std::env::consts::ARCH))
                .with_label("not in a register")
                .with_note(format!("the address is read from one of the first {REGISTER_ARGS} arguments: arg0 to arg{}", REGISTER_ARGS - 1)));
        }
        _ => {
            return Err(Diagnostic::error(part_span(at), format!("`{arg}` is not an argument: write `{func}+argN`"))
                .with_label("expected arg0 to arg5")
                .with_note("the watched address is the value of that argument when the function is entered"));
        }
    };
    if func.is_empty() {
        return Err(Diagnostic::error(part_span(at), format!("a {kind} needs a function name before `+{}`", &function[func.len() + 1..]))
            .with_label("no function"));
    }
    let length = match length.parse::<u8>() {
        Ok(n @ (1 | 2 | 4 | 8)) => n,
        _ => {
            return Err(Diagnostic::error(part_span(at + 1), format!("a watchpoint's length is 1, 2, 4 or 8 bytes, not `{length}`"))
                .with_label("the length the debug registers can watch"));
        }
    };
    let mode_value = parse_mode(mode).map_err(|message| {
        Diagnostic::error(part_span(at + 2), message).with_label("the mode").with_note("MODE is r, w, rw or x")
    })?;
    if mode_value == WatchMode::Execute && length != 8 {
        return Err(Diagnostic::error(part_span(at + 1), "an execution watchpoint's length must be 8")
            .with_label("the kernel watches one instruction, with the length of a long"));
    }
    // The breakpoint is opened for the followed process: without one
    // there is nothing to watch in (bpftrace's words first).
    let program = match (scope.pid, scope.command) {
        (Some(pid), _) => format!("/proc/{pid}/exe"),
        (None, Some(command)) => command.to_string(),
        (None, None) => {
            return Err(Diagnostic::error(span, format!("-p PID or -c CMD required for {kind}"))
                .with_label("watches an address in a process")
                .with_note("give the process with -p PID, or run it with -c CMD"));
        }
    };
    // The process's program is reached as the process knows it; a binary
    // named is looked up in the process as a uprobe's is.
    let (path, pid) = match binary {
        Some(binary) => (binary, scope.pid),
        None => (program.as_str(), None),
    };
    let uprobe_scope = Scope { pid, ..Scope::default() };
    let uprobes = uprobe::resolve_entry(&[path, func], part_span(at), target, &uprobe_scope)?;
    Ok(uprobes
        .into_iter()
        .filter_map(|probe| {
            let ProbeKind::Uprobe { path, location: UprobeLocation::Symbol(func), .. } = probe.kind else { return None };
            // Named as bpftrace 0.17 names it: the binary, the function,
            // the argument's number (left out for arg0: bpftrace writes
            // the number where an address would go, and only a nonzero
            // one), the length and the mode.
            let shown = probe.name.strip_prefix("uprobe:")?.rsplit_once(':')?.0.to_string();
            let number = if arg == 0 { String::new() } else { format!(":{arg}") };
            Some(ResolvedProbe {
                name: format!("{kind}:{shown}:{func}{number}:{length}:{mode}"),
                kind: ProbeKind::WatchpointFunction { path, func, arg, length, mode: mode_value, asynchronous },
            })
        })
        .collect())
}

/// `r`, `w`, `x` in any order, each at most once; perf cannot watch for
/// execution together with reads or writes.
fn parse_mode(mode: &str) -> Result<WatchMode, String> {
    let (mut r, mut w, mut x) = (false, false, false);
    for c in mode.chars() {
        let seen = match c {
            'r' => &mut r,
            'w' => &mut w,
            'x' => &mut x,
            _ => return Err(format!("`{mode}` is not a watchpoint mode: `{c}` is none of r, w, x")),
        };
        if std::mem::replace(seen, true) {
            return Err(format!("`{mode}` names `{c}` twice"));
        }
    }
    match (r, w, x) {
        (true, false, false) => Ok(WatchMode::Read),
        (false, true, false) => Ok(WatchMode::Write),
        (true, true, false) => Ok(WatchMode::ReadWrite),
        (false, false, true) => Ok(WatchMode::Execute),
        (false, false, false) => Err("a watchpoint needs a mode".into()),
        _ => Err(format!("`{mode}` cannot be watched: execution cannot be watched together with reads or writes")),
    }
}

/// A user-space address needs a process to be watched in: refused when
/// the command line names none (the `-p` and `-c` options).
pub(crate) fn require_process(kind: &ProbeKind, span: Span, has_process: bool) -> Result<(), Diagnostic> {
    match kind {
        ProbeKind::Watchpoint { address, .. } if *address < KERNEL_HALF && !has_process => {
            Err(Diagnostic::error(span, format!("watching the user-space address {address:#x} needs a process"))
                .with_label("no process to watch it in")
                .with_note("give the process with -p PID, or run it with -c CMD; without either, the address must be a kernel address"))
        }
        _ => Ok(()),
    }
}
