//! `watchpoint:ADDR:LEN:MODE` (alias `w`): a hardware breakpoint on LEN
//! bytes at ADDR that runs the program on every read (`r`), write (`w`),
//! either (`rw`) or execution (`x`) of them. With `-p PID` or `-c CMD` the
//! address is in that process; without one it is a kernel address, watched
//! on every CPU, as in bpftrace. `asyncwatchpoint` (alias `aw`) and the
//! `FUNC+argN` form, which watch an address a function is passed, are
//! refused with a message saying so.

use super::{parse_number, ProbeKind, ResolvedProbe, Scope, WatchMode};
use crate::target::Target;
use crate::{Diagnostic, Span};

/// Addresses with the top bit set are the kernel's half of the address
/// space on the 64-bit architectures rbpf runs on (x86-64, arm64).
const KERNEL_HALF: u64 = 1 << 63;

pub fn resolve(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
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
    if address.contains('+') {
        return Err(function_form(part_span(0), "watchpoint"));
    }
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
pub fn resolve_async(parts: &[&str], span: Span, _: &dyn Target, _: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    match parts.first() {
        Some(first) if first.contains('+') => Err(function_form(span, "asyncwatchpoint")),
        _ => Err(Diagnostic::error(span, "an asyncwatchpoint is written `asyncwatchpoint:FUNCTION+argN:LENGTH:MODE`")
            .with_label("needs a function and an argument")
            .with_note("to watch a fixed address, use `watchpoint:ADDRESS:LENGTH:MODE`")),
    }
}

fn function_form(span: Span, kind: &str) -> Diagnostic {
    Diagnostic::error(span, format!("rbpf cannot yet watch the address a function is passed (`{kind}:FUNCTION+argN:LENGTH:MODE`)"))
        .with_label("the function-argument form")
        .with_note("watch a fixed address instead: `watchpoint:ADDRESS:LENGTH:MODE` with -p PID or -c CMD")
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
