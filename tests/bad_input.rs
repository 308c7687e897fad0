//! Bad input of every kind the command line can meet — script files that
//! are no script, unclosed strings and comments, uprobes on binaries that
//! cannot be probed, processes that are gone, missing privileges — each
//! gets one clear error, exit status 1, and never a panic.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;

/// One bad input: how rbpf is run, and what its first line of stderr
/// says (`first`), with more phrases anywhere in stderr (`also`).
struct Case {
    name: &'static str,
    /// Runs rbpf under this command (setpriv, to drop privileges).
    wrapper: &'static [&'static str],
    args: Vec<String>,
    first: String,
    also: Vec<String>,
}

impl Case {
    fn new(name: &'static str, args: &[&str], first: &str) -> Case {
        Case { name, wrapper: &[], args: args.iter().map(|a| a.to_string()).collect(), first: first.to_string(), also: Vec::new() }
    }

    fn also(mut self, phrase: &str) -> Case {
        self.also.push(phrase.to_string());
        self
    }

    fn under(mut self, wrapper: &'static [&'static str]) -> Case {
        self.wrapper = wrapper;
        self
    }

    fn check(&self, dir: &Path) {
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_rbpf"));
                c
            }
            None => common::rbpf(),
        };
        let started = Instant::now();
        let out = command.current_dir(dir).args(&self.args).stdin(Stdio::null()).output().expect("run rbpf");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = self.name;
        assert_eq!(out.status.code(), Some(1), "{name}: exit status; stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(&self.first), "{name}: expected {:?} in the first line of stderr:\n{stderr}", self.first);
        for phrase in &self.also {
            assert!(stderr.contains(phrase.as_str()), "{name}: expected {phrase:?} in stderr:\n{stderr}");
        }
        assert!(stderr.lines().filter(|l| l.starts_with("ERROR") || l.starts_with("error")).count() == 1, "{name}: one error:\n{stderr}");
        assert!(started.elapsed() < Duration::from_secs(20), "{name}: took {:?}", started.elapsed());
    }
}

/// A directory of this test's own, reachable by the unprivileged user
/// some cases run as.
fn scratch(test: &str) -> Scratch {
    let dir = Scratch::new(test);
    std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Script files that rbpf cannot read or that are not scripts.
#[test]
fn script_files_that_are_no_script() {
    let dir = scratch("bad-files");
    let nul = dir.write("nul.bt", b"BEGIN { printf(\"hi\\n\"); }\n\0exit();\n");
    let latin1 = dir.write("latin1.bt", b"BEGIN {\n    printf(\"caf\xe9\\n\");\n}\n");
    let elf = dir.write("true.o", &std::fs::read("/bin/true").expect("/bin/true"));
    std::fs::create_dir_all(dir.join("scripts.d")).expect("mkdir");
    let cases = [
        Case::new("missing", &["/nonexistent/script.bt"], "failed to open file '/nonexistent/script.bt': No such file or directory"),
        Case::new("directory", &["scripts.d"], "failed to open file 'scripts.d': Is a directory"),
        Case::new("NUL byte", &[&nul], "script file 'nul.bt' is a binary file, not a script: it has a NUL byte at line 2, column 1"),
        Case::new("not UTF-8", &[&latin1], "script file 'latin1.bt' is not UTF-8 text: the byte 0xe9 at line 2, column 16 is not valid UTF-8"),
        // Read no further than a script could be: not until memory runs out.
        Case::new("endless", &["/dev/zero"], "script file '/dev/zero' is a binary file, not a script: it has a NUL byte at line 1, column 1"),
        // A BPF object rbpf emitted may be run; any other ELF file is refused.
        Case::new("ELF", &[&elf], "true.o").also("not a BPF object").also("rbpf --emit-elf"),
    ];
    for case in &cases {
        case.check(&dir);
    }
}

/// `-` reads the program from standard input, which is held to the same.
#[test]
fn a_program_on_standard_input_that_is_no_script() {
    use std::io::Write;
    for (input, expected) in [
        (&b"BEGIN {\n  printf(\"\xff\");\n}\n"[..], "ERROR: the program on standard input is not UTF-8 text: the byte 0xff at line 2, column 11"),
        (&b"\x7fELF\x02\x01\x01\0\0\0"[..], "ERROR: the program on standard input is an ELF file"),
    ] {
        let mut child = common::rbpf().arg("-").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn rbpf");
        child.stdin.take().expect("stdin").write_all(input).expect("write the program");
        let out = child.wait_with_output().expect("rbpf's output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with(expected) && stderr.lines().count() == 1, "expected {expected:?}:\n{stderr}");
    }
}

/// Root reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
/// it cannot read one whose mode forbids it.
#[test]
fn an_unreadable_script() {
    if !has("setpriv") {
        eprintln!("skipping an_unreadable_script: no setpriv (util-linux)");
        return;
    }
    let dir = scratch("unreadable");
    let secret = dir.write("secret.bt", b"BEGIN { exit(); }\n");
    std::fs::set_permissions(dir.join(&secret), std::fs::Permissions::from_mode(0o000)).expect("chmod");
    Case::new("unreadable", &[&secret], "failed to open file 'secret.bt': Permission denied")
        .under(&["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .check(&dir);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Case::new("unreadable by root without DAC capabilities", &[&secret], "failed to open file 'secret.bt': Permission denied")
            .under(&["setpriv", "--bounding-set=-dac_override,-dac_read_search"])
            .check(&dir);
    }
}

#[test]
fn unterminated_strings_and_comments_point_at_their_start() {
    let dir = scratch("unterminated");
    let comment = dir.write("comment.bt", b"BEGIN {\n  /* a comment\n  exit();\n}\n");
    let cases = [
        Case::new("string", &["-e", "BEGIN { printf(\"abc); }"], "error: unterminated string literal").also("-e:1:16").also("this string is never closed"),
        Case::new("comment", &["-e", "BEGIN { /* abc }"], "error: unterminated comment").also("-e:1:9").also("this comment is never closed"),
        Case::new("comment in a file", &[&comment], "error: unterminated comment").also("comment.bt:2:3"),
    ];
    for case in &cases {
        case.check(&dir);
    }
}

#[test]
fn uprobes_on_what_cannot_be_probed() {
    if !common::kernel_tests_enabled("uprobes_on_what_cannot_be_probed") {
        return;
    }
    let source = "int work(int x) { return x + 1; }\nint main(void) { return work(1) - 2; }\n";
    let Some(plain) = common::build_c("bad-uprobe", "a test program", "plain", &[("plain.c", source)], &["-O0"]) else { return };
    let Some(stripped) = common::build_c("bad-uprobe-s", "a stripped test program", "stripped", &[("stripped.c", source)], &["-O0", "-s"]) else {
        return;
    };
    let (plain, stripped) = (plain.display().to_string(), stripped.display().to_string());
    let cases = [
        Case::new("missing binary", &["-e", "uprobe:/nonexistent/bin:work { exit(); }"], "/nonexistent/bin does not exist").also("-e:1:1"),
        Case::new("a directory", &["-e", "uprobe:/tmp:work { exit(); }"], "/tmp: Is a directory"),
        Case::new("missing function", &["-e", &format!("uprobe:{plain}:nosuchfn {{ exit(); }}")], &format!("`{plain}` has no function `nosuchfn`")),
        Case::new("stripped", &["-e", &format!("uprobe:{stripped}:work {{ exit(); }}")], &format!("`{stripped}` has no function `work`: it has no symbol table (it is stripped)"))
            .also("no function symbols in this binary"),
        Case::new("stripped wildcard", &["-e", &format!("uretprobe:{stripped}:w* {{ exit(); }}")], &format!("no function of `{stripped}` matches `w*`: it has no symbol table (it is stripped)")),
    ];
    for case in &cases {
        case.check(Path::new("/"));
    }
    for binary in [plain, stripped] {
        let _ = std::fs::remove_dir_all(Path::new(&binary).parent().expect("its directory"));
    }
}

#[test]
fn a_process_that_does_not_exist() {
    // The highest pid not in use: in the valid range, and not reused
    // between the look and rbpf's start unless the pids wrap around.
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(32768);
    let pid = (2..pid_max).rev().find(|p| !Path::new(&format!("/proc/{p}")).exists()).expect("a free pid").to_string();
    for program in ["uprobe:libc:malloc { exit(); }", "tracepoint:syscalls:sys_enter_getpid { exit(); }"] {
        Case::new("no such pid", &["-p", &pid, "-e", program], &format!("there is no process with pid {pid}")).check(Path::new("/"));
    }
    Case::new("pid out of range", &["-p", "1073741808", "-e", "BEGIN { exit(); }"], "pid '1073741808' out of valid pid range").check(Path::new("/"));
    // Exited, not yet reaped: its pid is still there, mapping nothing.
    let mut zombie = Command::new("true").spawn().expect("true");
    let stat = format!("/proc/{}/stat", zombie.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&stat).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))) {
        assert!(Instant::now() < deadline, "`true` did not exit");
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = zombie.id().to_string();
    Case::new("exited", &["-p", &pid, "-e", "uprobe:libc:malloc { exit(); }"], &format!("process {pid} has exited")).check(Path::new("/"));
    let _ = zombie.wait();
}

/// A `-p` process that exits while rbpf attaches thousands of uprobes to
/// it: one sentence saying so (or, if the attach won the race, a clean
/// end), and no uprobe left registered in tracefs.
#[test]
fn a_process_that_exits_while_attaching() {
    if !common::kernel_tests_enabled("a_process_that_exits_while_attaching") {
        return;
    }
    let uprobe_events = || std::fs::read_to_string("/sys/kernel/tracing/uprobe_events").unwrap_or_default();
    let before = uprobe_events();
    for delay in ["0.05", "0.3", "1"] {
        let mut short = Command::new("sleep").arg(delay).spawn().expect("sleep");
        let maps = format!("/proc/{}/maps", short.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("/libc.so")) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let out = common::rbpf()
            .args(["-p", &short.id().to_string(), "-e", "uprobe:libc:* { @[probe] = count(); }"])
            .stdin(Stdio::null())
            .output()
            .expect("run rbpf");
        let _ = short.wait();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        match out.status.code() {
            Some(0) => {}
            // Gone while attaching, or already before rbpf looked for its libc.
            Some(1) if stderr.contains(&format!("process {} has exited", short.id())) => {}
            Some(1) => {
                assert!(stderr.contains(&format!("process {} exited while its probes were being attached", short.id())), "{delay}: {stderr}");
                assert_eq!(stderr.lines().count(), 1, "{delay}: one line: {stderr}");
            }
            other => panic!("{delay}: exit status {other:?}: {stderr}"),
        }
    }
    assert_eq!(uprobe_events(), before, "uprobe_events changed");
}

/// Without root or the BPF capabilities, the error names the capability
/// the process lacks and the sysctl that keeps it out.
#[test]
fn missing_privileges_name_the_capability_and_the_sysctl() {
    if !common::kernel_tests_enabled("missing_privileges_name_the_capability_and_the_sysctl") {
        return;
    }
    if !has("setpriv") {
        eprintln!("skipping missing_privileges_name_the_capability_and_the_sysctl: no setpriv (util-linux)");
        return;
    }
    let sysctl = |name: &str| -> i64 {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    let program = ["-e", "tracepoint:syscalls:sys_enter_getpid { exit(); }"];
    let as_nobody: &[&str] = &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"];
    // The tracepoint's format is read first, from tracefs, which only root reads.
    Case::new("a tracepoint as nobody", &program, "cannot read tracepoint `syscalls:sys_enter_getpid`: reading tracefs at /sys/kernel/tracing needs root")
        .under(as_nobody)
        .check(Path::new("/"));
    let mut nobody = Case::new("as nobody", &["-e", "BEGIN { printf(\"hi\\n\"); exit(); }"], "creating BPF maps needs root or the CAP_BPF capability: this process lacks CAP_BPF (uid 65534)")
        .under(as_nobody);
    let mut no_bpf = Case::new("without CAP_BPF", &program, "this process lacks CAP_BPF (uid 0)")
        .under(&["setpriv", "--bounding-set=-bpf,-sys_admin", "--inh-caps=-all"]);
    let disabled = sysctl("unprivileged_bpf_disabled");
    if disabled > 0 {
        let phrase = format!("kernel.unprivileged_bpf_disabled = {disabled}");
        nobody = nobody.also(&phrase);
        no_bpf = no_bpf.also(&phrase);
    }
    let no_perfmon = Case::new(
        "without CAP_PERFMON",
        &program,
        "loading BPF programs needs root or the CAP_BPF and CAP_PERFMON capabilities: this process lacks CAP_PERFMON (uid 0)",
    )
    .under(&["setpriv", "--bounding-set=-perfmon,-sys_admin", "--inh-caps=-all"]);
    nobody.check(Path::new("/"));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        no_bpf.check(Path::new("/"));
        no_perfmon.check(Path::new("/"));
    }
}

/// Whether `program` is on the PATH.
fn has(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}
