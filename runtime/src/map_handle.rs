//! A running session's maps, seen from outside its event loop: read,
//! cleared and zeroed by name from any thread or task while the program
//! runs, decoded as the session decodes them for printing.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use rbpf_codegen::manifest::{Manifest, MapInfo};

use crate::decode::Decoder;
use crate::error::Action;
use crate::loader::Maps;
use crate::maps::{self, MapEntry};
use crate::RuntimeError;

/// The user's maps of one [`Session`](crate::Session), by name: its own
/// copies of the maps' fds, so it works while the session runs and keeps
/// working (on maps no program writes any more) after it has ended.
#[derive(Debug)]
pub struct MapHandle {
    maps: Vec<(MapInfo, OwnedFd)>,
    /// Decodes what is read (stack keys, user names, kernel symbols).
    /// Behind a lock: its caches are filled on first use.
    decoder: Mutex<Decoder>,
}

impl MapHandle {
    /// Copies the fd of every map of `manifest`; user addresses in them
    /// are named as `symbols` says.
    pub(crate) fn new(manifest: &Manifest, maps: &Maps, symbols: crate::symbols::SymbolOptions) -> Result<MapHandle, RuntimeError> {
        let copies = manifest
            .maps
            .iter()
            .map(|info| {
                let fd = maps.fd(&info.bpf_name)?.try_clone_to_owned().map_err(|e| RuntimeError::Syscall {
                    call: "fcntl(F_DUPFD_CLOEXEC)",
                    object: info.name.clone(),
                    source: e,
                })?;
                Ok((info.clone(), fd))
            })
            .collect::<Result<_, RuntimeError>>()?;
        let mut decoder = Decoder::new(manifest);
        decoder.set_stacks(crate::stacks::Stacks::of_session(maps, symbols));
        Ok(MapHandle { maps: copies, decoder: Mutex::new(decoder) })
    }

    /// Every map, in the order the program prints them at its end.
    pub fn maps(&self) -> impl Iterator<Item = &MapInfo> {
        self.maps.iter().map(|(info, _)| info)
    }

    /// The map named `name`, with or without its `@` (`"@x"` or `"x"`;
    /// `"@"` is the map without a name).
    pub fn info(&self, name: &str) -> Option<&MapInfo> {
        self.find(name).ok().map(|(info, _)| info)
    }

    /// The map's entries as they are now: per-CPU values combined,
    /// histograms gathered per key, sorted in the order bpftrace prints
    /// them.
    pub fn read(&self, name: &str) -> Result<Vec<MapEntry>, RuntimeError> {
        let (info, fd) = self.find(name)?;
        let decoder = self.decoder.lock().unwrap_or_else(|e| e.into_inner());
        maps::read(fd.as_fd(), info, &decoder, false).map_err(|e| RuntimeError::syscall(Action::ReadMaps, "reading", &info.name, e))
    }

    /// `clear(@map)`: deletes every element.
    pub fn clear(&self, name: &str) -> Result<(), RuntimeError> {
        let (info, fd) = self.find(name)?;
        maps::clear(fd.as_fd(), info).map_err(|e| RuntimeError::syscall(Action::WriteMaps, "clearing", &info.name, e))
    }

    /// `zero(@map)`: sets every value to zero and keeps the keys.
    pub fn zero(&self, name: &str) -> Result<(), RuntimeError> {
        let (info, fd) = self.find(name)?;
        maps::zero(fd.as_fd(), info).map_err(|e| RuntimeError::syscall(Action::WriteMaps, "zeroing", &info.name, e))
    }

    fn find(&self, name: &str) -> Result<(&MapInfo, &OwnedFd), RuntimeError> {
        let bare = name.strip_prefix('@').unwrap_or(name);
        self.maps
            .iter()
            .find(|(info, _)| info.name.strip_prefix('@').unwrap_or(&info.name) == bare)
            .map(|(info, fd)| (info, fd))
            .ok_or_else(|| RuntimeError::Missing { what: "map", name: format!("@{bare}") })
    }
}
