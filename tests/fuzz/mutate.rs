//! Inputs for the mutation test: every program of the repository (the
//! scripts, the differential corpus, the regression file, README's
//! examples, and bpftrace's own tools where they are installed, read only
//! as test input), random byte, token and line edits of them, and inputs
//! built to be extreme: deeply nested, very long, thousands of probes.

use std::path::Path;

/// A small, seeded generator (splitmix64): the edits need only uniform
/// picks, and the same seed makes the same mutants on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every program of the repository, with where it came from.
pub fn corpus(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in [root.join("scripts"), Path::new("/usr/sbin").to_path_buf()] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "bt"))
            .collect();
        paths.sort();
        for path in paths {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path.display().to_string(), text));
            }
        }
    }
    for case in super::corpus::load().unwrap_or_else(|e| panic!("{e}")) {
        out.push((case.origin.clone(), case.program.clone()));
    }
    let regressions = std::fs::read_to_string(root.join("tests/fuzz/regressions.bt"))
        .expect("read regressions.bt");
    for (name, program) in super::regression_programs(&regressions) {
        out.push((format!("tests/fuzz/regressions.bt: {name}"), program));
    }
    // README's examples: its indented lines that look like programs.
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    for (i, line) in readme.lines().enumerate() {
        if let Some(code) = line.strip_prefix("    ") {
            if code.contains('{') || code.contains('@') || code.contains('$') {
                out.push((format!("README.md:{}", i + 1), code.to_string()));
            }
        }
    }
    out
}

/// Bytes an inserted or replacing byte is drawn from: the language's
/// punctuation above all.
const BYTES: &[u8] = b"{}()[]<>/*\"'\\$@#,;:.=!&|+-~^%?0123456789 \n\taxz_";

/// A crude split into tokens: runs of word characters, runs of spaces, or
/// single other characters.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        }
    };
    let mut previous = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        if previous.is_some() && (previous != Some(k) || k == 2) {
            out.push(&text[start..i]);
            start = i;
        }
        previous = Some(k);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// One random edit of `text`: of a byte, a token or a line; `other` gives
/// tokens and lines from another program.
fn mutate_once(text: &str, other: &str, rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => {
            let mut bytes = text.as_bytes().to_vec();
            let at = rng.below(bytes.len() + 1);
            let byte = BYTES[rng.below(BYTES.len())];
            match rng.below(3) {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
            // A script is read as UTF-8 text: what is not is refused
            // before the compiler sees it.
            String::from_utf8_lossy(&bytes).into_owned()
        }
        1 => {
            let mut toks = tokens(text);
            let theirs = tokens(other);
            if toks.is_empty() {
                return other.to_string();
            }
            let at = rng.below(toks.len());
            match rng.below(4) {
                0 => {
                    toks.remove(at);
                }
                1 => toks.insert(at, toks[at]),
                2 => {
                    let b = rng.below(toks.len());
                    toks.swap(at, b);
                }
                _ if !theirs.is_empty() => toks.insert(at, theirs[rng.below(theirs.len())]),
                _ => {}
            }
            toks.concat()
        }
        _ => {
            let mut lines: Vec<&str> = text.lines().collect();
            let theirs: Vec<&str> = other.lines().collect();
            if lines.is_empty() {
                return other.to_string();
            }
            let at = rng.below(lines.len());
            match rng.below(4) {
                0 => {
                    lines.remove(at);
                }
                1 => lines.insert(at, lines[at]),
                2 => {
                    let b = rng.below(lines.len());
                    lines.swap(at, b);
                }
                _ if !theirs.is_empty() => lines.insert(at, theirs[rng.below(theirs.len())]),
                _ => {}
            }
            lines.join("\n")
        }
    }
}

/// `per_input` mutants of each original, each made of one to four edits.
pub fn mutants(
    originals: &[(String, String)],
    per_input: usize,
    seed: u64,
) -> Vec<(String, String)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(originals.len() * per_input);
    for (origin, text) in originals {
        for _ in 0..per_input {
            let mut mutant = text.clone();
            for _ in 0..1 + rng.below(4) {
                let other = &originals[rng.below(originals.len())].1;
                mutant = mutate_once(&mutant, other, &mut rng);
            }
            out.push((origin.clone(), mutant));
        }
    }
    out
}

/// `open` repeated `n` times, then `middle`, then `close` `n` times.
fn nested(open: &str, middle: &str, close: &str, n: usize) -> String {
    let mut out = String::with_capacity((open.len() + close.len()) * n + middle.len());
    for _ in 0..n {
        out.push_str(open);
    }
    out.push_str(middle);
    for _ in 0..n {
        out.push_str(close);
    }
    out
}

/// Inputs built to strain the compiler's stack and its running time.
/// `long` statements make a long program, `many` probes or names a wide
/// one.
pub fn extremes(long: usize, many: usize) -> Vec<(String, String)> {
    const DEEP: usize = 10_000;
    let mut out = vec![
        (
            "10,000 nested parentheses".to_string(),
            format!("BEGIN {{ $x = {}; }}", nested("(", "1", ")", DEEP)),
        ),
        (
            "10,000 nested blocks".to_string(),
            format!("BEGIN {}", nested("{ ", "$x = 1;", " }", DEEP)),
        ),
        (
            "10,000 nested ifs".to_string(),
            format!("BEGIN {{ {} }}", nested("if (1) { ", "$x = 1;", " }", DEEP)),
        ),
        (
            "10,000 else ifs".to_string(),
            format!(
                "BEGIN {{ if (1) {{ }}{} }}",
                " else if (1) { }".repeat(DEEP)
            ),
        ),
        (
            "10,000 nested unrolls".to_string(),
            format!(
                "BEGIN {{ {} }}",
                nested("unroll(2) { ", "@x++;", " }", DEEP)
            ),
        ),
        (
            "10,000 nested whiles".to_string(),
            format!(
                "BEGIN {{ {} }}",
                nested("while (1) { ", "break;", " }", DEEP)
            ),
        ),
        (
            "10,000 nested ternaries".to_string(),
            format!("BEGIN {{ $x = {}; }}", nested("1 ? ", "1", " : 2", DEEP)),
        ),
        (
            "10,000 unary operators".to_string(),
            format!("BEGIN {{ $x = {}1; }}", "!-~".repeat(DEEP / 3)),
        ),
        (
            "10,000 nested casts".to_string(),
            format!("BEGIN {{ $x = {}1; }}", "(uint8)".repeat(DEEP)),
        ),
        (
            "10,000 nested calls".to_string(),
            format!("BEGIN {{ $x = {}; }}", nested("bswap(", "1", ")", DEEP)),
        ),
        (
            "10,000 nested tuples".to_string(),
            format!("BEGIN {{ $x = {}; }}", nested("(1, ", "2", ")", DEEP)),
        ),
        (
            "10,000 nested map keys".to_string(),
            format!("BEGIN {{ @x = {}; }}", nested("@y[", "1", "]", DEEP)),
        ),
        (
            "10,000 nested comments".to_string(),
            format!("BEGIN {{ {} }}", nested("/* ", "", " */", DEEP)),
        ),
        (
            "10,000 unclosed parentheses".to_string(),
            format!("BEGIN {{ $x = {} }}", "(".repeat(DEEP)),
        ),
        (
            "10,000 unclosed blocks".to_string(),
            format!("BEGIN {}", "{".repeat(DEEP)),
        ),
        (
            "10,000 nested struct definitions".to_string(),
            format!(
                "{} BEGIN {{ }}",
                nested("struct s { ", "int x;", " } m;", DEEP)
            ),
        ),
        (
            "a chain of 10,000 additions".to_string(),
            format!("BEGIN {{ $x = 1{}; }}", " + 1".repeat(DEEP)),
        ),
        (
            "a chain of 10,000 field reads".to_string(),
            format!("BEGIN {{ $x = curtask{}; }}", "->parent".repeat(DEEP)),
        ),
        (
            "a chain of 10,000 && operators".to_string(),
            format!("BEGIN {{ $x = 1{}; }}", " && 1".repeat(DEEP)),
        ),
        ("a macro expanding 10,000 levels deep".to_string(), {
            let mut text = String::from("#define M0 1\n");
            for i in 1..DEEP {
                text.push_str(&format!("#define M{i} (M{} + 1)\n", i - 1));
            }
            text.push_str(&format!("BEGIN {{ $x = M{}; }}", DEEP - 1));
            text
        }),
    ];
    out.push((
        format!("{long} statements"),
        format!("BEGIN {{ {} }}", "$x = 1; ".repeat(long)),
    ));
    out.push((
        format!("{long} map updates"),
        format!(
            "BEGIN {{ {} }}",
            (0..long)
                .map(|i| format!("@m[{i}] = {i}; "))
                .collect::<String>()
        ),
    ));
    out.push((
        format!("{long} printfs"),
        format!("BEGIN {{ {} }}", "printf(\"%d\\n\", 1); ".repeat(long)),
    ));
    out.push((
        format!("{many} probes"),
        (1..=many)
            .map(|i| format!("interval:ms:{i} {{ @[{i}] = count(); }}\n"))
            .collect(),
    ));
    out.push((
        format!("{many} attach points on one probe"),
        format!(
            "{} {{ @[probe] = count(); }}",
            (1..=many)
                .map(|i| format!("interval:us:{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    out.push((
        format!("{many} BEGIN probes"),
        "BEGIN { @x = count(); }\n".repeat(many),
    ));
    out.push((
        format!("{many} maps"),
        format!(
            "BEGIN {{ {} }}",
            (0..many)
                .map(|i| format!("@m{i} = {i}; "))
                .collect::<String>()
        ),
    ));
    out.push((
        format!("{many} variables"),
        format!(
            "BEGIN {{ {} }}",
            (0..many)
                .map(|i| format!("$v{i} = {i}; "))
                .collect::<String>()
        ),
    ));
    out.push((
        "a 1 MB string".to_string(),
        format!("BEGIN {{ printf(\"{}\"); }}", "a".repeat(1 << 20)),
    ));
    out.push((
        "a 1 MB comment".to_string(),
        format!("/* {} */ BEGIN {{ }}", "a".repeat(1 << 20)),
    ));
    out.push((
        "a 100,000-digit number".to_string(),
        format!("BEGIN {{ $x = {}; }}", "9".repeat(100_000)),
    ));
    out
}
