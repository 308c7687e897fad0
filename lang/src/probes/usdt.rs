//! `usdt:PATH:PROVIDER:NAME` (alias `U`): a statically defined probe that a
//! program or library declares with `<sys/sdt.h>`, found in its
//! `.note.stapsdt` notes. The binary is named by its path or by its name
//! alone, as for uprobes. The provider may be left out when the name says
//! which probe is meant; both parts take wildcards. Each probe site is one
//! program, since each site has its own argument locations.

use super::list::{matching, ListError, ListedProbe};
use super::binary::{self, Binary};
use super::{glob_match, is_glob, ContextValue, ProbeKind, ResolvedProbe, Scope};
use crate::target::{Target, TargetError, UsdtProbe};
use crate::{Diagnostic, Span};

/// One argument of a USDT probe site: its width, its signedness and where
/// its value is when the probe fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    /// Whether it is extended to 64 bits by its sign.
    pub signed: bool,
    /// Where its value is.
    pub location: UsdtArgLocation,
}

/// Where a USDT argument is, decoded from its x86-64 GNU as operand.
/// Registers are named by their offset in x86-64's `struct pt_regs`, the
/// context of the uprobe the probe attaches as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsdtArgLocation {
    /// A register's value, shifted right by `shift` bits (8 for `%ah` and
    /// the like) before truncation to the argument's size.
    Register {
        /// The register's offset in `struct pt_regs`.
        pt_regs_offset: i16,
        /// How many bits the value is shifted right.
        shift: u8,
    },
    /// The argument's bytes are in the traced process's memory at the
    /// register's value plus `displacement`. For `sym(%rip)` the register is
    /// the instruction pointer, which at the probe is the probe's address.
    Memory {
        /// The base register's offset in `struct pt_regs`.
        pt_regs_offset: i16,
        /// What is added to the register's value.
        displacement: i64,
    },
    /// An immediate (`$42`).
    Constant(i64),
    /// An operand rbpf cannot read (kept as written, for the error that
    /// using the argument gets).
    Unsupported(String),
}

/// The offset of `ip` in x86-64's `struct pt_regs`.
const PT_REGS_IP: i16 = 128;

/// x86-64 register names, the offset in `struct pt_regs` of the full
/// register holding them, and how far the named part is shifted.
const REGISTERS: &[(&[&str], i16)] = &[
    (&["rax", "eax", "ax", "al"], 80),
    (&["rbx", "ebx", "bx", "bl"], 40),
    (&["rcx", "ecx", "cx", "cl"], 88),
    (&["rdx", "edx", "dx", "dl"], 96),
    (&["rsi", "esi", "si", "sil"], 104),
    (&["rdi", "edi", "di", "dil"], 112),
    (&["rbp", "ebp", "bp", "bpl"], 32),
    (&["rsp", "esp", "sp", "spl"], 152),
    (&["r8", "r8d", "r8w", "r8b"], 72),
    (&["r9", "r9d", "r9w", "r9b"], 64),
    (&["r10", "r10d", "r10w", "r10b"], 56),
    (&["r11", "r11d", "r11w", "r11b"], 48),
    (&["r12", "r12d", "r12w", "r12b"], 24),
    (&["r13", "r13d", "r13w", "r13b"], 16),
    (&["r14", "r14d", "r14w", "r14b"], 8),
    (&["r15", "r15d", "r15w", "r15b"], 0),
    (&["rip"], PT_REGS_IP),
];

/// The high-byte registers, read as their full register shifted by 8.
const HIGH_BYTES: &[(&str, i16)] = &[("ah", 80), ("bh", 40), ("ch", 88), ("dh", 96)];

fn register(name: &str) -> Option<(i16, u8)> {
    if let Some((_, offset)) = HIGH_BYTES.iter().find(|(n, _)| *n == name) {
        return Some((*offset, 8));
    }
    REGISTERS.iter().find(|(names, _)| names.contains(&name)).map(|(_, offset)| (*offset, 0))
}

/// Decodes a note's argument string (`-4@%edi 8@-16(%rbp) 8@$5`), one
/// [`UsdtArg`] per operand. `symbol` resolves a name in a RIP-relative
/// operand to its address; `address` is the probe's own, which is the
/// instruction pointer when it fires.
pub fn decode_args(text: &str, address: u64, symbol: &dyn Fn(&str) -> Option<u64>) -> Vec<UsdtArg> {
    text.split_whitespace().map(|spec| decode_arg(spec, address, symbol)).collect()
}

fn decode_arg(spec: &str, address: u64, symbol: &dyn Fn(&str) -> Option<u64>) -> UsdtArg {
    // `N@` gives the size in bytes, negative when signed; without it the
    // operand is a long, as the SystemTap note format specifies.
    let (size, signed, operand) = match spec.split_once('@') {
        Some((n, operand)) => match n.parse::<i8>() {
            Ok(n @ (-8 | -4 | -2 | -1 | 1 | 2 | 4 | 8)) => (n.unsigned_abs(), n < 0, operand),
            _ => return UsdtArg { size: 8, signed: false, location: UsdtArgLocation::Unsupported(spec.to_string()) },
        },
        None => (8, true, spec),
    };
    let location = decode_operand(operand, address, symbol).unwrap_or_else(|| UsdtArgLocation::Unsupported(spec.to_string()));
    UsdtArg { size, signed, location }
}

fn decode_operand(operand: &str, address: u64, symbol: &dyn Fn(&str) -> Option<u64>) -> Option<UsdtArgLocation> {
    if let Some(name) = operand.strip_prefix('%') {
        let (pt_regs_offset, shift) = register(name)?;
        return (pt_regs_offset != PT_REGS_IP).then_some(UsdtArgLocation::Register { pt_regs_offset, shift });
    }
    if let Some(imm) = operand.strip_prefix('$') {
        return parse_signed(imm).map(UsdtArgLocation::Constant);
    }
    // DISPLACEMENT(%REG); a base with an index (`(%rax,%rbx,4)`) is left
    // unsupported: compilers rarely emit it for probe arguments.
    let (displacement, rest) = operand.split_once('(')?;
    let reg = rest.strip_suffix(')')?.strip_prefix('%')?;
    let (pt_regs_offset, shift) = register(reg)?;
    if shift != 0 {
        return None;
    }
    let displacement = if displacement.is_empty() {
        0
    } else if let Some(d) = parse_signed(displacement) {
        d
    } else if pt_regs_offset == PT_REGS_IP {
        // `sym(%rip)` / `sym+8(%rip)`: the symbol's address, relative to
        // the probe's, which the instruction pointer holds when it fires,
        // wherever the binary is loaded.
        let (name, extra) = match displacement.split_once(['+', '-']) {
            Some((name, _)) => (name, parse_signed(&displacement[name.len()..])?),
            None => (displacement, 0),
        };
        let target = symbol(name)?;
        (target.wrapping_sub(address) as i64).wrapping_add(extra)
    } else {
        return None;
    };
    Some(UsdtArgLocation::Memory { pt_regs_offset, displacement })
}

/// A decimal or `0x` number with an optional sign, as GNU as writes them.
fn parse_signed(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = super::parse_number(digits)? as i64;
    Some(if negative { value.wrapping_neg() } else { value })
}

/// `usdt:PATH[:[PROVIDER:]NAME]` with wildcards: the binary's USDT probes
/// as `usdt:PATH:PROVIDER:NAME`, one line per probe however many sites it
/// has, as bpftrace lists them.
pub fn list(parts: &[&str], _verbose: bool, target: &dyn Target) -> Result<Vec<ListedProbe>, ListError> {
    let (path, provider, name) = match parts {
        [path] => (*path, "*", "*"),
        [path, name] => (*path, "*", *name),
        [path, provider, name] => (*path, *provider, *name),
        _ => return Err(ListError::Usage("usdt probes are listed as `usdt:PATH` or `usdt:PATH:PROVIDER:NAME`".into())),
    };
    let binary = binary::locate(path, None, "usdt", Span::default(), target).map_err(|d| ListError::Usage(d.message))?;
    let (path, shown) = (binary.path.as_str(), binary.shown.as_str());
    let probes = match target.usdt_probes(path) {
        Err(TargetError::NotFound) => Vec::new(),
        other => other?,
    };
    let names: Vec<String> = probes
        .iter()
        .filter(|p| glob_match(provider, &p.provider) && glob_match(name, &p.name))
        .map(|p| format!("{}:{}", p.provider, p.name))
        .collect();
    Ok(matching("*", names.iter().map(String::as_str)).into_iter().map(|n| ListedProbe::new(format!("usdt:{shown}:{n}"))).collect())
}

pub fn resolve(parts: &[&str], span: Span, target: &dyn Target, scope: &Scope) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let usage = "expected e.g. `usdt:/usr/lib/libc.so.6:libc:setjmp` or `usdt:/path:NAME`";
    let (path, provider, name) = match parts {
        [path, provider, name] => (*path, Some(*provider), *name),
        [path, name] => (*path, None, *name),
        // `usdt:*`: every probe (of the -p process's files).
        ["*"] => ("*", Some("*"), "*"),
        _ => {
            return Err(Diagnostic::error(span, "a usdt probe is written `usdt:PATH:PROVIDER:NAME` or `usdt:PATH:NAME`")
                .with_label(usage))
        }
    };
    if name.is_empty() || provider.is_some_and(str::is_empty) {
        return Err(Diagnostic::error(span, "the usdt probe's provider and name must not be empty").with_label(usage));
    }
    let binaries = match scope.pid {
        // With -p, no path (`usdt::PROVIDER:NAME`) or a wildcard one
        // (`usdt:*:*`) means every file the process maps: its program and
        // its libraries, as bpftrace reads them.
        Some(pid) if path.is_empty() || is_glob(path) => mapped_with_probes(pid, path, span, target)?,
        None if path.is_empty() => {
            return Err(Diagnostic::error(span, "a usdt probe without a binary needs a process")
                .with_label("no binary named")
                .with_note("name the binary (`usdt:PATH:PROVIDER:NAME`), or give the process with -p PID"));
        }
        None if is_glob(path) => {
            return Err(Diagnostic::error(span, "a wildcard in a usdt probe's binary needs a process")
                .with_label("which files this matches is known only in a process")
                .with_note("name one binary or library, or give the process with -p PID: its program and libraries are then searched"));
        }
        pid => {
            let binary = binary::locate(path, pid, "usdt", span, target)?;
            let probes = target.usdt_probes(&binary.path).map_err(|e| match e {
                TargetError::NotFound => Diagnostic::error(span, format!("`{}` has no USDT probes", binary.shown))
                    .with_label("no .note.stapsdt notes in this file")
                    .with_note("USDT probes are declared with <sys/sdt.h> (DTRACE_PROBE, STAP_PROBE)"),
                TargetError::Unavailable(why) => {
                    Diagnostic::error(span, format!("cannot attach usdt here: {why}")).with_label("the binary this probe names")
                }
            })?;
            vec![(binary, probes)]
        }
    };
    let matches = |p: &&UsdtProbe| glob_match(name, &p.name) && provider.is_none_or(|prov| glob_match(prov, &p.provider));
    let matched: Vec<(&Binary, &UsdtProbe)> = binaries.iter().flat_map(|(b, probes)| probes.iter().filter(matches).map(move |p| (b, p))).collect();
    // What was searched, for messages: the binary named, or the process.
    let searched = match (scope.pid, binaries.as_slice()) {
        (Some(pid), _) if path.is_empty() || is_glob(path) => format!("process {pid}"),
        (_, [(binary, _)]) => format!("`{}`", binary.shown),
        _ => "the binary".to_string(),
    };
    if matched.is_empty() {
        let wanted = provider.map_or_else(|| name.to_string(), |p| format!("{p}:{name}"));
        let mut known: Vec<String> = binaries.iter().flat_map(|(_, probes)| probes).map(|p| format!("{}:{}", p.provider, p.name)).collect();
        known.sort();
        known.dedup();
        let note = if known.is_empty() { "it has no USDT probes".to_string() } else { format!("its probes are: {}", known.join(", ")) };
        return Err(Diagnostic::error(span, format!("{} has no USDT probe `{wanted}`", searched)).with_label("no such probe").with_note(note));
    }
    if provider.is_none() && !is_glob(name) {
        let mut providers: Vec<&str> = matched.iter().map(|(_, p)| p.provider.as_str()).collect();
        providers.sort_unstable();
        providers.dedup();
        if providers.len() > 1 {
            return Err(Diagnostic::error(span, format!("the USDT probe name `{name}` is ambiguous in {}", searched))
                .with_label("more than one provider has it")
                .with_note(format!("name the provider: one of {}", providers.join(", "))));
        }
    }
    // `--usdt-file-activation`: the probe is attached for every process
    // that maps the file, so that the kernel raises its semaphore in each
    // of them; the program's own pid filter still keeps only the events
    // of the -p process.
    let attach_pid = if scope.usdt_file_activation { None } else { scope.pid };
    Ok(matched
        .into_iter()
        .map(|(binary, p)| {
            let symbol = |sym: &str| target.user_symbol_address(&binary.path, sym).ok();
            ResolvedProbe {
                kind: ProbeKind::Usdt {
                    path: binary.path.clone(),
                    provider: p.provider.clone(),
                    name: p.name.clone(),
                    offset: p.offset,
                    semaphore_offset: p.semaphore_offset,
                    args: decode_args(&p.args, p.address, &symbol),
                    pid: attach_pid,
                },
                // bpftrace's `probe` names the provider even when it was
                // left out, and under -p the file through the process's
                // root (`usdt:/proc/PID/root/usr/bin/prog:...`).
                name: format!("usdt:{}:{}:{}", if scope.pid.is_some() { &binary.path } else { &binary.shown }, p.provider, p.name),
            }
        })
        .collect())
}

/// The files process `pid` maps whose path `pattern` matches (every one
/// when it is empty), each with its USDT probes; files without any, or
/// that cannot be read, are left out.
fn mapped_with_probes(pid: u32, pattern: &str, span: Span, target: &dyn Target) -> Result<Vec<(Binary, Vec<UsdtProbe>)>, Diagnostic> {
    let files = target.mapped_files(pid).map_err(|e| match e {
        TargetError::NotFound => Diagnostic::error(span, format!("there is no process with pid {pid}")).with_label("its files are searched for this probe"),
        TargetError::Unavailable(why) => Diagnostic::error(span, format!("cannot read the files process {pid} has mapped: {why}"))
            .with_label("its files are searched for this probe"),
    })?;
    Ok(files
        .into_iter()
        .filter(|file| pattern.is_empty() || glob_match(pattern, file))
        .filter_map(|file| {
            // Named through the process's root, as bpftrace 0.17 names
            // the probes it finds in a process's files.
            let path = format!("/proc/{pid}/root{file}");
            let binary = Binary { shown: path.clone(), path };
            let probes = target.usdt_probes(&binary.path).ok().filter(|p| !p.is_empty())?;
            Some((binary, probes))
        })
        .collect())
}

/// `argN` (written `name`) of the USDT probe site `probe`, whose note
/// describes `args`.
pub(super) fn arg(args: &[UsdtArg], n: u8, name: &str, probe: &str, span: Span) -> Result<ContextValue, Diagnostic> {
    let Some(spec) = args.get(usize::from(n)) else {
        let has = match args.len() {
            0 => "no arguments".to_string(),
            1 => "1 argument: arg0".to_string(),
            2 => "2 arguments: arg0 and arg1".to_string(),
            k => format!("{k} arguments: arg0 to arg{}", k - 1),
        };
        return Err(Diagnostic::error(span, format!("`{probe}` has no `{name}`")).with_label(format!("this probe has {has}")));
    };
    if let UsdtArgLocation::Unsupported(operand) = &spec.location {
        return Err(Diagnostic::error(span, format!("`{name}` of `{probe}` is in a form rbpf cannot read"))
            .with_label(format!("its note says `{operand}`"))
            .with_note("rbpf reads registers, memory at a register plus an offset, globals (`sym(%rip)`) and constants"));
    }
    Ok(ContextValue::Usdt(spec.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FakeTarget;

    fn show(spec: &str) -> String {
        let symbol = |name: &str| (name == "counter").then_some(0x4010);
        decode_args(spec, 0x1100, &symbol)
            .iter()
            .map(|a| {
                let sign = if a.signed { "s" } else { "u" };
                let at = match &a.location {
                    UsdtArgLocation::Register { pt_regs_offset, shift } => format!("reg@{pt_regs_offset}>>{shift}"),
                    UsdtArgLocation::Memory { pt_regs_offset, displacement } => format!("mem[reg@{pt_regs_offset}{displacement:+}]"),
                    UsdtArgLocation::Constant(c) => format!("const {c}"),
                    UsdtArgLocation::Unsupported(s) => format!("unsupported {s}"),
                };
                format!("{sign}{} {at}", a.size)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn decodes_registers_of_every_width() {
        assert_eq!(show("-4@%edi 8@%rax 1@%al 2@%r9w -1@%ah 8@%r15"), "s4 reg@112>>0, u8 reg@80>>0, u1 reg@80>>0, u2 reg@64>>0, s1 reg@80>>8, u8 reg@0>>0");
    }

    #[test]
    fn decodes_memory_constants_and_rip_relative_globals() {
        assert_eq!(
            show("-4@-20(%rbp) -8@8(%rsp) 2@(%rdi) 8@$42 -4@$-1 8@$0x10 -8@counter(%rip) 4@counter+8(%rip)"),
            "s4 mem[reg@32-20], s8 mem[reg@152+8], u2 mem[reg@112+0], u8 const 42, s4 const -1, u8 const 16, \
             s8 mem[reg@128+12048], u4 mem[reg@128+12056]"
        );
    }

    #[test]
    fn keeps_what_it_cannot_read_as_unsupported() {
        assert_eq!(
            show("4@(%rax,%rbx,4) 3@%eax 4@%xmm0 8@missing(%rip) 8@%rip 4@-8(%ah) %rdi"),
            "u4 unsupported 4@(%rax,%rbx,4), u8 unsupported 3@%eax, u4 unsupported 4@%xmm0, \
             u8 unsupported 8@missing(%rip), u8 unsupported 8@%rip, u4 unsupported 4@-8(%ah), s8 reg@112>>0"
        );
    }

    fn target() -> FakeTarget {
        FakeTarget::default()
            .with_usdt("/bin/app", "app", "start", 0x1000, None, "-4@%edi")
            .with_usdt("/bin/app", "app", "req_begin", 0x1010, Some(0x3000), "8@%rsi -8@8(%rsp)")
            .with_usdt("/bin/app", "app", "req_end", 0x1020, None, "")
            .with_usdt("/bin/app", "app", "req_begin", 0x1030, Some(0x3000), "8@%rdx -8@%rax")
            .with_usdt("/bin/app", "lib", "start", 0x1040, None, "")
    }

    fn names(text: &str) -> Result<Vec<String>, String> {
        let parts: Vec<&str> = text.split(':').skip(1).collect();
        resolve(&parts, Span::default(), &target(), &Scope::default())
            .map(|probes| probes.into_iter().map(|p| p.name).collect())
            .map_err(|d| d.message)
    }

    #[test]
    fn expands_providers_names_and_wildcards() {
        assert_eq!(names("usdt:/bin/app:app:start").unwrap(), ["usdt:/bin/app:app:start"]);
        assert_eq!(names("usdt:/bin/app:req_end").unwrap(), ["usdt:/bin/app:app:req_end"]);
        // Two sites of one probe: a program each.
        assert_eq!(names("usdt:/bin/app:app:req_*").unwrap(), ["usdt:/bin/app:app:req_begin", "usdt:/bin/app:app:req_end", "usdt:/bin/app:app:req_begin"]);
        assert_eq!(names("usdt:/bin/app:*:start").unwrap(), ["usdt:/bin/app:app:start", "usdt:/bin/app:lib:start"]);
        assert_eq!(names("usdt:/bin/app:*:*").unwrap().len(), 5);
    }

    #[test]
    fn carries_offsets_semaphores_and_decoded_arguments() {
        let probes = resolve(&["/bin/app", "app", "req_begin"], Span::default(), &target(), &Scope::default()).unwrap();
        assert_eq!(
            probes[1].kind,
            ProbeKind::Usdt {
                path: "/bin/app".into(),
                provider: "app".into(),
                name: "req_begin".into(),
                offset: 0x1030,
                semaphore_offset: Some(0x3000),
                args: vec![
                    UsdtArg { size: 8, signed: false, location: UsdtArgLocation::Register { pt_regs_offset: 96, shift: 0 } },
                    UsdtArg { size: 8, signed: true, location: UsdtArgLocation::Register { pt_regs_offset: 80, shift: 0 } },
                ],
                pid: None,
            }
        );
    }

    #[test]
    fn libraries_by_name_and_in_a_process() {
        let target = target()
            .with_shared_library("libapp.so.1", "/usr/lib/libapp.so.1")
            .with_usdt("/usr/lib/libapp.so.1", "app", "start", 0x2000, None, "")
            .with_process(42, &["/bin/app", "/usr/lib/libapp.so.1"])
            .with_usdt("/proc/42/root/usr/lib/libapp.so.1", "app", "start", 0x2000, None, "");
        let names = |parts: &[&str], pid| {
            resolve(parts, Span::default(), &target, &Scope { pid, ..Scope::default() }).map(|probes| probes.into_iter().map(|p| (p.name, p.kind)).collect::<Vec<_>>()).map_err(|d| d.message)
        };
        let found = names(&["libapp", "app", "start"], None).unwrap();
        assert_eq!(found[0].0, "usdt:/usr/lib/libapp.so.1:app:start");
        assert!(matches!(&found[0].1, ProbeKind::Usdt { path, pid: None, .. } if path == "/usr/lib/libapp.so.1"));
        let found = names(&["libapp", "start"], Some(42)).unwrap();
        // Under -p, named through the process's root as bpftrace names it.
        assert_eq!(found[0].0, "usdt:/proc/42/root/usr/lib/libapp.so.1:app:start");
        assert!(matches!(&found[0].1, ProbeKind::Usdt { path, pid: Some(42), .. } if path == "/proc/42/root/usr/lib/libapp.so.1"));
        assert_eq!(names(&["libother", "start"], Some(42)).unwrap_err(), "process 42 has no `libother` mapped");
    }

    #[test]
    fn without_a_path_a_process_is_searched_in_every_file_it_maps() {
        let target = target()
            .with_process(42, &["/bin/app", "/usr/lib/libc.so.6", "/usr/lib/libapp.so.1"])
            .with_usdt("/proc/42/root/bin/app", "app", "start", 0x1000, None, "")
            .with_usdt("/proc/42/root/usr/lib/libapp.so.1", "lib", "start", 0x2000, Some(0x4000), "");
        let resolve_in = |parts: &[&str], pid, usdt_file_activation| {
            resolve(parts, Span::default(), &target, &Scope { pid, usdt_file_activation, ..Scope::default() }).map_err(|d| d.message)
        };
        let names = |parts: &[&str]| resolve_in(parts, Some(42), false).map(|probes| probes.into_iter().map(|p| p.name).collect::<Vec<_>>());
        // Named through the process's root, as bpftrace 0.17 names them.
        assert_eq!(names(&["", "lib", "start"]).unwrap(), ["usdt:/proc/42/root/usr/lib/libapp.so.1:lib:start"]);
        assert_eq!(names(&["*", "*"]).unwrap(), ["usdt:/proc/42/root/bin/app:app:start", "usdt:/proc/42/root/usr/lib/libapp.so.1:lib:start"]);
        assert_eq!(names(&["*libapp*", "*", "*"]).unwrap(), ["usdt:/proc/42/root/usr/lib/libapp.so.1:lib:start"]);
        assert_eq!(names(&["", "start"]).unwrap_err(), "the USDT probe name `start` is ambiguous in process 42");
        assert_eq!(names(&["", "app", "stop"]).unwrap_err(), "process 42 has no USDT probe `app:stop`");
        assert_eq!(resolve_in(&["", "lib", "start"], Some(7), false).unwrap_err(), "there is no process with pid 7");
        assert_eq!(resolve_in(&["", "lib", "start"], None, false).unwrap_err(), "a usdt probe without a binary needs a process");
        assert_eq!(resolve_in(&["*", "lib", "start"], None, false).unwrap_err(), "a wildcard in a usdt probe's binary needs a process");
        // The pid the probe is attached for: the process's alone, or with
        // --usdt-file-activation every process's, so that each one's
        // semaphore is raised.
        let pid_of = |activation| match &resolve_in(&["", "lib", "start"], Some(42), activation).unwrap()[0].kind {
            ProbeKind::Usdt { pid, .. } => *pid,
            other => panic!("{other:?}"),
        };
        assert_eq!((pid_of(false), pid_of(true)), (Some(42), None));
    }

    #[test]
    fn refuses_what_matches_nothing_or_too_much() {
        assert_eq!(names("usdt:/bin/app:start").unwrap_err(), "the USDT probe name `start` is ambiguous in `/bin/app`");
        assert_eq!(names("usdt:/bin/app:app:nope").unwrap_err(), "`/bin/app` has no USDT probe `app:nope`");
        assert_eq!(names("usdt:/bin/other:a:b").unwrap_err(), "`/bin/other` has no USDT probes");
        // Relative to the current directory (`/` in the fake target).
        assert_eq!(names("usdt:bin/app:app:start").unwrap(), ["usdt:bin/app:app:start"]);
        assert!(names("usdt:/bin/app").is_err());
        assert!(names("usdt:/bin/app:a:b:c").is_err());
    }
}
