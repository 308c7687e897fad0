//! Kernel types from this machine's BTF, as the checker sees them through
//! [`HostTarget`], compared with what `bpftool btf dump` says of the same
//! types. Skipped without /sys/kernel/btf/vmlinux or bpftool, unless
//! RBPF_REQUIRE_KERNEL=1.

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
    let header = format!("STRUCT '{name}' size=");
    let mut lines = dump.lines().skip_while(|l| !l.contains(&header));
    let first = lines.next().expect("the struct is in the dump");
    let size = first.split("size=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap();
    let members = lines
        .take_while(|l| l.starts_with('\t'))
        .map(|l| {
            let name = l.trim().split('\'').nth(1).unwrap_or("").to_string();
            let bits = l.split("bits_offset=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap();
            (name, bits)
        })
        .collect();
    (size, members)
}

#[test]
fn struct_layouts_match_bpftool() {
    let Some(dump) = bpftool_dump() else { return };
    let target = HostTarget::new();
    for name in ["task_struct", "sk_buff", "file", "sock_common", "mm_struct", "inode", "page"] {
        let (size, expected) = bpftool_struct(&dump, name);
        let ty = target.kernel_type(&format!("struct {name}")).unwrap_or_else(|e| panic!("struct {name}: {e:?}"));
        assert_eq!(ty.size(), Some(size), "sizeof(struct {name})");
        let CType::Record(record) = ty else { panic!("struct {name} is not a record") };
        let got: Vec<(String, u64)> = record
            .members
            .iter()
            .map(|m| {
                let name = m.name.clone().unwrap_or_else(|| "(anon)".into());
                (name, m.bitfield.map_or(m.offset * 8, |b| b.bit_offset))
            })
            .collect();
        assert_eq!(got, expected, "members of struct {name}");
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
