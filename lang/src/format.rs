//! printf format strings: parsed once here, validated by the checker against
//! the argument types, and applied by the runtime to the event bytes.

/// One piece of a format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    Conversion(Conversion),
}

/// A `%` conversion such as `%-08.3lld`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conversion {
    pub left: bool,
    pub plus: bool,
    pub space: bool,
    pub zero: bool,
    pub alt: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// `h`, `hh`, `l`, `ll`, `z`, `j`, `t` or empty.
    pub length: &'static str,
    /// The conversion character: one of `d i u x X o c s p`.
    pub conv: char,
}

impl Conversion {
    /// Whether this conversion takes a string argument (`%s`); every other
    /// one takes an integer.
    pub fn takes_string(&self) -> bool {
        self.conv == 's'
    }

    pub fn is_signed(&self) -> bool {
        matches!(self.conv, 'd' | 'i')
    }
}

/// Why a format string was refused: the message, and the byte range of the
/// offending conversion within the format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub message: String,
    pub range: std::ops::Range<usize>,
}

/// Parses a format string (escapes already decoded).
pub fn parse(format: &str) -> Result<Vec<Piece>, FormatError> {
    let bytes = format.as_bytes();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(rel) = format[i..].find('%') else {
            literal.push_str(&format[i..]);
            break;
        };
        literal.push_str(&format[i..i + rel]);
        let start = i + rel;
        i = start + 1;
        if bytes.get(i) == Some(&b'%') {
            literal.push('%');
            i += 1;
            continue;
        }
        let mut c = Conversion::default();
        while let Some(&b) = bytes.get(i) {
            match b {
                b'-' => c.left = true,
                b'+' => c.plus = true,
                b' ' => c.space = true,
                b'0' => c.zero = true,
                b'#' => c.alt = true,
                _ => break,
            }
            i += 1;
        }
        let number = |i: &mut usize| {
            let s = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            (s != *i).then(|| format[s..*i].parse::<usize>().unwrap_or(usize::MAX))
        };
        c.width = number(&mut i);
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            c.precision = Some(number(&mut i).unwrap_or(0));
        }
        for len in ["hh", "ll", "h", "l", "z", "j", "t"] {
            if format[i..].starts_with(len) {
                c.length = len;
                i += len.len();
                break;
            }
        }
        let Some(conv) = format[i..].chars().next() else {
            return Err(FormatError { message: "the format string ends in the middle of a conversion".into(), range: start..i });
        };
        i += conv.len_utf8();
        if !matches!(conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 's' | 'p') {
            return Err(FormatError { message: format!("`%{conv}` is not a conversion printf knows"), range: start..i });
        }
        if c.width.is_some_and(|w| w > 1 << 16) || c.precision.is_some_and(|p| p > 1 << 16) {
            return Err(FormatError { message: "this width or precision is too large".into(), range: start..i });
        }
        c.conv = conv;
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Conversion(c));
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// The conversions of a parsed format, in order.
pub fn conversions(pieces: &[Piece]) -> impl Iterator<Item = &Conversion> {
    pieces.iter().filter_map(|p| match p {
        Piece::Conversion(c) => Some(c),
        Piece::Literal(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_width_precision_length() {
        let p = parse("a%-08.3lldb%%c%s").unwrap();
        assert_eq!(p.len(), 4);
        let Piece::Conversion(c) = &p[1] else { panic!() };
        assert!(c.left && c.zero && !c.plus);
        assert_eq!((c.width, c.precision, c.length, c.conv), (Some(8), Some(3), "ll", 'd'));
        assert_eq!(p[2], Piece::Literal("b%c".into()));
    }

    #[test]
    fn rejects_unknown_and_truncated_conversions() {
        assert_eq!(parse("x %q").unwrap_err().range, 2..4);
        assert!(parse("x %-5").is_err());
    }
}
