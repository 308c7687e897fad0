//! Targets other than the host: [`DescribedTarget`] answers from a
//! [`TargetDescription`] of another machine (captured there, e.g. with
//! `rbpf --describe-target FILE`), so a program can be compiled on one
//! machine and its object run on another.

use std::collections::{BTreeMap, HashMap};

use super::{
    FieldKind, KernelFunction, KernelSymbol, SharedLibrary, Target, TargetError, TracepointField, TracepointFormat,
    UsdtProbe, UserFunction, UserSymbol,
};
use crate::ctypes::CType;

/// Forwards the listed methods of [`Target`] to `self.$field`.
macro_rules! forward {
    ($field:ident; $(fn $m:ident(&self $(, $a:ident: $t:ty)*) -> $r:ty;)*) => {
        $(fn $m(&self $(, $a: $t)*) -> $r {
            self.$field.$m($($a),*)
        })*
    };
}

/// The kernel facts of a machine that decide how a program compiles for
/// it: its tracepoints and their record layouts, its CPUs and the attach
/// features it has. Plain data, written to and read from a text file
/// ([`TargetDescription::to_text`], [`TargetDescription::parse`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetDescription {
    /// The kernel's release (`uname -r`), for messages.
    pub release: String,
    /// The CPUs the kernel may run ([`Target::possible_cpus`]).
    pub possible_cpus: u32,
    /// [`Target::uprobe_multi`].
    pub uprobe_multi: bool,
    /// [`Target::kprobe_multi`].
    pub kprobe_multi: bool,
    /// [`Target::kprobes`]: `None` when kprobes work, else why not.
    pub kprobes_missing: Option<String>,
    /// Every tracepoint's format, by category and name.
    pub tracepoints: BTreeMap<(String, String), TracepointFormat>,
}

/// The first line of a description file, with the format's version.
const HEADER: &str = "rbpf target description 1";

impl TargetDescription {
    /// Describes the machine `target` stands for (normally the host's
    /// `HostTarget`): reads every tracepoint's format, which takes a
    /// moment. `release` is the kernel's release, for messages.
    pub fn capture(target: &dyn Target, release: &str) -> Result<TargetDescription, TargetError> {
        let mut tracepoints = BTreeMap::new();
        for (category, name) in target.tracepoints()? {
            // A tracepoint whose format cannot be read cannot be used by
            // a program either: leave it out.
            if let Ok(format) = target.tracepoint_format(&category, &name) {
                tracepoints.insert((category, name), format);
            }
        }
        Ok(TargetDescription {
            release: release.to_string(),
            possible_cpus: target.possible_cpus(),
            uprobe_multi: target.uprobe_multi(),
            kprobe_multi: target.kprobe_multi(),
            kprobes_missing: target.kprobes().err().map(|e| match e {
                TargetError::NotFound => "the kernel has no kprobes".to_string(),
                TargetError::Unavailable(why) => why,
            }),
            tracepoints,
        })
    }

    /// The description as text: a header line, `key value` lines, then
    /// each tracepoint as `tracepoint CATEGORY NAME` followed by one
    /// tab-separated line per field (`field NAME OFFSET SIZE SIGNED KIND
    /// C_TYPE`).
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\nrelease {}\npossible_cpus {}\n", self.release, self.possible_cpus);
        out.push_str(&format!("uprobe_multi {}\nkprobe_multi {}\n", u8::from(self.uprobe_multi), u8::from(self.kprobe_multi)));
        if let Some(why) = &self.kprobes_missing {
            out.push_str(&format!("kprobes_missing {}\n", why.replace('\n', " ")));
        }
        for ((category, name), format) in &self.tracepoints {
            out.push_str(&format!("tracepoint {category} {name}\n"));
            for f in &format.fields {
                let kind = match f.kind {
                    FieldKind::Int => "int",
                    FieldKind::Pointer { to_char: false } => "ptr",
                    FieldKind::Pointer { to_char: true } => "ptr-char",
                    FieldKind::Array { chars: false } => "array",
                    FieldKind::Array { chars: true } => "array-char",
                    FieldKind::DataLoc { chars: false } => "dataloc",
                    FieldKind::DataLoc { chars: true } => "dataloc-char",
                };
                out.push_str(&format!("field\t{}\t{}\t{}\t{}\t{kind}\t{}\n", f.name, f.offset, f.size, u8::from(f.signed), f.c_type));
            }
        }
        out
    }

    /// Reads a description written by [`TargetDescription::to_text`];
    /// the error names the line that is wrong.
    pub fn parse(text: &str) -> Result<TargetDescription, String> {
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l) != Some(HEADER) {
            return Err(format!("line 1: not a target description (it starts with `{HEADER}`)"));
        }
        let mut d = TargetDescription { possible_cpus: 1, ..TargetDescription::default() };
        let mut current: Option<&mut TracepointFormat> = None;
        for (i, line) in lines {
            let bad = |why: &str| format!("line {}: {why}: {line}", i + 1);
            if let Some(rest) = line.strip_prefix("field\t") {
                let parts: Vec<&str> = rest.splitn(6, '\t').collect();
                let [name, offset, size, signed, kind, c_type] = parts[..] else { return Err(bad("a field needs six values")) };
                let number = |s: &str| s.parse::<u32>().map_err(|_| bad("not a number"));
                let kind = match kind {
                    "int" => FieldKind::Int,
                    "ptr" => FieldKind::Pointer { to_char: false },
                    "ptr-char" => FieldKind::Pointer { to_char: true },
                    "array" => FieldKind::Array { chars: false },
                    "array-char" => FieldKind::Array { chars: true },
                    "dataloc" => FieldKind::DataLoc { chars: false },
                    "dataloc-char" => FieldKind::DataLoc { chars: true },
                    _ => return Err(bad("unknown field kind")),
                };
                let field = TracepointField {
                    name: name.to_string(),
                    c_type: c_type.to_string(),
                    offset: number(offset)?,
                    size: number(size)?,
                    signed: signed == "1",
                    kind,
                };
                current.as_mut().ok_or_else(|| bad("a field outside a tracepoint"))?.fields.push(field);
                continue;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let flag = |v: &str| match v {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad("expected 0 or 1")),
            };
            match key {
                "" => {}
                "release" => d.release = value.to_string(),
                "possible_cpus" => d.possible_cpus = value.parse().ok().filter(|&n| n > 0).ok_or_else(|| bad("not a CPU count"))?,
                "uprobe_multi" => d.uprobe_multi = flag(value)?,
                "kprobe_multi" => d.kprobe_multi = flag(value)?,
                "kprobes_missing" => d.kprobes_missing = Some(value.to_string()),
                "tracepoint" => {
                    let (category, name) = value.split_once(' ').ok_or_else(|| bad("expected a category and a name"))?;
                    let key = (category.to_string(), name.to_string());
                    current = Some(d.tracepoints.entry(key).or_default());
                }
                _ => return Err(bad("unknown line")),
            }
        }
        Ok(d)
    }
}

/// A [`Target`] for another machine: its kernel facts (tracepoints, CPUs,
/// attach features) from a [`TargetDescription`], everything else from
/// `rest` — kernel types from the BTF `rest` reads (for another kernel,
/// e.g. rbpf-runtime's `HostTarget::with_kernel_btf_dir` on a copy of its
/// `/sys/kernel/btf`), binaries and libraries from the files `rest` sees.
pub struct DescribedTarget<'a> {
    description: TargetDescription,
    rest: &'a dyn Target,
}

impl<'a> DescribedTarget<'a> {
    /// The machine `description` describes, with the facts it does not
    /// hold answered by `rest`.
    pub fn new(description: TargetDescription, rest: &'a dyn Target) -> Self {
        DescribedTarget { description, rest }
    }

    /// The description it answers from.
    pub fn description(&self) -> &TargetDescription {
        &self.description
    }
}

impl Target for DescribedTarget<'_> {
    fn tracepoint_format(&self, category: &str, name: &str) -> Result<TracepointFormat, TargetError> {
        self.description.tracepoints.get(&(category.to_string(), name.to_string())).cloned().ok_or(TargetError::NotFound)
    }

    fn tracepoints(&self) -> Result<Vec<(String, String)>, TargetError> {
        Ok(self.description.tracepoints.keys().cloned().collect())
    }

    fn possible_cpus(&self) -> u32 {
        self.description.possible_cpus
    }

    fn uprobe_multi(&self) -> bool {
        self.description.uprobe_multi
    }

    fn kprobe_multi(&self) -> bool {
        self.description.kprobe_multi
    }

    fn kprobes(&self) -> Result<(), TargetError> {
        match &self.description.kprobes_missing {
            None => Ok(()),
            Some(why) => Err(TargetError::Unavailable(why.clone())),
        }
    }

    forward! { rest;
        fn user_function(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError>;
        fn user_symbol_at(&self, path: &str, address: u64) -> Result<String, TargetError>;
        fn user_instruction_boundary(&self, path: &str, function: &UserSymbol, offset: u64) -> Result<bool, TargetError>;
        fn syscall_number(&self, name: &str) -> Option<u32>;
        fn kernel_functions(&self) -> Result<Vec<KernelSymbol>, TargetError>;
        fn kernel_function(&self, module: Option<&str>, name: &str) -> Result<KernelFunction, TargetError>;
        fn kernel_type(&self, name: &str) -> Result<CType, TargetError>;
        fn kernel_type_names(&self, kind: Option<&str>) -> Result<Vec<String>, TargetError>;
        fn kernel_enum_constant(&self, name: &str) -> Result<i64, TargetError>;
        fn kernel_function_names(&self, module: &str) -> Result<Vec<String>, TargetError>;
        fn kernel_btf_modules(&self) -> Vec<String>;
        fn user_functions(&self, path: &str) -> Result<Vec<String>, TargetError>;
        fn usdt_probes(&self, path: &str) -> Result<Vec<UsdtProbe>, TargetError>;
        fn user_symbol_address(&self, path: &str, name: &str) -> Result<u64, TargetError>;
        fn user_symbol(&self, path: &str, name: &str) -> Result<UserSymbol, TargetError>;
        fn program_directories(&self) -> Vec<String>;
        fn shared_libraries(&self) -> Result<Vec<SharedLibrary>, TargetError>;
        fn library_directories(&self) -> Vec<String>;
        fn is_file(&self, path: &str, executable: bool) -> bool;
        fn mapped_files(&self, pid: u32) -> Result<Vec<String>, TargetError>;
        fn current_directory(&self) -> Result<String, TargetError>;
        fn user_functions_args(&self, path: &str, names: &[&str]) -> Result<HashMap<String, UserFunction>, TargetError>;
    }

    /// Kernel addresses differ from boot to boot (KASLR): another
    /// machine's cannot be known here.
    fn kernel_symbol_address(&self, name: &str) -> Result<u64, TargetError> {
        Err(TargetError::Unavailable(format!(
            "the address of {name} on the described machine is known only there (kernel addresses change at every boot): compile the program on that machine"
        )))
    }

    /// The kernel image read here is this machine's, not the described
    /// one's: the described kernel judges a kprobe's offset when it loads.
    fn kernel_function_size(&self, _name: &str) -> Result<Option<u64>, TargetError> {
        Ok(None)
    }

    /// A cgroup's id is its directory's inode on the machine that made it.
    fn cgroup_id(&self, path: &str) -> Result<u64, TargetError> {
        Err(TargetError::Unavailable(format!(
            "the id of cgroup {path} on the described machine is known only there (ids are given as cgroups are made): compile the program on that machine"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FakeTarget;

    const OPENAT: &str = "format:\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;\n\tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;\n";

    #[test]
    fn a_description_reads_back_as_written() {
        let fake = FakeTarget::default().with_tracepoint("syscalls", "sys_enter_openat", OPENAT);
        let d = TargetDescription::capture(&fake, "6.1.0-test").unwrap();
        assert_eq!(d.tracepoints.len(), 1);
        let text = d.to_text();
        assert_eq!(TargetDescription::parse(&text), Ok(d.clone()));
        let described = DescribedTarget::new(d, &fake);
        assert_eq!(described.tracepoint_format("syscalls", "sys_enter_openat"), fake.tracepoint_format("syscalls", "sys_enter_openat"));
        assert_eq!(described.tracepoint_format("syscalls", "nope"), Err(TargetError::NotFound));
    }

    #[test]
    fn a_bad_description_names_its_line() {
        let err = TargetDescription::parse(&format!("{HEADER}\nrelease x\nfield\ta\t1\t2\t0\tint\tint\n")).unwrap_err();
        assert!(err.starts_with("line 3: a field outside a tracepoint"), "{err}");
        assert!(TargetDescription::parse("hello").unwrap_err().starts_with("line 1:"));
        let err = TargetDescription::parse(&format!("{HEADER}\ntracepoint a b\nfield\tx\toops\t2\t0\tint\tint\n")).unwrap_err();
        assert!(err.contains("not a number"), "{err}");
    }
}
