//! rbpf-runtime: runs a compiled object and prints what it prints, in
//! bpftrace's formats.

pub mod maps;
pub mod output;
pub mod printf;
pub mod sys;

pub use maps::{MapEntry, Value};
pub use output::{Output, TextOutput};
