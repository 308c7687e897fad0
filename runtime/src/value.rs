//! Values as the runtime hands them to an [`Output`](crate::Output), and
//! their text as bpftrace's text output prints them. Turning record bytes
//! into values is [`decode`](crate::decode)'s business.

use crate::histogram::Histogram;

/// A decoded key part, map value, printf argument or printed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// `true` or `false`.
    Bool(bool),
    /// A string, up to its first NUL. Bytes, not `String`: the kernel's
    /// strings (comm, file names) need not be UTF-8, and bpftrace prints
    /// them as they are. Timestamps, user names and addresses arrive here
    /// already rendered.
    Str(Vec<u8>),
    /// The bytes of a `buf()`: printed with non-printable bytes escaped.
    Buf(Vec<u8>),
    /// A tuple's items, printed `(a, b)`.
    Tuple(Vec<Value>),
    /// An address from a typed pointer in a map key, printed in hex
    /// (`0x7fffffffe6d0`) as bpftrace prints pointers in keys.
    Pointer(u64),
    /// A C `float` or `double` member of a struct, as the bits of an f64
    /// (bits, so that values stay comparable and hashable).
    Float(u64),
    /// A C struct or union's members by name, printed
    /// `{ .x = 1, .name = abc }` (`{.x=1,.name=abc}` in a map key).
    Record(Vec<(String, Value)>),
    /// A C array's elements, printed `[1,2,3]`.
    Array(Vec<Value>),
    /// A `stats()` value (boxed: its i128 total would double the size of
    /// every value, and maps hold many).
    Stats(Box<Stats>),
    /// The buckets of one `hist()` or `lhist()` (one key's worth).
    Hist(Histogram),
}

/// A `stats()` value: the count and the total of every value seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// How many values.
    pub count: u64,
    /// Wide enough for both signed and unsigned totals.
    pub total: i128,
}

impl Stats {
    /// The mean, truncated towards zero as bpftrace's integer division;
    /// 0 when nothing was counted.
    pub fn average(&self) -> i128 {
        if self.count == 0 {
            0
        } else {
            self.total / i128::from(self.count)
        }
    }
}

/// Values as text, separated by `, `: tuple items.
pub(crate) fn write_text_list(values: &[Value], out: &mut Vec<u8>) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        value.write_text(out);
    }
}

/// Map key parts as text ([`Value::write_key_text`]), separated by `, `.
pub(crate) fn write_key_list(values: &[Value], out: &mut Vec<u8>) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        value.write_key_text(out);
    }
}

/// An array's elements in brackets, separated by bare commas (`[1,2,3]`),
/// as bpftrace prints arrays everywhere.
fn write_array(items: &[Value], out: &mut Vec<u8>, write: fn(&Value, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

impl Value {
    /// Writes the value as bpftrace's text output does: numbers in decimal,
    /// strings as they are (unquoted, also inside tuples), buffers with
    /// non-printable bytes as `\xNN`, tuples as `(a, b)`.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Value::Uint(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Pointer(addr) => out.extend_from_slice(format!("{addr:#x}").as_bytes()),
            Value::Float(bits) => out.extend_from_slice(f64::from_bits(*bits).to_string().as_bytes()),
            Value::Str(s) => out.extend_from_slice(s),
            Value::Buf(bytes) => escape_buffer(bytes, BufferStyle::Printable, out),
            Value::Tuple(items) => {
                out.push(b'(');
                write_text_list(items, out);
                out.push(b')');
            }
            Value::Record(members) => {
                out.push(b'{');
                for (i, (name, value)) in members.iter().enumerate() {
                    out.extend_from_slice(if i > 0 { b", ." } else { b" ." });
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b" = ");
                    value.write_text(out);
                }
                out.extend_from_slice(b" }");
            }
            Value::Array(items) => write_array(items, out, Value::write_text),
            Value::Stats(s) => {
                let text = format!("count {}, average {}, total {}", s.count, s.average(), s.total);
                out.extend_from_slice(text.as_bytes());
            }
            // A histogram takes lines of its own; see the text output.
            Value::Hist(_) => {}
        }
    }

    /// Writes the value as bpftrace prints a map key's part: as
    /// [`Value::write_text`], but records without spaces
    /// (`{.x=1,.q={.s=2}}`), as bpftrace 0.17 prints them there.
    pub fn write_key_text(&self, out: &mut Vec<u8>) {
        match self {
            Value::Record(members) => {
                out.push(b'{');
                for (i, (name, value)) in members.iter().enumerate() {
                    out.extend_from_slice(if i > 0 { b",." } else { b"." });
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'=');
                    value.write_key_text(out);
                }
                out.push(b'}');
            }
            Value::Array(items) => write_array(items, out, Value::write_key_text),
            Value::Tuple(items) => {
                out.push(b'(');
                write_key_list(items, out);
                out.push(b')');
            }
            other => other.write_text(out),
        }
    }

    /// The value as text, e.g. for `%s`.
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_text(&mut out);
        out
    }
}

/// How a buffer's bytes are printed; printf's parser names the style.
pub use rbpf_lang::format::BufferStyle;

/// Appends `bytes` to `out` as `style` shows them (`%r`, `%rx`, `%rh`).
pub fn escape_buffer(bytes: &[u8], style: BufferStyle, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &b) in bytes.iter().enumerate() {
        match style {
            BufferStyle::Printable if (0x20..0x7f).contains(&b) => out.push(b),
            BufferStyle::Printable | BufferStyle::Escaped => {
                out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            BufferStyle::Hex => {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Value) -> String {
        String::from_utf8(v.to_text()).unwrap()
    }

    #[test]
    fn buffers_escape_like_bpftrace() {
        // bpftrace -e 'BEGIN { $s = "ab\tc\x01\xff\"\\"; printf("[%r][%rx][%rh]\n", buf($s, 9), ...) }'
        let bytes = b"ab\tc\x01\xff\"\\\0";
        let mut out = Vec::new();
        escape_buffer(bytes, BufferStyle::Printable, &mut out);
        assert_eq!(out, br#"ab\x09c\x01\xff"\\x00"#);
        out.clear();
        escape_buffer(bytes, BufferStyle::Escaped, &mut out);
        assert_eq!(out, br#"\x61\x62\x09\x63\x01\xff\x22\x5c\x00"#);
        out.clear();
        escape_buffer(bytes, BufferStyle::Hex, &mut out);
        assert_eq!(out, b"61 62 09 63 01 ff 22 5c 00");
    }

    #[test]
    fn stats_average_truncates_towards_zero() {
        assert_eq!(text(&Value::Stats(Box::new(Stats { count: 2, total: 15 }))), "count 2, average 7, total 15");
        assert_eq!(text(&Value::Stats(Box::new(Stats { count: 2, total: -5 }))), "count 2, average -2, total -5");
        assert_eq!(text(&Value::Stats(Box::new(Stats { count: 0, total: 0 }))), "count 0, average 0, total 0");
    }
}
