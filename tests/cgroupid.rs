//! `cgroupid(path)` end to end: a cgroup made for the test under the
//! mounted cgroup2 hierarchy, a shell moved into it, and a probe that
//! fires only for processes of that cgroup (`cgroup == cgroupid(...)`).

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{kernel_tests_enabled, run, Tracer};

/// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` beside v1 hierarchies).
fn cgroup2_root() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        right.starts_with("cgroup2 ").then(|| PathBuf::from(mount_point))
    })
}

/// A cgroup made for one test, removed when dropped.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_probe_filtered_by_cgroupid_sees_only_that_cgroup() {
    if !kernel_tests_enabled("a_probe_filtered_by_cgroupid_sees_only_that_cgroup") {
        return;
    }
    let Some(root) = cgroup2_root() else {
        eprintln!("skipping: no cgroup2 hierarchy is mounted");
        return;
    };
    let cgroup = TestCgroup(root.join(format!("rbpf-cgroupid-{}", std::process::id())));
    std::fs::create_dir(&cgroup.0).expect("create the test's cgroup");
    let id = std::fs::metadata(&cgroup.0).expect("stat the cgroup").ino();
    let dir = cgroup.0.to_str().expect("UTF-8 path");

    // Known when compiled: the directory's id.
    let out = run(&["-e", &format!(r#"BEGIN {{ print(cgroupid("{dir}")); exit(); }}"#)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("Attaching 1 probe...\n{id}\n\n\n"), "{out:?}");

    // A shell in the cgroup, which runs a command once told to.
    let mut shell = Command::new("sh").args(["-c", "read line; /bin/true marked"]).stdin(Stdio::piped()).spawn().expect("spawn sh");
    std::fs::write(cgroup.0.join("cgroup.procs"), shell.id().to_string()).expect("move the shell into the cgroup");
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_execve /cgroup == cgroupid("{dir}")/ {{ printf("in %d: %s\n", cgroup, str(args.filename)); exit(); }}"#
    );
    let mut tracer = Tracer::start(&["-e", &program]);
    tracer.wait_attached(1);
    // Other processes exec meanwhile; the filter leaves them out.
    let _ = Command::new("/bin/true").status();
    writeln!(shell.stdin.as_mut().expect("stdin"), "go").expect("tell the shell");
    let (text, status) = tracer.finish();
    let _ = shell.wait();
    assert_eq!(status, 0, "{text}");
    assert_eq!(text, format!("Attaching 1 probe...\nin {id}: /bin/true\n\n\n"));
}
