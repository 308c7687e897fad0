//! The typed BPF instruction builder: registers, labels and jumps are
//! values; the builder encodes instructions and resolves jump offsets.

mod builder;
mod encoding;
mod helper;
mod ops;
#[cfg(test)]
mod tests;

pub use builder::{Builder, Code, FuncRelocation, HelperCheck, Label, MapRelocation, HELPER_ERROR_SIZE};
pub use encoding::{class, Insn};
pub use helper::Helper;
pub use ops::{Alu, Cond, Operand, Reg, Size};
