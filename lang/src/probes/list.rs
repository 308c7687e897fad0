//! Probe listing (`rbpf -l [SEARCH]`, `-lv`, `-l -e PROGRAM`): which probes a
//! search matches, named and detailed as `bpftrace -l` (0.17) prints them,
//! from the target's facts. Each provider lists its own probes; this module
//! splits the search, picks the providers and merges their answers.

use super::{glob_match, is_glob, provider, Provider, Scope, PROVIDERS};
use crate::ast;
use crate::target::{Target, TargetError};
use crate::{Diagnostic, Span};

/// One line of `-l` output, and under `-v` the lines indented below it
/// (without the indent): a tracepoint's fields, a kernel function's
/// arguments and return value, as `TYPE NAME`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedProbe {
    /// The probe's full name.
    pub name: String,
    /// What `-v` shows under it.
    pub details: Vec<String>,
    /// What could not be shown of it (or of its kind), for the listing's
    /// warnings.
    pub warning: Option<String>,
}

impl ListedProbe {
    /// A probe listed by its name alone.
    pub fn new(name: String) -> Self {
        ListedProbe { name, details: Vec::new(), warning: None }
    }
}

/// What a search found: the probes, in bpftrace's order (below), and what
/// could not be listed (one sentence each), when the search let
/// every probe type answer and some could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The probes found.
    pub probes: Vec<ListedProbe>,
    /// What could not be listed.
    pub warnings: Vec<String>,
}

/// Why a provider could not list what it was asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The search has the wrong shape for this probe type, e.g.
    /// `tracepoint:a:b:c`. The string says the right one.
    #[error("{0}")]
    Usage(String),
    /// A fact could not be read; the string says which file and why.
    #[error("{0}")]
    Unavailable(String),
}

impl From<TargetError> for ListError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Unavailable(why) => ListError::Unavailable(why),
            TargetError::NotFound => ListError::Unavailable("it does not exist".into()),
        }
    }
}

/// Lists the probes `search` matches. The search is what `bpftrace -l`
/// takes: attach points with wildcards, separated by commas; one without a
/// `:` (`*sleep*`) searches every probe type, as `*:*sleep*`; an empty one
/// lists everything. Under a wildcard probe type a type that cannot be read
/// is a warning; a type named outright is an error.
///
/// The order is bpftrace 0.17's: each attach point's probes sorted by
/// name, the attach points in the order written, except that those with a
/// wildcard type come after the others (bpftrace expands them last).
pub fn list(search: &str, verbose: bool, target: &dyn Target) -> Result<Listing, ListError> {
    let mut listing = Listing::default();
    // Quoted pieces (`uprobe:"/opt/my app/bin":*`) are taken as the
    // program's attach points take them: literally, without their quotes.
    let terms: Vec<String> = split_terms(search)
        .into_iter()
        .map(|term| {
            let term = unquoted(term.trim()).map_err(|d| ListError::Usage(d.message))?;
            Ok(match term.as_str() {
                "" => "*:*".to_string(),
                t if !t.contains(':') => format!("*:{t}"),
                _ => term,
            })
        })
        .collect::<Result<_, ListError>>()?;
    let any_type = |t: &String| t.split(':').next().is_some_and(is_glob);
    for term in terms.iter().filter(|t| !any_type(t)).chain(terms.iter().filter(|t| any_type(t))) {
        let mut probes = list_term(term, verbose, target, &mut listing.warnings)?;
        listing.warnings.extend(probes.iter_mut().filter_map(|p| p.warning.take()));
        sort(&mut probes);
        listing.probes.extend(probes);
    }
    Ok(listing)
}

/// Lists the probes a program would attach to, without attaching any:
/// each attach point is listed as `-l` lists it; the types that cannot be
/// listed (BEGIN, END, interval) are named as the program names them. An
/// attach point that matches nothing is an error, as it is when the
/// program runs.
pub fn list_program(program: &ast::Program, verbose: bool, target: &dyn Target) -> Result<Listing, Vec<Diagnostic>> {
    list_program_in(program, verbose, target, None)
}

/// [`list_program`] with `-p PID`: the uprobes and USDT probes the program
/// would attach in that process (a library named alone is the one it
/// maps, a wildcard binary matches its files), each function or probe
/// once; other probes as without it.
pub fn list_program_in_process(program: &ast::Program, pid: u32, verbose: bool, target: &dyn Target) -> Result<Listing, Vec<Diagnostic>> {
    list_program_in(program, verbose, target, Some(pid))
}

fn list_program_in(program: &ast::Program, verbose: bool, target: &dyn Target, pid: Option<u32>) -> Result<Listing, Vec<Diagnostic>> {
    let mut listing = Listing::default();
    let mut errors = Vec::new();
    let in_process = Scope { pid, ..Scope::default() };
    // In the program's order, each attach point's probes sorted.
    for point in program.probes.iter().flat_map(|p| &p.attach_points) {
        let text = match unquoted_at(&point.text, point.span) {
            Ok(text) => text,
            Err(d) => {
                errors.push(d);
                continue;
            }
        };
        let point = ast::AttachPoint { text, span: point.span };
        let point = &point;
        let mut parts: Vec<&str> = point.text.split(':').collect();
        let kind = parts.remove(0);
        let found = match provider(kind) {
            Some(Provider { name: "uprobe" | "uretprobe" | "usdt", .. }) if pid.is_some() => {
                super::resolve(&point.text, point.span, target, &in_process).map(|probes| {
                    let mut names: Vec<String> = probes.into_iter().map(|p| p.name).collect();
                    names.dedup();
                    names.into_iter().map(ListedProbe::new).collect()
                })
            }
            Some(Provider { list: Some(list), .. }) => list(&parts, verbose, target).map_err(|e| {
                Diagnostic::error(point.span, format!("cannot list `{}`: {e}", point.text)).with_label("this attach point")
            }),
            _ => super::resolve(&point.text, point.span, target, &super::Scope::default())
                .map(|probes| probes.into_iter().map(|p| ListedProbe::new(p.name)).collect()),
        };
        match found {
            // The program would not start: say so rather than list nothing.
            Ok(probes) if probes.is_empty() => errors.push(
                Diagnostic::error(point.span, format!("`{}` matches no probe", point.text)).with_label("nothing to attach to"),
            ),
            Ok(mut probes) => {
                listing.warnings.extend(probes.iter_mut().filter_map(|p| p.warning.take()));
                sort(&mut probes);
                listing.probes.extend(probes);
            }
            Err(d) => errors.push(d),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(listing)
}

/// The probes one attach point of a search matches; what a wildcard type
/// could not read is added to `warnings`.
fn list_term(term: &str, verbose: bool, target: &dyn Target, warnings: &mut Vec<String>) -> Result<Vec<ListedProbe>, ListError> {
    let mut parts: Vec<&str> = term.split(':').collect();
    let kind = parts.remove(0);
    if is_glob(kind) {
        // Every type `bpftrace -l` lists by default whose name matches; a
        // type whose attach points have another shape matches nothing.
        let providers = PROVIDERS
            .iter()
            .filter(|p| p.in_full_list && (glob_match(kind, p.name) || p.aliases.iter().any(|a| glob_match(kind, a))));
        let mut probes = Vec::new();
        for p in providers {
            let Some(list) = p.list else { continue };
            match list(&parts, verbose, target) {
                Ok(found) => probes.extend(found),
                Err(ListError::Usage(_)) => {}
                Err(ListError::Unavailable(why)) => warnings.push(format!("cannot list {} probes: {why}", p.name)),
            }
        }
        return Ok(probes);
    }
    let Some(p) = provider(kind) else {
        let known: Vec<&str> = PROVIDERS.iter().filter(|p| p.list.is_some()).map(|p| p.name).collect();
        return Err(ListError::Usage(format!("`{kind}` is not a probe type; the types rbpf lists are {}", known.join(", "))));
    };
    let Some(list) = p.list else {
        return Err(ListError::Usage(format!("{} probes cannot be listed", p.name)));
    };
    list(&parts, verbose, target).map_err(|e| match e {
        ListError::Usage(why) => ListError::Usage(why),
        ListError::Unavailable(why) => ListError::Unavailable(format!("cannot list {} probes: {why}", p.name)),
    })
}

/// The attach points of a search: separated by commas outside quotes.
fn split_terms(search: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in search.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                terms.push(&search[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&search[start..]);
    terms
}

/// A search's attach point with its quoted pieces unquoted, as the
/// checker unquotes a program's (`-l` takes no positional parameters).
fn unquoted(text: &str) -> Result<String, Diagnostic> {
    unquoted_at(text, Span::default())
}

/// [`unquoted`], errors pointing into the attach point at `span`.
fn unquoted_at(text: &str, span: Span) -> Result<String, Diagnostic> {
    crate::check::expand_positionals(text, span, &[])
}

/// By name, each probe once.
fn sort(probes: &mut Vec<ListedProbe>) {
    probes.sort_by(|a, b| a.name.cmp(&b.name));
    probes.dedup_by(|a, b| a.name == b.name);
}

/// The names in `names` that `pattern` matches, sorted, each once.
pub(crate) fn matching<'a>(pattern: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut found: Vec<&str> = names.into_iter().filter(|n| glob_match(pattern, n)).collect();
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
