//! Many syscall tracepoints as one: `tracepoint:syscalls:sys_enter_*`
//! attaches some 360 tracepoints, and the kernel detaches each with a
//! grace period of its own, serialised (perf_trace_event_unreg waits under
//! event_mutex): half a minute to stop. Their records are laid out as
//! `raw_syscalls:sys_enter`'s (and `sys_exit_*`'s as `sys_exit`'s), so past
//! a few of them their programs run unchanged as tail calls from one
//! program on that tracepoint, indexed by the syscall's number: one perf
//! event, one grace period to detach.

use rbpf_lang::checked;
use rbpf_lang::probes::ProbeKind;

use crate::elf::{map_type, ElfMap, MapDef};
use crate::insn::{Builder, Code, Helper, Reg, Size};
use crate::manifest::{Attach, ProgramInfo};
use crate::CodegenError;

/// From this many syscall tracepoints of one direction on, they share one
/// tracepoint: below, the per-event cost of running a dispatcher for every
/// system call is not worth the faster detach.
const MIN_SHARED: usize = 8;

const ENTER_TABLE: &str = "rbpf_sys_enter";
const EXIT_TABLE: &str = "rbpf_sys_exit";

/// Turns the syscall tracepoint programs among `probes` (each with its
/// `infos` and `codes` entry) into tail calls, adding a dispatcher program
/// and a program array per direction where there are enough of them.
pub(super) fn share_raw_syscalls(
    probes: &[checked::Probe],
    infos: &mut Vec<ProgramInfo>,
    codes: &mut Vec<Code>,
    maps: &mut Vec<ElfMap<'_>>,
) -> Result<(), CodegenError> {
    for (exit, table) in [(false, ENTER_TABLE), (true, EXIT_TABLE)] {
        let mut members: Vec<(usize, u32)> = probes
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.kind {
                ProbeKind::Tracepoint { syscall: Some(s), .. } if s.exit == exit => Some((i, s.nr)),
                _ => None,
            })
            .collect();
        // A table holds one program per syscall: two probes on the same
        // syscall keep their own tracepoints.
        let mut counts = std::collections::HashMap::new();
        for (_, nr) in &members {
            *counts.entry(*nr).or_insert(0) += 1;
        }
        members.retain(|(_, nr)| counts[nr] == 1);
        if members.len() < MIN_SHARED {
            continue;
        }
        let mut max_nr = 0;
        for &(i, nr) in &members {
            let Attach::Tracepoint { category, name } = &infos[i].attach else { continue };
            infos[i].attach = Attach::TailCall { table: table.to_string(), index: nr, category: category.clone(), name: name.clone() };
            max_nr = max_nr.max(nr);
        }
        maps.push(ElfMap {
            name: table,
            def: MapDef { map_type: map_type::PROG_ARRAY, key_size: 4, value_size: 4, max_entries: max_nr + 1, flags: 0 },
        });
        let code = dispatcher(table)?;
        let (category, name) = ("raw_syscalls", if exit { "sys_exit" } else { "sys_enter" });
        infos.push(ProgramInfo {
            name: format!("dispatch_{name}"),
            section: format!("tracepoint/{category}/{name}"),
            attach: Attach::Dispatcher { category: category.into(), name: name.into(), table: table.into() },
            spans: code.spans.clone(),
            probe_name: format!("tracepoint:{category}:{name}"),
            optional: false,
        });
        codes.push(code);
    }
    Ok(())
}

/// `tail_call(ctx, table, id)`: the record's `long id` at offset 8 picks
/// the program; a syscall without one (or id -1) falls through.
fn dispatcher(table: &str) -> Result<Code, CodegenError> {
    let mut b = Builder::new();
    b.load(Size::W, Reg::R3, Reg::R1, 8);
    b.load_map_fd(Reg::R2, table);
    b.call(Helper::TailCall);
    b.mov64(Reg::R0, 0);
    b.exit();
    b.finish()
}
