//! Stacks: a `kstack` / `ustack` value (a stack id, and the pid of a user
//! stack) read back from its stack-trace map and printed as bpftrace 0.17
//! prints it — a newline, then one line per frame: `    sym+off` in
//! bpftrace's mode, `\taddr sym+off` (and ` (module)` for a user frame)
//! in perf's; a frame without a symbol is its address.
//!
//! Symbols are read lazily, on the first stack printed: a program without
//! stacks reads neither /proc/kallsyms nor any ELF file. A program with
//! user stacks or `usym()` has the kernel record mappings as they are
//! made, from before its probes are attached (see `symbols`).

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use rbpf_lang::types::StackMode;

use crate::kallsyms::Kallsyms;
use crate::symbols::{SymbolOptions, UserSymbols};

/// The stack-trace maps of a session, and the symbols their frames name.
#[derive(Debug, Default)]
pub struct Stacks {
    maps: HashMap<String, OwnedFd>,
    kernel: OnceCell<Kallsyms>,
    user: RefCell<UserSymbols>,
    /// Where a stack's text is written before it is copied out at its
    /// exact length: a map of thousands of stacks holds them all at once
    /// until it is printed, and a string grown line by line would keep up
    /// to twice the room it needs.
    scratch: RefCell<String>,
}

/// One frame's symbol: its name and the address's offset into it, and the
/// file it is in (user frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The symbol's name.
    pub name: String,
    /// The address minus the symbol's start.
    pub offset: u64,
    /// The file (user frames): what perf mode prints in parentheses.
    pub module: Option<String>,
}

impl Stacks {
    /// Stacks read from these stack-trace maps, by name.
    pub fn new(maps: HashMap<String, OwnedFd>) -> Stacks {
        Stacks { maps, ..Stacks::default() }
    }

    /// The stack-trace maps among a session's maps (named by their frame
    /// limit, `rbpf_stack_N`) and the hash maps beside them
    /// (`rbpf_stackx_N`), duplicated so that decoding owns them; and when
    /// the program captures user addresses (it has the map of pids it
    /// reported, `rbpf_stack_pids`), the kernel's mapping records from now
    /// on.
    pub(crate) fn of_session(maps: &crate::loader::Maps, options: SymbolOptions) -> Stacks {
        let stack_maps = (1..=rbpf_lang::types::MAX_STACK_FRAMES)
            .flat_map(|limit| [format!("rbpf_stack_{limit}"), rbpf_codegen::manifest::hashed_stack_map(limit)])
            .filter_map(|name| {
                let fd = maps.fd(&name).ok()?.try_clone_to_owned().ok()?;
                Some((name, fd))
            })
            .collect();
        let user = if maps.fd("rbpf_stack_pids").is_ok() && options.resolve {
            UserSymbols::tracking(options)
        } else {
            UserSymbols::with_options(options)
        };
        Stacks { maps: stack_maps, user: RefCell::new(user), ..Stacks::default() }
    }

    /// Copies of the fds that turn readable when mapping records wait to
    /// be read (none without them).
    pub fn mapping_record_fds(&self) -> Vec<OwnedFd> {
        self.user.borrow().record_fds().into_iter().filter_map(|fd| fd.try_clone_to_owned().ok()).collect()
    }

    /// Reads the mapping records waiting, so that they do not overflow.
    pub fn read_mapping_records(&self) {
        self.user.borrow_mut().read_records();
    }

    /// Forgets the processes that exited without an address captured;
    /// call once every event sent before now has been read.
    pub fn forget_exited(&self) {
        self.user.borrow_mut().forget_exited();
    }

    /// Reads the mappings and symbols of process `pid` now, while it
    /// lives: its user stacks stay named after it exits.
    pub fn remember_process(&self, pid: u32) {
        self.user.borrow_mut().remember(pid);
    }

    /// The name of the symbol the user address `addr` is in, in process
    /// `pid`, as bpftrace prints a `usym()` value: without an offset; the
    /// address in hex when no symbol has it (a null one as C++ streams a
    /// null pointer, `0`).
    pub fn user_symbol_name(&self, pid: u32, addr: u64) -> String {
        match self.user.borrow_mut().symbol(pid, addr) {
            Some(symbol) => symbol.name,
            None if addr == 0 => "0".to_string(),
            None => format!("0x{addr:x}"),
        }
    }

    /// The text of the stack stored as `value` (a stack id in the low 32
    /// bits, a pid in the high 32) in the map `map` of `limit`-frame stacks.
    pub fn text(&self, map: &str, user: bool, mode: StackMode, limit: u8, indent: u8, value: u64) -> String {
        let (id, pid) = (value as u32 as i32, (value >> 32) as u32);
        // As bpftrace: a stack that could not be captured or read back
        // (no user stack in a kernel thread) prints as nothing at all.
        let Some(frames) = (id >= 0).then(|| self.frames(map, limit, id as u32)).flatten() else { return String::new() };
        let symbols: Vec<Option<Symbol>> = if user {
            let mut user = self.user.borrow_mut();
            frames.iter().map(|&addr| user.symbol(pid, addr)).collect()
        } else {
            let kernel = self.kernel.get_or_init(Kallsyms::read);
            frames.iter().map(|&addr| kernel.symbol(addr).map(|(name, offset)| Symbol { name: name.to_string(), offset, module: None })).collect()
        };
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        write_stack(&frames, &symbols, user, mode, indent, &mut scratch);
        scratch.as_str().to_owned()
    }

    /// The frames of stack `id`: its nonzero addresses, innermost first,
    /// from the stack-trace map or, for a stack whose slot there was
    /// taken, from the hash map codegen kept it in.
    fn frames(&self, map: &str, limit: u8, id: u32) -> Option<Vec<u64>> {
        let fd = if id & rbpf_codegen::manifest::HASHED_STACK_ID != 0 {
            self.maps.get(&rbpf_codegen::manifest::hashed_stack_map(limit))?
        } else {
            self.maps.get(map)?
        };
        let mut bytes = vec![0u8; 8 * usize::from(limit)];
        match crate::sys::map_lookup(fd.as_fd(), &id.to_le_bytes(), &mut bytes) {
            Ok(true) => Some(
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                    .take_while(|&a| a != 0)
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// A stack's text, as bpftrace 0.17 prints it (frames indented by
/// `indent` spaces in bpftrace's mode); a frame without a symbol
/// is its address (`0x7f06...`), with the module `[unknown]` in perf mode.
pub fn format_stack(frames: &[u64], symbols: &[Option<Symbol>], user: bool, mode: StackMode, indent: u8) -> String {
    let mut text = String::new();
    write_stack(frames, symbols, user, mode, indent, &mut text);
    text
}

/// [`format_stack`], appended to `text`.
fn write_stack(frames: &[u64], symbols: &[Option<Symbol>], user: bool, mode: StackMode, indent: u8, text: &mut String) {
    use std::fmt::Write;
    text.push('\n');
    for (addr, symbol) in frames.iter().zip(symbols) {
        match mode {
            StackMode::Bpftrace => text.extend(std::iter::repeat_n(' ', usize::from(indent))),
            StackMode::Perf => {
                let _ = write!(text, "\t{addr:x} ");
            }
        }
        let _ = match symbol {
            Some(s) => write!(text, "{}+{}", s.name, s.offset),
            None => write!(text, "0x{addr:x}"),
        };
        if mode == StackMode::Perf && user {
            let module = symbol.as_ref().and_then(|s| s.module.as_deref()).unwrap_or("[unknown]");
            let _ = write!(text, " ({module})");
        }
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, offset: u64, module: Option<&str>) -> Option<Symbol> {
        Some(Symbol { name: name.into(), offset, module: module.map(Into::into) })
    }

    #[test]
    fn stacks_print_as_bpftrace_prints_them() {
        let frames = [0xffffffff8163e885, 0xffffffff81679f16, 0x1234];
        let symbols = [sym("__alloc_frozen_pages_noprof", 133, None), sym("alloc_pages_mpol", 134, None), None];
        assert_eq!(
            format_stack(&frames, &symbols, false, StackMode::Bpftrace, 4),
            "\n    __alloc_frozen_pages_noprof+133\n    alloc_pages_mpol+134\n    0x1234\n"
        );
        assert_eq!(
            format_stack(&frames[..2], &symbols[..2], false, StackMode::Perf, 4),
            "\n\tffffffff8163e885 __alloc_frozen_pages_noprof+133\n\tffffffff81679f16 alloc_pages_mpol+134\n"
        );
        let user = [sym("leaf", 8, Some("/tmp/chain"))];
        assert_eq!(format_stack(&[0x401126], &user, true, StackMode::Perf, 4), "\n\t401126 leaf+8 (/tmp/chain)\n");
        assert_eq!(format_stack(&[0x7f06], &[None], true, StackMode::Perf, 4), "\n\t7f06 0x7f06 ([unknown])\n");
        assert_eq!(format_stack(&[], &[], true, StackMode::Bpftrace, 4), "\n");
        assert_eq!(format_stack(&[1], &[sym("leaf", 0, None)], true, StackMode::Bpftrace, 8), "\n        leaf+0\n");
    }
}
