//! Copying bytes between the places a program holds them — the stack, a
//! map value, the tracepoint record — in one loop for every lowering.

use super::ProgramGen;
use crate::insn::{Reg, Size};

/// Whether an offset from an 8-byte aligned base (r10, a map value, the
/// context) is aligned to `n`.
pub(super) fn aligned(off: i32, n: i32) -> bool {
    off.rem_euclid(n) == 0
}

impl ProgramGen<'_> {
    /// Copies `n` bytes from `src + src_off` to `dst + dst_off` through the
    /// register `via`, in the widest accesses that both sides' alignment
    /// and the bytes left allow (the verifier refuses a misaligned stack or
    /// context access): whole words between aligned places.
    pub(super) fn copy_memory(&mut self, via: Reg, (src, src_off): (Reg, i32), (dst, dst_off): (Reg, i32), n: u32) {
        let mut i = 0;
        while i < n {
            let mut width = 8;
            while width > 1 && (!aligned(src_off + i as i32, width) || !aligned(dst_off + i as i32, width) || n - i < width as u32) {
                width /= 2;
            }
            let size = Size::from_bytes(width as usize).unwrap_or(Size::B);
            self.b.load(size, via, src, (src_off + i as i32) as i16);
            self.b.store(size, dst, (dst_off + i as i32) as i16, via);
            i += width as u32;
        }
    }
}
