//! rbpf-runtime: runs a compiled object. [`Session`] loads it (rbpf's own
//! loader, `loader`; aya reads the ring buffer),
//! runs BEGIN, attaches the probes, streams events, and on `exit()` or a
//! signal detaches, runs END and prints the maps through an [`Output`]
//! ([`TextOutput`]: bpftrace's text format; [`JsonOutput`]: its JSON
//! format). [`HostTarget`] answers the checker's questions about this
//! machine.

mod attach;
mod btf;
pub mod cgroups;
pub mod decode;
mod dispatch;
mod dwarf;
pub mod error;
mod events;
pub mod kallsyms;
mod ld_cache;
pub mod features;
mod loader;
mod map_handle;
mod mmap_track;
pub mod pcap;
mod privileges;
pub mod histogram;
pub mod maps;
pub mod output;
pub mod printf;
pub mod process;
pub mod saved;
mod sdt_notes;
mod session;
pub mod stacks;
pub mod strftime;
pub mod symbols;
mod syscalls;
pub mod sys;
pub mod target;
pub mod tracefs;
pub mod value;

pub use error::RuntimeError;
pub use histogram::{Bucket, Histogram};
pub use maps::MapEntry;
pub use output::{flame_map, BackgroundWriter, Backlog, Buffering, Event, EventOutput, FlameFiles, FlameOutput, HelperError, JsonOutput, Output, SourceLocation, TextOutput};
pub use decode::Decoder;
pub use value::{Stats, Value};
pub use loader::VerifierStats;
pub use saved::{check_object, open_object, SavedObjectError};
pub use map_handle::MapHandle;
pub use session::{Session, SessionOptions, StopHandle};
pub use target::HostTarget;
