//! rbpf on a second kernel: Debian bookworm's stock Linux 6.1, booted under
//! QEMU by the VM lane (tests/vm/run). One boot runs every command below
//! (software emulation is slow; a boot is about 5 s, rbpf's start-up about
//! 3 s there); the tests then check their part of its output. Without QEMU
//! they skip with a message, or fail under RBPF_REQUIRE_KERNEL=1.
//!
//! Besides the smoke tests, the guest runs rbpf's kernel test tier — the
//! test binaries cargo built from runtime/tests/kernel.rs, tests/run.rs,
//! tests/cli.rs and tests/errors.rs — with RBPF_REQUIRE_KERNEL=1 (less the
//! tests in SKIPPED, with the reason). Of the differential suite it runs the
//! cases that need kprobes and fentry, and those RBPF_VM_DIFF_FILTER names:
//! each case runs bpftrace and rbpf five times, about 20 s a case emulated
//! (bpftrace alone starts in 7 s), so all 400 would take over two hours.
//!
//! The tier's binaries are the newest that cargo left in target/*/deps:
//! `cargo test` builds every test target before it runs any, so there they
//! are current; `cargo test --test vm` alone runs what the last build left.

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use std::time::Duration;

use vm::{output_of, shell_quote, CommandOutput, Guest};

/// The whole boot's time limit: generous, since the machine may be shared.
const TIMEOUT: Duration = Duration::from_secs(900);

/// The test binaries of the kernel tier, run in the guest one test at a
/// time (two emulated CPUs; the tests' own deadlines assume a fast machine).
const KERNEL_TIER: &[&str] = &["kernel", "run", "cli", "errors"];

/// Tests of the tier left out in the guest: (binary, test, why). They fail
/// there for reasons outside the kernel tier's scope, each explained;
/// `cargo test --test vm -- --ignored` runs them in the guest to see
/// whether they still fail (then remove the entry).
const SKIPPED: &[(&str, &str, &str)] = &[];

/// Three sleeps: do_nanosleep runs once for each.
const SLEEPS: &str = "for i in 1 2 3; do /bin/sleep 0.05; done";

/// File reads: vfs_read runs at least once for each file.
const READS: &str = "for i in 1 2 3; do /bin/cat /etc/hostname /proc/version > /dev/null; done";

/// Wildcard kprobes on Linux 6.12, whose fprobe gives multi-attach links
/// (Debian's 6.1 is built without CONFIG_FPROBE): one program and one link
/// for every match, unless the body reads `probe`.
const MULTI_ATTACH_PROGRAMS: &[(&str, &str, &str)] = &[
    ("kprobe_multi", "kprobe:vfs_* { @[func] = count(); }", READS),
    ("kretprobe_multi", "kretprobe:vfs_read* { @[func] = count(); }", READS),
    ("kprobe_wildcard", "kprobe:vfs_read* { @[probe] = count(); }", READS),
];

/// kprobes, kretprobes, fentry and fexit, which the host's kernel lacks:
/// (name, program, workload).
const KERNEL_FUNCTION_PROGRAMS: &[(&str, &str, &str)] = &[
    ("kprobe", "kprobe:do_nanosleep { @calls[func, probe] = count(); @mode[arg1] = count(); }", SLEEPS),
    ("kretprobe", "kretprobe:do_nanosleep { @ret[retval] = count(); }", SLEEPS),
    // Offset 5: the instruction after the 5-byte ftrace call site.
    ("kprobe_offset", "k:do_nanosleep+5 { @hits = count(); }", SLEEPS),
    ("kprobe_bad_offset", "kprobe:do_nanosleep+1 { @hits = count(); }", SLEEPS),
    (
        "kprobe_wildcard",
        "kprobe:vfs_read* { @[probe] = count(); }",
        // The first link is up before the others: let them all attach.
        "sleep 2; for i in 1 2 3; do /bin/cat /etc/hostname /proc/version > /dev/null; done",
    ),
    ("kprobe_module", "kprobe:9p:v9fs_file_read_iter { @reads[func] = count(); }", "/bin/cat /etc/os-release > /dev/null"),
    ("fentry", "fentry:do_nanosleep { @mode[args.mode] = count(); @calls[func, probe] = count(); }", SLEEPS),
    ("fexit", "kretfunc:do_nanosleep { @ret[retval, args.mode] = count(); }", SLEEPS),
    // Functions of modules, typed from their split BTF: 9pnet's struct
    // p9_fid and p9_client (which vmlinux lacks) through an argument and
    // through a cast, and a return value. The command share is 9p without
    // a cache, so each read reaches p9_client_read; both 9p mounts have
    // msize=512000.
    (
        "fentry_module",
        "fentry:9pnet:p9_client_read { @msize[args->fid->clnt->msize] = count(); } \
         fentry:v9fs_file_read_iter { @cast[((struct p9_fid *)args->iocb->ki_filp->private_data)->clnt->msize] = count(); } \
         fexit:9p:v9fs_file_read_iter { @ret[retval > 0] = count(); }",
        "echo rbpf > /run/rbpf-vm/module-read; for i in 1 2 3; do /bin/cat /run/rbpf-vm/module-read > /dev/null; done",
    ),
];

/// Listings of kernel functions, which the host cannot read, each against
/// the guest's bpftrace -l: (name, search, the lines of bpftrace's to
/// compare, those of them to leave out). The kernel's own kfuncs and its
/// modules' (`kfunc:9p:...`, from their split BTF); compute_score is two
/// static functions in BTF, and the first (which rbpf describes) has more
/// arguments than a trampoline takes.
const LISTINGS: &[(&str, &str, &str, &str)] = &[
    ("list_kprobes", "kprobe:*", ".", "^$"),
    ("list_kfuncs", "kfunc:*", ".", "^kfunc:vmlinux:compute_score$"),
    (
        "list_kfunc_arguments",
        "kfunc:vfs_read,kretfunc:do_nanosleep,f:_printk,kfunc:kthread_create_on_node,kprobe:vfs_read",
        ".",
        "^$",
    ),
    // One search: bpftrace 0.17 lists one module's functions at most when
    // several searches name kfuncs (`kfunc:9p:v9fs_*,kfunc:vfs_read` lists
    // only vfs_read); rbpf lists each.
    ("list_module_kfunc_arguments", "kretfunc:9pnet:p9_client_*", ".", "^$"),
];

/// Lists `search` with rbpf and with bpftrace (with -v when `verbose`),
/// prints how many lines rbpf listed and the first differences; exits 1
/// when they differ.
fn same_listing(search: &str, keep: &str, leave_out: &str, verbose: bool) -> String {
    let flag = if verbose { "-lv" } else { "-l" };
    format!(
        r#"{rbpf} {flag} {search} > /tmp/rbpf.list || exit 2
bpftrace {flag} {search} 2>/dev/null | grep -E {keep} | grep -v -E {leave_out} > /tmp/bpftrace.list
wc -l < /tmp/rbpf.list; diff /tmp/rbpf.list /tmp/bpftrace.list > /tmp/list.diff; status=$?; head -20 /tmp/list.diff; exit $status"#,
        rbpf = rbpf(),
        search = shell_quote(search),
        keep = shell_quote(keep),
        leave_out = shell_quote(leave_out),
    )
}

fn rbpf() -> String {
    shell_quote(env!("CARGO_BIN_EXE_rbpf"))
}

/// Starts rbpf with `program` in the background, waits until it holds a BPF
/// link (its probes are attached), runs `workload`, then stops it with
/// SIGINT and prints what it printed.
fn trace_while(program: &str, workload: &str) -> String {
    format!(
        r#"out=$(mktemp); {rbpf} -e {program} >"$out" 2>&1 & pid=$!
for i in $(seq 300); do ls -l /proc/$pid/fd 2>/dev/null | grep -q bpf_link && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
{workload}
kill -INT $pid; wait $pid; status=$?; cat "$out"; exit $status"#,
        rbpf = rbpf(),
        program = shell_quote(program),
    )
}

/// The batch: (name, command). Tests find their output by name.
fn commands() -> Vec<(String, String)> {
    let mut commands = vec![
        ("uname".to_string(), "uname -r".to_string()),
        (
            "filesystems".to_string(),
            "grep -E '^(tracefs|bpf) ' /proc/mounts | cut -d' ' -f1-3; \
             test -r /sys/kernel/btf/vmlinux && echo btf; \
             test -e /sys/kernel/tracing/kprobe_events && echo kprobe_events; \
             test -r /sys/kernel/tracing/events/syscalls/sys_enter_execve/format && echo sys_enter_execve"
                .to_string(),
        ),
        ("hello".to_string(), format!("{} -e {}", rbpf(), shell_quote(r#"BEGIN { printf("hello\n"); exit(); }"#))),
        (
            "tracepoint".to_string(),
            trace_while(
                "tracepoint:syscalls:sys_enter_execve { @execs = count(); }",
                "for i in 1 2 3 4 5; do /bin/true; done",
            ),
        ),
    ];
    commands.extend(KERNEL_FUNCTION_PROGRAMS.iter().map(|(name, program, workload)| (name.to_string(), trace_while(program, workload))));
    commands.extend(
        LISTINGS
            .iter()
            .map(|(name, search, keep, leave_out)| (name.to_string(), same_listing(search, keep, leave_out, name.ends_with("arguments")))),
    );
    for name in KERNEL_TIER {
        let skips: String = SKIPPED.iter().filter(|(bin, _, _)| bin == name).map(|(_, test, _)| format!(" --skip {test}")).collect();
        let command = match vm::test_binary(name) {
            Some(binary) => {
                format!("RBPF_REQUIRE_KERNEL=1 {} --test-threads=1 --exact{skips}", shell_quote(&binary.to_string_lossy()))
            }
            None => format!("echo 'no test binary for {name}: build it with cargo test --no-run' >&2; exit 1"),
        };
        commands.push((format!("tier:{name}"), command));
    }
    // The differential cases that need kprobes and fentry always run here,
    // next to the guest's bpftrace; RBPF_VM_DIFF_FILTER adds more.
    let mut filter = "kernel_functions".to_string();
    if let Ok(more) = std::env::var("RBPF_VM_DIFF_FILTER") {
        filter = format!("{filter},{more}");
    }
    let command = match vm::test_binary("differential") {
        Some(binary) => format!(
            "RBPF_REQUIRE_KERNEL=1 RBPF_DIFF_FILTER={} {} same_output_as_bpftrace",
            shell_quote(&filter),
            shell_quote(&binary.to_string_lossy())
        ),
        None => "echo 'no test binary for differential: build it with cargo test --no-run' >&2; exit 1".to_string(),
    };
    commands.push(("tier:differential".to_string(), command));
    commands
}

/// The one boot of Linux 6.1 that most tests here share.
fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| boot("6.1", commands()))
}

/// The boot of Linux 6.12 for the multi-attach tests, and for SIGKILL
/// under kprobes.
fn guest_6_12() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    let mut commands: Vec<(String, String)> =
        MULTI_ATTACH_PROGRAMS.iter().map(|(name, program, workload)| (name.to_string(), trace_while(program, workload))).collect();
    commands.push(("sigkill_kprobes".to_string(), kill_while(KILLED_PROGRAM, SLEEPS)));
    commands.push(("skboutput".to_string(), skboutput_command()));
    commands.push(("path".to_string(), trace_while(PATH_PROGRAM, PATH_WORKLOAD)));
    commands.push(("override".to_string(), override_getppid()));
    GUEST.get_or_init(|| boot("6.12", commands))
}

/// Where `skboutput()` writes in the guest.
const PCAP: &str = "/tmp/rbpf-skboutput.pcap";

/// Pings the loopback while `skboutput()` captures what leaves through
/// __dev_queue_xmit (its Ethernet header left out: offset 14), then prints
/// the pcap file as hex bytes after a `pcap:` line.
fn skboutput_command() -> String {
    let program = format!(r#"fentry:__dev_queue_xmit {{ @r[skboutput("{PCAP}", args.skb, args.skb->len - 14, 14)] = count(); }}"#);
    format!(
        "rm -f {PCAP}; busybox ifconfig lo 127.0.0.1 up; ( {} ); status=$?; echo pcap:; busybox od -An -tx1 -v {PCAP}; exit $status",
        trace_while(&program, "busybox ping -c 3 127.0.0.1 > /dev/null")
    )
}

/// `path()` in the two forms bpftrace takes: a `struct path *` argument
/// and a `struct path` member (passed by its address), each in a function
/// the kernel lets bpf_d_path run in (its btf_allowlist_d_path; vfs_open,
/// say, is not). Since Linux 6.7 close(2) no longer goes through
/// filp_close, but a process's exit still does: `sleep` exits with the
/// file open on its stdin.
const PATH_PROGRAM: &str = "fentry:security_inode_getattr { @getattr[comm, path(args->path)] = count(); } \
                            fentry:filp_close { @close[comm, path(args->filp->f_path)] = count(); }";

const PATH_WORKLOAD: &str = "echo rbpf > /run/rbpf-vm/path-test; \
                             for i in 1 2 3; do stat /run/rbpf-vm/path-test > /dev/null; sleep 0 < /run/rbpf-vm/path-test; done";

/// `override()` on a syscall the kernel lets errors be injected into
/// (syscalls are, through ALLOW_ERROR_INJECTION): getppid() then returns
/// -1 with EPERM. Debian's stock 6.1 and 6.12 kernels are built without
/// CONFIG_FUNCTION_ERROR_INJECTION, hence without
/// CONFIG_BPF_KPROBE_OVERRIDE: there the kernel refuses the helper, and
/// rbpf must say so and why at the call, with exit status 1. On a kernel
/// that has it (`override=yes` below), the call must fail as asked.
fn override_getppid() -> String {
    format!(
        r#"if grep -q '^CONFIG_BPF_KPROBE_OVERRIDE=y' /boot/config-$(uname -r) 2>/dev/null; then echo override=yes; else echo override=no; fi
{rbpf} --unsafe -e {program} & pid=$!
for i in $(seq 300); do ls -l /proc/$pid/fd 2>/dev/null | grep -q bpf_link && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
perl -e '$p = getppid(); printf("getppid: %d %d
", $p, $!+0)'
kill -INT $pid 2>/dev/null; wait $pid; echo "status $?""#,
        rbpf = rbpf(),
        program = shell_quote(r#"kprobe:__x64_sys_getppid /comm == "perl"/ { override(-1); @overridden = count(); }"#),
    )
}

/// A kprobe, a kretprobe and a multi-attached kprobe wildcard.
const KILLED_PROGRAM: &str = "kprobe:do_nanosleep { @s = count(); } kretprobe:do_nanosleep { @r = count(); } kprobe:vfs_read* { @[func] = count(); }";

/// Starts rbpf with `program`, waits until it is attached, runs
/// `workload`, stops rbpf (SIGSTOP), lists the programs, maps and links
/// it holds from its fdinfo, kills it (SIGKILL) and checks with bpftool
/// that every one of them leaves the kernel, and that kprobe_events has
/// no probe of rbpf's; exits 1, saying what is left, if not.
fn kill_while(program: &str, workload: &str) -> String {
    format!(
        r#"{rbpf} -e {program} >/dev/null 2>&1 & pid=$!
for i in $(seq 300); do ls -l /proc/$pid/fd 2>/dev/null | grep -q bpf_link && break; kill -0 $pid 2>/dev/null || exit 2; sleep 0.1; done
{workload}
kill -STOP $pid
ids() {{ grep -h "^$1:" /proc/$pid/fdinfo/* | awk '{{print $2}}' | sort -u; }}
progs=$(ids prog_id); maps=$(ids map_id); links=$(ids link_id)
echo "held: $(echo $progs | wc -w) programs, $(echo $maps | wc -w) maps, $(echo $links | wc -w) links"
kill -KILL $pid; wait $pid 2>/dev/null
for i in $(seq 100); do
  left=""
  for id in $progs; do bpftool prog show id $id >/dev/null 2>&1 && left="$left prog:$id"; done
  for id in $maps; do bpftool map show id $id >/dev/null 2>&1 && left="$left map:$id"; done
  for id in $links; do bpftool link show id $id >/dev/null 2>&1 && left="$left link:$id"; done
  [ -z "$left" ] && break; sleep 0.1
done
grep -i rbpf /sys/kernel/tracing/kprobe_events && left="$left kprobe_events"
[ -n "$left" ] && {{ echo "left:$left"; exit 1; }}
echo "nothing left""#,
        rbpf = rbpf(),
        program = shell_quote(program),
    )
}

/// Boots `series` for `commands`, its report listing what SKIPPED leaves
/// out of the tier in the guest.
fn boot(series: &str, commands: Vec<(String, String)>) -> Guest {
    let mut notes = "left out of the tier in the guest (SKIPPED):\n".to_string();
    for (binary, test, why) in SKIPPED {
        notes += &format!("  {binary}::{test}: {why}\n");
    }
    vm::boot_batch("vm", series, commands, TIMEOUT, &notes)
}

/// The output of the command called `name`, or None when the lane skips.
fn output(test: &str, name: &str) -> Option<&'static CommandOutput> {
    output_of(guest(), test, name)
}

#[test]
fn guest_runs_linux_6_1() {
    let Some(out) = output("guest_runs_linux_6_1", "uname") else { return };
    assert_eq!(out.status, 0, "{}", out.describe());
    assert!(out.stdout.starts_with("6.1."), "{}", out.describe());
}

#[test]
fn guest_has_tracefs_bpffs_btf_and_kprobes() {
    let Some(out) = output("guest_has_tracefs_bpffs_btf_and_kprobes", "filesystems") else { return };
    assert_eq!(
        out.stdout,
        "tracefs /sys/kernel/tracing tracefs\nbpf /sys/fs/bpf bpf\nbtf\nkprobe_events\nsys_enter_execve\n",
        "{}",
        out.describe()
    );
}

#[test]
fn begin_printf_exit_in_the_guest() {
    let Some(out) = output("begin_printf_exit_in_the_guest", "hello") else { return };
    assert_eq!(out.status, 0, "{}", out.describe());
    assert_eq!(out.stdout, "Attaching 1 probe...\nhello\n\n\n", "{}", out.describe());
}

#[test]
fn tracepoint_counts_execs_in_the_guest() {
    let Some(out) = output("tracepoint_counts_execs_in_the_guest", "tracepoint") else { return };
    assert_eq!(out.status, 0, "{}", out.describe());
    let execs = out.stdout.lines().find_map(|l| l.strip_prefix("@execs: ")).and_then(|n| n.trim().parse::<u64>().ok());
    assert!(execs.is_some_and(|n| n >= 5), "expected @execs >= 5\n{}", out.describe());
}

fn tier(test: &str, name: &str) {
    let Some(out) = output(test, &format!("tier:{name}")) else { return };
    assert_eq!(out.status, 0, "{name} failed on Linux 6.1\n{}", out.describe());
}

#[test]
fn kernel_tier_runtime_kernel_tests() {
    tier("kernel_tier_runtime_kernel_tests", "kernel");
}

#[test]
fn kernel_tier_run_tests() {
    tier("kernel_tier_run_tests", "run");
}

#[test]
fn kernel_tier_cli_tests() {
    tier("kernel_tier_cli_tests", "cli");
}

#[test]
fn kernel_tier_errors_tests() {
    tier("kernel_tier_errors_tests", "errors");
}

/// The differential cases of tests/differential/cases/kernel_functions.cases
/// (and those RBPF_VM_DIFF_FILTER names), against the guest's bpftrace.
#[test]
fn kernel_tier_differential_subset() {
    tier("kernel_tier_differential_subset", "differential");
}

/// Runs the tests SKIPPED leaves out, in a boot of their own, and reports
/// which still fail there. Informational: it fails if any of them passes,
/// so that the list does not outlive the bugs.
#[test]
#[ignore = "boots the guest to run the tests known to fail there"]
fn skipped_tests_still_fail_in_the_guest() {
    let mut names = Vec::new();
    let mut commands = Vec::new();
    for (binary, test, _) in SKIPPED {
        let Some(path) = vm::test_binary(binary) else { panic!("no test binary for {binary}") };
        names.push(format!("{binary}::{test}"));
        commands.push(format!("RBPF_REQUIRE_KERNEL=1 {} --exact {test}", shell_quote(&path.to_string_lossy())));
    }
    let boot = vm::run(&commands, TIMEOUT);
    let Some(boot) = vm::or_skip("skipped_tests_still_fail_in_the_guest", &boot) else { return };
    let passing: Vec<&String> = names.iter().zip(&boot.outputs).filter(|(_, o)| o.status == 0).map(|(n, _)| n).collect();
    for (name, out) in names.iter().zip(&boot.outputs) {
        eprintln!("{name}: exit status {}", out.status);
    }
    assert!(passing.is_empty(), "these now pass in the guest; remove them from SKIPPED: {passing:?}");
}

/// The entries `@name[KEY]: N` of a map in rbpf's output.
fn entries<'a>(out: &'a str, map: &str) -> Vec<(&'a str, u64)> {
    let prefix = format!("{map}[");
    out.lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.rsplit_once("]: "))
        .filter_map(|(k, v)| Some((k, v.trim().parse().ok()?)))
        .collect()
}

/// The output of a kernel-function program, after checking it ran.
fn traced(test: &str, name: &str) -> Option<&'static str> {
    traced_in(guest(), test, name)
}

fn traced_in(guest: &'static Guest, test: &str, name: &str) -> Option<&'static str> {
    let out = output_of(guest, test, name)?;
    assert_eq!(out.status, 0, "{}", out.describe());
    assert!(out.stdout.starts_with("Attaching "), "{}", out.describe());
    Some(&out.stdout)
}

#[test]
fn kprobe_sees_func_probe_and_arguments() {
    let Some(out) = traced("kprobe_sees_func_probe_and_arguments", "kprobe") else { return };
    let calls = entries(out, "@calls");
    assert!(
        calls.iter().any(|(k, n)| *k == "do_nanosleep, kprobe:do_nanosleep" && *n >= 3),
        "expected @calls[do_nanosleep, kprobe:do_nanosleep] >= 3 in:\n{out}"
    );
    // do_nanosleep(t, mode): a relative sleep's mode, the same every time.
    let modes = entries(out, "@mode");
    assert!(modes.iter().map(|(_, n)| n).sum::<u64>() >= 3, "{out}");
}

#[test]
fn kretprobe_sees_the_return_value() {
    let Some(out) = traced("kretprobe_sees_the_return_value", "kretprobe") else { return };
    assert!(entries(out, "@ret").iter().any(|(k, n)| *k == "0" && *n >= 3), "expected @ret[0] >= 3 in:\n{out}");
}

#[test]
fn kprobe_at_an_offset() {
    let Some(out) = traced("kprobe_at_an_offset", "kprobe_offset") else { return };
    let hits = out.lines().find_map(|l| l.strip_prefix("@hits: ")).and_then(|n| n.trim().parse::<u64>().ok());
    assert!(hits.is_some_and(|n| n >= 3), "{out}");
}

#[test]
fn kprobe_wildcard_attaches_every_match() {
    let Some(out) = traced("kprobe_wildcard_attaches_every_match", "kprobe_wildcard") else { return };
    assert!(!out.starts_with("Attaching 1 probe"), "vfs_read* matches several functions:\n{out}");
    assert!(entries(out, "@").iter().any(|(k, n)| *k == "kprobe:vfs_read" && *n >= 3), "{out}");
}

#[test]
fn kprobe_in_a_module() {
    let Some(out) = traced("kprobe_in_a_module", "kprobe_module") else { return };
    assert!(entries(out, "@reads").iter().any(|(k, n)| *k == "v9fs_file_read_iter" && *n >= 1), "{out}");
}

#[test]
fn fentry_reads_arguments_by_name() {
    let Some(out) = traced("fentry_reads_arguments_by_name", "fentry") else { return };
    assert!(entries(out, "@calls").iter().any(|(k, n)| *k == "do_nanosleep, fentry:do_nanosleep" && *n >= 3), "{out}");
    assert!(entries(out, "@mode").iter().map(|(_, n)| n).sum::<u64>() >= 3, "{out}");
}

#[test]
fn fexit_reads_the_return_value_and_arguments() {
    let Some(out) = traced("fexit_reads_the_return_value_and_arguments", "fexit") else { return };
    assert!(entries(out, "@ret").iter().any(|(k, n)| k.starts_with("0, ") && *n >= 3), "expected @ret[0, MODE] >= 3 in:\n{out}");
}

#[test]
fn fentry_on_module_functions_reads_module_types() {
    let Some(out) = traced("fentry_on_module_functions_reads_module_types", "fentry_module") else { return };
    assert!(entries(out, "@msize").iter().any(|(k, n)| *k == "512000" && *n >= 3), "expected @msize[512000] >= 3 in:\n{out}");
    assert!(entries(out, "@cast").iter().any(|(k, n)| *k == "512000" && *n >= 3), "expected @cast[512000] >= 3 in:\n{out}");
    let ret = entries(out, "@ret");
    assert!(ret.iter().any(|(k, n)| *k == "1" && *n >= 3) && ret.iter().any(|(k, _)| *k == "0"), "expected @ret[0] and @ret[1] >= 3 in:\n{out}");
}

#[test]
fn kprobe_inside_an_instruction_is_refused_clearly() {
    let Some(out) = output("kprobe_inside_an_instruction_is_refused_clearly", "kprobe_bad_offset") else { return };
    assert_eq!(out.status, 1, "{}", out.describe());
    assert!(
        out.stdout.contains("cannot attach kprobe:do_nanosleep+1: the offset is not at the start of an instruction"),
        "{}",
        out.describe()
    );
}

#[test]
fn wildcard_kprobes_share_one_multi_attach_link() {
    let Some(out) = traced_in(guest_6_12(), "wildcard_kprobes_share_one_multi_attach_link", "kprobe_multi") else { return };
    assert!(out.starts_with("Attaching 1 probe...\n"), "vfs_* is one multi-attached program:\n{out}");
    assert!(entries(out, "@").iter().any(|(k, n)| *k == "vfs_read" && *n >= 6), "expected @[vfs_read] >= 6 in:\n{out}");
}

#[test]
fn wildcard_kretprobes_share_one_multi_attach_link() {
    let Some(out) = traced_in(guest_6_12(), "wildcard_kretprobes_share_one_multi_attach_link", "kretprobe_multi") else { return };
    assert!(out.starts_with("Attaching 1 probe...\n"), "{out}");
    assert!(entries(out, "@").iter().any(|(k, n)| *k == "vfs_read" && *n >= 6), "expected @[vfs_read] >= 6 in:\n{out}");
}

#[test]
fn a_wildcard_that_reads_probe_stays_one_program_per_function() {
    let Some(out) = traced_in(guest_6_12(), "a_wildcard_that_reads_probe_stays_one_program_per_function", "kprobe_wildcard") else {
        return;
    };
    assert!(!out.starts_with("Attaching 1 probe"), "{out}");
    assert!(entries(out, "@").iter().any(|(k, n)| *k == "kprobe:vfs_read" && *n >= 6), "{out}");
}

#[test]
fn sigkill_under_kprobes_leaves_nothing_in_the_kernel() {
    let Some(out) = output_of(guest_6_12(), "sigkill_under_kprobes_leaves_nothing_in_the_kernel", "sigkill_kprobes") else { return };
    assert_eq!(out.status, 0, "{}", out.describe());
    // Three programs, at least their maps, and a link each: the check saw something to check.
    let held = out.stdout.lines().find_map(|l| l.strip_prefix("held: ")).unwrap_or_default();
    let count = |what: &str| held.split(", ").find_map(|p| p.strip_suffix(what)?.trim().parse::<u32>().ok()).unwrap_or(0);
    assert!(count(" programs") >= 3 && count(" maps") >= 1 && count(" links") >= 3, "{}", out.describe());
    assert!(out.stdout.contains("nothing left"), "{}", out.describe());
}

/// rbpf's listing of `name` in LISTINGS: the same as bpftrace's, and not
/// empty.
fn listing_matches_bpftrace(test: &str, name: &str, at_least: usize) {
    let Some(out) = output(test, name) else { return };
    assert_eq!(out.status, 0, "rbpf -l differs from bpftrace -l on Linux 6.1\n{}", out.describe());
    let lines = out.stdout.lines().next().and_then(|n| n.trim().parse::<usize>().ok());
    assert!(lines.is_some_and(|n| n >= at_least), "expected at least {at_least} lines\n{}", out.describe());
}

#[test]
fn kprobes_are_listed_as_bpftrace_lists_them() {
    listing_matches_bpftrace("kprobes_are_listed_as_bpftrace_lists_them", "list_kprobes", 10_000);
}

#[test]
fn kfuncs_are_listed_as_bpftrace_lists_them() {
    listing_matches_bpftrace("kfuncs_are_listed_as_bpftrace_lists_them", "list_kfuncs", 10_000);
}

#[test]
fn kfunc_arguments_are_listed_as_bpftrace_lists_them() {
    listing_matches_bpftrace("kfunc_arguments_are_listed_as_bpftrace_lists_them", "list_kfunc_arguments", 15);
}

#[test]
fn module_kfunc_arguments_are_listed_as_bpftrace_lists_them() {
    listing_matches_bpftrace("module_kfunc_arguments_are_listed_as_bpftrace_lists_them", "list_module_kfunc_arguments", 100);
}

/// The bytes of a dump `od -An -tx1` printed.
fn hex_bytes(text: &str) -> Vec<u8> {
    text.split_whitespace().filter_map(|h| u8::from_str_radix(h, 16).ok()).collect()
}

#[test]
fn skboutput_writes_loopback_packets_to_a_pcap_file() {
    let Some(out) = traced_in(guest_6_12(), "skboutput_writes_loopback_packets_to_a_pcap_file", "skboutput") else { return };
    let (trace, dump) = out.split_once("pcap:\n").unwrap_or_else(|| panic!("no pcap dump in:\n{out}"));
    // Every call succeeded: the helper's value was 0.
    let results = entries(trace, "@r");
    assert!(!results.is_empty() && results.iter().all(|(k, _)| *k == "0"), "{trace}");
    let file = hex_bytes(dump);
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    assert!(file.len() > 24, "{out}");
    // Microsecond pcap 2.4, snap length 65535, raw IP.
    assert_eq!((u32_at(0), u32_at(16), u32_at(20)), (0xa1b2_c3d4, 65535, 101), "{out}");
    assert_eq!(&file[4..8], &[2, 0, 4, 0]);
    // The records: time, lengths, then an IPv4 packet from 127.0.0.1; the
    // pings are ICMP (protocol 1).
    let (mut at, mut icmp) = (24, 0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
    while at + 16 <= file.len() {
        let (seconds, len) = (u32_at(at), u32_at(at + 8) as usize);
        assert_eq!(len, u32_at(at + 12) as usize, "{out}");
        let packet = &file[at + 16..at + 16 + len];
        assert!(now.abs_diff(seconds) < 24 * 3600, "a capture time far from now: {seconds}");
        assert_eq!(packet[0] >> 4, 4, "not IPv4: {packet:02x?}");
        assert_eq!(&packet[12..16], &[127, 0, 0, 1]);
        icmp += usize::from(packet[9] == 1);
        at += 16 + len;
    }
    assert_eq!(at, file.len(), "a truncated record");
    assert!(icmp >= 3, "three pings and their replies, got {icmp} ICMP packets:\n{out}");
}


#[test]
fn path_names_files_from_a_pointer_and_from_a_member() {
    let Some(out) = traced_in(guest_6_12(), "path_names_files_from_a_pointer_and_from_a_member", "path") else { return };
    assert!(out.contains("@getattr[stat, /run/rbpf-vm/path-test]: 3\n"), "{out}");
    assert!(out.contains("@close[sleep, /run/rbpf-vm/path-test]: 3\n"), "{out}");
}

#[test]
fn override_makes_the_call_fail_or_is_refused_clearly() {
    let Some(out) = output_of(guest_6_12(), "override_makes_the_call_fail_or_is_refused_clearly", "override") else { return };
    let text = format!("{}{}", out.stdout, out.stderr);
    if out.stdout.starts_with("override=yes") {
        // -1 from the syscall: perl sees -1 with EPERM (1).
        assert!(text.contains("getppid: -1 1\n") && text.contains("@overridden: 1\n") && text.contains("status 0"), "{}", out.describe());
    } else {
        // The stock Debian kernels: refused at the call, saying why.
        assert!(text.contains("status 1") && text.contains("getppid: ") && !text.contains("getppid: -1"), "{}", out.describe());
        assert!(text.contains("CONFIG_BPF_KPROBE_OVERRIDE") && text.contains("override(-1)"), "{}", out.describe());
        assert!(!text.contains("bug in rbpf"), "{}", out.describe());
    }
}
