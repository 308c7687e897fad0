//! The resources of one BPF program being generated: its 512-byte stack
//! and the callee-saved registers r6–r9 that hold values across helper calls.

use crate::insn::Reg;

/// The kernel's limit on a BPF program's stack.
pub const STACK_SIZE: u32 = 512;

/// A byte range on the stack, addressed from r10 (`off` is negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub off: i16,
    pub size: u32,
}

impl Slot {
    /// The same slot, `delta` bytes further in.
    pub fn at(self, delta: u32) -> i16 {
        self.off + delta as i16
    }
}

/// Allocates stack slots, 8-byte aligned (the verifier insists on aligned
/// stack accesses). Statements release their temporaries with `mark`/`reset`.
#[derive(Debug, Default)]
pub struct Stack {
    used: u32,
    high: u32,
}

impl Stack {
    /// `None` when the program would exceed the kernel's 512 bytes.
    pub fn alloc(&mut self, size: u32) -> Option<Slot> {
        let size = size.max(1).div_ceil(8) * 8;
        if self.used + size > STACK_SIZE {
            return None;
        }
        self.used += size;
        self.high = self.high.max(self.used);
        Some(Slot { off: -(self.used as i16), size })
    }

    /// The most bytes in use at any time so far: the frame's depth.
    pub fn high(&self) -> u32 {
        self.high
    }

    pub fn mark(&self) -> u32 {
        self.used
    }

    pub fn reset(&mut self, mark: u32) {
        self.used = mark;
    }
}

/// The callee-saved registers available for values. r6 is kept for the
/// context pointer when the program reads its context.
#[derive(Debug)]
pub struct Registers {
    free: Vec<Reg>,
}

impl Registers {
    pub fn new(reserve_ctx: bool) -> Self {
        let mut free = vec![Reg::R9, Reg::R8, Reg::R7];
        if !reserve_ctx {
            free.push(Reg::R6);
        }
        Registers { free }
    }

    pub fn alloc(&mut self) -> Option<Reg> {
        self.free.pop()
    }

    /// Takes `reg` itself, which must be free: a value that must end in
    /// the register another path put it in.
    pub fn take(&mut self, reg: Reg) {
        debug_assert!(self.free.contains(&reg));
        self.free.retain(|r| *r != reg);
    }

    pub fn release(&mut self, reg: Reg) {
        debug_assert!(!self.free.contains(&reg));
        self.free.push(reg);
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}
