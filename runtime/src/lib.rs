//! rbpf-runtime: runs a compiled object. [`Session`] loads it with aya,
//! runs BEGIN, attaches the probes, streams events, and on `exit()` or a
//! signal detaches, runs END and prints the maps through an [`Output`]
//! ([`TextOutput`]: bpftrace's text format). [`HostTarget`] answers the
//! checker's questions about this machine.

mod attach;
pub mod error;
mod events;
pub mod maps;
pub mod output;
pub mod printf;
mod session;
pub mod sys;
pub mod target;
pub mod tracefs;

pub use error::RuntimeError;
pub use maps::{MapEntry, Value};
pub use output::{Output, TextOutput};
pub use session::{Session, SessionOptions, StopHandle};
pub use target::HostTarget;
