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
        ("w:increment+arg1:4:w { }", "rbpf cannot yet watch the address a function is passed (`watchpoint:FUNCTION+argN:LENGTH:MODE`)"),
        ("aw:increment+arg1:4:w { }", "rbpf cannot yet watch the address a function is passed (`asyncwatchpoint:"),
        ("asyncwatchpoint:0x1000:8:w { }", "an asyncwatchpoint is written `asyncwatchpoint:FUNCTION+argN:LENGTH:MODE`"),
        ("w:0x1000:8:w { @[func] = count(); }", "func"),
    ] {
        let e = run_with_pid(src).err().unwrap_or_else(|| panic!("expected an error for {src}"));
        assert!(e.contains(message), "{src}: {e}");
    }
}
