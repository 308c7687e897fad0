//! printf events: a format string applied to the arguments of a ring buffer
//! record (decoded by [`decode`](crate::decode)), byte for byte as C's
//! printf — and so bpftrace — prints it.
//!
//! bpftrace hands each argument to snprintf as a 64-bit value, so the
//! conversion decides the width: `%d` prints the low 32 bits as an `int`,
//! `%hhu` the low byte, `%ld` all 64 bits. Formats are parsed once, when the
//! session loads, by the same parser the checker validated them with.

use rbpf_codegen::manifest::{Field, PrintfFormat};
use rbpf_lang::format::{self, Conversion, FormatError, Piece};

use crate::decode::{read_field, Decoder};
use crate::value::{escape_buffer, Value};

/// A printf format, parsed once, ready to format records.
#[derive(Clone, Debug)]
pub struct Printf {
    pieces: Vec<Piece>,
    args: Vec<Field>,
}

impl Printf {
    /// Parses the format; an error if the manifest's format is not one the
    /// checker would have accepted.
    pub fn new(format: &PrintfFormat) -> Result<Printf, FormatError> {
        Ok(Printf { pieces: format::parse(&format.format)?, args: format.args.clone() })
    }

    /// Appends the text of one record (header included) to `out`. `None`
    /// when the record is too short to hold the arguments.
    pub fn format_record(&self, record: &[u8], decoder: &Decoder, out: &mut Vec<u8>) -> Option<()> {
        self.format_record_into(record, decoder, out, &mut Vec::with_capacity(self.args.len()))
    }

    /// [`Printf::format_record`], leaving the decoded arguments in `args`
    /// (cleared first; kept by the caller, so its room is reused).
    pub fn format_record_into(&self, record: &[u8], decoder: &Decoder, out: &mut Vec<u8>, args: &mut Vec<Value>) -> Option<()> {
        args.clear();
        for field in &self.args {
            args.push(read_field(field, record, decoder)?);
        }
        write(&self.pieces, args, out);
        Some(())
    }
}

/// Formats `args` by `pieces` into `out`. An argument missing for a
/// conversion prints nothing (the checker makes the counts agree).
pub fn write(pieces: &[Piece], args: &[Value], out: &mut Vec<u8>) {
    let mut args = args.iter();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.extend_from_slice(text.as_bytes()),
            Piece::Conversion(c) => {
                if let Some(arg) = args.next() {
                    convert(c, arg, out);
                }
            }
        }
    }
}

fn convert(c: &Conversion, arg: &Value, out: &mut Vec<u8>) {
    // `%r`, `%rx` and `%rh` print a buffer (or a string) with its bytes
    // escaped, as bpftrace does; with a width or precision bpftrace leaves
    // the conversion to C's printf, which prints it as written.
    if c.takes_buffer() {
        if c.prints_as_written() {
            return out.extend_from_slice(c.text.as_bytes());
        }
        match arg {
            Value::Buf(bytes) | Value::Str(bytes) => escape_buffer(bytes, c.buffer, out),
            other => other.write_text(out),
        }
        return;
    }
    let (value, signed) = match arg {
        Value::Int(v) => (*v as u64, true),
        Value::Uint(v) => (*v, false),
        // `%d` of a bool prints 1 or 0; `%s` prints true or false.
        Value::Bool(b) if c.conv != 's' => (u64::from(*b), false),
        // A string (or any other value) where a number was expected: print
        // its text, as `%s` would.
        other => return pad(c, &[], &other.to_text(), out),
    };
    match c.conv {
        'd' | 'i' => {
            let v = match c.length {
                "hh" => i64::from(value as i8),
                "h" => i64::from(value as i16),
                "" => i64::from(value as i32),
                _ => value as i64,
            };
            let sign: &[u8] = if v < 0 {
                b"-"
            } else if c.plus {
                b"+"
            } else if c.space {
                b" "
            } else {
                b""
            };
            integer(c, sign, v.unsigned_abs(), out);
        }
        'u' | 'x' | 'X' | 'o' => integer(c, b"", truncate_unsigned(c.length, value), out),
        'p' if value == 0 => pad(c, &[], b"(nil)", out),
        // glibc prints a pointer as `%#lx`, signs and precision included.
        'p' => {
            let sign: &[u8] = if c.plus {
                b"+"
            } else if c.space {
                b" "
            } else {
                b""
            };
            integer(&Conversion { alt: true, conv: 'x', ..c.clone() }, sign, value, out);
        }
        // A NUL byte ends the C string bpftrace prints, so it prints nothing.
        'c' => {
            let byte = [value as u8];
            pad(c, &[], if byte[0] == 0 { &[] } else { &byte }, out);
        }
        's' => {
            let text = if signed { (value as i64).to_string() } else { value.to_string() };
            pad(c, &[], text.as_bytes(), out);
        }
        _ => {}
    }
}

fn truncate_unsigned(length: &str, value: u64) -> u64 {
    match length {
        "hh" => u64::from(value as u8),
        "h" => u64::from(value as u16),
        "" => u64::from(value as u32),
        _ => value,
    }
}

/// An integer conversion: `sign` ("", "-", "+" or " ") and the magnitude,
/// with precision (minimum digits), `#`, `0` and width as C defines them.
fn integer(c: &Conversion, sign: &[u8], magnitude: u64, out: &mut Vec<u8>) {
    let mut digits = match c.conv {
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        'o' => format!("{magnitude:o}"),
        _ => magnitude.to_string(),
    };
    if c.precision == Some(0) && magnitude == 0 {
        digits.clear();
    }
    if let Some(p) = c.precision {
        if digits.len() < p {
            digits.insert_str(0, &"0".repeat(p - digits.len()));
        }
    }
    let mut prefix = sign.to_vec();
    if c.alt {
        match c.conv {
            'o' if !digits.starts_with('0') => digits.insert(0, '0'),
            'x' if magnitude != 0 => prefix.extend_from_slice(b"0x"),
            'X' if magnitude != 0 => prefix.extend_from_slice(b"0X"),
            _ => {}
        }
    }
    let len = prefix.len() + digits.len();
    let width = c.width.unwrap_or(0);
    if c.zero && !c.left && c.precision.is_none() && width > len {
        out.extend_from_slice(&prefix);
        out.resize(out.len() + (width - len), b'0');
        out.extend_from_slice(digits.as_bytes());
    } else {
        pad(c, &prefix, digits.as_bytes(), out);
    }
}

/// `prefix` and `body` padded with spaces to the width, on the left or
/// (with `-`) on the right. For `%s`, the precision has already cut `body`.
fn pad(c: &Conversion, prefix: &[u8], body: &[u8], out: &mut Vec<u8>) {
    let body = match c.precision {
        Some(p) if c.conv == 's' => &body[..p.min(body.len())],
        _ => body,
    };
    let fill = c.width.unwrap_or(0).saturating_sub(prefix.len() + body.len());
    if !c.left {
        out.resize(out.len() + fill, b' ');
    }
    out.extend_from_slice(prefix);
    out.extend_from_slice(body);
    if c.left {
        out.resize(out.len() + fill, b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_codegen::manifest::ValueType;

    /// Formats `format` with `args`; expectations come from glibc's
    /// snprintf (the values bpftrace passes are 64-bit).
    fn check(format: &str, args: &[Value], expect: &str) {
        let pieces = format::parse(format).unwrap();
        let mut out = Vec::new();
        write(&pieces, args, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), expect, "format {format:?}");
    }

    fn int(v: i64) -> Value {
        Value::Int(v)
    }

    fn uint(v: u64) -> Value {
        Value::Uint(v)
    }

    fn s(bytes: &[u8]) -> Value {
        Value::Str(crate::decode::until_nul(bytes).to_vec())
    }

    #[test]
    fn signed_decimal_with_flags_width_precision() {
        check("%d", &[int(42)], "42");
        check("%d", &[int(-42)], "-42");
        check("%5d|", &[int(42)], "   42|");
        check("%-5d|", &[int(42)], "42   |");
        check("%05d", &[int(-42)], "-0042");
        check("%+d", &[int(5)], "+5");
        check("% d", &[int(5)], " 5");
        check("%+ d", &[int(5)], "+5");
        check("%.3d", &[int(7)], "007");
        check("%8.3d", &[int(-7)], "    -007");
        check("%-8.3d|", &[int(7)], "007     |");
        check("%08.3d", &[int(7)], "     007");
        check("%.0d|", &[int(0)], "|");
        check("%5.0d|", &[int(0)], "     |");
        check("%-+6d|", &[int(3)], "+3    |");
        check("%i", &[int(-3)], "-3");
        check("%5ld", &[int(123456789012)], "123456789012");
        check("%ld", &[int(i64::MIN)], "-9223372036854775808");
    }

    #[test]
    fn length_modifiers_truncate_like_c() {
        // `%d` reads an int: the low 32 bits of the 64-bit argument.
        check("%d", &[int(0x1_0000_0001)], "1");
        check("%u", &[int(-1)], "4294967295");
        check("%x", &[int(-1)], "ffffffff");
        check("%ld|%lu|%lx", &[int(-1), int(-1), int(-1)], "-1|18446744073709551615|ffffffffffffffff");
        check("%llx|%lld|%llu", &[int(-1), int(-5), int(-1)], "ffffffffffffffff|-5|18446744073709551615");
        check("%hd|%hu", &[int(70000), int(-1)], "4464|65535");
        check("%hhd|%hhu|%hhd", &[int(300), int(-1), int(200)], "44|255|-56");
    }

    #[test]
    fn hex_and_octal_with_alternate_form() {
        check("%X", &[uint(0xabc)], "ABC");
        check("%08x", &[uint(0xabc)], "00000abc");
        check("%-08x|", &[uint(0xabc)], "abc     |");
        check("%#x|%#X|%#x", &[uint(255), uint(255), uint(0)], "0xff|0XFF|0");
        check("%#o|%#o|%o|%#.3o", &[uint(8), uint(0), uint(8), uint(8)], "010|0|10|010");
        check("%#08x", &[uint(255)], "0x0000ff");
        check("%#10.4x", &[uint(255)], "    0x00ff");
        // Signs are for signed conversions only.
        check("%+u|% x", &[uint(5), uint(5)], "5|5");
    }

    #[test]
    fn pointers_print_as_glibc_does() {
        check("%p|%p|%p", &[uint(0), uint(255), uint(0xffffffff81000000)], "(nil)|0xff|0xffffffff81000000");
        check("%20p|%-20p|", &[uint(4096), uint(4096)], "              0x1000|0x1000              |");
        check("%10p|%-8p|", &[uint(0), uint(0)], "     (nil)|(nil)   |");
        check("%020p", &[uint(4096)], "0x000000000000001000");
        check("%+p|%.8p|%#p", &[uint(4096), uint(4096), uint(4096)], "+0x1000|0x00001000|0x1000");
    }

    #[test]
    fn chars_print_the_low_byte() {
        check("%c|%c|%5c|%-3c|%03c", &[int(65), int(0x4142), int(66), int(67), int(68)], "A|B|    B|C  |  D");
        // bpftrace prints a C string: a NUL char vanishes.
        check("a%cb", &[int(0)], "ab");
        let pieces = format::parse("%c").unwrap();
        let mut out = Vec::new();
        write(&pieces, &[int(0xe9)], &mut out);
        assert_eq!(out, [0xe9]);
    }

    #[test]
    fn strings_stop_at_the_first_nul() {
        check("%s", &[s(b"abc\0\0\0\0\0")], "abc");
        check("%.1s|%5.1s|%-6s|%s|", &[s(b"abc\0"), s(b"abc"), s(b"x\0yz"), s(b"\0\0")], "a|    a|x     ||");
        check("%05s|%10.2s|", &[s(b"ab"), s(b"hello")], "   ab|        he|");
        check("%-5s|%5s", &[s(b"\0"), s(b"toolongvalue")], "     |toolongvalue");
    }

    #[test]
    fn percent_and_literals() {
        check("100%%\n", &[], "100%\n");
        check("%%|%d|100%%\n", &[int(5)], "%|5|100%\n");
        check("no conversions", &[], "no conversions");
    }

    #[test]
    fn mismatched_arguments_still_print_something() {
        check("%s|%s", &[int(-3), uint(7)], "-3|7");
        check("%5d|", &[s(b"ab\0")], "   ab|");
        check("%d %d", &[int(1)], "1 ");
    }

    #[test]
    fn values_of_every_type() {
        let buf = Value::Buf(b"ab\tc\x01\xff\"\\\0".to_vec());
        // bpftrace: printf("%r", buf("ab\tc\x01\xff\"\\", 9)) prints ab\x09c\x01\xff"\\x00
        check("%r", std::slice::from_ref(&buf), r#"ab\x09c\x01\xff"\\x00"#);
        // bpftrace 0.17: printf("[%r][%rx][%rh][%5r][%-5r][%.2r]\n", buf("ab\tc\x01\xff", 6), ...)
        let six = Value::Buf(b"ab\tc\x01\xff".to_vec());
        check(
            "[%r][%rx][%rh][%5r][%-5r][%.2r]",
            &[six.clone(), six.clone(), six.clone(), six.clone(), six.clone(), six],
            r"[ab\x09c\x01\xff][\x61\x62\x09\x63\x01\xff][61 62 09 63 01 ff][%5r][%-5r][%.2r]",
        );
        // bpftrace 0.17: printf("[%rz] %d\n", buf("ab", 2), 5) prints `[abz] 5`.
        check("[%rz] %d", &[Value::Buf(b"ab".to_vec()), int(5)], "[abz] 5");
        // Bools: %d prints 1/0, %s true/false.
        check("%d %d %s %s %5s|", &[Value::Bool(true), Value::Bool(false), Value::Bool(true), Value::Bool(false), Value::Bool(true)], "1 0 true false  true|");
        check("%x", &[Value::Bool(true)], "1");
        // Tuples and rendered values (usernames, addresses, times) print as text.
        let tuple = Value::Tuple(vec![Value::Int(1), s(b"x")]);
        check("%s|%-8s|%s", &[tuple, s(b"root"), s(b"127.0.0.1")], "(1, x)|root    |127.0.0.1");
        check("%s", &[buf], r#"ab\x09c\x01\xff"\\x00"#);
    }

    #[test]
    fn reads_arguments_out_of_records() {
        let format = PrintfFormat {
            format: "%d %s %u\n".into(),
            args: vec![
                Field { offset: 8, ty: ValueType::Int { size: 8, signed: true } },
                Field { offset: 16, ty: ValueType::Str { size: 8 } },
                Field { offset: 24, ty: ValueType::Int { size: 4, signed: false } },
            ],
            size: 28,
        };
        let mut record = vec![1, 0, 0, 0, 0, 0, 0, 0];
        record.extend_from_slice(&(-7i64).to_le_bytes());
        record.extend_from_slice(b"hi\0\0\0\0\0\0");
        record.extend_from_slice(&9u32.to_le_bytes());
        let printf = Printf::new(&format).unwrap();
        let mut out = Vec::new();
        let decoder = Decoder::default();
        printf.format_record(&record, &decoder, &mut out).unwrap();
        assert_eq!(out, b"-7 hi 9\n");
        assert!(printf.format_record(&record[..27], &decoder, &mut out).is_none());
    }
}
