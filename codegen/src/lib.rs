//! rbpf-codegen: compiles a checked program to a BPF ELF object and the
//! manifest the runtime needs to run it.

pub mod manifest;

pub use manifest::Manifest;
