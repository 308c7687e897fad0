//! rbpf-codegen: compiles a checked program to a BPF ELF object and the
//! manifest the runtime needs to run it.

pub mod btf;
pub mod disasm;
pub mod elf;
pub mod error;
pub mod insn;
mod lower;
pub mod manifest;
pub mod object_file;

pub use error::CodegenError;
pub use insn::{Builder, Code};
pub use lower::{compile, FAILED_UPDATES_MAP};
pub use manifest::{Manifest, Object};

/// Disassembles every program of an object, each under its probe name,
/// then the callbacks (`for` loops over maps, `len()`) under their own.
pub fn disassemble_object(object: &Object) -> Result<String, CodegenError> {
    let programs = elf::read_programs(&object.elf)?;
    let mut out = String::new();
    for info in &object.manifest.programs {
        if let Some((_, code)) = programs.iter().find(|(name, _)| *name == info.name) {
            out.push_str(&format!("{} ({}):\n", info.probe_name, info.section));
            out.push_str(&disasm::disassemble(code));
            out.push('\n');
        }
    }
    for (name, code) in &programs {
        if !object.manifest.programs.iter().any(|p| p.name == *name) {
            out.push_str(&format!("{name} (.text):\n"));
            out.push_str(&disasm::disassemble(code));
            out.push('\n');
        }
    }
    Ok(out)
}
