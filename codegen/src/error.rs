//! Why code generation failed. An open enum: each stage adds its variants.

use rbpf_lang::Span;

#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A compiler bug, not a user error (as are the next three).
    #[error("a jump refers to a label that was never bound")]
    UnboundLabel,
    #[error("a label was bound twice")]
    LabelBoundTwice,
    #[error("a jump targets the end of the program, past its last instruction")]
    JumpPastEnd,
    /// More than 32767 slots away: BPF jump offsets are 16 bits.
    #[error("a jump is too far for a BPF jump offset")]
    JumpOutOfRange,
    #[error("this needs more than the 512 bytes of stack a BPF program may use")]
    StackFull { span: Span },
    #[error("this expression needs more registers than BPF has; split it with a variable")]
    TooComplex { span: Span },
    #[error("the variables of this probe need more than the 32 KiB it may keep")]
    TooManyVariables { span: Span },
    /// A compiler bug: the checker let through a type the lowering of this
    /// construct does not handle.
    #[error("internal error: cannot lower a value of type {what} here")]
    Unlowerable { what: String, span: Span },
    #[error("cannot write the ELF object: {0}")]
    Elf(String),
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
