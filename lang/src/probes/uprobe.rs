//! `uprobe:PATH:FUNC` and `uretprobe:PATH:FUNC`: a user-space function's
//! entry or return, in one binary or library, named by its path or by its
//! name alone (`uprobe:libc:malloc`, `uprobe:bash:readline`). The location
//! is a symbol, a symbol plus an offset (`FUNC+16`) or an address in the
//! file (`0x1234`); a function pattern (`read*`) makes a probe of every
//! function it matches.

use super::list::{matching, ListError, ListedProbe};
use super::{binary, glob_match, is_glob, parse_number, uprobe_args, ProbeKind, ResolvedProbe, Scope, UprobeLocation};
use crate::target::{Target, TargetError, UserSymbol};
use crate::diagnostic::Severity;
use crate::{Diagnostic, Span};

/// A C++ (or legacy Rust) symbol's name demangled, as bpftrace shows it by
/// default (through the C++ runtime's `__cxa_demangle`); another name, or
/// one that does not demangle, as it is.
pub fn demangle(name: &str) -> String {
    if name.starts_with("_Z") {
        if let Some(text) = cpp_demangle::Symbol::new(name).ok().and_then(|s| s.demangle().ok()) {
            return text;
        }
    }
    name.to_string()
}

pub fn resolve_entry(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, scope, false)
}

pub fn resolve_return(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    resolve(parts, span, target, scope, true)
}

fn resolve(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope, ret: bool) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let pid = scope.pid;
    let kind = if ret { "uretprobe" } else { "uprobe" };
    // A quoted C++ name (`uprobe:./app:"ns::foo(int)"`) comes unquoted,
    // split at its own colons: the function is the rest.
    let joined;
    let parts = match parts {
        [path, first, rest @ ..] if !rest.is_empty() => {
            joined = [*first].into_iter().chain(rest.iter().copied()).collect::<Vec<_>>().join(":");
            vec![*path, joined.as_str()]
        }
        _ => parts.to_vec(),
    };
    let [path, func] = parts[..] else {
        return Err(Diagnostic::error(span, format!("a {kind} is written `{kind}:PATH:FUNCTION`"))
            .with_label(format!("expected e.g. `{kind}:/bin/bash:readline`")));
    };
    if path.is_empty() || func.is_empty() {
        // bpftrace too wants a binary (0.17: "uprobe should have a target").
        let d = Diagnostic::error(span, format!("the {kind}'s binary and function must not be empty"))
            .with_label(format!("expected e.g. `{kind}:/bin/bash:readline`"));
        return Err(match path.is_empty() && !func.is_empty() {
            true => d.with_note(format!("with -p PID, `{kind}:*:{func}` looks for it in every file the process maps")),
            false => d,
        });
    }
    if is_glob(path) {
        return resolve_in_mapped_files(path, func, span, target, scope, ret);
    }
    if is_glob(func) {
        return resolve_wildcard(path, func, span, target, scope, ret);
    }
    let location = parse_location(func).ok_or_else(|| {
        Diagnostic::error(span, format!("`{func}` is not a function, FUNCTION+OFFSET or an address"))
            .with_label("bad location")
    })?;
    if ret && !matches!(location, UprobeLocation::Symbol(_)) {
        return Err(Diagnostic::error(span, "a uretprobe attaches to a function, not an offset or address")
            .with_label("name the function alone"));
    }
    let binary = binary::locate(path, pid, kind, span, target)?;
    let (path, shown) = (binary.path.as_str(), binary.shown.as_str());
    // A C++ function by its demangled name (`ns::foo(int)`), as bpftrace
    // matches it: probed, and named, by its symbol (`_ZN2ns3fooEi`).
    let mangled;
    let (location, func) = match &location {
        UprobeLocation::Symbol(f) if is_demangled(f) => match mangled_name(target, path, f) {
            Some(m) => {
                mangled = m;
                (UprobeLocation::Symbol(mangled.clone()), mangled.as_str())
            }
            None => (location, func),
        },
        _ => (location, func),
    };
    match &location {
        UprobeLocation::Symbol(f) | UprobeLocation::SymbolOffset(f, _) => {
            let symbol = target.user_function(path, f).map_err(|e| match e {
                // A variable: a uprobe there would never fire. bpftrace's words.
                TargetError::NotFound if target.user_symbol(path, f).is_ok() => {
                    Diagnostic::error(span, format!("Could not resolve symbol: {shown}:{f}"))
                        .with_label(format!("`{f}` is a variable, not a function"))
                        .with_note("a uprobe fires where a function's code starts: name a function")
                }
                TargetError::NotFound => missing_function(shown, f, span, target.user_functions(path)),
                TargetError::Unavailable(why) => {
                    Diagnostic::error(span, format!("cannot attach {kind} here: {why}")).with_label("the binary this probe names")
                }
            })?;
            // The kernel would take any offset and corrupt the instruction
            // stream there; bpftrace refuses one past the function's end.
            if let UprobeLocation::SymbolOffset(_, offset) = &location {
                if *offset >= symbol.size {
                    return Err(Diagnostic::error(span, format!("Offset outside the function bounds ('{f}' size is {})", symbol.size))
                        .with_label(format!("offset {offset} is past the end of `{f}`"))
                        .with_note(format!("the offsets of `{f}` are 0 to {}", symbol.size.saturating_sub(1))));
                }
                on_instruction(target, path, &symbol, *offset, &format!("{shown}:{f}+{offset}"), span, scope)?;
            }
        }
        UprobeLocation::Address(address) => match target.user_symbol_at(path, *address) {
            Ok(name) => {
                // Inside a function: on one of its instructions.
                if let Some(symbol) = target.user_function(path, &name).ok().filter(|s| s.address <= *address) {
                    on_instruction(target, path, &symbol, address - symbol.address, &format!("{shown}:{address:#x}"), span, scope)?;
                }
            }
            // bpftrace 0.17 refuses an address no symbol holds, unless --unsafe.
            Err(TargetError::NotFound) if !scope.allow_unsafe => {
                return Err(Diagnostic::error(span, format!("Could not resolve address: {shown}:{address:#x}"))
                    .with_label("no function or object of the binary holds this address")
                    .with_note("`--unsafe` attaches there anyway"));
            }
            Err(TargetError::NotFound) => {}
            Err(TargetError::Unavailable(why)) => {
                return Err(Diagnostic::error(span, format!("cannot attach {kind} here: {why}")).with_label("the binary this probe names"));
            }
        },
    }
    let args = match &location {
        UprobeLocation::Symbol(f) if scope.args && !ret => uprobe_args::lookup(path, shown, &[f], span, target)?.pop(),
        _ => None,
    };
    Ok(vec![ResolvedProbe {
        kind: ProbeKind::Uprobe { path: path.to_string(), location, ret, pid, args },
        // bpftrace names the probe after the file it found.
        name: format!("{kind}:{shown}:{func}"),
    }])
}

/// Refuses a uprobe `offset` bytes into `function` unless an instruction
/// starts there, as bpftrace does unless --unsafe: the kernel writes its
/// breakpoint over the byte there, and the traced process then runs a
/// corrupted instruction (SIGSEGV, or worse). `place` names it in
/// bpftrace's words (`PATH:FUNC+OFFSET`, `PATH:0xADDR`).
fn on_instruction(target: &dyn Target, path: &str, function: &UserSymbol, offset: u64, place: &str, span: Span, scope: &Scope) -> Result<(), Diagnostic> {
    if offset == 0 || scope.allow_unsafe {
        return Ok(());
    }
    match target.user_instruction_boundary(path, function, offset) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Diagnostic::error(span, format!("Could not add uprobe into middle of instruction: {place}"))
            .with_label(format!("offset {offset} of the function is inside an instruction"))
            .with_note("a uprobe there corrupts the instruction and crashes the traced process; `--unsafe` attaches there anyway")),
        Err(TargetError::NotFound) => Ok(()),
        Err(TargetError::Unavailable(why)) => Err(Diagnostic::error(span, format!("Can't check if uprobe is in proper place ({why}): {place}"))
            .with_label("cannot tell whether an instruction starts here")
            .with_note("`--unsafe` attaches there anyway")),
    }
}

/// Whether `name` is written as a demangled C++ name: scoped
/// (`ns::foo`) or with its parameters (`foo(int)`), which no symbol is.
fn is_demangled(name: &str) -> bool {
    name.contains("::") || name.contains('(')
}

/// The symbol of the binary at `path` whose demangled name is `name`.
fn mangled_name(target: &dyn Target, path: &str, name: &str) -> Option<String> {
    target.user_functions(path).ok()?.into_iter().find(|f| f.starts_with("_Z") && demangle(f) == name)
}

/// The functions of `functions` that `pattern` matches by their name or,
/// for a C++ function, by their demangled name (`ns::foo*`), in name
/// order.
fn matching_functions<'f>(pattern: &str, functions: &'f [String]) -> Vec<&'f str> {
    let names = functions.iter().map(String::as_str).filter(|f| !f.contains(".part."));
    match is_demangled(pattern) {
        false => matching(pattern, names),
        true => {
            let mut found: Vec<&str> = names.filter(|f| f.starts_with("_Z") && glob_match(pattern, &demangle(f))).collect();
            found.sort_unstable();
            found.dedup();
            found
        }
    }
}

/// `uprobe:PATTERN:FUNC` with -p (or -c): FUNC in each file the process
/// maps whose path PATTERN matches (`*`: its program and every library),
/// as later bpftrace matches a wildcard binary against a process's
/// files. Files without FUNC (or without symbols: a locale archive) are
/// passed over; none having it is an error.
fn resolve_in_mapped_files(pattern: &str, func: &str, span: Span, target: &dyn Target, scope: &Scope, ret: bool) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let kind = if ret { "uretprobe" } else { "uprobe" };
    let Some(pid) = scope.pid else {
        return Err(Diagnostic::error(span, format!("a {kind} wildcard in the binary matches the files of one process"))
            .with_label("which process's files?")
            .with_note("give the process with -p PID (or run it with -c), or name one binary or library"));
    };
    let files = target.mapped_files(pid).map_err(|e| {
        let why = match e {
            TargetError::NotFound => format!("there is no process with pid {pid}"),
            TargetError::Unavailable(why) => why,
        };
        Diagnostic::error(span, format!("cannot read the files process {pid} maps: {why}")).with_label("needs the process's files")
    })?;
    let mut probes = Vec::new();
    let mut matched_files = 0;
    for file in files.iter().filter(|f| glob_match(pattern, f)) {
        matched_files += 1;
        if let Ok(found) = resolve(&[file.as_str(), func], span, target, scope, ret) {
            probes.extend(found);
        }
    }
    if probes.is_empty() {
        let what = match matched_files {
            0 => format!("no file process {pid} maps matches `{pattern}`"),
            n => format!("none of the {n} files process {pid} maps that match `{pattern}` has `{func}`"),
        };
        return Err(Diagnostic::error(span, what)
            .with_label("matches nothing")
            .with_note(format!("`rbpf -l '{kind}:{pattern}:{func}' -p {pid}` lists what it matches")));
    }
    Ok(probes)
}

/// `uprobe:BIN:FUNC` of a function `BIN` lacks. The diagnostic is a
/// warning: the checker skips such an attach point, as bpftrace does
/// (its `missing_probes = warn`), when the probe has others that resolve,
/// and makes it an error when it has none.
/// `functions` are the binary's, asked for only now that one is missing:
/// a binary with none is stripped, which is said in so many words.
fn missing_function(shown: &str, func: &str, span: Span, functions: Result<Vec<String>, TargetError>) -> Diagnostic {
    let mut d = match functions {
        Ok(f) if f.is_empty() => stripped(span, format!("`{shown}` has no function `{func}`")),
        _ => Diagnostic::error(span, format!("`{shown}` has no function `{func}`"))
            .with_label("no such symbol")
            .with_note(format!("the functions are the defined symbols of `nm -D {shown}` and `nm {shown}`")),
    };
    d.severity = Severity::Warning;
    d
}

/// A binary without a function symbol: `strip` or `gcc -s` removed its
/// symbol table, and it exports none either.
fn stripped(span: Span, message: String) -> Diagnostic {
    Diagnostic::error(span, format!("{message}: it has no symbol table (it is stripped)"))
        .with_label("no function symbols in this binary")
        .with_note("probe a build that keeps its symbols (not stripped, not linked with `-s`), or an address in the file (`0x1139`)")
}

/// A wildcard's uprobes as one multi-attached probe named as written
/// (`uprobe:libc:str*`), when the kernel has uprobe multi-attach links and
/// the wildcard matched more than one function. `None` leaves them one
/// program each: on an older kernel, or where a probe reads `args`, whose
/// layout differs from function to function.
pub(crate) fn multi_attach(probes: &[ResolvedProbe], written: &str, target: &dyn Target) -> Option<ResolvedProbe> {
    let mut funcs = Vec::with_capacity(probes.len());
    let mut first = None;
    for p in probes {
        let ProbeKind::Uprobe { path, location: UprobeLocation::Symbol(func), ret, pid, args: None } = &p.kind else { return None };
        if first.get_or_insert((path, *ret, *pid)) != &(path, *ret, *pid) {
            return None;
        }
        funcs.push(func.clone());
    }
    let (path, ret, pid) = first?;
    if funcs.len() < 2 || !target.uprobe_multi() {
        return None;
    }
    // Named after the file found, as each of its probes is.
    let (_, shown) = probes[0].name.rsplit_once(':').and_then(|(head, _)| head.split_once(':'))?;
    let pattern = written.splitn(3, ':').nth(2)?;
    let kind = if ret { "uretprobe" } else { "uprobe" };
    let names = probes.iter().map(|p| p.name.clone()).collect();
    Some(ResolvedProbe { kind: ProbeKind::UprobeMulti { path: path.clone(), funcs, names, ret, pid }, name: format!("{kind}:{shown}:{pattern}") })
}

/// `uprobe:PATH:read*`: one program per function the pattern matches,
/// each named after its function, in name order as bpftrace attaches them.
fn resolve_wildcard(path: &str, func: &str, span: Span, target: &dyn Target, scope: &Scope, ret: bool) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let pid = scope.pid;
    let kind = if ret { "uretprobe" } else { "uprobe" };
    if (func.contains('+') && !is_demangled(func)) || func.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Diagnostic::error(span, format!("a {kind} wildcard matches function names, not offsets or addresses"))
            .with_label("write the pattern alone, e.g. `read*`"));
    }
    let binary = binary::locate(path, pid, kind, span, target)?;
    let functions = target.user_functions(&binary.path).map_err(|e| {
        let why = match e {
            TargetError::Unavailable(why) => why,
            TargetError::NotFound => format!("{} has no symbols", binary.shown),
        };
        Diagnostic::error(span, format!("cannot expand the wildcard: {why}")).with_label("needs the functions of this binary")
    })?;
    let matched = matching_functions(func, &functions);
    if functions.is_empty() {
        return Err(stripped(span, format!("no function of `{}` matches `{func}`", binary.shown)));
    }
    if matched.is_empty() {
        return Err(Diagnostic::error(span, format!("no function of `{}` matches `{func}`", binary.shown))
            .with_label("matches nothing")
            .with_note(format!("`rbpf -l '{kind}:{}:*'` lists its functions", binary.shown)));
    }
    let args: Vec<_> = match scope.args && !ret {
        true => uprobe_args::lookup(&binary.path, &binary.shown, &matched, span, target)?.into_iter().map(Some).collect(),
        false => vec![None; matched.len()],
    };
    Ok(matched
        .into_iter()
        .zip(args)
        .map(|(f, args)| ResolvedProbe {
            kind: ProbeKind::Uprobe { path: binary.path.clone(), location: UprobeLocation::Symbol(f.to_string()), ret, pid, args },
            name: format!("{kind}:{}:{f}", binary.shown),
        })
        .collect())
}

pub fn list_entry(parts: &[&str], verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list(parts, verbose, target, "uprobe")
}

pub fn list_return(parts: &[&str], verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    list(parts, verbose, target, "uretprobe")
}

/// `uprobe:PATH:FUNC` with wildcards in FUNC: the functions of the binary,
/// less GCC's split-off parts (`.part.N`), as bpftrace 0.17 lists them;
/// with `verbose`, each one's parameters from the binary's DWARF (a
/// binary without it is listed with a warning, as bpftrace does).
fn list(parts: &[&str], verbose: bool, target: &dyn Target, kind: &str) -> Result<Vec<ListedProbe>, ListError> {
    let [path, func] = parts else {
        return Err(ListError::Usage(format!("a {kind} is listed as `{kind}:PATH:FUNCTION`, e.g. `{kind}:/bin/bash:*`")));
    };
    // Named after the file found, as bpftrace lists `uprobe:libc:*`.
    let binary = binary::locate(path, None, kind, Span::default(), target).map_err(|d| ListError::Usage(d.message))?;
    let functions = target.user_functions(&binary.path)?;
    let mut probes: Vec<ListedProbe> = matching(func, functions.iter().map(String::as_str).filter(|f| !f.contains(".part.")))
        .into_iter()
        .map(|name| ListedProbe::new(format!("{kind}:{}:{name}", binary.shown)))
        .collect();
    if verbose && !probes.is_empty() {
        let names: Vec<&str> = probes.iter().map(|p| p.name.rsplit(':').next().unwrap_or_default()).collect();
        match target.user_functions_args(&binary.path, &names) {
            Ok(mut found) => {
                for probe in &mut probes {
                    let name = probe.name.rsplit(':').next().unwrap_or_default();
                    if let Some(function) = found.remove(name) {
                        probe.details = uprobe_args::details(&function);
                    }
                }
            }
            // One warning for the binary, in bpftrace's words.
            Err(_) => probes[0].warning = Some(format!("No DWARF found for \"{}\", cannot show parameter info", binary.shown)),
        }
    }
    Ok(probes)
}

fn parse_location(text: &str) -> Option<UprobeLocation> {
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_number(text).map(UprobeLocation::Address);
    }
    match text.split_once('+') {
        Some((name, offset)) if !name.is_empty() => Some(UprobeLocation::SymbolOffset(name.to_string(), parse_number(offset)?)),
        Some(_) => None,
        None => Some(UprobeLocation::Symbol(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FakeTarget;

    const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

    fn target() -> FakeTarget {
        let mut t = FakeTarget::default()
            .with_shared_library("libc.so.6", LIBC)
            .with_user_functions(LIBC, &["malloc", "malloc_usable_size", "free", "__libc_malloc"])
            .with_file("/usr/bin/bash", true)
            .with_user_functions("/usr/bin/bash", &["readline", "read_builtin", "read_octal", "main", "rl_getc.part.0"])
            .with_process(42, &["/usr/bin/bash", "/usr/lib/x86_64-linux-gnu/libc.so.6"])
            .with_user_functions("/proc/42/root/usr/lib/x86_64-linux-gnu/libc.so.6", &["malloc"]);
        t.program_directories = vec!["/usr/local/bin".into(), "/usr/bin".into()];
        t
    }

    fn names(text: &str) -> Result<Vec<String>, String> {
        names_in(text, None)
    }

    fn names_in(text: &str, pid: Option<u32>) -> Result<Vec<String>, String> {
        let parts: Vec<&str> = text.split(':').skip(1).collect();
        let ret = text.starts_with("uretprobe");
        resolve(&parts, Span::default(), &target(), &Scope { pid, ..Scope::default() }, ret).map(|probes| probes.into_iter().map(|p| p.name).collect()).map_err(|d| d.message)
    }

    #[test]
    fn binaries_by_name_are_named_after_the_file_found() {
        assert_eq!(names("uprobe:libc:malloc").unwrap(), [format!("uprobe:{LIBC}:malloc")]);
        assert_eq!(names("uretprobe:libc.so.6:free").unwrap(), [format!("uretprobe:{LIBC}:free")]);
        assert_eq!(names("uprobe:bash:readline").unwrap(), ["uprobe:/usr/bin/bash:readline"]);
        assert_eq!(names("uprobe:/usr/bin/bash:readline").unwrap(), ["uprobe:/usr/bin/bash:readline"]);
        let probes = resolve(&["libc", "malloc"], Span::default(), &target(), &Scope::default(), false).unwrap();
        assert_eq!(probes[0].kind, ProbeKind::Uprobe { path: LIBC.into(), location: UprobeLocation::Symbol("malloc".into()), ret: false, pid: None, args: None });
        assert_eq!(names("uprobe:libnope:malloc").unwrap_err(), "cannot find a program or library named `libnope`");
        // Relative to the current directory (`/` in the fake target), named as written.
        assert_eq!(names("uprobe:usr/bin/bash:readline").unwrap(), ["uprobe:usr/bin/bash:readline"]);
    }

    #[test]
    fn a_process_attaches_to_its_own_libraries_and_alone() {
        // The library as process 42 maps it, read through its root.
        assert_eq!(names_in("uprobe:libc:malloc", Some(42)).unwrap(), ["uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc"]);
        let probes = resolve(&["libc", "mall*"], Span::default(), &target(), &Scope { pid: Some(42), ..Scope::default() }, false).unwrap();
        let path = "/proc/42/root/usr/lib/x86_64-linux-gnu/libc.so.6".to_string();
        assert_eq!(probes[0].kind, ProbeKind::Uprobe { path, location: UprobeLocation::Symbol("malloc".into()), ret: false, pid: Some(42), args: None });
        assert_eq!(probes[0].name, "uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc");
        assert_eq!(names_in("uprobe:libm:sin", Some(42)).unwrap_err(), "process 42 has no `libm` mapped");
        assert_eq!(names_in("uprobe:libc:malloc", Some(43)).unwrap_err(), "there is no process with pid 43");
    }

    #[test]
    fn wildcards_make_a_probe_per_function() {
        assert_eq!(names("uprobe:bash:read*").unwrap(), ["uprobe:/usr/bin/bash:read_builtin", "uprobe:/usr/bin/bash:read_octal", "uprobe:/usr/bin/bash:readline"]);
        assert_eq!(names("uretprobe:libc:mall*").unwrap(), [format!("uretprobe:{LIBC}:malloc"), format!("uretprobe:{LIBC}:malloc_usable_size")]);
        // GCC's split-off parts are not functions of their own.
        assert_eq!(names("uprobe:bash:rl_*").unwrap_err(), "no function of `/usr/bin/bash` matches `rl_*`");
        let probes = resolve(&["bash", "read_?ctal"], Span::default(), &target(), &Scope::default(), true).unwrap();
        assert_eq!(probes[0].kind, ProbeKind::Uprobe { path: "/usr/bin/bash".into(), location: UprobeLocation::Symbol("read_octal".into()), ret: true, pid: None, args: None });
        assert_eq!(probes[0].kind.function(), Some("read_octal"));
        assert!(names("uprobe:bash:read*+4").is_err());
        assert!(names("uprobe:/usr/bin/*:main").is_err());
        assert_eq!(names("uprobe:/no/such:read*").unwrap_err(), "cannot expand the wildcard: /no/such does not exist");
    }

    #[test]
    fn a_wildcard_is_one_multi_attached_probe_where_the_kernel_has_them() {
        let mut t = target();
        let probes = |t: &FakeTarget, text: &str| {
            let parts: Vec<&str> = text.split(':').skip(1).collect();
            resolve(&parts, Span::default(), t, &Scope::default(), text.starts_with("uretprobe")).unwrap()
        };
        assert!(multi_attach(&probes(&t, "uprobe:bash:read*"), "uprobe:bash:read*", &t).is_none(), "no uprobe multi links");
        t.uprobe_multi = true;
        let multi = multi_attach(&probes(&t, "uretprobe:bash:read*"), "uretprobe:bash:read*", &t).unwrap();
        assert_eq!(multi.name, "uretprobe:/usr/bin/bash:read*");
        let funcs = vec!["read_builtin".to_string(), "read_octal".into(), "readline".into()];
        let names = funcs.iter().map(|f| format!("uretprobe:/usr/bin/bash:{f}")).collect();
        assert_eq!(multi.kind, ProbeKind::UprobeMulti { path: "/usr/bin/bash".into(), funcs, names, ret: true, pid: None });
        // One function: its own probe, named after it.
        assert!(multi_attach(&probes(&t, "uprobe:bash:readl*"), "uprobe:bash:readl*", &t).is_none());
        assert!(multi_attach(&probes(&t, "uprobe:bash:main"), "uprobe:bash:main", &t).is_none());
    }

    #[test]
    fn a_missing_function_is_a_warning_the_checker_may_skip() {
        let parts = ["bash", "rbpf_none"];
        let d = resolve(&parts, Span::default(), &target(), &Scope::default(), false).unwrap_err();
        assert_eq!((d.severity, d.message.as_str()), (Severity::Warning, "`/usr/bin/bash` has no function `rbpf_none`"));
    }

    #[test]
    fn a_stripped_binary_is_named_as_such() {
        let t = target().with_file("/usr/bin/stripped", true).with_user_functions("/usr/bin/stripped", &[]);
        let message = |text: &str| {
            let parts: Vec<&str> = text.split(':').skip(1).collect();
            resolve(&parts, Span::default(), &t, &Scope::default(), false).unwrap_err().message
        };
        assert_eq!(message("uprobe:/usr/bin/stripped:main"), "`/usr/bin/stripped` has no function `main`: it has no symbol table (it is stripped)");
        assert_eq!(message("uprobe:/usr/bin/stripped:ma*"), "no function of `/usr/bin/stripped` matches `ma*`: it has no symbol table (it is stripped)");
    }

    /// The name of the first probe `text` resolves to in `t`, or the error.
    fn first_name(t: &FakeTarget, text: &str, allow_unsafe: bool) -> Result<String, String> {
        let parts: Vec<&str> = text.split(':').skip(1).collect();
        resolve(&parts, Span::default(), t, &Scope { allow_unsafe, ..Scope::default() }, false).map(|p| p[0].name.clone()).map_err(|d| d.message)
    }

    #[test]
    fn offsets_past_the_function_and_addresses_outside_every_symbol_are_errors() {
        let t = target().with_user_symbol("/usr/bin/bash", "readline", 0x1000, 0x40).with_user_symbol("/usr/bin/bash", "main", 0x2000, 0x10);
        let resolve_in = |text: &str, allow_unsafe: bool| first_name(&t, text, allow_unsafe);
        assert_eq!(resolve_in("uprobe:bash:readline+63", false), Ok("uprobe:/usr/bin/bash:readline+63".into()));
        assert_eq!(resolve_in("uprobe:bash:readline+64", false), Err("Offset outside the function bounds ('readline' size is 64)".into()));
        assert_eq!(resolve_in("uprobe:bash:readline+0x1000", true), Err("Offset outside the function bounds ('readline' size is 64)".into()));
        assert_eq!(resolve_in("uprobe:bash:0x2008", false), Ok("uprobe:/usr/bin/bash:0x2008".into()));
        assert_eq!(resolve_in("uprobe:bash:0x2010", false), Err("Could not resolve address: /usr/bin/bash:0x2010".into()));
        assert_eq!(resolve_in("uprobe:bash:0x2010", true), Ok("uprobe:/usr/bin/bash:0x2010".into()));
    }

    #[test]
    fn offsets_and_addresses_inside_an_instruction_are_refused_unless_unsafe() {
        let t = target()
            .with_user_symbol("/usr/bin/bash", "readline", 0x1000, 0x40)
            .with_user_symbol("/usr/bin/bash", "main", 0x2000, 0x10)
            .with_instruction_starts("/usr/bin/bash", &[0x1000, 0x1001, 0x1004, 0x2000, 0x2008]);
        let resolve_in = |text: &str, allow_unsafe: bool| first_name(&t, text, allow_unsafe);
        assert_eq!(resolve_in("uprobe:bash:readline+4", false), Ok("uprobe:/usr/bin/bash:readline+4".into()));
        assert_eq!(resolve_in("uprobe:bash:readline+2", false), Err("Could not add uprobe into middle of instruction: /usr/bin/bash:readline+2".into()));
        assert_eq!(resolve_in("uprobe:bash:readline+2", true), Ok("uprobe:/usr/bin/bash:readline+2".into()));
        assert_eq!(resolve_in("uprobe:bash:0x2008", false), Ok("uprobe:/usr/bin/bash:0x2008".into()));
        assert_eq!(resolve_in("uprobe:bash:0x2003", false), Err("Could not add uprobe into middle of instruction: /usr/bin/bash:0x2003".into()));
        assert_eq!(resolve_in("uprobe:bash:0x2003", true), Ok("uprobe:/usr/bin/bash:0x2003".into()));
    }

    #[test]
    fn locations() {
        assert_eq!(parse_location("readline"), Some(UprobeLocation::Symbol("readline".into())));
        assert_eq!(parse_location("main+16"), Some(UprobeLocation::SymbolOffset("main".into(), 16)));
        assert_eq!(parse_location("main+0x10"), Some(UprobeLocation::SymbolOffset("main".into(), 16)));
        assert_eq!(parse_location("0x1234"), Some(UprobeLocation::Address(0x1234)));
        assert_eq!(parse_location("main+x"), None);
        assert_eq!(parse_location("+4"), None);
    }
}
