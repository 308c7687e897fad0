//! The tables of builtins and functions against what they describe: the
//! README names every one of them.

use crate::check::builtins::BUILTINS;
use crate::check::functions::{Role, FUNCTIONS};

/// The words written in backticks in the README.
fn readme_words() -> std::collections::BTreeSet<String> {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
    readme
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|code| code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_names_every_builtin_and_function() {
    let words = readme_words();
    let missing: Vec<&str> = FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(BUILTINS.iter().filter(|b| b.listed).map(|b| if b.name == "argN" { "arg0" } else { b.name }))
        .filter(|name| !words.contains(*name))
        .collect();
    assert!(missing.is_empty(), "the README does not name {missing:?}");
}

#[test]
fn every_name_is_described_once() {
    let mut names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).chain(BUILTINS.iter().map(|b| b.name)).collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "a name stands in two rows");
}

#[test]
fn only_statements_need_unsafe_and_only_values_are_pure() {
    for f in FUNCTIONS {
        assert!(!f.needs_unsafe || f.role() == Role::Statement, "{}", f.name);
        assert!(!f.is_pure() || f.role() == Role::Value, "{}", f.name);
        assert!(f.min_args <= f.max_args, "{}", f.name);
    }
}
