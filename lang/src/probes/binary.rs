//! Which file a uprobe or usdt probe names: a path as written; a program
//! by name, found in PATH; a library by name (`libc`, `libc.so.6`), found
//! the way the dynamic loader finds it; or, with `-p PID`, the file of
//! that name the process has mapped. bpftrace 0.17 resolves names the same
//! way and names the probe after the file it found.

use crate::target::{Target, TargetError};
use crate::{Diagnostic, Span};

/// A binary or library a probe attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Binary {
    /// The file to read and attach to. For `-p PID` it is reached through
    /// `/proc/PID/root`, so that a process in another mount namespace is
    /// traced in its own files.
    pub path: String,
    /// The file as the probe's name shows it: the path the process (or,
    /// without `-p`, this machine) knows it by.
    pub shown: String,
}

/// Finds the file `name` means; `kind` (`uprobe`, `usdt`) is for messages.
/// A relative path (`./prog`, `bin/prog`) is taken from the current
/// directory and, as in bpftrace, the probe is named with the path as
/// written.
pub(crate) fn locate(name: &str, pid: Option<u32>, kind: &str, span: Span, target: &dyn Target) -> Result<Binary, Diagnostic> {
    if name.starts_with('/') {
        return Ok(in_process(pid, name));
    }
    if name.contains('/') {
        let relative: Vec<&str> = name.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        let path = join(&current_directory(target, kind, span)?, &relative.join("/"));
        return Ok(Binary { shown: name.to_string(), ..in_process(pid, &path) });
    }
    if let Some(pid) = pid {
        return mapped_by(pid, name, span, target);
    }
    let programs = target.program_directories().into_iter().map(|dir| join(&dir, name)).find(|p| target.is_file(p, true));
    if let Some(path) = programs.or_else(|| library(name, target)) {
        return Ok(Binary { shown: path.clone(), path });
    }
    // bpftrace also takes a file of that name in the current directory.
    if let Ok(dir) = target.current_directory() {
        let path = join(&dir, name);
        if target.is_file(&path, false) {
            return Ok(Binary { path, shown: name.to_string() });
        }
    }
    Err(Diagnostic::error(span, format!("cannot find a program or library named `{name}`"))
        .with_label("no such file")
        .with_note("a name without a path is a program in PATH, or a library the dynamic loader finds (`ldconfig -p`, then /lib and /usr/lib), or a file in the current directory; or give the file's path"))
}

/// The directory a relative path starts from.
fn current_directory(target: &dyn Target, kind: &str, span: Span) -> Result<String, Diagnostic> {
    target.current_directory().map_err(|e| {
        let why = match e {
            TargetError::Unavailable(why) => why,
            TargetError::NotFound => "it no longer exists".into(),
        };
        Diagnostic::error(span, format!("cannot resolve the {kind}'s relative path: the current directory cannot be read: {why}"))
            .with_label("a path relative to the current directory")
    })
}

/// The file as process `pid` sees it, reached through its root.
fn in_process(pid: Option<u32>, path: &str) -> Binary {
    match pid {
        Some(pid) => Binary { path: format!("/proc/{pid}/root{path}"), shown: path.to_string() },
        None => Binary { path: path.to_string(), shown: path.to_string() },
    }
}

/// The library (or program) named `name` that process `pid` has mapped.
fn mapped_by(pid: u32, name: &str, span: Span, target: &dyn Target) -> Result<Binary, Diagnostic> {
    let files = target.mapped_files(pid).map_err(|e| match e {
        TargetError::NotFound => Diagnostic::error(span, format!("there is no process with pid {pid}")).with_label("the binary of this probe is looked up in that process"),
        TargetError::Unavailable(why) => Diagnostic::error(span, format!("cannot read the files process {pid} has mapped: {why}")).with_label("the binary of this probe is looked up in that process"),
    })?;
    match files.iter().find(|f| names_library(file_name(f), name)) {
        Some(file) => Ok(in_process(Some(pid), file)),
        // A live process maps at least its program: one that maps nothing
        // has exited and awaits its parent's wait.
        None if files.is_empty() => Err(Diagnostic::error(span, format!("process {pid} has exited"))
            .with_label("the binary of this probe is looked up in that process")),
        None => Err(Diagnostic::error(span, format!("process {pid} has no `{name}` mapped"))
            .with_label("not a library or program of that process")
            .with_note(format!("the files it has mapped are in /proc/{pid}/maps"))),
    }
}

/// The library `name` as the dynamic loader finds it: its cache, by
/// soname (`libc.so.6`) or, as bpftrace also takes it, by the soname's
/// start (`libc` for `libc.so.6`); then its standard directories.
fn library(name: &str, target: &dyn Target) -> Option<String> {
    let cache = target.shared_libraries().unwrap_or_default();
    let cached = cache.iter().find(|l| l.name == name).or_else(|| cache.iter().find(|l| names_library(&l.name, name)));
    if let Some(library) = cached {
        return Some(library.path.clone());
    }
    let candidates = [name.to_string(), format!("{name}.so")];
    target.library_directories().iter().flat_map(|dir| candidates.iter().map(move |c| join(dir, c))).find(|p| target.is_file(p, false))
}

/// Whether the file name `file` is what `name` calls it: itself, a
/// soname that starts with it (`libc` → `libc.so.6`), or a versioned
/// library (`libc` → `libc-2.31.so`).
fn names_library(file: &str, name: &str) -> bool {
    match file.strip_prefix(name) {
        Some("") => true,
        Some(rest) => rest.starts_with(".so") || (rest.starts_with('-') && rest.contains(".so")),
        None => false,
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FakeTarget;

    fn target() -> FakeTarget {
        let mut t = FakeTarget::default()
            .with_file("/usr/bin/bash", true)
            .with_file("/bin/bash", true)
            .with_file("/usr/bin/notes.txt", false)
            .with_shared_library("libcrypto.so.3", "/lib/x86_64-linux-gnu/libcrypto.so.3")
            .with_shared_library("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6")
            .with_file("/usr/lib/libold.so", false)
            .with_process(42, &["/opt/app/bin/app", "/usr/lib64/libc-2.31.so", "/usr/lib64/libm.so.6"])
            .with_process(43, &[]);
        t.program_directories = vec!["/usr/bin".into(), "/bin/".into()];
        t.library_directories = vec!["/lib".into(), "/usr/lib".into()];
        t
    }

    fn shown(name: &str, pid: Option<u32>) -> Result<(String, String), String> {
        locate(name, pid, "uprobe", Span::default(), &target()).map(|b| (b.path, b.shown)).map_err(|d| d.message)
    }

    fn found(path: &str) -> Result<(String, String), String> {
        Ok((path.to_string(), path.to_string()))
    }

    #[test]
    fn paths_are_taken_as_written() {
        assert_eq!(shown("/no/such/file", None), found("/no/such/file"));
    }

    #[test]
    fn relative_paths_start_from_the_current_directory() {
        let mut t = target().with_file("/home/me/prog", false);
        t.current_directory = "/home/me".into();
        let shown = |name: &str, pid| locate(name, pid, "uprobe", Span::default(), &t).map(|b| (b.path, b.shown)).map_err(|d| d.message);
        assert_eq!(shown("./prog", None), Ok(("/home/me/prog".into(), "./prog".into())));
        assert_eq!(shown("bin/bash", None), Ok(("/home/me/bin/bash".into(), "bin/bash".into())));
        assert_eq!(shown("./prog", Some(42)), Ok(("/proc/42/root/home/me/prog".into(), "./prog".into())));
        // A name alone: PATH and libraries first, then the current directory.
        assert_eq!(shown("prog", None), Ok(("/home/me/prog".into(), "prog".into())));
        assert_eq!(shown("bash", None), Ok(("/usr/bin/bash".into(), "/usr/bin/bash".into())));
    }

    #[test]
    fn programs_are_found_in_path() {
        assert_eq!(shown("bash", None), found("/usr/bin/bash"));
        // Not executable: not a program; and no library of that name.
        assert!(shown("notes.txt", None).is_err());
    }

    #[test]
    fn libraries_are_found_as_the_dynamic_loader_finds_them() {
        assert_eq!(shown("libc", None), found("/lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(shown("libc.so.6", None), found("/lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(shown("libcrypto", None), found("/lib/x86_64-linux-gnu/libcrypto.so.3"));
        // Not in the cache: the standard directories, by name or `NAME.so`.
        assert_eq!(shown("libold", None), found("/usr/lib/libold.so"));
        assert_eq!(shown("libold.so", None), found("/usr/lib/libold.so"));
        assert_eq!(shown("c", None).unwrap_err(), "cannot find a program or library named `c`");
        assert_eq!(shown("libc.so.7", None).unwrap_err(), "cannot find a program or library named `libc.so.7`");
    }

    #[test]
    fn a_process_names_its_own_files_through_its_root() {
        assert_eq!(shown("libc", Some(42)), Ok(("/proc/42/root/usr/lib64/libc-2.31.so".into(), "/usr/lib64/libc-2.31.so".into())));
        assert_eq!(shown("libm.so.6", Some(42)), Ok(("/proc/42/root/usr/lib64/libm.so.6".into(), "/usr/lib64/libm.so.6".into())));
        assert_eq!(shown("app", Some(42)), Ok(("/proc/42/root/opt/app/bin/app".into(), "/opt/app/bin/app".into())));
        assert_eq!(shown("/usr/bin/bash", Some(42)), Ok(("/proc/42/root/usr/bin/bash".into(), "/usr/bin/bash".into())));
        assert_eq!(shown("libcrypto", Some(42)).unwrap_err(), "process 42 has no `libcrypto` mapped");
        assert_eq!(shown("libc", Some(7)).unwrap_err(), "there is no process with pid 7");
        assert_eq!(shown("libc", Some(43)).unwrap_err(), "process 43 has exited");
    }

    #[test]
    fn library_names() {
        assert!(names_library("libc.so.6", "libc"));
        assert!(names_library("libc.so.6", "libc.so.6"));
        assert!(names_library("libc-2.31.so", "libc"));
        assert!(!names_library("libcrypto.so.3", "libc"));
        assert!(!names_library("libc.so.6", "libc.so.7"));
        assert!(!names_library("libc-dev", "libc"));
    }
}
