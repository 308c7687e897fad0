//! Why code generation failed. An open enum: each stage adds its variants.

use rbpf_lang::Span;

/// Why the program could not be compiled (after the checker accepted it)
/// or an object could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A compiler bug, not a user error (as are the next three).
    #[error("a jump refers to a label that was never bound")]
    UnboundLabel,
    /// A label bound to two positions.
    #[error("a label was bound twice")]
    LabelBoundTwice,
    /// A label bound after the last instruction.
    #[error("a jump targets the end of the program, past its last instruction")]
    JumpPastEnd,
    /// More than 32767 slots away: BPF jump offsets are 16 bits.
    #[error("a jump is too far for a BPF jump offset")]
    JumpOutOfRange,
    /// The probe's stack frame would pass the verifier's 512 bytes.
    #[error("this needs more than the 512 bytes of stack a BPF program may use")]
    StackFull {
        /// What needed the stack.
        span: Span,
    },
    /// An expression that holds more values at once than the callee-saved
    /// registers and spill slots allow.
    #[error("this expression needs more registers than BPF has; split it with a variable")]
    TooComplex {
        /// The expression.
        span: Span,
    },
    /// The variables past the stack would pass the scratch map's 32 KiB.
    #[error("the variables of this probe need more than the 32 KiB it may keep")]
    TooManyVariables {
        /// The variable that did not fit.
        span: Span,
    },
    /// A compiler bug: the checker let through a type the lowering of this
    /// construct does not handle.
    #[error("internal error: cannot lower a value of type {what} here")]
    Unlowerable {
        /// The type, as the checker names it.
        what: String,
        /// The construct.
        span: Span,
    },
    /// The ELF writer refused its input (a duplicate or empty name, a
    /// relocation on the wrong instruction).
    #[error("cannot write the ELF object: {0}")]
    Elf(String),
    /// An object that is not one rbpf wrote, or is damaged.
    #[error("cannot read the ELF object: {0}")]
    ReadElf(String),
}

impl CodegenError {
    /// The source span the error is about, when it is about the program.
    pub fn span(&self) -> Option<Span> {
        match self {
            CodegenError::StackFull { span }
            | CodegenError::TooComplex { span }
            | CodegenError::TooManyVariables { span }
            | CodegenError::Unlowerable { span, .. } => Some(*span),
            _ => None,
        }
    }
}
