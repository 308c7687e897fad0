//! Decoding: the bytes of ring buffer records and map slots, laid out as the
//! manifest describes ([`ValueType`]), read into [`Value`]s.
//!
//! Values that bpftrace renders from host facts — `strftime` timestamps,
//! `username`, `ntop` addresses, kernel symbols — are rendered when decoded,
//! by a [`Decoder`] that holds those facts, and travel as strings.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::PathBuf;

use rbpf_codegen::manifest::{Field, Manifest, ValueType};

use crate::strftime;
use crate::value::Value;

/// Reads one field (a printf argument, ...) out of a record; `None` if the
/// record is too short to hold it.
pub fn read_field(field: &Field, record: &[u8], decoder: &Decoder) -> Option<Value> {
    let start = field.offset as usize;
    let bytes = record.get(start..start.checked_add(field.ty.size() as usize)?)?;
    Some(decoder.decode(&field.ty, bytes))
}

/// A little-endian integer of 1 to 8 bytes, widened to 64 bits.
pub(crate) fn read_int(bytes: &[u8], signed: bool) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    let value = u64::from_le_bytes(buf);
    if signed && (1..8).contains(&n) {
        let shift = 64 - 8 * n as u32;
        (((value << shift) as i64) >> shift) as u64
    } else {
        value
    }
}

/// The bytes of a NUL-padded string buffer up to its first NUL.
pub(crate) fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.iter().position(|&b| b == 0).map_or(bytes, |n| &bytes[..n])
}

/// The C library's text for errno `n` (`Unknown error 300` for one it
/// does not know), as bpftrace's `strerror()` prints it.
pub(crate) fn strerror(n: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; strerror_r writes at most
    // that many bytes, NUL included.
    unsafe { libc::strerror_r(n, buf.as_mut_ptr().cast(), buf.len()) };
    String::from_utf8_lossy(until_nul(&buf)).into_owned()
}

/// Decodes values of one manifest: knows its strftime formats, the offset
/// from boot time to wall-clock time, and (read on first use) the user
/// names of /etc/passwd and the kernel's symbols.
#[derive(Debug)]
pub struct Decoder {
    time_formats: Vec<String>,
    /// Nanoseconds to add to a CLOCK_BOOTTIME reading to get
    /// CLOCK_REALTIME, measured once when the decoder is made.
    boot_to_wall_ns: i128,
    passwd: PathBuf,
    users: OnceCell<HashMap<u64, String>>,
    kallsyms: OnceCell<crate::kallsyms::Kallsyms>,
    cgroups: OnceCell<crate::cgroups::Hierarchies>,
    stacks: crate::stacks::Stacks,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(&Manifest::default())
    }
}

impl Decoder {
    /// A decoder for `manifest`'s values, with this machine's facts (the
    /// boot time now, /etc/passwd and /proc/kallsyms when first needed).
    pub fn new(manifest: &Manifest) -> Decoder {
        Decoder {
            time_formats: manifest.time_formats.clone(),
            boot_to_wall_ns: strftime::boot_to_wall_ns(),
            passwd: PathBuf::from("/etc/passwd"),
            users: OnceCell::new(),
            kallsyms: OnceCell::new(),
            cgroups: OnceCell::new(),
            stacks: crate::stacks::Stacks::default(),
        }
    }

    /// A decoder with fixed host facts, for tests and replays.
    pub fn with_facts(manifest: &Manifest, boot_to_wall_ns: i128, users: HashMap<u64, String>) -> Decoder {
        let decoder = Decoder { boot_to_wall_ns, ..Decoder::new(manifest) };
        let _ = decoder.users.set(users);
        decoder
    }

    /// Reads `kstack` / `ustack` values from these stack-trace maps.
    pub fn set_stacks(&mut self, stacks: crate::stacks::Stacks) {
        self.stacks = stacks;
    }

    /// The stack-trace maps and symbols stacks are read with.
    pub fn stacks(&self) -> &crate::stacks::Stacks {
        &self.stacks
    }

    /// Reads the mappings and symbols of process `pid` now, while it
    /// lives, for its user stacks printed later.
    pub fn remember_process(&self, pid: u32) {
        self.stacks.remember_process(pid);
    }

    /// The strftime format with this index (empty if the manifest has none).
    pub fn time_format(&self, index: u32) -> &str {
        self.time_formats.get(index as usize).map_or("", String::as_str)
    }

    /// Decodes `bytes`, laid out as `ty` (shorter input reads as zeros).
    pub fn decode(&self, ty: &ValueType, bytes: &[u8]) -> Value {
        match ty {
            ValueType::Int { signed: true, .. } => Value::Int(read_int(bytes, true) as i64),
            ValueType::Int { signed: false, .. } => Value::Uint(read_int(bytes, false)),
            ValueType::Str { .. } => Value::Str(until_nul(bytes).to_vec()),
            ValueType::Bool => Value::Bool(bytes.first().is_some_and(|&b| b != 0)),
            ValueType::Buf { size } => {
                let len = bytes.first().map_or(0, |&n| usize::from(n)).min(*size as usize);
                Value::Buf(bytes.get(1..).map_or(&[][..], |rest| &rest[..len.min(rest.len())]).to_vec())
            }
            ValueType::Tuple { fields, .. } => Value::Tuple(
                fields
                    .iter()
                    .map(|f| {
                        let start = (f.offset as usize).min(bytes.len());
                        let end = start.saturating_add(f.ty.size() as usize).min(bytes.len());
                        self.decode(&f.ty, &bytes[start..end])
                    })
                    .collect(),
            ),
            ValueType::Timestamp { format } => {
                let boot_ns = read_int(bytes, false);
                let wall_ns = i128::from(boot_ns) + self.boot_to_wall_ns;
                Value::Str(strftime::format(self.time_format(*format), wall_ns, true))
            }
            ValueType::Username => {
                let uid = read_int(bytes, false);
                Value::Str(self.users().get(&uid).map_or_else(|| uid.to_string(), Clone::clone).into_bytes())
            }
            ValueType::Macaddr => {
                let hex: Vec<String> = (0..6).map(|i| format!("{:02X}", bytes.get(i).copied().unwrap_or(0))).collect();
                Value::Str(hex.join(":").into_bytes())
            }
            ValueType::Errno => Value::Str(strerror(read_int(bytes, false) as i32).into_bytes()),
            ValueType::CgroupPath { filter } => {
                let id = read_int(bytes, false);
                Value::Str(self.cgroups.get_or_init(crate::cgroups::Hierarchies::read).paths(id, filter.as_deref()).into_bytes())
            }
            ValueType::Pointer => Value::Pointer(read_int(bytes, false)),
            ValueType::Ksym => {
                let addr = read_int(bytes, false);
                let name = self.kallsyms.get_or_init(crate::kallsyms::Kallsyms::read).name_of(addr);
                Value::Str(name.map_or_else(|| format!("0x{addr:x}"), str::to_string).into_bytes())
            }
            ValueType::Usym => {
                let addr = read_int(bytes.get(..8).unwrap_or(bytes), false);
                let pid = read_int(bytes.get(8..).unwrap_or(&[]), false);
                Value::Str(self.stacks.user_symbol_name(pid as u32, addr).into_bytes())
            }
            ValueType::Stack { map, user, mode, limit, indent } => {
                let value = read_int(bytes, false);
                Value::Str(self.stacks.text(map, *user, *mode, *limit, *indent, value).into_bytes())
            }
            ValueType::Inet => {
                let family = read_int(bytes.get(..8).unwrap_or(bytes), false);
                let addr = bytes.get(8..).unwrap_or(&[]);
                Value::Str(ntop(family, addr).into_bytes())
            }
            ValueType::Record { members, .. } => Value::Record(
                members.iter().map(|m| (m.name.clone(), self.decode(&m.field.ty, part(bytes, m.field.offset, &m.field.ty)))).collect(),
            ),
            ValueType::Array { element, len } => {
                let stride = element.size();
                Value::Array((0..*len).map(|i| self.decode(element, part(bytes, i.saturating_mul(stride), element))).collect())
            }
            ValueType::Float { size: 4 } => {
                let bits = read_int(bytes, false) as u32;
                Value::Float(f64::from(f32::from_bits(bits)).to_bits())
            }
            ValueType::Float { .. } => Value::Float(read_int(bytes, false)),
            ValueType::BitField { shift, width, .. } => {
                let bits = read_int(bytes, false) >> shift;
                Value::Uint(if *width >= 64 { bits } else { bits & ((1u64 << width) - 1) })
            }
        }
    }

    fn users(&self) -> &HashMap<u64, String> {
        self.users.get_or_init(|| std::fs::read_to_string(&self.passwd).map(|text| parse_passwd(&text)).unwrap_or_default())
    }
}

/// The bytes of a member at `offset` laid out as `ty`, as far as `bytes`
/// holds them (a shorter part decodes as zeroes).
fn part<'a>(bytes: &'a [u8], offset: u32, ty: &ValueType) -> &'a [u8] {
    let start = (offset as usize).min(bytes.len());
    let end = start.saturating_add(ty.size() as usize).min(bytes.len());
    &bytes[start..end]
}

/// uid → name from the lines of /etc/passwd (`name:x:uid:...`); the first
/// line with a uid wins, as getpwuid finds it.
fn parse_passwd(text: &str) -> HashMap<u64, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut parts = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if let Ok(uid) = uid.parse::<u64>() {
            users.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    users
}

extern "C" {
    /// POSIX inet_ntop, from the C library (the libc crate does not declare it).
    fn inet_ntop(af: libc::c_int, src: *const libc::c_void, dst: *mut libc::c_char, size: libc::socklen_t) -> *const libc::c_char;
}

/// An address as the C library's inet_ntop prints it: AF_INET takes the first 4 bytes,
/// AF_INET6 all 16. Another family prints nothing.
fn ntop(family: u64, addr: &[u8]) -> String {
    let mut bytes = [0u8; 16];
    let n = addr.len().min(16);
    bytes[..n].copy_from_slice(&addr[..n]);
    let af = match family {
        2 => libc::AF_INET,
        10 => libc::AF_INET6,
        _ => return String::new(),
    };
    let mut text = [0 as libc::c_char; 64];
    // SAFETY: `bytes` holds at least the 4 or 16 bytes inet_ntop reads for
    // `af`; `text` is writable for the length passed, more than
    // INET6_ADDRSTRLEN.
    let done = unsafe { inet_ntop(af, bytes.as_ptr().cast(), text.as_mut_ptr(), text.len() as libc::socklen_t) };
    if done.is_null() {
        return String::new();
    }
    let text: Vec<u8> = text.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Value) -> String {
        String::from_utf8(v.to_text()).unwrap()
    }

    #[test]
    fn decodes_every_value_type() {
        let d = Decoder::with_facts(&Manifest::default(), 0, HashMap::from([(0, "root".to_string())]));
        assert_eq!(d.decode(&ValueType::Bool, &[1]), Value::Bool(true));
        assert_eq!(d.decode(&ValueType::Bool, &[0]), Value::Bool(false));
        assert_eq!(d.decode(&ValueType::Buf { size: 4 }, &[2, b'a', 0, b'z', b'z']), Value::Buf(b"a\0".to_vec()));
        // A length past the buffer is cut to its size.
        assert_eq!(d.decode(&ValueType::Buf { size: 2 }, &[9, b'a', b'b']), Value::Buf(b"ab".to_vec()));
        assert_eq!(d.decode(&ValueType::Username, &0u64.to_le_bytes()), Value::Str(b"root".to_vec()));
        assert_eq!(d.decode(&ValueType::Username, &4242u64.to_le_bytes()), Value::Str(b"4242".to_vec()));
        assert_eq!(d.decode(&ValueType::Macaddr, &[0, 0x1a, 0x2b, 0x3c, 0x4d, 0xfe]), Value::Str(b"00:1A:2B:3C:4D:FE".to_vec()));
        assert_eq!(d.decode(&ValueType::Errno, &2u64.to_le_bytes()), Value::Str(b"No such file or directory".to_vec()));
        assert_eq!(d.decode(&ValueType::Errno, &(-1i64).to_le_bytes()), Value::Str(b"Unknown error -1".to_vec()));
        assert_eq!(d.decode(&ValueType::Errno, &300u64.to_le_bytes()), Value::Str(b"Unknown error 300".to_vec()));
        let inet = |family: u64, addr: &[u8]| {
            let mut bytes = family.to_le_bytes().to_vec();
            bytes.extend_from_slice(addr);
            bytes.resize(24, 0);
            text(&d.decode(&ValueType::Inet, &bytes))
        };
        assert_eq!(inet(2, &[127, 0, 0, 1]), "127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[0] = 0xfe;
        v6[1] = 0x80;
        v6[15] = 1;
        assert_eq!(inet(10, &v6), "fe80::1");
        assert_eq!(inet(7, &v6), "");
        // Decoding never reads past short input.
        assert_eq!(d.decode(&ValueType::Inet, &[2]), Value::Str(b"0.0.0.0".to_vec()));
    }

    #[test]
    fn tuples_print_nested_and_unquoted() {
        // bpftrace -e 'BEGIN { print((1, "x", (2, "y"))); }' prints (1, x, (2, y))
        let inner = ValueType::Tuple {
            fields: vec![
                Field { offset: 0, ty: ValueType::Int { size: 8, signed: true } },
                Field { offset: 8, ty: ValueType::Str { size: 4 } },
            ],
            size: 16,
        };
        let outer = ValueType::Tuple {
            fields: vec![
                Field { offset: 0, ty: ValueType::Int { size: 4, signed: true } },
                Field { offset: 4, ty: ValueType::Str { size: 4 } },
                Field { offset: 8, ty: inner },
                Field { offset: 24, ty: ValueType::Bool },
            ],
            size: 32,
        };
        let mut bytes = vec![0u8; 32];
        bytes[..4].copy_from_slice(&1i32.to_le_bytes());
        bytes[4] = b'x';
        bytes[8..16].copy_from_slice(&2i64.to_le_bytes());
        bytes[16] = b'y';
        bytes[24] = 1;
        let d = Decoder::default();
        assert_eq!(text(&d.decode(&outer, &bytes)), "(1, x, (2, y), true)");
    }

    #[test]
    fn timestamps_are_wall_clock_with_microseconds() {
        let manifest = Manifest { time_formats: vec!["%s.%f".into()], ..Manifest::default() };
        // Booted at 1_700_000_000.5 s wall-clock time; the stamp is 2.25 s later.
        let d = Decoder::with_facts(&manifest, 1_700_000_000_500_000_000, HashMap::new());
        let v = d.decode(&ValueType::Timestamp { format: 0 }, &2_250_000_123u64.to_le_bytes());
        assert_eq!(text(&v), "1700000002.750000");
    }

    #[test]
    fn passwd_lines() {
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\n#bad\nbin:x:2:2::/:\ndup:x:2:2::/:\n");
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&2).map(String::as_str), Some("bin"));
        assert_eq!(users.len(), 2);
    }
    #[test]
    fn sign_extends_narrow_fields() {
        assert_eq!(read_int(&[0xff], true), u64::MAX);
        assert_eq!(read_int(&[0xff], false), 255);
        assert_eq!(read_int(&[0xfe, 0xff, 0xff, 0xff], true) as i64, -2);
        assert_eq!(read_int(&(-2i64).to_le_bytes(), true) as i64, -2);
    }

    #[test]
    fn records_decode_members_arrays_and_bit_fields() {
        use rbpf_codegen::manifest::NamedField;
        let d = Decoder::default();
        let field = |name: &str, offset, ty| NamedField { name: name.into(), field: Field { offset, ty } };
        // struct { short s; char name[3]; int arr[2]; unsigned lo : 3, mid : 5; }
        let ty = ValueType::Record {
            members: vec![
                field("s", 0, ValueType::Int { size: 2, signed: true }),
                field("name", 2, ValueType::Str { size: 3 }),
                field("arr", 8, ValueType::Array { element: Box::new(ValueType::Int { size: 4, signed: true }), len: 2 }),
                field("lo", 16, ValueType::BitField { size: 1, shift: 0, width: 3 }),
                field("mid", 16, ValueType::BitField { size: 1, shift: 3, width: 5 }),
            ],
            size: 20,
        };
        let mut bytes = vec![0xf9, 0xff, b'a', b'b', b'c', 0, 0, 0, 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff];
        bytes.extend([5 | 17 << 3, 0, 0, 0]);
        assert_eq!(text(&d.decode(&ty, &bytes)), "{ .s = -7, .name = abc, .arr = [1,-2], .lo = 5, .mid = 17 }");
        // Short input reads as zeroes.
        assert_eq!(text(&d.decode(&ty, &bytes[..4])), "{ .s = -7, .name = ab, .arr = [0,0], .lo = 0, .mid = 0 }");
        // Floats and doubles print as decimal numbers.
        let ty = ValueType::Record { members: vec![field("f", 0, ValueType::Float { size: 4 }), field("d", 8, ValueType::Float { size: 8 })], size: 16 };
        let mut bytes = 1.5f32.to_le_bytes().to_vec();
        bytes.extend([0; 4]);
        bytes.extend((-0.25f64).to_le_bytes());
        assert_eq!(text(&d.decode(&ty, &bytes)), "{ .f = 1.5, .d = -0.25 }");
    }
}
