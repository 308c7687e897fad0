//! The C definitions of an included header: its structs, unions, enums
//! and typedefs, which the program may name (bpftrace hands headers to
//! clang, which reads them whole). What a header holds besides, which a
//! tracing program cannot use (function prototypes and bodies, variables,
//! `extern` and `static` declarations), is left out; so are function
//! pointer typedefs.

/// The definitions of `text` (a header after its own preprocessing, so
/// with its macros expanded and its directives blanked), comments
/// removed, each ending in `;`, on one line.
pub(super) fn c_definitions(text: &str) -> String {
    let clean = without_comments(text);
    let mut kept = Vec::new();
    let mut depth = 0usize;
    // Whether a `{` outside braces followed a `)`: a function's body.
    let mut function_body = false;
    let mut start = 0;
    let mut last_significant = ' ';
    let mut chars = clean.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                // A literal (an enumerator's value may be a character).
                let end = i + literal_len(&clean[i..]);
                while chars.next_if(|&(j, _)| j < end).is_some() {}
            }
            '{' => {
                if depth == 0 && last_significant == ')' {
                    function_body = true;
                }
                depth += 1;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && function_body {
                    start = i + 1;
                    function_body = false;
                }
            }
            ';' if depth == 0 => {
                let statement = clean[start..=i].trim();
                if is_definition(statement) {
                    kept.push(statement.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = c;
        }
    }
    kept.join(" ")
}

/// Whether `statement` (ending in `;`) defines a type the program may use.
fn is_definition(statement: &str) -> bool {
    let first = statement.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
    // What is outside the braces, attributes (`packed`, `aligned(8)`) left
    // out: a `(` there makes it a function or a function pointer.
    let outer = without_attributes(&outside_braces(statement));
    match first {
        "typedef" => !outer.contains('('),
        // A type's definition alone (`struct S { ... };`) or declaration
        // (`struct S;`), not a variable of it nor a function
        // (`struct S *f(void);`).
        "struct" | "union" | "enum" => {
            let words: Vec<&str> = outer.trim_end_matches(';').split_whitespace().collect();
            !outer.contains('(') && (words.len() == 2 || statement.contains('{') && words.last() == Some(&"{}"))
        }
        _ => false,
    }
}

/// `statement` with what its outermost braces hold removed (`{}` stays).
fn outside_braces(statement: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in statement.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str(" {");
                }
                depth += 1;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.push_str("} ");
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `text` without its `__attribute__((...))`s.
fn without_attributes(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("__attribute__") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "__attribute__".len()..];
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                c if depth == 0 && !c.is_whitespace() => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The bytes of the string or character literal `text` starts with, its
/// closing quote included (all of `text` when it is never closed).
fn literal_len(text: &str) -> usize {
    let quote = text.chars().next().unwrap_or('"');
    let mut escaped = false;
    for (i, d) in text.char_indices().skip(1) {
        if d == quote && !escaped {
            return i + d.len_utf8();
        }
        escaped = d == '\\' && !escaped;
    }
    text.len()
}

/// `text` with its comments replaced by a space and its lines joined.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |n| &after[n..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |n| &after[n + 2..]);
            out.push(' ');
        } else if c == '"' || c == '\'' {
            // Copied whole, so that a `//` inside is no comment.
            let end = literal_len(rest);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            out.push(if c == '\n' || c == '\r' { ' ' } else { c });
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::c_definitions;

    #[test]
    fn types_are_kept_and_the_rest_left_out() {
        let header = r#"
            // a comment with a struct { in it
            struct later;
            struct F { unsigned int lo:3, mid:5; /* bits */ int hi; };
            enum mode { M_A = 'a', M_B = (1 << 2) };
            typedef unsigned long long u64_t;
            typedef int (*callback)(int);
            struct F *make(void);
            extern int counter;
            struct F global;
            static inline int twice(int x) { if (x) { return 2 * x; } return 0; }
            union U { int i; char c[4]; };
            struct packed { char c; int i; } __attribute__((packed));
        "#;
        assert_eq!(
            c_definitions(header),
            "struct later; struct F { unsigned int lo:3, mid:5;   int hi; }; enum mode { M_A = 'a', M_B = (1 << 2) }; \
             typedef unsigned long long u64_t; union U { int i; char c[4]; }; \
             struct packed { char c; int i; } __attribute__((packed));"
        );
    }

    #[test]
    fn a_header_of_macros_only_has_none() {
        assert_eq!(c_definitions("\n\n   \n"), "");
    }
}
