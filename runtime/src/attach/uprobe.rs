//! `uprobe` and `uretprobe`: a function's entry or return in a user-space
//! binary, in every process that runs it or, for `-p PID`, in that one,
//! through the uprobe PMU at the function's file offset.

use std::os::fd::BorrowedFd;

use rbpf_codegen::manifest::{ProgramInfo, UprobeLocation};
use rbpf_lang::target::TargetError;

use super::pmu::Pmu;
use super::Link;
use crate::error::Action;
use crate::{sys, target, RuntimeError};

pub(super) fn attach(
    program: BorrowedFd<'_>,
    info: &ProgramInfo,
    path: &str,
    location: &UprobeLocation,
    ret: bool,
    pid: Option<u32>,
) -> Result<Link, RuntimeError> {
    let symbol = |name: &str| {
        target::uprobe_offset(path, name).map_err(|e| match e {
            TargetError::NotFound => RuntimeError::Unattachable { probe: info.probe_name.clone(), reason: format!("{path} has no function {name}") },
            TargetError::Unavailable(why) => RuntimeError::Unattachable { probe: info.probe_name.clone(), reason: why },
        })
    };
    let offset = match location {
        UprobeLocation::Symbol(f) => symbol(f)?,
        UprobeLocation::SymbolOffset(f, offset) => symbol(f)? + offset,
        UprobeLocation::Address(a) => *a,
    };
    if starts_with_evex(path, offset) {
        return Err(RuntimeError::Unattachable {
            probe: info.probe_name.clone(),
            reason: "it starts with an AVX-512 instruction, which x86-64 uprobes take but execute wrongly (the traced process would crash)".into(),
        });
    }
    let pmu = Pmu::open("uprobe", "uprobe", &info.probe_name)?;
    // The kernel then runs the program for that process's hits alone,
    // rather than every process's being filtered by the predicate.
    let pid = pid.filter(|&p| p != 0);
    let event = sys::perf_event_open_probe(pmu.r#type, path, offset, pmu.retprobe(ret)?, pid)
        .map_err(|e| RuntimeError::attach(Action::AttachUprobes, &info.probe_name, e))?;
    let link = sys::perf_event_attach(event, program).map_err(|e| RuntimeError::attach(Action::AttachUprobes, &info.probe_name, e))?;
    Ok(Link::from(link))
}

/// Whether the instruction at file offset `offset` of `path` is EVEX-encoded.
fn starts_with_evex(path: &str, offset: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut code = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|f| f.read_at(&mut code, offset));
    read.is_ok_and(|n| is_evex(&code[..n]))
}

/// Links a program loaded for multi-attach to every function of a
/// wildcard in `path`, through as few links as the kernel takes. It
/// registers all of a link's offsets or none, and refuses a function
/// whose first instruction uprobes cannot handle (ENOTSUPP, EINVAL): the
/// offsets are then halved until each refused function stands alone, the
/// rest attach, and the refused ones are named in one line of `warnings`.
pub(super) fn attach_multi(
    program: BorrowedFd<'_>,
    info: &ProgramInfo,
    path: &str,
    funcs: &[String],
    ret: bool,
    pid: Option<u32>,
    warnings: &mut Vec<String>,
) -> Result<Link, RuntimeError> {
    let offsets = target::uprobe_offsets(path, funcs).map_err(|e| match e {
        TargetError::NotFound => RuntimeError::Unattachable { probe: info.probe_name.clone(), reason: format!("{path} has no symbols") },
        TargetError::Unavailable(why) => RuntimeError::Unattachable { probe: info.probe_name.clone(), reason: why },
    })?;
    let mut missing = Vec::new();
    let mut found = Vec::with_capacity(funcs.len());
    for (func, offset) in funcs.iter().zip(offsets) {
        match offset {
            Some(offset) => found.push((func.as_str(), offset)),
            None => missing.push(func.as_str()),
        }
    }
    // Aliases (`realloc`, `__libc_realloc`) share an offset: probed once.
    let mut seen = std::collections::HashSet::with_capacity(found.len());
    found.retain(|(_, offset)| seen.insert(*offset));
    let pid = pid.filter(|&p| p != 0);
    // Each function's cookie is its index in `funcs`, from which the
    // program names its probe (`probe`).
    let index: std::collections::HashMap<&str, u64> = funcs.iter().enumerate().map(|(i, f)| (f.as_str(), i as u64)).collect();
    let link = |part: &[(&str, u64)]| {
        let offsets: Vec<u64> = part.iter().map(|(_, offset)| *offset).collect();
        let cookies: Vec<u64> = part.iter().map(|(func, _)| index.get(func).copied().unwrap_or(0)).collect();
        sys::attach_uprobe_multi(program, path, &offsets, &cookies, ret, pid)
    };
    let mut links = Vec::new();
    let mut refused = Vec::new();
    let mut first_refusal = None;
    let mut refuse = |func, e: std::io::Error| {
        refused.push(func);
        first_refusal.get_or_insert(e);
    };
    let failed = |e| RuntimeError::syscall(Action::AttachUprobes, "BPF_LINK_CREATE", &info.probe_name, e);
    // Finding a refused function by halving costs a registration of every
    // offset before it in every process that maps the file, each time: the
    // functions likely refused are tried alone first, which costs nothing
    // when the kernel refuses them, as it does before registering any.
    let text = std::fs::read(path).unwrap_or_default();
    let code = |offset: u64| text.get(usize::try_from(offset).unwrap_or(usize::MAX)..).unwrap_or_default();
    let (unsafe_sites, found): (Vec<Site<'_>>, Vec<Site<'_>>) = found.into_iter().partition(|(_, offset)| is_evex(code(*offset)));
    if !unsafe_sites.is_empty() {
        let names: Vec<&str> = unsafe_sites.iter().map(|(f, _)| *f).collect();
        warnings.push(format!(
            "{}: left out {} of {}: {} (an AVX-512 instruction first, which x86-64 uprobes take but execute wrongly)",
            info.probe_name,
            count_functions(names.len()),
            funcs.len(),
            names.join(", ")
        ));
    }
    let (suspect, likely): (Vec<Site<'_>>, Vec<Site<'_>>) = found.iter().copied().partition(|(_, offset)| uprobes_refuse(code(*offset)));
    // Each refusal waits out a grace period: the suspects are tried at
    // once, from threads of their own, while the rest attach here.
    let (tried, parts) = std::thread::scope(|scope| {
        let link = &link;
        let threads: Vec<_> = suspect
            .chunks(suspect.len().div_ceil(MAX_THREADS).max(1))
            .map(|chunk: &[Site<'_>]| scope.spawn(move || chunk.iter().map(|one| (one.0, link(std::slice::from_ref(one)))).collect::<Vec<_>>()))
            .collect();
        // Registering installs a breakpoint in every process that maps
        // the file, and unregistering removes it: work that parts of the
        // wildcard, each its own link, share among the CPUs both ways.
        let parts = std::thread::available_parallelism().map_or(1, |n| n.get()).min(likely.len().div_ceil(PART_SIZE)).max(1);
        let workers: Vec<_> = likely
            .chunks(likely.len().div_ceil(parts).max(1))
            .map(|part| {
                scope.spawn(move || {
                    let (mut links, mut refused) = (Vec::new(), Vec::new());
                    let rest = attach_parts(part, link, &mut links, &mut |f, e| refused.push((f, e)));
                    (links, refused, rest)
                })
            })
            .collect();
        let tried = threads.into_iter().flat_map(|t| t.join().unwrap_or_default());
        let parts: Vec<_> = workers.into_iter().filter_map(|w| w.join().ok()).collect();
        (tried.collect::<Vec<_>>(), parts)
    });
    for (func, outcome) in tried {
        match outcome {
            Ok(fd) => links.push(fd),
            Err(e) if refuses_an_offset(&e) => refuse(func, e),
            Err(e) => return Err(failed(e)),
        }
    }
    for (part_links, part_refused, rest) in parts {
        rest.map_err(failed)?;
        links.extend(part_links);
        part_refused.into_iter().for_each(|(f, e)| refuse(f, e));
    }
    if links.is_empty() {
        let e = first_refusal.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT));
        return Err(RuntimeError::syscall(Action::AttachUprobes, "BPF_LINK_CREATE", &info.probe_name, e));
    }
    if let Some(e) = first_refusal {
        warnings.push(refusal_warning(&info.probe_name, funcs.len(), &refused, &e));
    }
    if !missing.is_empty() {
        warnings.push(format!("{}: {path} no longer has {}; attached the others", info.probe_name, missing.join(", ")));
    }
    Ok(Link::many(links))
}

/// A function of a wildcard and its offset in the file.
type Site<'f> = (&'f str, u64);

/// The fewest functions worth a link (and a thread) of their own.
const PART_SIZE: usize = 512;

/// The most threads that try suspect functions at once.
const MAX_THREADS: usize = 64;

/// Whether x86-64 uprobes probably refuse the instruction at the start of
/// `code`, as this kernel refuses them (ENOTSUPP): one with a LOCK prefix,
/// or one in VEX encoding (AVX code). A guess that only orders the
/// attempts: the kernel has the last word.
fn uprobes_refuse(code: &[u8]) -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    const LOCK: u8 = 0xf0;
    let opcode = first_opcode(code);
    let prefixes = code.iter().take(15).take_while(|b| matches!(**b, 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x40..=0x4f)).count();
    code[..prefixes].contains(&LOCK) || matches!(opcode, Some(0xc4 | 0xc5))
}

/// Whether the kernel refuses a link for what is at one of its offsets
/// (the instruction there), rather than for the link as a whole.
fn refuses_an_offset(e: &std::io::Error) -> bool {
    /// The kernel's ENOTSUPP, which uprobes return for an instruction they
    /// cannot single-step or emulate.
    const ENOTSUPP: i32 = 524;
    matches!(e.raw_os_error(), Some(libc::EINVAL | ENOTSUPP | libc::EILSEQ))
}

/// Links `part` whole or, when the kernel refuses one of its offsets, its
/// halves in turn; `refused` hears of each function refused alone. Fails
/// on a refusal of another kind (permissions, the file), which splitting
/// cannot cure.
fn attach_parts<'f, L>(
    part: &[(&'f str, u64)],
    link: &L,
    links: &mut Vec<std::os::fd::OwnedFd>,
    refused: &mut dyn FnMut(&'f str, std::io::Error),
) -> std::io::Result<()>
where
    L: Fn(&[(&'f str, u64)]) -> std::io::Result<std::os::fd::OwnedFd>,
{
    if part.is_empty() {
        return Ok(());
    }
    match link(part) {
        Ok(fd) => {
            links.push(fd);
            Ok(())
        }
        Err(e) if !refuses_an_offset(&e) => Err(e),
        Err(e) if part.len() == 1 => {
            refused(part[0].0, e);
            Ok(())
        }
        Err(_) => {
            let (left, right) = part.split_at(part.len() / 2);
            attach_parts(left, link, links, refused)?;
            attach_parts(right, link, links, refused)
        }
    }
}

/// One line naming the functions of a wildcard the kernel would not probe.
fn refusal_warning(probe: &str, total: usize, refused: &[&str], e: &std::io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(524) => "uprobes cannot handle the instruction there, error 524".to_string(),
        _ => crate::target::os_reason(e),
    };
    let count = count_functions(refused.len());
    format!("{probe}: the kernel refuses to probe {count} of {total}: {} ({why}); attached the others", refused.join(", "))
}

fn count_functions(n: usize) -> String {
    match n {
        1 => "1 function".to_string(),
        n => format!("{n} functions"),
    }
}

/// Whether `code` starts with an EVEX-encoded (AVX-512) instruction on
/// x86-64. Linux 6.18 accepts a uprobe there but single-steps it wrongly:
/// the probed process crashes (glibc's `__memset_avx512_unaligned_erms`,
/// which every process calls on a machine with AVX-512). rbpf does not
/// probe it.
pub(crate) fn is_evex(code: &[u8]) -> bool {
    cfg!(target_arch = "x86_64") && first_opcode(code) == Some(0x62)
}

/// The opcode byte of the instruction at the start of `code`, after its
/// legacy and REX prefixes.
fn first_opcode(code: &[u8]) -> Option<u8> {
    // Legacy prefixes (segment, operand and address size, REP, LOCK), then REX.
    let is_prefix = |b: &u8| matches!(*b, 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x40..=0x4f);
    let prefixes = code.iter().take(15).take_while(|b| is_prefix(b)).count();
    code.get(prefixes).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::os::fd::OwnedFd;

    fn dev_null() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    /// Links as a kernel that refuses the offsets in `bad` with `errno`.
    fn attach(funcs: &[(&'static str, u64)], bad: &[u64], errno: i32) -> (io::Result<()>, usize, Vec<&'static str>, usize) {
        let attempts = std::cell::Cell::new(0);
        let link = |part: &[(&'static str, u64)]| {
            attempts.set(attempts.get() + 1);
            match part.iter().any(|(_, o)| bad.contains(o)) {
                true => Err(io::Error::from_raw_os_error(errno)),
                false => Ok(dev_null()),
            }
        };
        let mut links = Vec::new();
        let mut refused = Vec::new();
        let result = attach_parts(funcs, &link, &mut links, &mut |f, _| refused.push(f));
        (result, links.len(), refused, attempts.get())
    }

    const FUNCS: [(&str, u64); 8] =
        [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6), ("g", 7), ("h", 8)];

    #[test]
    fn one_link_when_the_kernel_takes_every_offset() {
        let (result, links, refused, attempts) = attach(&FUNCS, &[], 524);
        assert!(result.is_ok());
        assert_eq!((links, refused.len(), attempts), (1, 0, 1));
    }

    #[test]
    fn refused_functions_are_found_and_the_others_attach() {
        let (result, links, refused, _) = attach(&FUNCS, &[3], 524);
        assert!(result.is_ok());
        assert_eq!(refused, ["c"]);
        assert_eq!(links, 3, "a b | d, then e f g h");
        let (_, _, refused, _) = attach(&FUNCS, &[1, 8], libc::EINVAL);
        assert_eq!(refused, ["a", "h"]);
        let (_, links, refused, _) = attach(&FUNCS, &[1, 2, 3, 4, 5, 6, 7, 8], 524);
        assert_eq!((links, refused.len()), (0, 8));
    }

    #[test]
    fn guesses_which_instructions_uprobes_refuse() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        assert!(uprobes_refuse(&[0xf0, 0xff, 0x0f]), "lock decl (%rdi)");
        assert!(uprobes_refuse(&[0xf0, 0x0f, 0xba, 0xaf]), "lock btsl");
        assert!(uprobes_refuse(&[0xc5, 0xf9, 0x6e, 0xc6]), "vmovd");
        assert!(uprobes_refuse(&[0xc4, 0x41, 0x01, 0xef]), "vpxor");
        assert!(is_evex(&[0x62, 0xe2, 0x7d, 0x48, 0x7a, 0xc6]), "vpbroadcastb %esi,%zmm16");
        assert!(!is_evex(&[0xc5, 0xf9, 0x6e, 0xc6]) && !is_evex(&[0x55]) && !is_evex(&[]));
        assert!(!uprobes_refuse(&[0xf3, 0x0f, 0x1e, 0xfa]), "endbr64");
        assert!(!uprobes_refuse(&[0x55]), "push %rbp");
        assert!(!uprobes_refuse(&[0x48, 0x89, 0xf8]), "mov %rdi,%rax");
        assert!(!uprobes_refuse(&[]));
    }

    #[test]
    fn other_refusals_fail_at_once() {
        let (result, links, refused, attempts) = attach(&FUNCS, &[3], libc::EPERM);
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EPERM));
        assert_eq!((links, refused.len(), attempts), (0, 0, 1));
    }

    #[test]
    fn the_warning_names_the_refused_functions_in_one_line() {
        let e = io::Error::from_raw_os_error(524);
        assert_eq!(
            refusal_warning("uprobe:/lib/libc.so.6:pthread_*", 170, &["pthread_x"], &e),
            "uprobe:/lib/libc.so.6:pthread_*: the kernel refuses to probe 1 function of 170: pthread_x (uprobes cannot handle the instruction there, error 524); attached the others"
        );
        let e = io::Error::from_raw_os_error(libc::EINVAL);
        let line = refusal_warning("uprobe:/bin/x:f*", 9, &["f1", "f2"], &e);
        assert_eq!(line, "uprobe:/bin/x:f*: the kernel refuses to probe 2 functions of 9: f1, f2 (Invalid argument); attached the others");
    }
}
