//! Kernel types from this machine's BTF, as the checker sees them through
//! [`HostTarget`], compared with what `bpftool btf dump` says of the same
//! types. Skipped without /sys/kernel/btf/vmlinux or bpftool, unless
//! RBPF_REQUIRE_KERNEL=1. Modules' split BTF is compared the same way:
//! this machine's loaded modules' when it has any, and the modules of the
//! Debian kernel the VM lane caches (tests/vm/run --setup), whose .BTF
//! sections are laid out as /sys/kernel/btf would hold them.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::Command;

use rbpf_lang::ctypes::CType;
use rbpf_lang::target::Target;
use rbpf_runtime::HostTarget;

/// bpftool's raw dump of the kernel's BTF, or `None` (with a message) when
/// it cannot be had here.
fn bpftool_dump() -> Option<String> {
    let out = Command::new("bpftool").args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"]).output();
    match out {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => {
            assert!(
                std::env::var("RBPF_REQUIRE_KERNEL").as_deref() != Ok("1"),
                "bpftool or the kernel's BTF is missing, and RBPF_REQUIRE_KERNEL=1 forbids skipping"
            );
            let _ = writeln!(std::io::stderr(), "skipping: no bpftool or no /sys/kernel/btf/vmlinux");
            None
        }
    }
}

/// A struct as bpftool prints it: its size and each member's name and bit
/// offset (`(anon)` for anonymous ones), from the first STRUCT of that name.
fn bpftool_struct(dump: &str, name: &str) -> (u64, Vec<(String, u64)>) {
    try_bpftool_struct(dump, name).expect("the struct is in the dump")
}

fn try_bpftool_struct(dump: &str, name: &str) -> Option<(u64, Vec<(String, u64)>)> {
    let header = format!("STRUCT '{name}' size=");
    let mut lines = dump.lines().skip_while(|l| !l.contains(&header));
    let first = lines.next()?;
    let size = first.split("size=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap();
    let members = lines
        .take_while(|l| l.starts_with('\t'))
        .map(|l| {
            let name = l.trim().split('\'').nth(1).unwrap_or("").to_string();
            let bits = l.split("bits_offset=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap();
            (name, bits)
        })
        .collect();
    Some((size, members))
}

/// The members of `struct NAME` as `target` converts them: names and bit
/// offsets, as [`bpftool_struct`] gives them.
fn converted_struct(target: &HostTarget, name: &str) -> (u64, Vec<(String, u64)>) {
    let ty = target.kernel_type(&format!("struct {name}")).unwrap_or_else(|e| panic!("struct {name}: {e:?}"));
    let size = ty.size().unwrap_or_else(|| panic!("struct {name} has no size"));
    let CType::Record(record) = ty else { panic!("struct {name} is not a record") };
    let members = record
        .members
        .iter()
        .map(|m| (m.name.clone().unwrap_or_else(|| "(anon)".into()), m.bitfield.map_or(m.offset * 8, |b| b.bit_offset)))
        .collect();
    (size, members)
}

#[test]
fn struct_layouts_match_bpftool() {
    let Some(dump) = bpftool_dump() else { return };
    let target = HostTarget::new();
    for name in ["task_struct", "sk_buff", "file", "sock_common", "mm_struct", "inode", "page"] {
        assert_eq!(converted_struct(&target, name), bpftool_struct(&dump, name), "struct {name}");
    }
}

#[test]
fn enumerators_and_typedefs_match_bpftool() {
    let Some(dump) = bpftool_dump() else { return };
    let target = HostTarget::new();
    let mut values = HashMap::new();
    for line in dump.lines().filter(|l| l.starts_with('\t') && l.contains(" val=")) {
        let name = line.trim().split('\'').nth(1).unwrap_or("").to_string();
        let v: i64 = line.split("val=").nth(1).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        values.entry(name).or_insert(v);
    }
    for name in ["TCP_ESTABLISHED", "TCP_CLOSE", "BPF_PROG_TYPE_KPROBE", "CLOCK_MONOTONIC"] {
        if let Some(v) = values.get(name) {
            assert_eq!(target.kernel_enum_constant(name).ok(), Some(*v), "{name}");
        }
    }
    assert_eq!(target.kernel_enum_constant("TCP_ESTABLISHED").ok(), Some(1));
    assert_eq!(target.kernel_type("pid_t").ok().and_then(|t| t.size()), Some(4));
    assert_eq!(target.kernel_type("enum bpf_prog_type").ok().and_then(|t| t.size()), Some(4));
    assert!(target.kernel_type("struct no_such_struct_here").is_err());
}

/// The first few named structs a module's own split BTF defines (not
/// vmlinux's), from bpftool's dump of it.
fn module_structs(dump: &str, count: usize) -> Vec<String> {
    dump.lines()
        .filter(|l| l.starts_with('[') && l.contains("] STRUCT '") && !l.contains("STRUCT '(anon)'") && !l.contains("vlen=0"))
        .filter_map(|l| l.split('\'').nth(1).map(str::to_string))
        .take(count)
        .collect()
}

#[test]
fn this_machines_module_types_match_bpftool() {
    let module = std::fs::read_dir("/sys/kernel/btf")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|name| name != "vmlinux");
    let Some(module) = module else {
        let _ = writeln!(std::io::stderr(), "skipping: no loaded module has BTF here (the VM lane's modules are compared below)");
        return;
    };
    let path = format!("/sys/kernel/btf/{module}");
    let out = Command::new("bpftool").args(["-B", "/sys/kernel/btf/vmlinux", "btf", "dump", "file", &path, "format", "raw"]).output();
    let Ok(out) = out.map_err(|e| e.to_string()).and_then(|o| if o.status.success() { Ok(o) } else { Err("bpftool failed".into()) }) else {
        let _ = writeln!(std::io::stderr(), "skipping: bpftool cannot dump {path}");
        return;
    };
    let dump = String::from_utf8_lossy(&out.stdout);
    let target = HostTarget::new();
    for name in module_structs(&dump, 5) {
        assert_eq!(converted_struct(&target, &name), bpftool_struct(&dump, &name), "struct {name} of module {module}");
    }
}

/// The VM lane's cached Debian 6.1 kernel (tests/vm/run --setup), if any:
/// its directory, with `vmlinux` and `modules/*.ko`.
fn cached_vm_kernel() -> Option<std::path::PathBuf> {
    let cache = match std::env::var_os("RBPF_VM_CACHE") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("vm-cache"),
    };
    let mut kernels: Vec<_> = std::fs::read_dir(&cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("linux-image-6.1.0-")))
        .filter(|p| p.join("vmlinux").is_file() && p.join("modules/9pnet.ko").is_file())
        .collect();
    kernels.sort();
    kernels.pop()
}

/// The `.BTF` section of the ELF file at `path`.
fn btf_section(path: &std::path::Path) -> Vec<u8> {
    use object::{Object, ObjectSection};
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = object::File::parse(&*data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let section = file.section_by_name(".BTF").unwrap_or_else(|| panic!("{} has no .BTF", path.display()));
    section.data().unwrap().to_vec()
}

#[test]
fn module_split_btf_types_match_bpftool() {
    let Some(kernel) = cached_vm_kernel() else {
        let _ = writeln!(std::io::stderr(), "skipping: no cached VM kernel (tests/vm/run --setup caches one)");
        return;
    };
    let modules = kernel.join("modules");
    let dump = |module: &str| -> Option<String> {
        let ko = modules.join(format!("{module}.ko"));
        let vmlinux = kernel.join("vmlinux");
        let out = Command::new("bpftool").arg("-B").arg(&vmlinux).args(["btf", "dump", "file"]).arg(&ko).args(["format", "raw"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let Some(dump_9pnet) = dump("9pnet") else {
        let _ = writeln!(std::io::stderr(), "skipping: bpftool cannot dump the cached kernel's modules");
        return;
    };
    // The cached kernel's BTF laid out as its /sys/kernel/btf would be.
    let dir = std::env::temp_dir().join(format!("rbpf-module-btf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmlinux"), btf_section(&kernel.join("vmlinux"))).unwrap();
    for module in ["9pnet", "9p", "overlay"] {
        std::fs::write(dir.join(module), btf_section(&modules.join(format!("{module}.ko")))).unwrap();
    }
    let target = HostTarget::with_kernel_btf_dir(&dir);

    // Types only a module defines, each as bpftool reads the module's BTF.
    let mut names = module_structs(&dump_9pnet, 8);
    names.push("p9_fid".into());
    for name in &names {
        assert_eq!(converted_struct(&target, name), bpftool_struct(&dump_9pnet, name), "struct {name} of 9pnet");
    }
    let dump_overlay = dump("overlay").expect("bpftool dumps overlay.ko");
    for name in module_structs(&dump_overlay, 5) {
        if try_bpftool_struct(&dump_9pnet, &name).is_none() {
            assert_eq!(converted_struct(&target, &name), bpftool_struct(&dump_overlay, &name), "struct {name} of overlay");
        }
    }
    // vmlinux's types are still vmlinux's, and a module's enumerators are found.
    assert!(target.kernel_type("struct task_struct").is_ok());
    assert!(target.kernel_enum_constant("P9_FID_REF_CREATE").is_ok());
    assert!(target.kernel_type("struct no_such_struct_here").is_err());

    // A program that casts to a module's struct and follows its pointers
    // into another module's type and vmlinux's checks against that BTF.
    let src = "BEGIN { $f = (struct p9_fid *)0; printf(\"%d %d %d %d\\n\", sizeof(struct p9_fid), offsetof(struct p9_fid, iounit), $f->clnt->msize, $f->qid.type); exit(); }";
    let ast = rbpf_lang::parse(src).unwrap();
    if let Err(diags) = rbpf_lang::check(&ast, &target) {
        panic!("{src}: {diags:?}");
    }
    // fentry on a module's function takes its arguments from the module's BTF.
    let f = target.kernel_function(None, "p9_client_read").expect("p9_client_read in 9pnet's BTF");
    assert_eq!(f.module.as_deref(), Some("9pnet"));
    assert_eq!(f.args.fields.first().map(|a| a.c_type.as_str()), Some("struct p9_fid *"));
    assert!(target.kernel_function(Some("vmlinux"), "p9_client_read").is_err());
    // As tests/vm.rs traces them in that kernel: compiled, and attached in 9pnet's BTF.
    let src = "fentry:9pnet:p9_client_read { @msize[args->fid->clnt->msize] = count(); } \
               fentry:v9fs_file_read_iter { @cast[((struct p9_fid *)args->iocb->ki_filp->private_data)->clnt->msize] = count(); } \
               fexit:9p:v9fs_file_read_iter { @ret[retval > 0] = count(); }";
    let ast = rbpf_lang::parse(src).unwrap();
    let checked = rbpf_lang::check(&ast, &target).unwrap_or_else(|diags| panic!("{src}: {diags:?}"));
    let object = rbpf_codegen::compile(&checked).unwrap_or_else(|e| panic!("{src}: {e}"));
    let attach: Vec<String> = object.manifest.programs.iter().map(|p| format!("{:?}", p.attach)).filter(|a| a.starts_with("Fentry")).collect();
    assert_eq!(
        attach,
        [
            r#"Fentry { func: "p9_client_read", module: Some("9pnet"), ret: false }"#,
            r#"Fentry { func: "v9fs_file_read_iter", module: Some("9p"), ret: false }"#,
            r#"Fentry { func: "v9fs_file_read_iter", module: Some("9p"), ret: true }"#,
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
