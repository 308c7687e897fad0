//! Checker tests of `watchpoint` and `asyncwatchpoint`: what an attach
//! point resolves to, and the message for each mistake, pointing at the
//! part that is wrong.

use super::target;
use crate::check::Options;
use crate::diagnostic::render_to_string;
use crate::probes::{ProbeKind, WatchMode};
use crate::Source;

/// Checks `src` as `-p 42` would.
fn run_with_pid(src: &str) -> Result<crate::checked::Program, String> {
    let ast = crate::parse(src).map_err(|d| render_to_string(&Source::new("-e", src), &d))?;
    let options = Options { pid: Some(42), ..Options::default() };
    crate::check::check_with(&ast, &target(), &options).map_err(|d| render_to_string(&Source::new("-e", src), &d))
}

#[track_caller]
fn check_error(src: &str, expect: &str) {
    let text = run_with_pid(src).err().unwrap_or_else(|| panic!("expected an error for {src}"));
    let text: Vec<&str> = text.trim().lines().map(str::trim_end).collect();
    assert_eq!(text.join("\n"), expect.trim(), "\n{}", text.join("\n"));
}

#[test]
fn watchpoints_take_hex_or_decimal_addresses_lengths_and_modes() {
    for (src, address, length, mode, name) in [
        ("watchpoint:0x10000000:8:rw { }", 0x1000_0000, 8, WatchMode::ReadWrite, "watchpoint:268435456:8:rw"),
        ("w:4096:4:w { }", 4096, 4, WatchMode::Write, "watchpoint:4096:4:w"),
        ("w:0x1001:1:r { }", 0x1001, 1, WatchMode::Read, "watchpoint:4097:1:r"),
        ("w:0x1002:2:wr { }", 0x1002, 2, WatchMode::ReadWrite, "watchpoint:4098:2:wr"),
        ("w:0x401000:8:x { }", 0x40_1000, 8, WatchMode::Execute, "watchpoint:4198400:8:x"),
    ] {
        let p = run_with_pid(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(p.probes[0].kind, ProbeKind::Watchpoint { address, length, mode }, "{src}");
        assert_eq!(p.probes[0].name, name, "{src}");
    }
    // The `probe` builtin is the name, as bpftrace writes it.
    let p = run_with_pid("w:0x1000:8:w { @[probe] = count(); }").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.probes.len(), 1);
}

#[test]
fn a_user_address_needs_a_process_and_a_kernel_one_does_not() {
    let src = "watchpoint:0x10000000:8:w { }";
    let ast = crate::parse(src).unwrap_or_else(|d| panic!("{d:?}"));
    let text = match crate::check::check(&ast, &target()) {
        Ok(_) => panic!("a user-space watchpoint without a process was accepted"),
        Err(d) => render_to_string(&Source::new("-e", src), &d),
    };
    let text: Vec<&str> = text.trim().lines().map(str::trim_end).collect();
    assert_eq!(
        text.join("\n"),
        "error: watching the user-space address 0x10000000 needs a process
  ┌─ -e:1:1
  │
1 │ watchpoint:0x10000000:8:w { }
  │ ^^^^^^^^^^^^^^^^^^^^^^^^^ no process to watch it in
  │
  = give the process with -p PID, or run it with -c CMD; without either, the address must be a kernel address"
    );
    // `-c CMD` is a process too.
    let options = Options { cpid: Some(7), ..Options::default() };
    assert!(crate::check::check_with(&ast, &target(), &options).is_ok());
    // A kernel address is watched on every CPU, as bpftrace does.
    let kernel = crate::parse("watchpoint:0xffffffff81000000:8:w { }").unwrap_or_else(|d| panic!("{d:?}"));
    assert!(crate::check::check(&kernel, &target()).is_ok());
}

#[test]
fn bad_addresses_lengths_and_modes_point_at_their_part() {
    check_error(
        "watchpoint:zz:8:w { }",
        "
error: `zz` is not an address
  ┌─ -e:1:12
  │
1 │ watchpoint:zz:8:w { }
  │            ^^ expected a decimal or 0x hexadecimal address",
    );
    check_error(
        "w:0x1000:3:w { }",
        "
error: a watchpoint's length is 1, 2, 4 or 8 bytes, not `3`
  ┌─ -e:1:10
  │
1 │ w:0x1000:3:w { }
  │          ^ the length the debug registers can watch",
    );
    check_error(
        "w:0x1000:8:q { }",
        "
error: `q` is not a watchpoint mode: `q` is none of r, w, x
  ┌─ -e:1:12
  │
1 │ w:0x1000:8:q { }
  │            ^ the mode
  │
  = MODE is r, w, rw or x",
    );
    for (src, message) in [
        ("w:0:8:w { }", "a watchpoint needs a non-zero address"),
        ("w:0x1000:16:w { }", "a watchpoint's length is 1, 2, 4 or 8 bytes, not `16`"),
        ("w:0x1000:8:rwx { }", "execution cannot be watched together with reads or writes"),
        ("w:0x1000:8:wx { }", "execution cannot be watched together with reads or writes"),
        ("w:0x1000:8:ww { }", "`ww` names `w` twice"),
        ("w:0x1000:8: { }", "a watchpoint needs a mode"),
        ("w:0x1000:4:x { }", "an execution watchpoint's length must be 8"),
        ("w:0x1004:8:w { }", "a watchpoint of 8 bytes needs an address that is a multiple of 8"),
        ("w:0x1000:8 { }", "a watchpoint is written `watchpoint:ADDRESS:LENGTH:MODE`"),
        ("w:0x1000:8:w:1 { }", "a watchpoint is written `watchpoint:ADDRESS:LENGTH:MODE`"),
        ("asyncwatchpoint:0x1000:8:w { }", "asyncwatchpoint requires a function name"),
        ("w:0x1000:8:w { @[func] = count(); }", "func"),
    ] {
        let e = run_with_pid(src).err().unwrap_or_else(|| panic!("expected an error for {src}"));
        assert!(e.contains(message), "{src}: {e}");
    }
}

/// Checks `src` as `-c CMD` would, in a target where `/bin/app` has the
/// functions `increment` and `main`.
fn run_with_command(src: &str, command: &str) -> Result<crate::checked::Program, String> {
    let ast = crate::parse(src).map_err(|d| render_to_string(&Source::new("-e", src), &d))?;
    let options = Options { cpid: Some(7), command: Some(command.into()), ..Options::default() };
    let target = target().with_user_functions("/bin/app", &["increment", "main"]);
    crate::check::check_with(&ast, &target, &options).map_err(|d| render_to_string(&Source::new("-e", src), &d))
}

#[test]
fn a_functions_argument_is_watched_in_the_followed_processs_program() {
    let watch = |path: &str, func: &str, arg, length, mode, asynchronous| ProbeKind::WatchpointFunction {
        path: path.into(),
        func: func.into(),
        arg,
        length,
        mode,
        asynchronous,
    };
    // -p: the process's program, named as bpftrace names it.
    let p = run_with_pid("watchpoint:increment+arg1:4:w { }").unwrap();
    assert_eq!(p.probes[0].kind, watch("/proc/42/exe", "increment", 1, 4, WatchMode::Write, false));
    assert_eq!(p.probes[0].name, "watchpoint:/proc/42/exe:increment:1:4:w");
    let p = run_with_pid("aw:increment+arg0:8:rw { }").unwrap();
    assert_eq!(p.probes[0].kind, watch("/proc/42/exe", "increment", 0, 8, WatchMode::ReadWrite, true));
    assert_eq!(p.probes[0].name, "asyncwatchpoint:/proc/42/exe:increment:8:rw");
    // -c: the command's program.
    let p = run_with_command("w:increment+arg5:2:r { }", "/bin/app 1 2").unwrap();
    assert_eq!(p.probes[0].kind, watch("/bin/app", "increment", 5, 2, WatchMode::Read, false));
    assert_eq!(p.probes[0].name, "watchpoint:/bin/app:increment:5:2:r");
    // A binary named, as a uprobe names it; a wildcard watches each match.
    let p = run_with_command("asyncwatchpoint:/bin/app:main+arg2:1:w { }", "/bin/other").unwrap();
    assert_eq!(p.probes[0].kind, watch("/bin/app", "main", 2, 1, WatchMode::Write, true));
    let p = run_with_command("w:*n*+arg0:8:w { }", "/bin/app").unwrap();
    let names: Vec<&str> = p.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["watchpoint:/bin/app:increment:8:w", "watchpoint:/bin/app:main:8:w"]);
}

#[test]
fn bad_function_watchpoints_point_at_what_is_wrong() {
    let check = |result: Result<crate::checked::Program, String>, expect: &str| {
        let text = result.err().unwrap_or_else(|| panic!("expected an error: {expect}"));
        let text: Vec<&str> = text.trim().lines().map(str::trim_end).collect();
        assert_eq!(text.join("\n"), expect.trim(), "\n{}", text.join("\n"));
    };
    check(
        run_with_command("w:nosuch+arg0:4:w { }", "/bin/app"),
        "
error: `/bin/app` has no function `nosuch`
  ┌─ -e:1:3
  │
1 │ w:nosuch+arg0:4:w { }
  │   ^^^^^^^^^^^ no such symbol
  │
  = the functions are the defined symbols of `nm -D /bin/app` and `nm /bin/app`",
    );
    check(
        run_with_command("w:increment+arg6:4:w { }", "/bin/app"),
        &format!(
            "
error: {} doesn't support arg6
  ┌─ -e:1:3
  │
1 │ w:increment+arg6:4:w {{ }}
  │   ^^^^^^^^^^^^^^ not in a register
  │
  = the address is read from one of the first 6 arguments: arg0 to arg5",
            std::env::consts::ARCH
        ),
    );
    let ast = crate::parse("watchpoint:increment+arg1:4:w { }").unwrap_or_else(|d| panic!("{d:?}"));
    check(
        crate::check::check(&ast, &target()).map_err(|d| render_to_string(&Source::new("-e", "watchpoint:increment+arg1:4:w { }"), &d)),
        "
error: -p PID or -c CMD required for watchpoint
  ┌─ -e:1:1
  │
1 │ watchpoint:increment+arg1:4:w { }
  │ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ watches an address in a process
  │
  = give the process with -p PID, or run it with -c CMD",
    );
    for (src, message) in [
        ("w:increment+argx:4:w { }", "`argx` is not an argument: write `increment+argN`"),
        ("w:increment+arg:4:w { }", "`arg` is not an argument"),
        ("w:increment+arg99999:4:w { }", "doesn't support arg99999"),
        ("w:+arg0:4:w { }", "a watchpoint needs a function name before `+arg0`"),
        ("w:increment+arg0:3:w { }", "a watchpoint's length is 1, 2, 4 or 8 bytes, not `3`"),
        ("w:increment+arg0:4:x { }", "an execution watchpoint's length must be 8"),
        ("w:increment+arg0:4:q { }", "`q` is not a watchpoint mode"),
        ("aw:increment+arg0:4:w { }", ""),
        ("w:nope+arg0:4:w, w:increment+arg0:4:w { }", ""),
        ("w:increment+arg0:4:w { @[func] = count(); }", "`func` is not known in `watchpoint:/bin/app:increment:4:w`"),
    ] {
        match run_with_command(src, "/bin/app") {
            Err(e) => assert!(!message.is_empty() && e.contains(message), "{src}: {e}"),
            Ok(_) => assert!(message.is_empty(), "expected an error for {src}"),
        }
    }
}
