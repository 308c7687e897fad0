//! Normalisation: the small fixed set of rewrites that make two runs of a
//! case comparable, each erasing only something that legitimately differs
//! between runs or between tracers.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The tracer's and the workload's pids (also as tids: a single-threaded
    /// process's tid is its pid) become `PID`.
    Pid,
    /// The tracer's own name (its comm in BEGIN and END: `bpftrace` or
    /// `rbpf`) becomes `TRACER`.
    Tracer,
    /// Every run of decimal digits becomes `N`: timestamps, counts of
    /// background activity, cpu numbers, cgroup ids, random numbers.
    Numbers,
    /// Lines are compared as a sorted list: for maps whose entries tie on
    /// value, which bpftrace prints in the kernel's hash order (random per map).
    Sort,
}

impl Rule {
    pub fn parse(word: &str) -> Result<Rule, String> {
        Ok(match word {
            "pid" => Rule::Pid,
            "tracer" => Rule::Tracer,
            "numbers" => Rule::Numbers,
            "sort" => Rule::Sort,
            _ => return Err(format!("unknown normalisation {word:?} (known: pid tracer numbers sort)")),
        })
    }
}

/// What one run knows about itself, for the rules to erase.
pub struct Facts<'a> {
    pub tracer_name: &'a str,
    pub pids: Vec<u32>,
}

/// Applies `rules` to a run's text output.
pub fn text(rules: &[Rule], facts: &Facts, output: &str) -> String {
    let mut out = words(rules, facts, output);
    if rules.contains(&Rule::Sort) {
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort();
        out = lines.iter().map(|l| format!("{l}\n")).collect();
    }
    out
}

/// The word-level rules (all but `sort`) over one piece of text.
fn words(rules: &[Rule], facts: &Facts, text: &str) -> String {
    let mut out = text.to_string();
    if rules.contains(&Rule::Pid) {
        for pid in &facts.pids {
            out = replace_word(&out, &pid.to_string(), "PID");
        }
    }
    if rules.contains(&Rule::Tracer) {
        out = replace_word(&out, facts.tracer_name, "TRACER");
    }
    if rules.contains(&Rule::Numbers) {
        out = digits(&out);
    }
    out
}

/// Replaces `word` where it is not part of a longer run of letters, digits
/// or underscores.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

fn digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Parses a run's `-f json` output (one JSON document a line; blank lines,
/// which bpftrace 0.17 prints too, are skipped) and applies `rules` to the
/// values: strings and object keys get the word rules, numbers become 0
/// under `numbers`, and `sort` sorts the lines. Each line comes back as
/// compact JSON with sorted keys, so the comparison is of values, not of
/// spacing.
pub fn json(rules: &[Rule], facts: &Facts, output: &str) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for (i, line) in output.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| format!("line {} is not JSON ({e}): {line}", i + 1))?;
        if !value.is_object() || !value.get("type").is_some_and(Value::is_string) {
            return Err(format!("line {} is not an object with a \"type\" string: {line}", i + 1));
        }
        lines.push(json_value(rules, facts, value).to_string());
    }
    if rules.contains(&Rule::Sort) {
        lines.sort();
    }
    Ok(lines)
}

fn json_value(rules: &[Rule], facts: &Facts, value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(words(rules, facts, &s)),
        Value::Number(n) if rules.contains(&Rule::Numbers) => {
            let _ = n;
            Value::from(0)
        }
        Value::Number(n) if rules.contains(&Rule::Pid) && facts.pids.iter().any(|p| n.as_u64() == Some(u64::from(*p))) => {
            Value::String("PID".into())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| json_value(rules, facts, v)).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (words(rules, facts, &k), json_value(rules, facts, v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts { tracer_name: "bpftrace", pids: vec![1234] }
    }

    #[test]
    fn pid_replaces_whole_numbers_only() {
        let out = text(&[Rule::Pid], &facts(), "pid 1234 tid 1234, not 12345 or 91234\n@[1234]: 1\n");
        assert_eq!(out, "pid PID tid PID, not 12345 or 91234\n@[PID]: 1\n");
    }

    #[test]
    fn numbers_and_tracer() {
        let out = text(&[Rule::Numbers, Rule::Tracer], &facts(), "bpftrace at 12:03:59 cpu 1, bpftraced\n");
        assert_eq!(out, "TRACER at N:N:N cpu N, bpftraced\n");
    }

    #[test]
    fn sort_sorts_lines() {
        assert_eq!(text(&[Rule::Sort], &facts(), "b\na\n"), "a\nb\n");
    }

    #[test]
    fn json_skips_blank_lines_and_erases_spacing() {
        let out = json(&[Rule::Pid], &facts(), "{\"type\": \"map\", \"data\": {\"@\": {\"1234\": 1234}}}\n\n").unwrap();
        assert_eq!(out, vec![r#"{"data":{"@":{"PID":"PID"}},"type":"map"}"#]);
        assert!(json(&[], &facts(), "@x: 1\n").is_err());
    }
}
