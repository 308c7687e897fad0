//! rbpf's loader: creates an object's maps and loads its programs with
//! bpf(2) directly. It reads the object rbpf wrote ([`rbpf_codegen::elf`]),
//! so it needs none of a general loader's work: no kernel BTF (the program
//! types come from the manifest, and rbpf resolved kernel types when it
//! compiled), no CO-RE relocations, no feature probes. What it does is
//! patch each map's fd into the ld_imm64s that load it, link the callbacks
//! a program references into it (an ld_imm64 with BPF_PSEUDO_FUNC takes the
//! callback's offset), and pass the object's BTF with one func_info record
//! per function when there are callbacks, as the verifier wants.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rbpf_codegen::elf::{map_type, ReadFunction, ReadObject};
use rbpf_codegen::insn::class::{PSEUDO_FUNC, PSEUDO_MAP_FD};
use rbpf_codegen::insn::Insn;
use rbpf_codegen::manifest::{Attach, ProgramInfo};

use crate::error::Action;
use crate::{btf::Btf, sys, RuntimeError};

/// The object's maps, by the name the manifest uses; closing one frees it
/// once no program holds it.
#[derive(Debug, Default)]
pub(crate) struct Maps(HashMap<String, OwnedFd>);

impl Maps {
    /// Creates every map the object defines.
    pub(crate) fn create(object: &ReadObject) -> Result<Maps, RuntimeError> {
        let mut maps = HashMap::with_capacity(object.maps.len());
        for (name, def) in &object.maps {
            let mut max_entries = def.max_entries;
            // One slot per CPU when the object leaves it to the loader.
            if def.map_type == map_type::PERF_EVENT_ARRAY && max_entries == 0 {
                max_entries = sys::possible_cpus().map_err(|e| RuntimeError::CreateMap { map: name.clone(), source: e })? as u32;
            }
            let fd = sys::map_create(name, def.map_type, def.key_size, def.value_size, max_entries, def.flags).map_err(|e| {
                let lacking = crate::features::map_type_release(def.map_type).filter(|_| !crate::features::has_map_type(def.map_type));
                match (RuntimeError::from_refusal(Action::CreateMaps, &e), lacking) {
                    (Some(refusal), _) => refusal,
                    (None, Some((kind, since))) => RuntimeError::lacks(format!("map {name}"), format!("{kind} maps"), since),
                    (None, None) => RuntimeError::CreateMap { map: name.clone(), source: e },
                }
            })?;
            maps.insert(name.clone(), fd);
        }
        Ok(Maps(maps))
    }

    pub(crate) fn fd(&self, name: &str) -> Result<BorrowedFd<'_>, RuntimeError> {
        self.0.get(name).map(AsFd::as_fd).ok_or_else(|| RuntimeError::Missing { what: "map", name: name.to_string() })
    }

    /// Hands one map over (the ring buffer, to its reader).
    pub(crate) fn take(&mut self, name: &str) -> Result<OwnedFd, RuntimeError> {
        self.0.remove(name).ok_or_else(|| RuntimeError::Missing { what: "map", name: name.to_string() })
    }
}

/// A program with its callbacks appended and every reference resolved.
#[derive(Debug, PartialEq)]
pub(crate) struct Linked {
    pub insns: Vec<Insn>,
    /// Where each function starts (the program's own at 0), by name.
    pub functions: Vec<(String, usize)>,
}

/// Links program `name` of `object`: each callback it references (and
/// those they reference) once, after it, in order of first reference;
/// `map_fd` gives the fd to patch in for a map.
pub(crate) fn link(object: &ReadObject, name: &str, map_fd: &dyn Fn(&str) -> Result<i32, RuntimeError>) -> Result<Linked, RuntimeError> {
    let find = |name: &str| -> Result<&ReadFunction, RuntimeError> {
        object.functions.iter().find(|f| f.name == name).ok_or_else(|| RuntimeError::Missing { what: "function", name: name.to_string() })
    };
    let main = find(name)?;
    let mut insns = main.code.insns.clone();
    let mut functions = vec![(main.name.clone(), 0)];
    let mut next = 0;
    while let Some((function_name, start)) = functions.get(next).cloned() {
        next += 1;
        let code = &find(&function_name)?.code;
        let slot = |insns: &mut Vec<Insn>, index: usize, what: &str| -> Result<usize, RuntimeError> {
            let at = start + index;
            match insns.get(at) {
                Some(insn) if insn.is_ld_imm64() => Ok(at),
                _ => Err(RuntimeError::Missing { what: "ld_imm64 at a relocation", name: format!("{function_name}: {what}") }),
            }
        };
        for reloc in &code.relocations {
            let at = slot(&mut insns, reloc.insn_index, &reloc.map)?;
            insns[at].src = PSEUDO_MAP_FD;
            insns[at].imm = map_fd(&reloc.map)?;
        }
        for reloc in &code.func_relocations {
            let at = slot(&mut insns, reloc.insn_index, &reloc.func)?;
            let target = match functions.iter().find(|(f, _)| *f == reloc.func) {
                Some((_, target)) => *target,
                None => {
                    let target = insns.len();
                    insns.extend_from_slice(&find(&reloc.func)?.code.insns);
                    functions.push((reloc.func.clone(), target));
                    target
                }
            };
            insns[at].src = PSEUDO_FUNC;
            // Relative to the instruction after the ld_imm64's first slot.
            insns[at].imm = i32::try_from(target as i64 - at as i64 - 1)
                .map_err(|_| RuntimeError::Missing { what: "callback within reach", name: reloc.func.clone() })?;
        }
    }
    Ok(Linked { insns, functions })
}

/// The program type and expected attach type a probe's program is loaded
/// with (the manifest says what each program is; section names are not
/// read).
fn program_type(attach: &Attach) -> (u32, u32) {
    use sys::{attach_type, prog_type};
    match attach {
        Attach::Begin | Attach::End | Attach::RawTracepoint { .. } => (prog_type::RAW_TRACEPOINT, 0),
        Attach::Tracepoint { .. } | Attach::TailCall { .. } | Attach::Dispatcher { .. } => (prog_type::TRACEPOINT, 0),
        Attach::Interval { .. } | Attach::PerfEvent { .. } | Attach::Watchpoint { .. } | Attach::WatchpointFunction { .. } => {
            (prog_type::PERF_EVENT, 0)
        }
        Attach::Uprobe { .. } | Attach::Usdt { .. } | Attach::Kprobe { .. } | Attach::WatchpointSetup { .. } => (prog_type::KPROBE, 0),
        Attach::KprobeMulti { .. } => (prog_type::KPROBE, attach_type::TRACE_KPROBE_MULTI),
        Attach::UprobeMulti { .. } => (prog_type::KPROBE, attach_type::TRACE_UPROBE_MULTI),
        Attach::Fentry { ret: false, .. } => (prog_type::TRACING, attach_type::TRACE_FENTRY),
        Attach::Fentry { ret: true, .. } => (prog_type::TRACING, attach_type::TRACE_FEXIT),
        Attach::Iter { .. } => (prog_type::TRACING, attach_type::TRACE_ITER),
    }
}

/// Loads the programs of one object, which shares its BTF among them.
pub(crate) struct Loader<'a> {
    object: &'a ReadObject,
    maps: &'a Maps,
    license: CString,
    /// The object's BTF, loaded into the kernel and parsed, on the first
    /// program with callbacks.
    btf: Option<(OwnedFd, Btf)>,
    /// With `-v`: the verifier's statistics of each program loaded so far.
    pub(crate) verifier_stats: Option<Vec<VerifierStats>>,
}

/// What the verifier said of one program it accepted (bpftrace's `-v`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierStats {
    /// The probe as the user wrote it.
    pub probe: String,
    /// The kernel's id of the loaded program.
    pub id: u32,
    /// The statistics log: `processed N insns (limit 1000000) ...`.
    pub log: String,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(object: &'a ReadObject, maps: &'a Maps) -> Loader<'a> {
        let license = CString::new(object.license.as_str()).unwrap_or_else(|_| c"GPL".to_owned());
        Loader { object, maps, license, btf: None, verifier_stats: None }
    }

    /// Loads one program (the verifier runs here); `attach_btf_id` is the
    /// kernel function's BTF id for fentry and fexit, else 0, and
    /// `attach_btf_obj` the module's BTF object that id is in (`None` for
    /// vmlinux's). `refused` says why the kernel refused it.
    pub(crate) fn load(
        &mut self,
        info: &ProgramInfo,
        attach_btf_id: u32,
        attach_btf_obj: Option<BorrowedFd<'_>>,
        refused: &dyn Fn(sys::LoadFailure) -> RuntimeError,
    ) -> Result<OwnedFd, RuntimeError> {
        let maps = self.maps;
        let linked = link(self.object, &info.name, &|name| maps.fd(name).map(|fd| fd.as_raw_fd()))?;
        let func_info = if linked.functions.len() > 1 { self.func_info(&linked)? } else { Vec::new() };
        let bytes: Vec<u8> = linked.insns.iter().flat_map(|i| i.to_bytes()).collect();
        let (prog_type, expected_attach_type) = program_type(&info.attach);
        let load = sys::ProgramLoad {
            name: &info.name,
            prog_type,
            expected_attach_type,
            attach_btf_id,
            attach_btf_obj,
            insns: &bytes,
            license: &self.license,
            btf: self.btf.as_ref().filter(|_| !func_info.is_empty()).map(|(fd, _)| fd.as_fd()),
            func_info: &func_info,
        };
        let refused = |failure| {
            refused(failure).locate_complexity(&linked.insns).or_lacking_program_type(prog_type, expected_attach_type, &info.probe_name)
        };
        let Some(stats) = &mut self.verifier_stats else {
            return sys::load_program(&load).map_err(refused);
        };
        let (fd, log) = sys::load_program_with_stats(&load).map_err(refused)?;
        let id = sys::program_id(fd.as_fd()).unwrap_or(0);
        stats.push(VerifierStats { probe: info.probe_name.clone(), id, log });
        Ok(fd)
    }

    /// One func_info record per function: where it starts, and its FUNC
    /// type in the object's BTF.
    fn func_info(&mut self, linked: &Linked) -> Result<Vec<[u32; 2]>, RuntimeError> {
        let missing = |what: &'static str, name: &str| RuntimeError::Missing { what, name: name.to_string() };
        if self.btf.is_none() {
            let data = self.object.btf.as_deref().ok_or_else(|| missing(".BTF section for the callbacks of", &linked.functions[0].0))?;
            let parsed = Btf::parse(data).map_err(|why| RuntimeError::Event(format!("the object's .BTF: {why}")))?;
            let fd = sys::btf_load(data).map_err(|failure| {
                let source = std::io::Error::other(format!("{} {}", failure.error, failure.log.trim()).trim().to_string());
                RuntimeError::from_refusal(Action::LoadPrograms, &failure.error)
                    .unwrap_or(RuntimeError::Syscall { call: "BPF_BTF_LOAD", object: "the object's .BTF".into(), source })
            })?;
            self.btf = Some((fd, parsed));
        }
        let Some((_, btf)) = &self.btf else { return Ok(Vec::new()) };
        linked
            .functions
            .iter()
            .map(|(name, start)| Ok([*start as u32, btf.function_id(name).ok_or_else(|| missing("BTF FUNC", name))?]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_codegen::elf::{write_object, ElfFunction, ElfMap, ElfProgram, MapDef};
    use rbpf_codegen::insn::{Builder, Helper, Reg};

    fn exit(mut b: Builder) -> rbpf_codegen::Code {
        b.mov64(Reg::R0, 0);
        b.exit();
        b.finish().unwrap()
    }

    /// The span table codegen writes must follow the order this linker
    /// lays the callbacks out in, or a verifier refusal inside a nested
    /// `for` would point at another loop: main references the outer and
    /// the last loop's callbacks, the outer one the inner one's.
    #[test]
    fn the_span_table_follows_the_linked_order() {
        let source = "BEGIN { @a[1] = 1; @b[2] = 2; for ($x : @a) { for ($y : @b) { printf(\"y %d\\n\", $y.0); } } for ($z : @b) { @c = $z.1; } exit(); }";
        let ast = rbpf_lang::parse(source).unwrap();
        let checked = rbpf_lang::check(&ast, &rbpf_lang::target::FakeTarget::default()).unwrap();
        let compiled = rbpf_codegen::compile(&checked).unwrap();
        let object = rbpf_codegen::elf::read_object(&compiled.elf).unwrap();
        let info = &compiled.manifest.programs[0];
        let linked = link(&object, &info.name, &|_| Ok(40)).unwrap();
        assert_eq!(info.spans.len(), linked.insns.len());
        let body = |from: &str, to: &str| {
            let start = source.find(from).unwrap() as u32;
            start..source[start as usize..].find(to).unwrap() as u32 + start + to.len() as u32
        };
        let (inner, last) = (body("for ($y", "} }"), body("for ($z", "; }"));
        assert_eq!(linked.functions.len(), 4, "{:?}", linked.functions);
        for (i, (_, start)) in linked.functions.iter().enumerate().skip(1) {
            let end = linked.functions.get(i + 1).map_or(linked.insns.len(), |f| f.1);
            let spans = &info.spans[*start..end];
            // The third function linked is the last loop's body (breadth
            // first), the fourth the inner loop's.
            let within = match i {
                2 => &last,
                3 => &inner,
                _ => continue,
            };
            assert!(spans.iter().all(|s| within.contains(&s.start)), "function {i}: {spans:?} not within {within:?}");
        }
    }

    #[test]
    fn links_each_callback_once_after_the_program() {
        let mut b = Builder::new();
        b.load_map_fd(Reg::R1, "counts");
        b.load_func(Reg::R2, "cb");
        b.call(Helper::ForEachMapElem);
        b.load_func(Reg::R2, "cb");
        let program = exit(b);
        let mut b = Builder::new();
        b.load_map_fd(Reg::R1, "counts");
        b.load_func(Reg::R2, "inner");
        let callback = exit(b);
        let inner = exit(Builder::new());
        let def = MapDef { map_type: map_type::HASH, key_size: 8, value_size: 8, max_entries: 4, flags: 0 };
        let elf = write_object(
            &[ElfProgram { section: "raw_tracepoint/p", name: "p", code: &program }],
            &[ElfFunction { name: "cb", code: &callback }, ElfFunction { name: "unused", code: &inner }, ElfFunction { name: "inner", code: &inner }],
            &[ElfMap { name: "counts", def }],
            "GPL",
        )
        .unwrap();
        let object = rbpf_codegen::elf::read_object(&elf).unwrap();
        let linked = link(&object, "p", &|name| if name == "counts" { Ok(40) } else { panic!("{name}") }).unwrap();
        let (n, c) = (program.insns.len(), callback.insns.len());
        assert_eq!(linked.functions, [("p".to_string(), 0), ("cb".to_string(), n), ("inner".to_string(), n + c)]);
        assert_eq!(linked.insns.len(), n + c + inner.insns.len(), "each function once, the unused one not at all");
        assert_eq!((linked.insns[0].src, linked.insns[0].imm), (PSEUDO_MAP_FD, 40));
        // Offsets count from the slot after the ld_imm64's first.
        assert_eq!((linked.insns[2].src, linked.insns[2].imm), (PSEUDO_FUNC, n as i32 - 3));
        assert_eq!(linked.insns[5].imm, n as i32 - 6);
        assert_eq!((linked.insns[n].src, linked.insns[n].imm), (PSEUDO_MAP_FD, 40), "the callback's map");
        assert_eq!(linked.insns[n + 2].imm, (n + c) as i32 - (n + 3) as i32);

        // The object's BTF names each function's FUNC type.
        let btf = Btf::parse(object.btf.as_deref().unwrap()).unwrap();
        assert!(["p", "cb", "inner"].iter().all(|f| btf.function_id(f).is_some()));
    }

    #[test]
    fn a_missing_program_is_named() {
        let object = ReadObject::default();
        let e = link(&object, "p", &|_| Ok(0)).unwrap_err();
        assert_eq!(e.to_string(), "the object has no function named p");
    }
}
