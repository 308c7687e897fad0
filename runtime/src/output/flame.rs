//! Flame graphs: the stacks of one map keyed by `kstack` / `ustack` (with
//! `count()` or `sum()` values) folded into Brendan Gregg's folded format
//! (`root;caller;callee value`, one line per distinct path, as his
//! stackcollapse tools write it) and drawn by inferno as his flamegraph.pl
//! draws them: an interactive SVG (search, zoom on click).
//!
//! [`FlameOutput`] wraps the session's [`Output`], keeps the chosen map's
//! entries as they are printed, and writes the files when the run is over.
//! A run that asks for no flame graph never builds one: nothing here is
//! reached, and the symbols and files are those the printing already read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use rbpf_codegen::manifest::{Field, Manifest, MapInfo, MapValue, ValueType};
use rbpf_lang::types::StackMode;

use super::{Forward, Output};
use crate::maps::{MapEntry, Value};

/// The map a flame graph is drawn from: `name` (with its `@`) if given,
/// else the program's only map keyed by a stack with `count()` or `sum()`
/// values. The error says why none fits, to be shown with the option
/// that asked (`--flamegraph`, `--folded`).
pub fn flame_map<'m>(manifest: &'m Manifest, name: Option<&str>) -> Result<&'m MapInfo, String> {
    const EXAMPLE: &str = "a map keyed by a stack with count() or sum() values, such as @[kstack] = count() or @[ustack, comm] = sum($bytes)";
    if let Some(name) = name {
        let Some(map) = manifest.maps.iter().find(|m| m.name == name) else {
            let names: Vec<&str> = manifest.maps.iter().map(|m| m.name.as_str()).collect();
            return Err(format!("the program has no map {name} (its maps: {})", list_or_none(&names)));
        };
        return match (has_stack(&map.key), counts(map)) {
            (true, true) => Ok(map),
            (false, _) => Err(format!("{name} is not keyed by a stack: a flame graph needs {EXAMPLE}")),
            (true, false) => Err(format!("{name}'s values are not from count() or sum(): a flame graph needs {EXAMPLE}")),
        };
    }
    let fitting: Vec<&MapInfo> = manifest.maps.iter().filter(|m| has_stack(&m.key) && counts(m)).collect();
    match fitting[..] {
        [map] => Ok(map),
        [] => Err(format!("the program has no map to draw: a flame graph needs {EXAMPLE}")),
        _ => {
            let names: Vec<&str> = fitting.iter().map(|m| m.name.as_str()).collect();
            Err(format!("several maps could be drawn ({}): name one with --flame-map", names.join(", ")))
        }
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Whether a key has a stack among its parts (or inside a tuple part).
fn has_stack(key: &[Field]) -> bool {
    key.iter().any(|f| match &f.ty {
        ValueType::Stack { .. } => true,
        ValueType::Tuple { fields, .. } => has_stack(fields),
        _ => false,
    })
}

/// Whether a map's values can size a flame graph's frames.
fn counts(map: &MapInfo) -> bool {
    matches!(map.value, MapValue::Count | MapValue::Sum { .. })
}

/// The entries of `map` folded: one `frames value` line per distinct
/// path (equal paths added up), sorted, as stackcollapse writes them.
/// A path is the key's other parts as root frames (a `comm`, a pid) in
/// key order, then the user stacks' frames, then the kernel stacks',
/// outermost first; with both, a `-` frame between them, as BCC's
/// profile and offcputime fold them. A frame is a symbol without its
/// offset, or an address. Entries without a positive value are left out.
pub fn fold(map: &MapInfo, entries: &[MapEntry]) -> Vec<String> {
    let mut paths: BTreeMap<String, u64> = BTreeMap::new();
    for entry in entries {
        let value = match entry.value {
            Value::Uint(n) => n,
            Value::Int(n) if n > 0 => n as u64,
            _ => continue,
        };
        if value == 0 {
            continue;
        }
        let mut path = Path::default();
        for (field, part) in map.key.iter().zip(&entry.key) {
            path.add(&field.ty, part);
        }
        let total = paths.entry(path.joined()).or_default();
        *total = total.saturating_add(value);
    }
    paths.into_iter().map(|(path, value)| format!("{path} {value}")).collect()
}

/// One key's frames, gathered by kind.
#[derive(Default)]
struct Path {
    roots: Vec<String>,
    user: Vec<String>,
    kernel: Vec<String>,
}

impl Path {
    fn add(&mut self, ty: &ValueType, value: &Value) {
        match (ty, value) {
            (ValueType::Stack { user, mode, .. }, Value::Str(text)) => {
                let frames = stack_frames(&String::from_utf8_lossy(text), *mode);
                let into = if *user { &mut self.user } else { &mut self.kernel };
                into.extend(frames.into_iter().rev());
            }
            (ValueType::Tuple { fields, .. }, Value::Tuple(items)) => {
                for (field, item) in fields.iter().zip(items) {
                    self.add(&field.ty, item);
                }
            }
            (_, value) => self.roots.push(frame_name(&root_text(value))),
        }
    }

    fn joined(self) -> String {
        let mut frames = self.roots;
        let both = !self.user.is_empty() && !self.kernel.is_empty();
        frames.extend(self.user);
        if both {
            frames.push("-".to_string());
        }
        frames.extend(self.kernel);
        if frames.is_empty() {
            return "[unknown]".to_string();
        }
        frames.join(";")
    }
}

/// A key part that is not a stack, as a root frame's name.
fn root_text(value: &Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Str(bytes) | Value::Buf(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::Tuple(items) => {
            let mut text = String::new();
            for (i, item) in items.iter().enumerate() {
                let _ = write!(text, "{}{}", if i == 0 { "" } else { ", " }, root_text(item));
            }
            text
        }
        Value::Float(bits) => f64::from_bits(*bits).to_string(),
        Value::Pointer(addr) => format!("{addr:#x}"),
        Value::Record(members) => {
            let mut text = String::from("{");
            for (i, (name, member)) in members.iter().enumerate() {
                let _ = write!(text, "{}.{name}={}", if i == 0 { "" } else { "," }, root_text(member));
            }
            text + "}"
        }
        Value::Array(items) => {
            let mut text = String::from("[");
            for (i, item) in items.iter().enumerate() {
                let _ = write!(text, "{}{}", if i == 0 { "" } else { "," }, root_text(item));
            }
            text + "]"
        }
        Value::Stats(_) | Value::Hist(_) => String::new(),
    }
}

/// A name made safe for the folded format: `;` separates frames, and a
/// line ends at a newline.
fn frame_name(text: &str) -> String {
    let name = text.trim().replace(';', ":").replace(['\n', '\r'], " ");
    if name.is_empty() {
        "[unknown]".to_string()
    } else {
        name
    }
}

/// The frames of a stack as it was printed (innermost first), each its
/// symbol without the `+offset`, or its address: in bpftrace's mode a
/// line is `sym+off`, in perf's `addr sym+off` and, for a user frame,
/// ` (module)`.
fn stack_frames(text: &str, mode: StackMode) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let symbol = match mode {
                StackMode::Bpftrace => line,
                StackMode::Perf => {
                    let rest = line.split_once(char::is_whitespace).map_or(line, |(_, rest)| rest.trim_start());
                    match rest.rfind(" (") {
                        Some(at) if rest.ends_with(')') => &rest[..at],
                        _ => rest,
                    }
                }
            };
            frame_name(without_offset(symbol))
        })
        .collect()
}

/// `sym+123` without its `+123`: a flame graph merges a function's
/// frames whatever the instruction.
fn without_offset(symbol: &str) -> &str {
    match symbol.rsplit_once('+') {
        Some((name, offset)) if !name.is_empty() && !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => symbol,
    }
}

/// Draws folded `lines` as an interactive flame graph SVG; `what` names
/// the map (the title) and `value` what its values count. No lines make
/// an SVG that says so, and an error of kind `InvalidData`.
pub fn write_svg(lines: &[String], what: &str, value: &MapValue, out: impl Write) -> io::Result<()> {
    use inferno::flamegraph::{from_lines, Options};
    let mut options = Options::default();
    options.title = format!("Flame Graph: {what}");
    options.count_name = match value {
        MapValue::Count => "samples".to_string(),
        _ => "total".to_string(),
    };
    // Colors from the names, not at random: the same data draws the same
    // picture.
    options.hash = true;
    from_lines(&mut options, lines.iter().map(String::as_str), out)
}

/// Where the flame graph of one map goes when the run ends.
pub struct FlameFiles {
    /// The map drawn, as the user wrote it (`@`, `@stacks`).
    pub map: String,
    /// The SVG's writer and its name (for messages).
    pub svg: Option<(Box<dyn Write>, String)>,
    /// The folded text's writer and its name.
    pub folded: Option<(Box<dyn Write>, String)>,
}

/// An [`Output`] that passes everything on and keeps the last non-empty
/// printing of the map in [`FlameFiles`]; when the run is over (and the
/// program ran: not for `--dry-run`), writes the folded stacks and the
/// SVG. So the flame graph shows the map as it was printed at exit, or as
/// the program last printed it if it cleared it afterwards.
pub struct FlameOutput<'o> {
    inner: Box<dyn Output + 'o>,
    files: Option<FlameFiles>,
    drawn: Option<(MapInfo, Vec<MapEntry>)>,
    stopped: bool,
}

impl<'o> FlameOutput<'o> {
    /// Wraps `inner`; the flame graph goes to `files`.
    pub fn new(inner: Box<dyn Output + 'o>, files: FlameFiles) -> FlameOutput<'o> {
        FlameOutput { inner, files: Some(files), drawn: None, stopped: false }
    }

    fn write_files(&mut self) -> io::Result<()> {
        let Some(files) = self.files.take() else { return Ok(()) };
        if !self.stopped {
            return Ok(());
        }
        let (lines, value) = match &self.drawn {
            Some((map, entries)) => (fold(map, entries), map.value.clone()),
            None => (Vec::new(), MapValue::Count),
        };
        let named = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        if let Some((mut out, name)) = files.folded {
            let mut text = String::new();
            for line in &lines {
                text.push_str(line);
                text.push('\n');
            }
            out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| named(&name, e))?;
        }
        if let Some((out, name)) = files.svg {
            let mut out = io::BufWriter::new(out);
            match write_svg(&lines, &files.map, &value, &mut out) {
                // Nothing to draw is no failure of the run: the SVG says so.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    // Through the output's warnings, which --no-warnings silences.
                    self.inner.warning(&format!("{} held no stacks when the program ended: {name} shows none", files.map))?;
                }
                written => written.map_err(|e| named(&name, e))?,
            }
            out.flush().map_err(|e| named(&name, e))?;
        }
        Ok(())
    }
}

impl Forward for FlameOutput<'_> {
    fn inner(&mut self) -> &mut dyn Output {
        self.inner.as_mut()
    }
    fn stopped(&mut self) -> io::Result<()> {
        self.stopped = true;
        self.inner.stopped()
    }
    fn map(&mut self, map: &MapInfo, entries: &[MapEntry]) -> io::Result<()> {
        let drawn = self.files.as_ref().is_some_and(|f| f.map == map.name);
        if drawn && !entries.is_empty() {
            self.drawn = Some((map.clone(), entries.to_vec()));
        }
        self.inner.map(map, entries)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()?;
        self.write_files()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(offset: u32, ty: ValueType) -> Field {
        Field { offset, ty }
    }

    fn stack(user: bool, mode: StackMode) -> ValueType {
        ValueType::Stack { map: "rbpf_stack_127".into(), user, mode, limit: 127, indent: 4 }
    }

    fn map(name: &str, key: Vec<Field>, value: MapValue) -> MapInfo {
        MapInfo {
            name: name.into(),
            bpf_name: name.trim_start_matches('@').into(),
            percpu: false,
            array: false,
            max_entries: 4096,
            key_size: 8 * key.len() as u32,
            key,
            value,
            value_size: 8,
        }
    }

    fn s(text: &str) -> Value {
        Value::Str(text.as_bytes().to_vec())
    }

    #[test]
    fn folds_a_stack_outermost_first_without_offsets() {
        let m = map("@", vec![field(0, stack(false, StackMode::Bpftrace))], MapValue::Count);
        let entries = [
            MapEntry { key: vec![s("\n    do_sys_openat2+85\n    __x64_sys_openat+108\n    do_syscall_64+130\n")], value: Value::Uint(7) },
            // The same functions at other instructions: one path.
            MapEntry { key: vec![s("\n    do_sys_openat2+90\n    __x64_sys_openat+108\n    do_syscall_64+130\n")], value: Value::Uint(3) },
            MapEntry { key: vec![s("\n    0xffffffff81000000\n    x+1\n")], value: Value::Uint(1) },
            // A stack that could not be captured, and a zero count.
            MapEntry { key: vec![s("")], value: Value::Uint(2) },
            MapEntry { key: vec![s("\n    idle+1\n")], value: Value::Uint(0) },
        ];
        assert_eq!(
            fold(&m, &entries),
            ["[unknown] 2", "do_syscall_64;__x64_sys_openat;do_sys_openat2 10", "x;0xffffffff81000000 1"]
        );
    }

    #[test]
    fn other_key_parts_are_roots_and_user_frames_come_before_kernel_ones() {
        let key = vec![
            field(0, stack(false, StackMode::Bpftrace)),
            field(8, stack(true, StackMode::Perf)),
            field(16, ValueType::Str { size: 16 }),
        ];
        let m = map("@off", key, MapValue::Sum { signed: true });
        let entries = [
            MapEntry {
                key: vec![
                    s("\n    schedule+50\n    do_nanosleep+10\n"),
                    s("\n\t401126 leaf+8 (/tmp/chain)\n\t401200 main+20 (/tmp/chain)\n\t7f00 0x7f00 ([unknown])\n"),
                    s("chain;x"),
                ],
                value: Value::Int(1500),
            },
            MapEntry { key: vec![s(""), s("\n\t401126 operator+(int)+8 (/tmp/a b)\n"), s("x")], value: Value::Int(2) },
            MapEntry { key: vec![s(""), s(""), s("neg")], value: Value::Int(-4) },
            MapEntry { key: vec![s("\n    worker_thread+9\n"), s(""), s("kworker")], value: Value::Int(4) },
        ];
        assert_eq!(
            fold(&m, &entries),
            ["chain:x;0x7f00;main;leaf;-;do_nanosleep;schedule 1500", "kworker;worker_thread 4", "x;operator+(int) 2"]
        );
    }

    #[test]
    fn a_map_is_chosen_by_its_key_and_value_or_by_name() {
        let stacked = |name: &str, value| map(name, vec![field(0, stack(true, StackMode::Bpftrace))], value);
        let plain = map("@n", vec![field(0, ValueType::Int { size: 8, signed: false })], MapValue::Count);
        let manifest = |maps: Vec<MapInfo>| Manifest { maps, ..Manifest::default() };

        let one = manifest(vec![plain.clone(), stacked("@s", MapValue::Count)]);
        assert_eq!(flame_map(&one, None).map(|m| m.name.as_str()), Ok("@s"));
        let err = flame_map(&manifest(vec![plain.clone()]), None).unwrap_err();
        assert!(err.starts_with("the program has no map to draw: a flame graph needs a map keyed by a stack"), "{err}");
        let two = manifest(vec![stacked("@a", MapValue::Count), stacked("@b", MapValue::Sum { signed: false })]);
        assert_eq!(flame_map(&two, None).unwrap_err(), "several maps could be drawn (@a, @b): name one with --flame-map");
        assert_eq!(flame_map(&two, Some("@b")).map(|m| m.name.as_str()), Ok("@b"));
        assert_eq!(flame_map(&two, Some("@c")).unwrap_err(), "the program has no map @c (its maps: @a, @b)");
        assert!(flame_map(&one, Some("@n")).unwrap_err().starts_with("@n is not keyed by a stack"));
        let hist = manifest(vec![stacked("@h", MapValue::Plain(ValueType::Int { size: 8, signed: false }))]);
        assert!(flame_map(&hist, Some("@h")).unwrap_err().starts_with("@h's values are not from count() or sum()"));
    }

    #[test]
    fn the_svg_names_every_frame_in_a_title() {
        let lines = ["main;hot_function 9".to_string(), "main;cold 1".to_string()];
        let mut svg = Vec::new();
        write_svg(&lines, "@", &MapValue::Count, &mut svg).unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..100]);
        assert!(svg.contains("<title>hot_function (9 samples, 90.00%)</title>"), "{svg}");
        let mut empty = Vec::new();
        let err = write_svg(&[], "@", &MapValue::Count, &mut empty).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(String::from_utf8_lossy(&empty).contains("No valid input"));
    }
}
