//! Probe listing for one running process (`rbpf -l [SEARCH] -p PID`): the
//! uprobes of its program and the USDT probes of its program and of every
//! library it maps, named through `/proc/PID/root`, so that a process in
//! another mount namespace is listed in its own files, as bpftrace 0.17
//! lists them. Kernel probe types are listed as without `-p`.

use super::list::{list, ListError, ListedProbe, Listing};
use super::{glob_match, is_glob, provider};
use crate::target::{Target, TargetError};

/// Lists the probes `search` matches in process `pid`. A search with a
/// wildcard type (`*`, `*:*`, none at all) lists the process's uprobes
/// and USDT probes only; `uprobe:*` (or no path) is the process's
/// program, `usdt:*` (or no path, or a path with wildcards) each file it
/// maps; a path given outright is the process's file of that path.
pub fn list_in_process(search: &str, pid: u32, verbose: bool, target: &dyn Target) -> Result<Listing, ListError> {
    let files = target.mapped_files(pid).map_err(|e| match e {
        TargetError::NotFound => ListError::Unavailable(format!("there is no process with pid {pid}")),
        TargetError::Unavailable(why) => ListError::Unavailable(format!("cannot read the files process {pid} has mapped: {why}")),
    })?;
    let process = Process { pid, files, verbose, target };
    let mut listing = Listing::default();
    let terms = search.split(',').map(|term| match term.trim() {
        "" => "*:*".to_string(),
        t if !t.contains(':') => format!("*:{t}"),
        t => t.to_string(),
    });
    for term in terms {
        let mut parts: Vec<&str> = term.split(':').collect();
        let kind = parts.remove(0);
        let mut probes = if is_glob(kind) {
            // `*:PATTERN`: the pattern is a function's or a probe's name.
            let name = parts.last().copied().unwrap_or("*");
            let mut probes = Vec::new();
            if glob_match(kind, "uprobe") {
                probes.extend(process.uprobes("uprobe", &["*", name])?);
            }
            if glob_match(kind, "usdt") {
                probes.extend(process.usdt(&["*", "*", name])?);
            }
            probes
        } else {
            match provider(kind).map(|p| p.name) {
                Some(kind @ ("uprobe" | "uretprobe")) if parts.first().is_none_or(|p| p.is_empty() || is_glob(p)) => process.uprobes(kind, &parts)?,
                Some("usdt") => process.usdt(&parts)?,
                _ => {
                    let mut found = list(&term, verbose, target)?;
                    listing.warnings.append(&mut found.warnings);
                    listing.probes.append(&mut found.probes);
                    continue;
                }
            }
        };
        listing.warnings.extend(probes.iter_mut().filter_map(|p| p.warning.take()));
        probes.sort_by(|a, b| a.name.cmp(&b.name));
        probes.dedup_by(|a, b| a.name == b.name);
        listing.probes.extend(probes);
    }
    Ok(listing)
}

/// A running process and the files it maps, the first being its program
/// (the kernel maps the program below the loader and the libraries).
struct Process<'a> {
    pid: u32,
    files: Vec<String>,
    verbose: bool,
    target: &'a dyn Target,
}

impl Process<'_> {
    /// The file as this process sees it.
    fn path(&self, file: &str) -> String {
        format!("/proc/{}/root{file}", self.pid)
    }

    /// `uprobe:[*][:FUNC]`: the functions of the process's program.
    fn uprobes(&self, kind: &str, parts: &[&str]) -> Result<Vec<ListedProbe>, ListError> {
        let Some(program) = self.files.first() else { return Ok(Vec::new()) };
        let function = parts.get(1).copied().unwrap_or("*");
        let list = provider(kind).and_then(|p| p.list).ok_or_else(|| ListError::Usage(format!("{kind} probes cannot be listed")))?;
        list(&[&self.path(program), function], self.verbose, self.target)
    }

    /// `usdt:PATH[:[PROVIDER:]NAME]`: the probes of the process's files
    /// that PATH matches (every one when it is empty or `*`).
    fn usdt(&self, parts: &[&str]) -> Result<Vec<ListedProbe>, ListError> {
        let (path, rest) = parts.split_first().map_or(("", &[][..]), |(p, rest)| (*p, rest));
        let list = provider("usdt").and_then(|p| p.list).ok_or_else(|| ListError::Usage("usdt probes cannot be listed".into()))?;
        let files: Vec<String> = if path.is_empty() || is_glob(path) {
            self.files.iter().filter(|f| path.is_empty() || glob_match(path, f)).cloned().collect()
        } else {
            vec![path.to_string()]
        };
        let mut probes = Vec::new();
        for file in files {
            let mut query = vec![self.path(&file)];
            query.extend(rest.iter().map(|p| p.to_string()));
            let query: Vec<&str> = query.iter().map(String::as_str).collect();
            match list(&query, self.verbose, self.target) {
                Ok(found) => probes.extend(found),
                // A file that is no binary (a locale archive, a font) has
                // no probes; one named outright must be listable.
                Err(e) if path.is_empty() || is_glob(path) => drop(e),
                Err(e) => return Err(e),
            }
        }
        Ok(probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FakeTarget;

    fn target() -> FakeTarget {
        FakeTarget::default()
            .with_process(42, &["/opt/app", "/usr/lib/libc.so.6", "/usr/lib/libprobes.so"])
            .with_user_functions("/proc/42/root/opt/app", &["main", "helper"])
            .with_usdt("/proc/42/root/opt/app", "app", "tick", 0x1000, None, "")
            .with_usdt("/proc/42/root/usr/lib/libprobes.so", "lib", "fire", 0x2000, None, "")
            .with_tracepoint("sched", "sched_switch", "")
    }

    fn names(search: &str) -> Result<Vec<String>, String> {
        list_in_process(search, 42, false, &target()).map(|l| l.probes.into_iter().map(|p| p.name).collect()).map_err(|e| e.to_string())
    }

    #[test]
    fn lists_the_programs_uprobes_and_every_files_usdt_probes() {
        let all = [
            "uprobe:/proc/42/root/opt/app:helper",
            "uprobe:/proc/42/root/opt/app:main",
            "usdt:/proc/42/root/opt/app:app:tick",
            "usdt:/proc/42/root/usr/lib/libprobes.so:lib:fire",
        ];
        assert_eq!(names("").unwrap(), all);
        assert_eq!(names("*").unwrap(), all);
        assert_eq!(names("u*:*").unwrap(), all);
        assert_eq!(names("uprobe:*").unwrap(), all[..2]);
        assert_eq!(names("uprobe:*:m*").unwrap(), all[1..2]);
        assert_eq!(names("usdt:*").unwrap(), all[2..]);
        assert_eq!(names("usdt::lib:*").unwrap(), all[3..]);
        assert_eq!(names("usdt:*probes*:*").unwrap(), all[3..]);
        assert_eq!(names("usdt:*:fire").unwrap(), all[3..]);
        assert_eq!(names("usdt:/opt/app:*").unwrap(), all[2..3]);
    }

    #[test]
    fn lists_kernel_probes_as_without_a_process() {
        assert_eq!(names("tracepoint:sched:*").unwrap(), ["tracepoint:sched:sched_switch"]);
        assert_eq!(list_in_process("*", 7, false, &target()).unwrap_err().to_string(), "there is no process with pid 7");
    }
}
