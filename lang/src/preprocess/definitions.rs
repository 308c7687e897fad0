//! The C definitions of an included header: its structs, unions, enums
//! and typedefs, which the program may name (bpftrace hands headers to
//! clang, which reads them whole). What a header holds besides, which a
//! tracing program cannot use (function prototypes and bodies, variables,
//! `extern` and `static` declarations), is left out; so are definitions
//! whose layout depends on what rbpf does not model (a top-level
//! `__attribute__((...))`, function pointer typedefs).

/// The definitions of `text` (a header after its own preprocessing, so
/// with its macros expanded and its directives blanked), comments
/// removed, each ending in `;`, on one line.
pub(super) fn c_definitions(text: &str) -> String {
    let clean = without_comments(text);
    let mut kept = Vec::new();
    let mut depth = 0usize;
    // Whether the statement has a `(` outside braces, and whether a `{`
    // outside braces followed a `)`: a function's body.
    let mut top_paren = false;
    let mut function_body = false;
    let mut start = 0;
    let mut last_significant = ' ';
    let mut chars = clean.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                // A literal (an enumerator's value may be a character).
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if d == c && !escaped {
                        break;
                    }
                    escaped = d == '\\' && !escaped;
                }
            }
            '(' if depth == 0 => top_paren = true,
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
                    (top_paren, function_body) = (false, false);
                }
            }
            ';' if depth == 0 => {
                let statement = clean[start..=i].trim();
                if is_definition(statement, top_paren) {
                    kept.push(statement.to_string());
                }
                start = i + 1;
                top_paren = false;
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
fn is_definition(statement: &str, top_paren: bool) -> bool {
    let first = statement.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
    match first {
        "typedef" => !top_paren,
        // A type's definition alone (`struct S { ... };`), not a variable
        // of it nor a declaration (`struct S *f(void);`).
        "struct" | "union" | "enum" => {
            !top_paren && statement.contains('{') && statement[statement.rfind('}').unwrap_or(0) + 1..].trim() == ";"
        }
        _ => false,
    }
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
            let mut end = 1;
            let mut escaped = false;
            for (i, d) in rest.char_indices().skip(1) {
                end = i + d.len_utf8();
                if d == c && !escaped {
                    break;
                }
                escaped = d == '\\' && !escaped;
            }
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
            "struct F { unsigned int lo:3, mid:5;   int hi; }; enum mode { M_A = 'a', M_B = (1 << 2) }; \
             typedef unsigned long long u64_t; union U { int i; char c[4]; };"
        );
    }

    #[test]
    fn a_header_of_macros_only_has_none() {
        assert_eq!(c_definitions("\n\n   \n"), "");
    }
}
