//! `cgroup_path(id)`: a cgroup id resolved to the cgroup's path in each
//! mounted cgroup hierarchy, as bpftrace prints it
//! (`unified:/user.slice,cpu:/,...`).
//!
//! A cgroup's id is the inode number of its directory in the hierarchy's
//! kernfs, so each hierarchy is searched for a directory with that inode.
//! The cgroup2 hierarchy is named `unified` and comes first; cgroup v1
//! hierarchies follow in the order of their names (a controller list such
//! as `cpu,cpuacct`, or `name=systemd`'s `systemd`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The mounted cgroup hierarchies, in the order bpftrace prints them.
#[derive(Debug, Default)]
pub struct Hierarchies {
    mounts: Vec<(String, PathBuf)>,
}

impl Hierarchies {
    /// The hierarchies mounted in this mount namespace (/proc/self/mountinfo).
    pub fn read() -> Hierarchies {
        Hierarchies::parse(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
    }

    /// The hierarchies a mountinfo text names.
    pub fn parse(mountinfo: &str) -> Hierarchies {
        let mut unified = Vec::new();
        let mut v1 = Vec::new();
        for line in mountinfo.lines() {
            // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS ... - FSTYPE SOURCE SUPER_OPTIONS`
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let Some(mount_point) = left.split(' ').nth(4) else { continue };
            let mut right = right.split(' ');
            let (fstype, super_options) = (right.next(), right.nth(1).unwrap_or(""));
            let path = PathBuf::from(unescape(mount_point));
            match fstype {
                Some("cgroup2") => unified.push(("unified".to_string(), path)),
                Some("cgroup") => {
                    let names: Vec<&str> = super_options
                        .split(',')
                        .filter_map(|o| match o {
                            "rw" | "ro" | "noprefix" | "clone_children" | "xattr" => None,
                            o => o.strip_prefix("name=").or((!o.contains('=')).then_some(o)),
                        })
                        .collect();
                    if !names.is_empty() {
                        v1.push((names.join(","), path));
                    }
                }
                _ => {}
            }
        }
        unified.truncate(1);
        v1.sort();
        v1.dedup_by(|a, b| a.0 == b.0);
        unified.extend(v1);
        Hierarchies { mounts: unified }
    }

    /// `name:path` of cgroup `id` in each hierarchy whose name matches the
    /// glob `filter` and holds it, joined by commas (empty if none does).
    pub fn paths(&self, id: u64, filter: Option<&str>) -> String {
        let mut out = Vec::new();
        for (name, root) in &self.mounts {
            if filter.is_some_and(|f| !rbpf_lang::probes::glob_match(f, name)) {
                continue;
            }
            if let Some(path) = find_dir(root, id) {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                out.push(format!("{name}:/{}", relative.display()));
            }
        }
        out.join(",")
    }
}

/// The directory under `root` (itself included) whose inode is `ino`.
fn find_dir(root: &Path, ino: u64) -> Option<PathBuf> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&dir) else { continue };
        if meta.ino() == ino {
            return Some(dir);
        }
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        pending.extend(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
    }
    None
}

/// A mountinfo path with its octal escapes (`\040` for a space) undone.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_come_unified_first_then_by_name() {
        let h = Hierarchies::parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
             35 31 0:32 / /sys/fs/cgroup/blk\\040io rw,relatime - cgroup cgroup rw,blkio,cpuacct\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
             23 1 0:21 / /proc rw - proc proc rw\n",
        );
        let names: Vec<(&str, &str)> = h.mounts.iter().map(|(n, p)| (n.as_str(), p.to_str().unwrap())).collect();
        assert_eq!(
            names,
            [
                ("unified", "/sys/fs/cgroup/unified"),
                ("blkio,cpuacct", "/sys/fs/cgroup/blk io"),
                ("cpu", "/sys/fs/cgroup/cpu"),
                ("systemd", "/sys/fs/cgroup/systemd"),
            ]
        );
    }

    #[test]
    fn a_directory_is_found_by_its_inode_and_named_from_the_root() {
        let root = std::env::temp_dir().join(format!("rbpf-cgroups-{}", std::process::id()));
        fs::create_dir_all(root.join("a/b")).unwrap();
        let ino = fs::metadata(root.join("a/b")).unwrap().ino();
        let root_ino = fs::metadata(&root).unwrap().ino();
        let h = Hierarchies { mounts: vec![("unified".into(), root.clone()), ("cpu".into(), root.clone())] };
        assert_eq!(h.paths(ino, None), "unified:/a/b,cpu:/a/b");
        assert_eq!(h.paths(ino, Some("c*")), "cpu:/a/b");
        assert_eq!(h.paths(root_ino, Some("unified")), "unified:/");
        assert_eq!(h.paths(u64::MAX, None), "");
        fs::remove_dir_all(&root).unwrap();
    }
}
