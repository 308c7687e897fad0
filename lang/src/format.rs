//! printf format strings: parsed once here, validated by the checker against
//! the argument types, and applied by the runtime to the event bytes.

/// One piece of a format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text printed as it is (`%%` already made `%`).
    Literal(String),
    /// A conversion that takes an argument.
    Conversion(Conversion),
}

/// A `%` conversion such as `%-08.3lld`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conversion {
    /// `-`: pad on the right.
    pub left: bool,
    /// `+`: a sign also for positive numbers.
    pub plus: bool,
    /// ` `: a space for the sign of a positive number.
    pub space: bool,
    /// `0`: pad numbers with zeros.
    pub zero: bool,
    /// `#`: the alternate form (`0x`, a leading `0`).
    pub alt: bool,
    /// The minimum width.
    pub width: Option<usize>,
    /// The precision: minimum digits, or most characters of a string.
    pub precision: Option<usize>,
    /// `h`, `hh`, `l`, `ll`, `z`, `j`, `t` or empty.
    pub length: &'static str,
    /// The conversion character: one of `d i u x X o c s p`, or `r` for
    /// a buffer (`%r`, `%rx`, `%rh`).
    pub conv: char,
    /// How `%r` shows a buffer's bytes.
    pub buffer: BufferStyle,
    /// The conversion as written, `%` included.
    pub text: String,
}

/// How a buffer's bytes are printed: `%r` (and buffers as map keys and
/// values) shows printable ASCII as is and every other byte as `\xNN`;
/// `%rx` escapes every byte; `%rh` prints hex pairs separated by spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BufferStyle {
    /// `%r`: printable ASCII as is, other bytes `\xNN`.
    #[default]
    Printable,
    /// `%rx`: every byte `\xNN`.
    Escaped,
    /// `%rh`: hex pairs separated by spaces.
    Hex,
}

impl Conversion {
    /// Whether this conversion takes a string argument (`%s`); every other
    /// one takes an integer.
    pub fn takes_string(&self) -> bool {
        self.conv == 's'
    }

    /// Whether this conversion takes a buffer (`%r`, `%rx`, `%rh`).
    pub fn takes_buffer(&self) -> bool {
        self.conv == 'r'
    }

    /// A `%r` with a width, precision or `-` flag takes its buffer but
    /// prints as written: bpftrace replaces only a bare `%r` before handing
    /// the format to C's printf, which prints an unknown conversion as is.
    pub fn prints_as_written(&self) -> bool {
        self.takes_buffer() && (self.left || self.zero || self.width.is_some() || self.precision.is_some())
    }

    /// Whether it prints a signed integer (`%d`, `%i`).
    pub fn is_signed(&self) -> bool {
        matches!(self.conv, 'd' | 'i')
    }
}

/// Why a format string was refused: the message, and the byte range of the
/// offending conversion within the format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// What is wrong.
    pub message: String,
    /// Where in the format string.
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
            // A `%` that starts no conversion is text, as bpftrace prints it.
            literal.push_str(&format[start..]);
            break;
        };
        i += conv.len_utf8();
        if conv == 'r' {
            match bytes.get(i) {
                Some(b'x') => (c.buffer, i) = (BufferStyle::Escaped, i + 1),
                Some(b'h') => (c.buffer, i) = (BufferStyle::Hex, i + 1),
                _ => {}
            }
        }
        // bpftrace counts a `%r` only with `-`, a width and a precision
        // before it; with other flags or a length it is text.
        let buffer_ok = conv == 'r' && c.length.is_empty() && !(c.plus || c.space || c.alt);
        if !(buffer_ok || matches!(conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 's' | 'p')) {
            // Not a conversion: bpftrace consumes no argument for it and
            // C's printf prints it as written.
            literal.push_str(&format[start..i]);
            continue;
        }
        if c.width.is_some_and(|w| w > 1 << 16) || c.precision.is_some_and(|p| p > 1 << 16) {
            return Err(FormatError { message: "this width or precision is too large".into(), range: start..i });
        }
        c.text = format[start..i].to_string();
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

/// The most arguments the kernel's bpf_seq_printf takes
/// (MAX_BPRINTF_VARARGS).
pub const MAX_KERNEL_ARGS: usize = 12;

/// The format as the kernel's bpf_seq_printf (bpf_bprintf_prepare) takes
/// it, for an iterator probe whose printf the kernel formats: only the
/// flags `0 + - space` and a width, `%d %i %u %x %X %c %s %p`; each
/// integer conversion is made its `ll` form, as every argument is passed
/// as a u64; `%` is written `%%` again. An `Err` says what the kernel
/// does not accept.
pub fn kernel_format(pieces: &[Piece]) -> Result<String, String> {
    let mut out = String::new();
    let mut count = 0;
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(&text.replace('%', "%%")),
            Piece::Conversion(c) => {
                count += 1;
                if c.alt || c.precision.is_some() {
                    return Err(format!("`{}`: the kernel's seq_printf takes no `#` and no precision", c.text));
                }
                out.push('%');
                for (on, flag) in [(c.left, '-'), (c.plus, '+'), (c.space, ' '), (c.zero, '0')] {
                    if on {
                        out.push(flag);
                    }
                }
                if let Some(w) = c.width {
                    out.push_str(&w.to_string());
                }
                match c.conv {
                    'd' | 'i' | 'u' | 'x' | 'X' => {
                        out.push_str("ll");
                        out.push(c.conv);
                    }
                    'c' | 's' | 'p' if c.length.is_empty() => out.push(c.conv),
                    _ => return Err(format!("`{}`: the kernel's seq_printf takes only %d %i %u %x %X %c %s %p", c.text)),
                }
            }
        }
    }
    if count > MAX_KERNEL_ARGS {
        return Err(format!("{count} arguments: the kernel's seq_printf takes at most {MAX_KERNEL_ARGS}"));
    }
    if out.contains('\0') {
        return Err("the kernel's seq_printf cannot print a NUL".to_string());
    }
    Ok(out)
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
    fn unknown_and_truncated_conversions_are_text() {
        // bpftrace 0.17: printf("a%yb %d|%lr|%+r|50%\n", 7) prints `a%yb 7|%lr|%+r|50%`.
        let p = parse("a%yb %d|%lr|%+r|50%").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], Piece::Literal("a%yb ".into()));
        assert_eq!(p[2], Piece::Literal("|%lr|%+r|50%".into()));
        assert!(parse("%5000000d").is_err());
    }

    #[test]
    fn parses_buffer_conversions() {
        let p = parse("%r|%rx|%rh|%rz|%-5r").unwrap();
        let convs: Vec<_> = conversions(&p).collect();
        let styles: Vec<_> = convs.iter().map(|c| (c.conv, c.buffer, c.prints_as_written())).collect();
        assert_eq!(
            styles,
            [
                ('r', BufferStyle::Printable, false),
                ('r', BufferStyle::Escaped, false),
                ('r', BufferStyle::Hex, false),
                ('r', BufferStyle::Printable, false),
                ('r', BufferStyle::Printable, true),
            ]
        );
        assert_eq!(convs[4].text, "%-5r");
        assert_eq!(p[7], Piece::Literal("z|".into()));
    }
}
