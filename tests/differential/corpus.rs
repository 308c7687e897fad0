//! The differential corpus: reading the case files under
//! tests/differential/cases/ into plain `Case` values.
//!
//! A case file holds cases separated by `=== NAME` lines. After the name come
//! header lines (`key: value`), then the program (every line up to the next
//! `===` or `--- expected` line), then, only for cases whose output cannot be
//! taken from the installed bpftrace, the expected output:
//!
//! ```text
//! # Comments: lines starting with '#' before a case's program.
//! === map_count_by_key
//! normalise: pid
//! BEGIN { @c[pid] = count(); exit(); }
//!
//! === range_loop
//! # bpftrace 0.17 has no range loops; hand-written from the docs: "..."
//! BEGIN { for ($i : 0..2) { printf("%d\n", $i); } exit(); }
//! --- expected
//! |Attaching 1 probe...
//! |0
//! |1
//! |
//! |
//! ```
//!
//! Expected lines start with `|` so that blank and trailing-space lines stay
//! visible. Headers:
//!
//! - `opts:` tracer options before the program (`-q`, `--unsafe`, `-B line`,
//!   `-o $OUT` — `$OUT` is a fresh file whose content is compared too)
//! - `params:` positional parameters after the program (`$1`, `$2`, ...)
//! - `env:` `NAME=VALUE` pairs for the tracer's environment
//! - `workload:` a process the harness runs while tracing (see
//!   `Workload`); `$PID` in the program stands for its pid
//! - `normalise:` rules from the fixed set in normalise.rs
//! - `status:` the expected exit status (default 0); with a nonzero status
//!   only the status is compared, not the messages (a hand-written case
//!   with a nonzero status has an empty `--- expected` section)
//! - `timeout:` seconds before the tracer is killed (default 20)
//! - `needs: kernel-functions`: the case uses kprobes or fentry, which
//!   only some kernels have; where the kernel lacks kprobes the suite leaves
//!   it out and says so (the VM lane's Linux 6.1 guest runs these cases)
//!
//! The sections `--- expected` and `--- expected json` hold hand-written
//! text and JSON (`-f json`) output; either may stand alone (a case whose
//! text output bpftrace gets right but whose JSON it gets wrong has only
//! `--- expected json`).

use std::fmt;
use std::path::{Path, PathBuf};

use super::normalise::Rule;

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Where the case starts, for messages: `cases/printf.cases:12`.
    pub origin: String,
    /// The area the case belongs to: its file's name without extension.
    pub area: String,
    pub program: String,
    pub opts: Vec<String>,
    pub params: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workload: Option<Workload>,
    pub normalise: Vec<Rule>,
    pub status: i32,
    pub timeout_secs: u64,
    /// The case attaches kprobes or fentry programs (`needs: kernel-functions`).
    pub needs_kernel_functions: bool,
    /// Hand-written output, for features bpftrace 0.17 lacks.
    pub expected: Option<String>,
    pub expected_json: Option<String>,
}

impl Case {
    /// Whether the case's output is taken from bpftrace rather than written
    /// by hand.
    pub fn output_from_bpftrace(&self) -> bool {
        self.expected.is_none()
    }

    /// Whether the case's options already ask for JSON output.
    pub fn is_json(&self) -> bool {
        self.opts.windows(2).any(|w| w[0] == "-f" && w[1] == "json")
    }
}

/// A process the harness starts before the tracer and kills after it, so
/// that tracepoint cases see events from a process whose pid they filter on
/// (`/pid == $PID/`) and background activity does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Each prints `ready` once bash has started (bash's own start-up opens
    /// files too, some of them missing), before its loop.
    ///
    /// A bash loop that opens /dev/null about every 5 ms from its own
    /// process (a builtin's redirection: no fork), and calls nothing else
    /// but `read` with a timeout. It ends when its standard input closes.
    DevNull,
    /// A bash loop that runs `/bin/true differential a b` about every
    /// 10 ms (execve in a forked child: filter on the file name).
    Exec,
    /// A bash loop that reads the first line of a 15-byte file about every
    /// 5 ms: bash's `read` takes all 15 bytes and seeks back over the 4
    /// after the line, `lseek(fd, -4, SEEK_CUR)`. The file is deleted once
    /// open (reopened through /dev/fd/3), so a killed workload leaves none.
    Seek,
}

impl Workload {
    pub fn command(self) -> (&'static str, Vec<&'static str>) {
        match self {
            Workload::DevNull => (
                "bash",
                vec!["-c", "echo ready; while :; do read -t 0.005 _; [ $? -gt 128 ] || exit 0; : </dev/null; done"],
            ),
            Workload::Exec => (
                "bash",
                vec!["-c", "echo ready; while :; do read -t 0.01 _; [ $? -gt 128 ] || exit 0; /bin/true differential a b; done"],
            ),
            Workload::Seek => (
                "bash",
                vec![
                    "-c",
                    r#"f=$(mktemp); printf '0123456789\nabc\n' >"$f"; exec 3<"$f"; rm -f "$f"; echo ready; while :; do read -t 0.005 _; [ $? -gt 128 ] || exit 0; read _ </dev/fd/3; done"#,
                ],
            ),
        }
    }
}

#[derive(Debug)]
pub struct CorpusError(pub String);

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/cases")
}

/// Reads every `*.cases` file, in name order.
pub fn load() -> Result<Vec<Case>, CorpusError> {
    let dir = cases_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| CorpusError(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cases"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| CorpusError(format!("{}: {e}", file.display())))?;
        let area = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let shown = format!("cases/{}", file.file_name().unwrap_or_default().to_string_lossy());
        cases.extend(parse(&shown, &area, &text)?);
    }
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(CorpusError(format!("two cases are named {}", w[0])));
    }
    Ok(cases)
}

#[derive(PartialEq)]
enum Section {
    Header,
    Program,
    Expected,
    ExpectedJson,
}

/// A case being read: its header, the section being read, and the lines of
/// its program, expected text and expected JSON so far.
type OpenCase = (Case, Section, Vec<String>, Vec<String>, Vec<String>);

pub fn parse(file: &str, area: &str, text: &str) -> Result<Vec<Case>, CorpusError> {
    let mut cases = Vec::new();
    let mut current: Option<OpenCase> = None;
    let err = |line: usize, msg: String| CorpusError(format!("{file}:{line}: {msg}"));

    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if let Some(name) = line.strip_prefix("=== ") {
            if let Some(c) = current.take() {
                cases.push(finish(c).map_err(|m| err(lineno, m))?);
            }
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(err(lineno, format!("bad case name {name:?}: use letters, digits, '_' and '-'")));
            }
            let case = Case {
                name: name.to_string(),
                origin: format!("{file}:{lineno}"),
                area: area.to_string(),
                program: String::new(),
                opts: Vec::new(),
                params: Vec::new(),
                env: Vec::new(),
                workload: None,
                normalise: Vec::new(),
                status: 0,
                timeout_secs: 20,
                needs_kernel_functions: false,
                expected: None,
                expected_json: None,
            };
            current = Some((case, Section::Header, Vec::new(), Vec::new(), Vec::new()));
            continue;
        }
        let Some((case, section, program, expected, expected_json)) = current.as_mut() else {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            return Err(err(lineno, "text before the first '=== NAME' line".into()));
        };
        match line.trim_end() {
            "--- expected" => {
                *section = Section::Expected;
                case.expected = Some(String::new());
                continue;
            }
            "--- expected json" => {
                *section = Section::ExpectedJson;
                case.expected_json = Some(String::new());
                continue;
            }
            _ => {}
        }
        match section {
            Section::Header => {
                if line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                match header(line) {
                    Some((key, value)) => apply_header(case, key, value).map_err(|m| err(lineno, m))?,
                    None => {
                        *section = Section::Program;
                        program.push(line.to_string());
                    }
                }
            }
            Section::Program => program.push(line.to_string()),
            Section::Expected | Section::ExpectedJson => {
                if line.trim().is_empty() {
                    continue;
                }
                let Some(content) = line.strip_prefix('|') else {
                    return Err(err(lineno, "expected output lines start with '|'".into()));
                };
                if *section == Section::Expected {
                    expected.push(content.to_string());
                } else {
                    expected_json.push(content.to_string());
                }
            }
        }
    }
    if let Some(c) = current.take() {
        cases.push(finish(c).map_err(|m| err(text.lines().count(), m))?);
    }
    Ok(cases)
}

fn finish(
    (mut case, _, program, expected, expected_json): (Case, Section, Vec<String>, Vec<String>, Vec<String>),
) -> Result<Case, String> {
    let mut program = program;
    while program.last().is_some_and(|l| l.trim().is_empty()) {
        program.pop();
    }
    if program.is_empty() {
        return Err(format!("case {} has no program", case.name));
    }
    case.program = program.join("\n");
    if case.expected.is_some() {
        case.expected = Some(expected.iter().map(|l| format!("{l}\n")).collect());
    }
    if case.expected_json.is_some() {
        case.expected_json = Some(expected_json.iter().map(|l| format!("{l}\n")).collect());
    }
    if case.program.contains("$PID") && case.workload.is_none() {
        return Err(format!("case {}: $PID needs a workload", case.name));
    }
    Ok(case)
}

const HEADERS: &[&str] = &["opts", "params", "env", "workload", "normalise", "status", "timeout", "needs"];

fn header(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    HEADERS.contains(&key).then_some((key, value.trim()))
}

fn apply_header(case: &mut Case, key: &str, value: &str) -> Result<(), String> {
    match key {
        "opts" => case.opts = split_words(value)?,
        "params" => case.params = split_words(value)?,
        "env" => {
            for word in split_words(value)? {
                let (k, v) = word.split_once('=').ok_or(format!("env: {word:?} is not NAME=VALUE"))?;
                case.env.push((k.to_string(), v.to_string()));
            }
        }
        "workload" => {
            case.workload = Some(match value {
                "devnull" => Workload::DevNull,
                "exec" => Workload::Exec,
                "seek" => Workload::Seek,
                _ => return Err(format!("unknown workload {value:?} (known: devnull exec seek)")),
            })
        }
        "normalise" => {
            for word in value.split_whitespace() {
                case.normalise.push(Rule::parse(word)?);
            }
        }
        "status" => case.status = value.parse().map_err(|_| format!("status: {value:?} is not a number"))?,
        "timeout" => case.timeout_secs = value.parse().map_err(|_| format!("timeout: {value:?} is not seconds"))?,
        "needs" => match value {
            "kernel-functions" => case.needs_kernel_functions = true,
            _ => return Err(format!("unknown need {value:?} (known: kernel-functions)")),
        },
        _ => unreachable!("header() only returns known keys"),
    }
    Ok(())
}

/// Splits like a shell does for words, single and double quotes (no
/// escapes inside single quotes; `\` escapes the next character elsewhere).
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed ' in {text:?}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.push(chars.next().ok_or(format!("trailing \\ in {text:?}"))?),
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed \" in {text:?}")),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next().ok_or(format!("trailing \\ in {text:?}"))?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}
