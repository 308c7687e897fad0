//! `#if` and `#elif` conditions: C's integer constant expressions, evaluated
//! after `defined` and macros have been replaced, in 64 bits, signed or
//! unsigned by C's rules (`intmax_t` and `uintmax_t`, as the preprocessor
//! computes them: `-1 < 0u` is false).

/// Evaluates a condition whose macros are already expanded. Identifiers
/// left over count as 0, as in C.
pub(super) fn evaluate(text: &str) -> Result<i64, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("the condition is empty".to_string());
    }
    let mut parser = Parser { tokens, pos: 0 };
    let value = parser.ternary()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(value.bits as i64),
        Some(t) => Err(format!("unexpected `{}` in the condition", t.text())),
    }
}

/// A value of the condition: its 64 bits, and whether C's rules make it
/// unsigned.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Value {
    bits: u64,
    unsigned: bool,
}

impl Value {
    fn signed(v: i64) -> Value {
        Value { bits: v as u64, unsigned: false }
    }

    fn truth(b: bool) -> Value {
        Value::signed(i64::from(b))
    }

    fn is_true(self) -> bool {
        self.bits != 0
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(Value),
    Op(&'static str),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Number(n) if n.unsigned => format!("{}u", n.bits),
            Token::Number(n) => (n.bits as i64).to_string(),
            Token::Op(op) => (*op).to_string(),
        }
    }
}

/// Longest first, so that `<<` is not read as two `<`.
const OPERATORS: &[&str] = &[
    "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "!", "~", "-", "+", "*", "/", "%", "<", ">", "&", "^",
    "|", "?", ":",
];

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push(Token::Number(number(&text[start..i])?));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            // An identifier that is no macro: 0, as C says.
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push(Token::Number(Value::signed(0)));
        } else if c == b'\'' {
            let (value, len) = char_literal(&text[i..])?;
            tokens.push(Token::Number(Value::signed(value)));
            i += len;
        } else if let Some(op) = OPERATORS.iter().find(|op| text[i..].starts_with(**op)) {
            tokens.push(Token::Op(op));
            i += op.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected `{ch}` in the condition"));
        }
    }
    Ok(tokens)
}

/// A C character constant at the start of `text` (`'a'`, `'\n'`,
/// `'\x41'`, `'\101'`): its value, an `int` of a signed `char` as on
/// x86-64, and its length.
fn char_literal(text: &str) -> Result<(i64, usize), String> {
    let bad = || format!("bad character constant `{}`", text.split_whitespace().next().unwrap_or(text));
    let body = &text[1..];
    let end = match body.as_bytes().first() {
        Some(b'\\') => body.get(2..).and_then(|r| r.find('\'')).map(|n| n + 2),
        Some(b'\'') | None => None,
        Some(_) => body.get(1..).and_then(|r| r.find('\'')).map(|n| n + 1),
    }
    .ok_or_else(bad)?;
    let inner = &body[..end];
    let byte = match inner.strip_prefix('\\') {
        None => {
            let mut chars = inner.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => c as u8,
                _ => return Err(bad()),
            }
        }
        Some(escape) => match escape {
            "n" => b'\n',
            "t" => b'\t',
            "r" => b'\r',
            "a" => 7,
            "b" => 8,
            "f" => 12,
            "v" => 11,
            "\\" | "'" | "\"" | "?" => escape.as_bytes()[0],
            hex if hex.starts_with('x') => u8::from_str_radix(&hex[1..], 16).map_err(|_| bad())?,
            octal if !octal.is_empty() && octal.len() <= 3 => u8::from_str_radix(octal, 8).map_err(|_| bad())?,
            _ => return Err(bad()),
        },
    };
    Ok((i64::from(byte as i8), end + 2))
}

/// A C integer literal: decimal, `0x` hexadecimal or `0` octal, with an
/// optional `u`/`l` suffix; unsigned with `u`, or when too large for
/// `intmax_t` (as gcc takes it).
fn number(literal: &str) -> Result<Value, String> {
    let digits = literal.trim_end_matches(['u', 'U', 'l', 'L']);
    let suffix_unsigned = literal[digits.len()..].contains(['u', 'U']);
    let parsed = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<u64>()
    };
    parsed
        .map(|n| Value { bits: n, unsigned: suffix_unsigned || n > i64::MAX as u64 })
        .map_err(|_| format!("`{literal}` is not an integer"))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// Binary operators from loosest to tightest, as C ranks them.
const LEVELS: &[&[&str]] =
    &[&["||"], &["&&"], &["|"], &["^"], &["&"], &["==", "!="], &["<", ">", "<=", ">="], &["<<", ">>"], &["+", "-"], &["*", "/", "%"]];

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{op}` in the condition"))
        }
    }

    fn ternary(&mut self) -> Result<Value, String> {
        let cond = self.binary(0)?;
        if self.peek_op() != Some("?") {
            return Ok(cond);
        }
        self.pos += 1;
        let yes = self.ternary()?;
        self.expect(":")?;
        let no = self.ternary()?;
        // The branches' common type: unsigned if either is.
        let unsigned = yes.unsigned || no.unsigned;
        Ok(Value { unsigned, ..if cond.is_true() { yes } else { no } })
    }

    fn binary(&mut self, level: usize) -> Result<Value, String> {
        let Some(ops) = LEVELS.get(level) else { return self.unary() };
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|op| ops.contains(op)) {
            self.pos += 1;
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Number(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Token::Op("(")) => {
                self.pos += 1;
                let value = self.ternary()?;
                self.expect(")")?;
                Ok(value)
            }
            Some(Token::Op(op @ ("!" | "~" | "-" | "+"))) => {
                self.pos += 1;
                let value = self.unary()?;
                Ok(match op {
                    "!" => Value::truth(!value.is_true()),
                    "~" => Value { bits: !value.bits, ..value },
                    "-" => Value { bits: value.bits.wrapping_neg(), ..value },
                    _ => value,
                })
            }
            Some(t) => Err(format!("unexpected `{}` in the condition", t.text())),
            None => Err("the condition ends too early".to_string()),
        }
    }
}

/// `a op b` with C's usual arithmetic conversions: unsigned if either
/// operand is (a shift takes its left operand's type).
fn apply(op: &str, a: Value, b: Value) -> Result<Value, String> {
    let unsigned = a.unsigned || b.unsigned;
    let (x, y) = (a.bits, b.bits);
    let (sx, sy) = (x as i64, y as i64);
    let compare = |o: std::cmp::Ordering| if unsigned { x.cmp(&y) == o } else { sx.cmp(&sy) == o };
    use std::cmp::Ordering::{Greater, Less};
    let arithmetic = |bits: u64| Value { bits, unsigned };
    Ok(match op {
        "||" => Value::truth(a.is_true() || b.is_true()),
        "&&" => Value::truth(a.is_true() && b.is_true()),
        "|" => arithmetic(x | y),
        "^" => arithmetic(x ^ y),
        "&" => arithmetic(x & y),
        "==" => Value::truth(x == y),
        "!=" => Value::truth(x != y),
        "<" => Value::truth(compare(Less)),
        ">" => Value::truth(compare(Greater)),
        "<=" => Value::truth(!compare(Greater)),
        ">=" => Value::truth(!compare(Less)),
        "<<" => Value { bits: x.wrapping_shl(y as u32), ..a },
        ">>" if a.unsigned => Value { bits: x.wrapping_shr(y as u32), ..a },
        ">>" => Value { bits: sx.wrapping_shr(y as u32) as u64, ..a },
        "+" => arithmetic(x.wrapping_add(y)),
        "-" => arithmetic(x.wrapping_sub(y)),
        "*" => arithmetic(x.wrapping_mul(y)),
        "/" | "%" if y == 0 => return Err("division by zero in the condition".to_string()),
        "/" if unsigned => arithmetic(x / y),
        "%" if unsigned => arithmetic(x % y),
        "/" => arithmetic(sx.wrapping_div(sy) as u64),
        _ => arithmetic(sx.wrapping_rem(sy) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    /// Each condition as cpp (gcc 12, x86-64) decides it.
    #[test]
    fn conditions_follow_c_s_signed_and_unsigned_rules() {
        for (condition, holds) in [
            ("18446744073709551615u > 0", true),
            ("0xffffffffffffffff > 0", true),
            ("-1 < 0u", false),
            ("-1 < 0", true),
            ("-1 / 2 == 0", true),
            ("-1 >> 63 == -1", true),
            ("-1u >> 63 == 1", true),
            ("(1 ? -1 : 0u) > 0", true),
            ("'a' == 97", true),
            ("'\\n' == 10 && '\\x41' == 65 && '\\101' == 65 && '\\'' == 39 && '\\\\' == 92", true),
            ("'\\xff' < 0", true),
        ] {
            assert_eq!(evaluate(condition).map(|v| v != 0), Ok(holds), "{condition}");
        }
        assert!(evaluate("'' == 0").is_err());
        assert!(evaluate("'ab").is_err());
    }
}
