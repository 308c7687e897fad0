//! The tools in scripts/, end to end: each test runs a tool as a user
//! runs it, causes the events it traces with a workload of its own (execs,
//! opens, a kill of its own child, direct writes to disk, a TLS exchange on
//! loopback...), and checks the lines the tool prints.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{kernel_tests_enabled, App, Built, Tracer};

/// The path of tool `name` in scripts/.
fn script(name: &str) -> String {
    format!("{}/scripts/{name}.bt", env!("CARGO_MANIFEST_DIR"))
}

/// Starts tool `name` with `args` and waits until it holds `links` BPF
/// links (its probes are attached); `None` where kernel tests cannot run.
fn start(test: &str, name: &str, args: &[&str], links: usize) -> Option<Tracer> {
    if !kernel_tests_enabled(test) {
        return None;
    }
    let path = script(name);
    let mut argv = vec![path.as_str()];
    argv.extend_from_slice(args);
    let mut tracer = Tracer::start(&argv);
    tracer.wait_attached(links);
    Some(tracer)
}

/// How many CPUs the `profile:` probes attach to: one link each.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A directory of this test's own, on the disk the build is on (not a
/// tmpfs /tmp): for block I/O, and for paths no other process uses.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tools-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A path naming /bin/true that no other process executes: a symlink in
/// this test's own directory (execve's filename is the path as given).
fn own_true(test: &str, name: &str) -> PathBuf {
    let link = scratch(test).join(name);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/bin/true", &link).expect("symlink to /bin/true");
    link
}

fn run_ok(cmd: &mut Command) {
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("start the workload");
    assert!(status.success(), "{cmd:?}: {status}");
}

/// The whitespace-separated columns of `line`.
fn columns(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Whether `line` starts with an `HH:MM:SS` time, as `time("%H:%M:%S ")`
/// prints it.
fn timed(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 8 && b[2] == b':' && b[5] == b':' && b[8] == b' ' && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

/// The buckets of the histogram printed under `header` (`@name:` or
/// `@name[...]:`): each bucket's bounds, as text, with its count.
fn histogram<'a>(out: &'a str, header: &str) -> Vec<(&'a str, u64)> {
    let mut lines = out.lines().skip_while(|l| l.trim_end() != header.trim_end());
    lines.next();
    lines
        .take_while(|l| l.starts_with('['))
        .filter_map(|l| {
            let (bucket, rest) = l.split_once(')').or_else(|| l.split_once(']'))?;
            let count = rest.split_whitespace().next()?.parse().ok()?;
            Some((bucket, count))
        })
        .collect()
}

fn total(buckets: &[(&str, u64)]) -> u64 {
    buckets.iter().map(|(_, n)| n).sum()
}

/// Keeps every CPU busy for `time` with three threads per CPU, so that
/// some always wait in a run queue.
fn busy(time: Duration) {
    let threads: Vec<_> = (0..cpus() * 3)
        .map(|_| {
            std::thread::spawn(move || {
                let end = Instant::now() + time;
                let mut x = 0u64;
                while Instant::now() < end {
                    for i in 0..10_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("busy thread");
    }
}

#[test]
fn hello_greets_every_exec() {
    let Some(mut tracer) = start("hello_greets_every_exec", "hello", &[], 1) else { return };
    let prog = own_true("hello", "hello-true");
    let mut child = Command::new(&prog).spawn().expect("exec");
    let pid = child.id();
    child.wait().expect("wait");
    let want = format!("(pid {pid}) runs {}", prog.display());
    let line = tracer.wait_for(|l| l.ends_with(&want));
    assert!(line.starts_with("Hello, world! "), "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn execcount_prints_the_count_every_five_seconds() {
    let Some(mut tracer) = start("execcount_prints_the_count_every_five_seconds", "execcount", &[], 2) else { return };
    let prog = own_true("execcount", "count-true");
    for _ in 0..5 {
        run_ok(&mut Command::new(&prog));
    }
    // The five execs may straddle a period's end: add the periods up.
    let started = Instant::now();
    let mut seen = 0;
    while seen < 5 {
        let line = tracer.wait_for(timed);
        let n = line[9..].strip_prefix("@execs: ").and_then(|n| n.parse::<u64>().ok());
        seen += n.unwrap_or_else(|| panic!("not a count line: {line}"));
    }
    assert!(started.elapsed() >= Duration::from_secs(3), "a period ended too early");
    tracer.stop(libc::SIGINT);
}

#[test]
fn execsnoop_shows_the_execs_of_the_user_given() {
    let Some(mut tracer) = start("execsnoop_shows_the_execs_of_the_user_given", "execsnoop", &["4242"], 1) else { return };
    let mine = own_true("execsnoop", "root-true");
    let theirs = own_true("execsnoop", "user-true");
    run_ok(&mut Command::new(&mine));
    run_ok(Command::new(&theirs).uid(4242).gid(4242));
    let line = tracer.wait_for(|l| l.ends_with(theirs.to_str().unwrap()));
    let cols = columns(&line);
    assert_eq!(cols[1], "4242", "{line}");
    let (out, _) = tracer.stop(libc::SIGINT);
    assert!(out.contains("\nTIME(ms)   UID    PID     COMM             PATH\n"), "{out}");
    assert!(!out.contains(mine.to_str().unwrap()), "another user's exec shown:\n{out}");
}

#[test]
fn opensnoop_shows_opens_with_their_result() {
    let Some(mut tracer) = start("opensnoop_shows_opens_with_their_result", "opensnoop", &[], 2) else { return };
    let dir = scratch("opensnoop");
    let there = dir.join("there");
    std::fs::write(&there, "x").expect("write");
    let missing = dir.join("missing");
    drop(std::fs::File::open(&there).expect("open"));
    assert!(std::fs::File::open(&missing).is_err());
    let me = std::process::id().to_string();
    let found = tracer.wait_for(|l| l.ends_with(there.to_str().unwrap()) && columns(l)[0] == me);
    let cols = columns(&found);
    assert!(cols[2].parse::<i32>().unwrap() >= 3 && cols[3] == "0", "{found}");
    let failed = tracer.wait_for(|l| l.ends_with(missing.to_str().unwrap()));
    assert_eq!(&columns(&failed)[2..4], ["-1", "2"], "{failed}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn killsnoop_shows_a_kill_of_a_child() {
    let Some(mut tracer) = start("killsnoop_shows_a_kill_of_a_child", "killsnoop", &[], 2) else { return };
    let mut child = Command::new("sleep").arg("10").spawn().expect("sleep");
    // SAFETY: kill on the pid of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    child.wait().expect("wait");
    let (me, target) = (std::process::id().to_string(), child.id().to_string());
    let line = tracer.wait_for(|l| timed(l) && columns(l)[1] == me && columns(l)[4] == target);
    let cols = columns(&line);
    assert_eq!((cols[3], cols[5]), ("15", "0"), "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn naptime_shows_a_sleep_and_its_parent() {
    let Some(mut tracer) = start("naptime_shows_a_sleep_and_its_parent", "naptime", &[], 2) else { return };
    let mut child = Command::new("sleep").arg("0.25").spawn().expect("sleep");
    let pid = child.id().to_string();
    child.wait().expect("wait");
    let line = tracer.wait_for(|l| timed(l) && columns(l)[3] == pid);
    let cols = columns(&line);
    assert_eq!(cols[1], std::process::id().to_string(), "{line}");
    assert_eq!((cols[4], cols[5]), ("sleep", "0.250"), "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn pidpersec_counts_new_processes() {
    let Some(mut tracer) = start("pidpersec_counts_new_processes", "pidpersec", &[], 2) else { return };
    for _ in 0..20 {
        run_ok(&mut Command::new("/bin/true"));
    }
    let mut seen = 0;
    while seen < 20 {
        let line = tracer.wait_for(timed);
        seen += line[9..].strip_prefix("@new_processes: ").and_then(|n| n.parse::<u64>().ok()).unwrap_or_else(|| panic!("{line}"));
    }
    tracer.stop(libc::SIGINT);
}

#[test]
fn setuids_shows_a_setuid() {
    let Some(mut tracer) = start("setuids_shows_a_setuid", "setuids", &[], 8) else { return };
    let mut child = Command::new("/bin/true").uid(4243).gid(4243).spawn().expect("true");
    let pid = child.id().to_string();
    child.wait().expect("wait");
    let line = tracer.wait_for(|l| timed(l) && columns(l)[2] == pid && columns(l)[4] == "setuid");
    assert_eq!(&columns(&line)[5..], ["uid=4243", "0"], "{line}");
    assert_eq!(columns(&line)[1], "0", "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn statsnoop_shows_lookups_and_their_errors() {
    let Some(mut tracer) = start("statsnoop_shows_lookups_and_their_errors", "statsnoop", &[], 8) else { return };
    let dir = scratch("statsnoop");
    let missing = dir.join("no-such-file");
    assert!(std::fs::metadata(&missing).is_err());
    assert!(std::fs::metadata(&dir).is_ok());
    let me = std::process::id().to_string();
    let line = tracer.wait_for(|l| l.ends_with(missing.to_str().unwrap()));
    assert_eq!(&columns(&line)[..1], [me.as_str()], "{line}");
    assert_eq!(columns(&line)[2], "2", "{line}");
    let found = tracer.wait_for(|l| l.ends_with(dir.to_str().unwrap()) && columns(l)[0] == me);
    assert_eq!(columns(&found)[2], "0", "{found}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn syncsnoop_shows_sync_and_fsync() {
    let Some(mut tracer) = start("syncsnoop_shows_sync_and_fsync", "syncsnoop", &[], 6) else { return };
    let file = std::fs::File::create(scratch("syncsnoop").join("data")).expect("create");
    file.sync_all().expect("fsync");
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    let me = std::process::id().to_string();
    let ours = |l: &str, call: &str| timed(l) && columns(l)[1] == me && l.ends_with(call);
    tracer.wait_for(|l| ours(l, "tracepoint:syscalls:sys_enter_fsync"));
    tracer.wait_for(|l| ours(l, "tracepoint:syscalls:sys_enter_sync"));
    tracer.stop(libc::SIGINT);
}

#[test]
fn bashreadline_shows_lines_typed_into_bash() {
    let Some(mut tracer) = start("bashreadline_shows_lines_typed_into_bash", "bashreadline", &[], 1) else { return };
    // An interactive bash reads its input through readline, from a pipe too.
    let mut bash = Command::new("bash")
        .args(["--norc", "--noprofile", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bash");
    let pid = bash.id().to_string();
    std::io::Write::write_all(bash.stdin.as_mut().unwrap(), b"echo rbpf-bashreadline-test 42\nexit\n").expect("write");
    bash.wait().expect("bash");
    let line = tracer.wait_for(|l| timed(l) && columns(l)[1] == pid);
    assert!(line.ends_with(" echo rbpf-bashreadline-test 42"), "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn gethostlatency_times_a_lookup_of_localhost() {
    let Some(mut tracer) = start("gethostlatency_times_a_lookup_of_localhost", "gethostlatency", &[], 6) else { return };
    let mut getent = Command::new("getent").args(["ahosts", "localhost"]).stdout(Stdio::null()).spawn().expect("getent");
    let pid = getent.id().to_string();
    getent.wait().expect("getent");
    let line = tracer.wait_for(|l| timed(l) && columns(l)[1] == pid);
    let cols = columns(&line);
    assert_eq!((cols[2], cols[4]), ("getent", "localhost"), "{line}");
    assert!(cols[3].parse::<u64>().is_ok(), "{line}");
    tracer.stop(libc::SIGINT);
}

/// Starts one thread per line it reads, running `worker`, and answers
/// with the address of `worker`.
const THREADS: &str = r#"
#include <pthread.h>
#include <stdio.h>
static void *worker(void *arg) { return arg; }
int main(void) {
    char line[16];
    while (fgets(line, sizeof line, stdin)) {
        pthread_t t;
        pthread_create(&t, NULL, worker, NULL);
        pthread_join(t, NULL);
        printf("%p\n", (void *)worker);
        fflush(stdout);
    }
    return 0;
}
"#;

#[test]
fn threadsnoop_shows_a_thread_and_its_start_function() {
    const TEST: &str = "threadsnoop_shows_a_thread_and_its_start_function";
    let Some(binary) = Built::for_kernel(TEST, "a pthread program", "threads", &[("threads.c", THREADS)], &["-O1", "-pthread"]) else { return };
    let mut app = App::start(&binary);
    let Some(mut tracer) = start(TEST, "threadsnoop", &[], 1) else { return };
    let start = app.step();
    let pid = app.pid().to_string();
    let line = tracer.wait_for(|l| columns(l).get(1) == Some(&pid.as_str()));
    let cols = columns(&line);
    assert_eq!((cols[2], cols[3], cols[4]), (pid.as_str(), "threads", start.as_str()), "{line}");
    app.finish();
    tracer.stop(libc::SIGINT);
}

/// An OpenSSL server on loopback that answers each line reversed, with a
/// self-signed certificate; `None` after saying why where `openssl` is
/// missing (RBPF_REQUIRE_KERNEL=1 makes that a failure).
fn tls_server(test: &str) -> Option<(std::process::Child, u16)> {
    let dir = scratch(test);
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost", "-days", "1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("{test}: the openssl command is missing or failed");
        }
        eprintln!("skipping {test}: the openssl command (Debian's openssl package) is missing or failed");
        return None;
    }
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", "127.0.0.1:0", "-rev", "-naccept", "1"])
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    // It says `ACCEPT 127.0.0.1:PORT` once listening; the rest of what it
    // says is read too, so that it never writes to a closed pipe.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
    let accept = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("ACCEPT ")).expect("s_server's ACCEPT line");
    std::thread::spawn(move || lines.for_each(drop));
    let port = accept.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("s_server said {accept:?}"));
    Some((server, port))
}

/// Sends one line through `openssl s_client` to the server on `port` and
/// returns the client's pid; the server's pid is the caller's.
fn tls_exchange(port: u16) -> u32 {
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    std::io::Write::write_all(client.stdin.as_mut().unwrap(), b"rbpf\n").expect("write");
    let mut answer = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(client.stdout.take().unwrap()), &mut answer).expect("read");
    assert_eq!(answer.trim(), "fpbr");
    let pid = client.id();
    let _ = client.kill();
    client.wait().expect("s_client");
    pid
}

#[test]
fn sslsnoop_shows_reads_writes_and_handshakes() {
    const TEST: &str = "sslsnoop_shows_reads_writes_and_handshakes";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let Some((mut server, port)) = tls_server(TEST) else { return };
    let Some(mut tracer) = start(TEST, "sslsnoop", &[], 6) else { return };
    let client = tls_exchange(port).to_string();
    let server_pid = server.id().to_string();
    let ours = |l: &str, pid: &str, func: &str, result: &str| {
        timed(l) && columns(l)[1] == pid && columns(l)[3] == func && columns(l)[4] == result
    };
    // The last call: the client reads the answer, "fpbr\n". s_server
    // itself reads and writes through a BIO, which calls SSL_read_ex()
    // and SSL_write_ex(), so only its handshake shows.
    tracer.wait_for(|l| ours(l, &client, "SSL_read", "5"));
    let write = tracer.seen.iter().find(|l| ours(l, &client, "SSL_write", "5")).expect("the client's SSL_write");
    assert!(columns(write)[5].parse::<u64>().is_ok(), "{write}");
    assert!(tracer.seen.iter().any(|l| ours(l, &server_pid, "SSL_do_handshake", "1")), "{:?}", tracer.seen);
    let _ = server.kill();
    server.wait().expect("s_server");
    tracer.stop(libc::SIGINT);
}

#[test]
fn ssllatency_shows_histograms_per_function() {
    const TEST: &str = "ssllatency_shows_histograms_per_function";
    if !kernel_tests_enabled(TEST) {
        return;
    }
    let Some((mut server, port)) = tls_server(TEST) else { return };
    let Some(tracer) = start(TEST, "ssllatency", &[], 6) else { return };
    tls_exchange(port);
    let _ = server.kill();
    server.wait().expect("s_server");
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
    for func in ["SSL_do_handshake", "SSL_read", "SSL_write"] {
        let buckets = histogram(&out, &format!("@latency_us[{func}]:"));
        assert!(total(&buckets) >= 1, "no {func} in:\n{out}");
    }
}

/// The disk (major, minor) that block requests for files in `dir` go to:
/// the whole disk, where the file system is on a partition. `None` for a
/// file system on no block device.
fn disk_of(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = (libc::major(dev) as u64, libc::minor(dev) as u64);
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    let disk = if sys.join("partition").exists() { sys.parent()?.to_path_buf() } else { sys };
    let text = std::fs::read_to_string(disk.join("dev")).ok()?;
    let (ma, mi) = text.trim().split_once(':')?;
    Some((ma.parse().ok()?, mi.parse().ok()?))
}

/// Writes 8 blocks of 64 KiB with direct, synchronous I/O from `dd` into
/// `test`'s directory; the disk written to and dd's pid. `None` after
/// saying why where that directory is on no block device.
fn direct_writes(test: &str) -> Option<((u64, u64), u32)> {
    let dir = scratch(test);
    let Some(disk) = disk_of(&dir) else {
        eprintln!("skipping {test}: {} is on no block device", dir.display());
        return None;
    };
    let mut dd = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", dir.join("blocks").display()))
        .args(["bs=64k", "count=8", "oflag=direct,sync"])
        .stderr(Stdio::null())
        .spawn()
        .expect("dd");
    let pid = dd.id();
    assert!(dd.wait().expect("dd").success());
    let _ = std::fs::remove_dir_all(&dir);
    Some((disk, pid))
}

#[test]
fn biosnoop_shows_direct_writes() {
    const TEST: &str = "biosnoop_shows_direct_writes";
    let Some(mut tracer) = start(TEST, "biosnoop", &[], 2) else { return };
    let Some(((major, minor), pid)) = direct_writes(TEST) else { return };
    let pid = pid.to_string();
    let line = tracer.wait_for(|l| columns(l).get(3) == Some(&pid.as_str()));
    let cols = columns(&line);
    assert_eq!((cols[1], cols[2]), (format!("{major},{minor}").as_str(), "dd"), "{line}");
    assert!(cols[4].contains('W'), "{line}");
    assert!(cols[6].parse::<u64>().unwrap() > 0 && cols[7].parse::<u64>().is_ok(), "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn biolatency_shows_a_histogram_of_the_disk_written() {
    const TEST: &str = "biolatency_shows_a_histogram_of_the_disk_written";
    let Some(tracer) = start(TEST, "biolatency", &[], 2) else { return };
    let Some(((major, minor), _)) = direct_writes(TEST) else { return };
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
    let buckets = histogram(&out, &format!("@usecs[{major}, {minor}]:"));
    assert!(total(&buckets) >= 8, "fewer than dd's 8 writes in:\n{out}");
}

#[test]
fn bitesize_shows_the_sizes_dd_wrote() {
    const TEST: &str = "bitesize_shows_the_sizes_dd_wrote";
    let Some(tracer) = start(TEST, "bitesize", &[], 1) else { return };
    let Some(_) = direct_writes(TEST) else { return };
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
    let dd: Vec<_> = out.lines().filter(|l| l.starts_with("@bytes[dd, W")).collect();
    assert!(!dd.is_empty(), "{out}");
    let buckets: u64 = dd.iter().map(|h| total(&histogram(&out, h))).sum();
    assert!(buckets >= 8, "fewer than dd's 8 writes in:\n{out}");
}

#[test]
fn writeback_shows_a_sync() {
    const TEST: &str = "writeback_shows_a_sync";
    let Some(mut tracer) = start(TEST, "writeback", &[], 2) else { return };
    let dir = scratch(TEST);
    std::fs::write(dir.join("dirty"), vec![7u8; 1 << 20]).expect("write");
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    let _ = std::fs::remove_dir_all(&dir);
    let line = tracer.wait_for(|l| timed(l) && columns(l).get(3) == Some(&"sync"));
    let cols = columns(&line);
    assert!(cols[1].contains(':') && cols[2].parse::<i64>().is_ok() && cols[4].parse::<u64>().is_ok(), "{line}");
    tracer.stop(libc::SIGINT);
}

#[test]
fn cpuwalk_shows_the_cpus_that_ran() {
    let Some(tracer) = start("cpuwalk_shows_the_cpus_that_ran", "cpuwalk", &[], cpus()) else { return };
    busy(Duration::from_millis(800));
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
    let buckets = histogram(&out, "@cpu:");
    // 99 samples a second on each busy CPU, for 0.8 s.
    assert!(total(&buckets) >= 40, "{out}");
    let max = cpus() as u64;
    for (bucket, _) in buckets {
        let low: u64 = bucket.trim_start_matches('[').split(',').next().unwrap().parse().unwrap();
        assert!(low < max, "{bucket} is no CPU here:\n{out}");
    }
}

#[test]
fn runqlat_shows_waits_for_a_cpu() {
    let Some(tracer) = start("runqlat_shows_waits_for_a_cpu", "runqlat", &[], 3) else { return };
    busy(Duration::from_millis(500));
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
    assert!(total(&histogram(&out, "@usecs:")) >= 20, "{out}");
}

#[test]
fn runqlen_sees_threads_waiting() {
    let Some(tracer) = start("runqlen_sees_threads_waiting", "runqlen", &[], cpus()) else { return };
    // Three runnable threads per CPU: some wait in every sample.
    busy(Duration::from_millis(800));
    let (out, status) = tracer.stop(libc::SIGINT);
    assert_eq!(status, 0);
    let buckets = histogram(&out, "@waiting:");
    let waiting: u64 = buckets.iter().filter(|(b, _)| !b.starts_with("[0,")).map(|(_, n)| n).sum();
    assert!(waiting >= 10, "the run queues were never seen holding waiting threads:\n{out}");
}

/// Per line read: 30 ms of sleep in `nap()`, or, built with -DSPIN, 300 ms
/// of CPU time in `spin()` (however busy the machine); answers `done`.
const NAPPER: &str = r#"
#include <stdio.h>
#include <time.h>
volatile unsigned long sink;
__attribute__((noinline)) void nap(void) {
    struct timespec t = { 0, 30 * 1000 * 1000 };
    nanosleep(&t, NULL);
}
__attribute__((noinline)) void spin(void) {
    struct timespec start, now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    do {
        for (int i = 0; i < 100000; i++) sink += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 300000000L);
}
int main(void) {
    char line[16];
    while (fgets(line, sizeof line, stdin)) {
#ifdef SPIN
        spin();
#else
        nap();
#endif
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
"#;

/// The NAPPER program, named `name`, built with `flags` too, and started;
/// `None` where kernel tests cannot run.
fn napper(test: &str, name: &str, flags: &[&str]) -> Option<(Built, App)> {
    let mut all = vec!["-O1", "-g", "-fno-omit-frame-pointer"];
    all.extend_from_slice(flags);
    let binary = Built::for_kernel(test, "a C program", name, &[("napper.c", NAPPER)], &all)?;
    let app = App::start(&binary);
    Some((binary, app))
}

/// The keys of map `map` (`@map[` up to `]: N`) as text, with the value.
fn keyed(out: &str, map: &str) -> Vec<(String, u64)> {
    let open = format!("{map}[");
    let mut keys = Vec::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(&open) {
            current = Some(rest.to_string());
        } else if let Some(key) = current.as_mut() {
            key.push('\n');
            key.push_str(line);
        } else {
            continue;
        }
        let key = current.as_ref().unwrap();
        if let Some((k, v)) = key.rsplit_once("]: ") {
            if let Ok(v) = v.trim().parse() {
                keys.push((k.to_string(), v));
                current = None;
            }
        }
    }
    keys
}

#[test]
fn offcputime_attributes_sleep_to_its_stacks() {
    const TEST: &str = "offcputime_attributes_sleep_to_its_stacks";
    let Some((_binary, mut app)) = napper(TEST, "napper", &[]) else { return };
    let pid = app.pid().to_string();
    let Some(tracer) = start(TEST, "offcputime", &[&pid], 1) else { return };
    for _ in 0..5 {
        app.step();
    }
    let (out, status) = tracer.stop(libc::SIGINT);
    app.finish();
    assert_eq!(status, 0);
    let naps: Vec<_> = keyed(&out, "@offcpu_us").into_iter().filter(|(k, _)| k.ends_with(", napper") && k.contains("do_nanosleep+")).collect();
    // Five naps of 30 ms.
    let slept: u64 = naps.iter().map(|(_, us)| us).sum();
    assert!(slept >= 5 * 30_000 * 9 / 10, "{slept} us in the naps' stacks:\n{out}");
    // The user stack starts in libc's clock_nanosleep(), which keeps no
    // frame pointer: the frame walk skips nap() and goes on in main().
    assert!(naps.iter().any(|(k, _)| k.contains("\n    main+")), "the user stack does not reach main():\n{out}");
}

#[test]
fn profile_samples_the_busy_function() {
    const TEST: &str = "profile_samples_the_busy_function";
    let Some((_binary, mut app)) = napper(TEST, "spinner", &["-DSPIN"]) else { return };
    let pid = app.pid().to_string();
    let Some(tracer) = start(TEST, "profile", &[&pid], cpus()) else { return };
    for _ in 0..2 {
        app.step();
    }
    let (out, status) = tracer.stop(libc::SIGINT);
    app.finish();
    assert_eq!(status, 0);
    let samples = keyed(&out, "@samples");
    assert!(samples.iter().all(|(k, _)| k.ends_with(", spinner")), "another process sampled:\n{out}");
    let spin: u64 = samples.iter().filter(|(k, _)| k.contains("\n    spin+")).map(|(_, n)| n).sum();
    // 0.6 s of CPU time at 99 Hz: about 59 samples.
    assert!(spin >= 30, "{spin} samples in spin():\n{out}");
}

/// The three load averages of a line `... load averages: A B C`, or of
/// /proc/loadavg's text.
fn load_averages(text: &str) -> Vec<&str> {
    let rest = text.split_once("load averages: ").map_or(text, |(_, rest)| rest);
    rest.split_whitespace().take(3).collect()
}

#[test]
fn loads_prints_the_load_averages_the_kernel_shows() {
    let test = "loads_prints_the_load_averages_the_kernel_shows";
    if !kernel_tests_enabled(test) {
        return;
    }
    // kaddr("avenrun") needs the kernel's variables in /proc/kallsyms.
    // Where they are not listed (this machine's kernel), the tool is
    // refused saying why, and the VM lane runs it (tests/vm_tools.rs).
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("read /proc/kallsyms");
    if !kallsyms.lines().any(|l| l.split_whitespace().nth(2) == Some("avenrun")) {
        let out = common::run(&[&script("loads")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("`avenrun` is not in /proc/kallsyms") && stderr.contains("CONFIG_KALLSYMS_ALL"), "{stderr}");
        eprintln!("{test}: this kernel lists no variables in /proc/kallsyms; the VM lane runs loads");
        return;
    }
    let Some(mut tracer) = start(test, "loads", &[], 1) else { return };
    // The kernel updates its averages every 5 s: a line and the file read
    // just after it agree unless an update fell between them.
    let agreed = (0..4).any(|_| {
        let line = tracer.wait_for(|l| timed(l) && l.contains("load averages: "));
        let file = std::fs::read_to_string("/proc/loadavg").expect("read /proc/loadavg");
        load_averages(&line) == load_averages(&file)
    });
    assert!(agreed, "no line agreed with /proc/loadavg");
    tracer.stop(libc::SIGINT);
}
