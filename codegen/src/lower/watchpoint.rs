//! The uprobe half of `watchpoint:FUNC+argN`: a program of its own, not
//! the user's, that sends the address the function was passed to the
//! runtime (which then places the breakpoint) and, for a synchronous
//! watchpoint, stops the process until it is placed.

use rbpf_lang::Span;

use super::expr::pt_regs;
use super::RINGBUF_MAP;
use crate::elf::{map_type, MapDef};
use crate::insn::{Alu, Builder, Code, Cond, Helper, Reg, Size};
use crate::manifest::{event, WATCHED_MAP};
use crate::CodegenError;

/// SIGSTOP on the architectures rbpf runs on (x86-64, arm64).
const SIGSTOP: i32 = 19;

/// The watched map's definition ([`WATCHED_MAP`]): a hash of the pairs
/// the runtime has dealt with. Only four addresses (x86's debug
/// registers) can be watched at once; the rest of the room is for the
/// addresses refused. A full map only costs the repeats their record.
pub(super) const WATCHED_MAP_DEF: MapDef = MapDef { map_type: map_type::HASH, key_size: 12, value_size: 1, max_entries: 1024, flags: 0 };

/// The setup program: an [`event::WATCHPOINT`] record naming the program
/// at `watch` and the value of argument `arg`, unless [`WATCHED_MAP`]
/// says that pair was dealt with; then, unless `asynchronous`, a SIGSTOP
/// to the calling process, sent only when the record was (else nobody
/// would resume it). The signal is delivered once the kernel has run the
/// probed (first) instruction, before the next one.
pub(super) fn setup(arg: u8, watch: u32, asynchronous: bool, span: Span) -> Result<Code, CodegenError> {
    let mut b = Builder::new();
    b.set_span(span);
    let done = b.new_label();
    // The record, at r10 - 16: the header, then the address; its last 12
    // bytes (the program's index, the address) are the watched map's key.
    b.load(Size::DW, Reg::R3, Reg::R1, pt_regs::ARGS[usize::from(arg)]);
    b.store(Size::W, Reg::R10, -16, event::WATCHPOINT as i32);
    b.store(Size::W, Reg::R10, -12, watch as i32);
    b.store(Size::DW, Reg::R10, -8, Reg::R3);
    b.load_map_fd(Reg::R1, WATCHED_MAP);
    b.mov64(Reg::R2, Reg::R10);
    b.alu64(Alu::Add, Reg::R2, -12);
    b.call(Helper::MapLookupElem);
    b.jump_if(Cond::Ne, Reg::R0, 0, done);
    b.load_map_fd(Reg::R1, RINGBUF_MAP);
    b.mov64(Reg::R2, Reg::R10);
    b.alu64(Alu::Add, Reg::R2, -16);
    b.mov64(Reg::R3, 16);
    b.mov64(Reg::R4, 0);
    b.call(Helper::RingbufOutput);
    if !asynchronous {
        b.jump_if(Cond::Ne, Reg::R0, 0, done);
        b.mov64(Reg::R1, SIGSTOP);
        b.call(Helper::SendSignal);
    }
    b.bind(done);
    b.mov64(Reg::R0, 0);
    b.exit();
    b.finish()
}
