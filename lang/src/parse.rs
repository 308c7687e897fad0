//! placeholder
pub fn parse(_s: &str) -> Result<crate::ast::Program, Vec<crate::Diagnostic>> { todo!() }
