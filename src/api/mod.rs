//! The embedding API: [`compiler`] makes a [`Program`](compiler::Program)
//! of a text, [`running`] runs it as a task with a handle.

pub mod compiler;
pub mod running;
