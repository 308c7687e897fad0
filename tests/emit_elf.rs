//! Compiled objects: `rbpf --emit-elf FILE` then `rbpf FILE` prints what
//! the program run from source prints; an object from another rbpf, for
//! other tracepoint layouts, or damaged, is refused with one error before
//! anything loads; `--describe-target` and `--target` compile for a
//! described machine.

mod common;

use std::process::Output;

use common::{kernel_tests_enabled, run, Scratch};

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Emits `program` (with `params`) to `object`, checking that it says
/// nothing and runs nothing.
fn emit(object: &str, program: &str, extra: &[&str], params: &[&str]) {
    let mut args = vec!["--emit-elf", object];
    args.extend(extra);
    args.extend(["-e", program]);
    args.extend(params);
    let out = run(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    assert_eq!(stdout, "", "--emit-elf runs nothing");
}

/// The program from source and from its object print the same bytes and
/// exit the same way.
fn same_output(test: &str, program: &str, flags: &[&str], params: &[&str]) -> String {
    let scratch = Scratch::new(&format!("emit-elf-{test}"));
    let object = scratch.path("prog.o");
    emit(&object, program, &[], params);
    let mut source_args: Vec<&str> = flags.to_vec();
    source_args.extend(["-e", program]);
    source_args.extend(params);
    let from_source = run(&source_args);
    let mut object_args: Vec<&str> = flags.to_vec();
    object_args.push(&object);
    let from_object = run(&object_args);
    let (source_out, source_err) = text(&from_source);
    let (object_out, object_err) = text(&from_object);
    assert_eq!(from_source.status.code(), from_object.status.code(), "{program}: {source_err} / {object_err}");
    assert_eq!(source_out, object_out, "{program}");
    assert!(!object_err.contains("ERROR"), "{object_err}");
    object_out
}

#[test]
fn objects_print_what_their_source_prints() {
    if !kernel_tests_enabled("objects_print_what_their_source_prints") {
        return;
    }
    let maps = r#"BEGIN { @a[1, "x"] = 2; @b[comm] = count(); @s = sum(-5); @m = max(7); @st = stats(10); @v = (1, "two"); exit(); }"#;
    let out = same_output("maps", maps, &[], &[]);
    assert!(out.contains("@a[1, x]: 2\n") && out.contains("@v: (1, two)\n"), "{out}");
    let out = same_output("json", maps, &["-f", "json"], &[]);
    assert!(out.contains(r#"{"type": "map", "data": {"@a": {"1,x": 2}}}"#), "{out}");

    let printf = r#"BEGIN { printf("%s|%d|%5x|%-4s|%llu\n", str($1), -42, 255, "ab", $2); print(("t", 3)); exit(3); }"#;
    let out = same_output("printf", printf, &[], &["hello", "18446744073709551615"]);
    assert!(out.contains("hello|-42|   ff|ab  |18446744073709551615\n"), "{out}");

    let hist = "BEGIN { @h = hist(0); @h = hist(1); @h = hist(1000); @h = hist(-1); @l[7] = lhist(5, 0, 10, 2); @l[7] = lhist(50, 0, 10, 2); exit(); }";
    let out = same_output("hist", hist, &[], &[]);
    assert!(out.contains("[512, 1K)") && out.contains("[10, ...)"), "{out}");

    // A tracepoint and its args: -c's cat opens the file (and follows
    // the child with an object as with source).
    let openat = r#"tracepoint:syscalls:sys_enter_openat /str(args.filename) == "/nonexistent/rbpf-emit-elf"/ { printf("%s %d\n", str(args.filename), args.flags & 3); @[str(args.filename)] = count(); exit(); }"#;
    let out = same_output("openat", openat, &["-c", "/bin/cat /nonexistent/rbpf-emit-elf"], &[]);
    assert!(out.contains("/nonexistent/rbpf-emit-elf 0\n") && out.contains("@[/nonexistent/rbpf-emit-elf]: 1\n"), "{out}");
}

#[test]
fn an_object_is_a_standard_bpf_elf() {
    let scratch = Scratch::new("emit-elf-standard");
    let object = scratch.path("prog.o");
    // The second has callbacks (`for`, `len()`) in `.text`.
    let programs = [
        "tracepoint:syscalls:sys_enter_openat { @[args.flags] = count(); }",
        "tracepoint:syscalls:sys_enter_openat { @m[1] = 2; for ($kv : @m) { @n = $kv.1; } @l = len(@m); }",
    ];
    for program in programs {
        emit(&object, program, &[], &[]);
        let bytes = std::fs::read(&object).unwrap();
        assert!(bytes.starts_with(b"\x7fELF"));
        // llvm-objdump, where installed (.ci/run installs it), disassembles it.
        match std::process::Command::new("llvm-objdump").args(["-d", &object]).output() {
            Ok(out) => {
                let (stdout, stderr) = text(&out);
                assert!(out.status.success(), "{stderr}");
                assert!(stdout.contains("file format elf64-bpf") && stdout.contains("tracepoint/syscalls/sys_enter_openat"), "{stdout}");
            }
            Err(e) => eprintln!("skipping the llvm-objdump check: {e}"),
        }
        // bpftool opens it with libbpf (which refuses legacy map
        // definitions, and takes a static function only by its section)
        // and writes a skeleton naming its maps and programs.
        match std::process::Command::new("bpftool").args(["gen", "skeleton", &object, "name", "prog"]).output() {
            Ok(out) => {
                let (stdout, stderr) = text(&out);
                assert!(out.status.success(), "{program}: {stderr}");
                assert!(stdout.contains("probe0") && stdout.contains("struct bpf_map *"), "{stdout}");
            }
            Err(e) => eprintln!("skipping the bpftool check: {e}"),
        }
    }
}

#[test]
fn parameters_and_processes_are_given_where_they_belong() {
    let scratch = Scratch::new("emit-elf-flags");
    let object = scratch.path("prog.o");
    emit(&object, "BEGIN { printf(\"%d\\n\", $1); exit(); }", &[], &["5"]);
    common::fails_with(&[&object, "6"], &["positional parameters are compiled into an object"]);
    common::fails_with(&["--emit-elf", &object, "-c", "true", "-e", "BEGIN { exit(); }"], &["-c and -p are given when the object runs"]);
    common::fails_with(&["--emit-elf", &scratch.path("x.o"), &object], &["--emit-elf compiles a program", "is a compiled object already"]);
    common::fails_with(&["-k", &object], &["-k is compiled into an object: give it with --emit-elf"]);
    common::fails_with(&["--unsafe", &object], &["--unsafe is compiled into an object"]);
    if !kernel_tests_enabled("parameters_are_compiled_in") {
        return;
    }
    let out = run(&[&object]);
    assert_eq!(text(&out).0, "Attaching 1 probe...\n5\n\n\n");
    // -d shows the object's maps and code.
    let (stdout, _) = text(&run(&["-d", &object]));
    assert!(stdout.contains("BEGIN (raw_tracepoint/") && stdout.contains("exit"), "{stdout}");

    // -k compiled in: a failed helper call is shown at its source line,
    // as from source.
    let failing = "BEGIN { @x[1] = 1; delete(@x, 2); exit(); }";
    let checked = scratch.path("checked.o");
    emit(&checked, failing, &["-k"], &[]);
    let (from_source, from_object) = (run(&["-k", "-e", failing]), run(&[&checked]));
    assert_eq!(text(&from_source), text(&from_object));
    // As bpftrace prints it: on stdout, at the call's source line.
    assert!(text(&from_object).0.contains("stdin:1:20-33: WARNING: Failed to map_delete_elem"), "{}", text(&from_object).0);

    // -p: the trace ends when the process exits.
    let mut sleeper = std::process::Command::new("sleep").arg("1").spawn().unwrap();
    let ticks = scratch.path("ticks.o");
    emit(&ticks, "interval:ms:100 { @ticks = count(); }", &[], &[]);
    let out = run(&["-p", &sleeper.id().to_string(), &ticks]);
    let _ = sleeper.wait();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("Attaching 1 probe...\n") && stdout.contains("@ticks: "), "{stdout}");
}

#[test]
fn an_object_of_another_version_is_refused() {
    let scratch = Scratch::new("emit-elf-version");
    let object = scratch.path("prog.o");
    emit(&object, "BEGIN { exit(); }", &[], &[]);
    let mut bytes = std::fs::read(&object).unwrap();
    let at = bytes.windows(8).position(|w| w == b"RBPFOBJ\0").expect("rbpf's section") + 8 + 4;
    // The version string: a length byte, then its bytes.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(&bytes[at + 1..at + 1 + version.len()], version.as_bytes());
    bytes[at + 1] = b'9';
    let other = scratch.path("other.o");
    std::fs::write(&other, &bytes).unwrap();
    let found = format!("9{}", &version[1..]);
    common::fails_with(&[&other], &[&format!("this object was compiled by rbpf {found}"), "compile the program again with this rbpf"]);
}

#[test]
fn damaged_objects_get_one_error() {
    let scratch = Scratch::new("emit-elf-damaged");
    let object = scratch.path("prog.o");
    let program = r#"BEGIN { @x[1] = 2; printf("%d\n", 7); exit(); }"#;
    emit(&object, program, &[], &[]);
    let bytes = std::fs::read(&object).unwrap();
    let damaged = scratch.path("damaged.o");
    for len in [4, 20, 64, 200, bytes.len() / 2, bytes.len() - 100, bytes.len() - 1] {
        std::fs::write(&damaged, &bytes[..len]).unwrap();
        let out = run(&[&damaged]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "truncated to {len}: {stderr}");
        assert_eq!(stderr.matches("ERROR").count(), 1, "truncated to {len}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let intact = kernel_tests_enabled("damaged_objects_get_one_error").then(|| text(&run(&[&object])).0);
    // Every byte of the compiled ELF (after its header, which the section
    // keeps) and of rbpf's section is checked; the section table appended
    // after them has fields nothing reads.
    let le = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0usize, |v, &b| v << 8 | usize::from(b));
    let (shoff, shnum) = (le(0x28, 8), le(0x3c, 2));
    let last = shoff + (shnum - 1) * 64;
    let (section, size) = (le(last + 0x18, 8), le(last + 0x20, 8));
    assert_eq!(&bytes[section..section + 8], b"RBPFOBJ\0", "the section rbpf appended comes last");
    let checked = |at: usize| (64..section - 8).contains(&at) || (section..section + size).contains(&at);
    let mut refused = 0;
    for at in (64..bytes.len()).step_by(13) {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x41;
        std::fs::write(&damaged, &flipped).unwrap();
        let out = run(&[&damaged]);
        let (stdout, stderr) = text(&out);
        assert!(!stderr.contains("panicked"), "flip at {at}: {stderr}");
        if out.status.code() == Some(1) {
            assert_eq!(stderr.matches("ERROR").count(), 1, "flip at {at}: {stderr}");
            refused += 1;
        } else {
            assert!(!checked(at), "a flip at {at} was not noticed: {stdout}{stderr}");
            if let Some(intact) = &intact {
                assert_eq!(&stdout, intact, "flip at {at} changed the output: {stderr}");
            }
        }
    }
    assert!(refused > 0);
}

/// This machine's description, with `sys_enter_openat`'s `filename`
/// field moved when `moved`.
fn description(scratch: &Scratch, moved: bool) -> String {
    let dir = scratch.path(if moved { "moved" } else { "host" });
    let out = run(&["--describe-target", &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let path = format!("{dir}/description");
    if moved {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut in_openat = false;
        let edited: Vec<String> = text
            .lines()
            .map(|line| {
                if line.starts_with("tracepoint ") {
                    in_openat = line == "tracepoint syscalls sys_enter_openat";
                }
                match line.strip_prefix("field\tfilename\t24\t") {
                    Some(rest) if in_openat => format!("field\tfilename\t32\t{rest}"),
                    _ => line.to_string(),
                }
            })
            .collect();
        assert_ne!(edited.join("\n") + "\n", text, "sys_enter_openat's filename is at offset 24 on x86-64");
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
    }
    dir
}

const OPENAT: &str = r#"tracepoint:syscalls:sys_enter_openat /str(args.filename) == "/nonexistent/rbpf-target"/ { printf("%s\n", str(args.filename)); exit(); }"#;

#[test]
fn an_object_compiled_for_a_described_machine_runs_where_layouts_match() {
    let scratch = Scratch::new("emit-elf-described");
    let host = description(&scratch, false);
    let object = scratch.path("prog.o");
    emit(&object, OPENAT, &["--target", &host], &[]);
    if kernel_tests_enabled("an_object_compiled_for_a_described_machine_runs") {
        let out = run(&["-c", "/bin/cat /nonexistent/rbpf-target", &object]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stdout, "Attaching 1 probe...\n/nonexistent/rbpf-target\n\n\n");
    }
}

#[test]
fn an_object_for_other_tracepoint_layouts_is_refused_before_loading() {
    let scratch = Scratch::new("emit-elf-layout");
    let moved = description(&scratch, true);
    let object = scratch.path("prog.o");
    emit(&object, OPENAT, &["--target", &moved], &[]);
    let expected = [
        "this object was compiled for a kernel whose tracepoint syscalls:sys_enter_openat differs from this one's",
        "field `filename` was `const char *` at offset 32 (8 bytes), and is `const char *` at offset 24 (8 bytes) here",
        "compile the program again for this kernel",
    ];
    common::fails_with(&[&object], &expected);
    // Compiled for the description and run here at once: the same check.
    common::fails_with(&["--target", &moved, "-e", OPENAT], &expected[..2]);
    // Nothing was attached: no "Attaching" line.
    assert_eq!(text(&run(&[&object])).0, "");
    common::fails_with(&["--target", &scratch.path("missing"), "-e", OPENAT], &["cannot read the target description"]);
}

#[test]
fn a_described_machine_lends_its_kernel_types_but_not_its_addresses() {
    let scratch = Scratch::new("emit-elf-btf");
    let host = description(&scratch, false);
    assert!(std::path::Path::new(&format!("{host}/btf/vmlinux")).is_file() || !std::path::Path::new("/sys/kernel/btf/vmlinux").exists());
    // Kernel types come from the description's BTF copy.
    let object = scratch.path("types.o");
    emit(&object, "BEGIN { printf(\"%d\\n\", sizeof(struct task_struct) > 0); exit(); }", &["--target", &host], &[]);
    std::fs::remove_file(format!("{host}/btf/vmlinux")).ok();
    common::fails_with(&["--target", &host, "--emit-elf", &object, "-e", "BEGIN { printf(\"%d\\n\", sizeof(struct task_struct)); exit(); }"], &["struct task_struct"]);
    // Kernel addresses change at every boot: kaddr() is refused.
    common::fails_with(&["--target", &host, "--emit-elf", &object, "-e", "BEGIN { printf(\"%x\\n\", kaddr(\"jiffies\")); exit(); }"], &["known only there", "compile the program on that machine"]);
}

/// What a library user does: describe the machine, compile against the
/// description, save the object, and later read, check and run it.
#[test]
fn the_library_compiles_for_a_description_and_runs_the_object_later() {
    use rbpf::codegen::object_file::{self, ObjectFile};
    use rbpf::lang::target::{DescribedTarget, TargetDescription};
    use rbpf::runtime::{self, HostTarget};

    // On the target machine: its description, as text.
    let text = runtime::saved::describe_host(&HostTarget::new()).unwrap().to_text();
    // On the compiling machine: check against it, keep the layouts used.
    let host = HostTarget::new();
    let described = DescribedTarget::new(TargetDescription::parse(&text).unwrap(), &host);
    let source = rbpf::Source::new("-e", r#"tracepoint:syscalls:sys_enter_openat /str(args.filename) == "/nonexistent/rbpf-lib"/ { @[str(args.filename)] = count(); }"#.to_string());
    let compiled = rbpf::compile(&source, &described).map_err(|e| e.render(&source)).unwrap();
    let bytes = object_file::write(&ObjectFile::new(compiled.object, &compiled.checked)).unwrap();
    // Back on the target machine: read and check it, then run it.
    let file = runtime::check_object("prog.o", &bytes, &HostTarget::new()).unwrap();
    assert_eq!(file.layouts.len(), 1);
    if !kernel_tests_enabled("the_library_runs_the_object_later") {
        return;
    }
    let mut session = rbpf::Session::load(&file.object, &rbpf::SessionOptions { quiet: true, ..Default::default() }).unwrap();
    let stop = session.stop_handle();
    let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let code = tokio.block_on(async {
        let trigger = tokio::spawn(async move {
            // Once attached, open the file until the stop.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let _ = std::fs::File::open("/nonexistent/rbpf-lib");
            stop.stop();
        });
        let mut out = rbpf::runtime::TextOutput::new(SharedWriter(written.clone()));
        let code = session.run(&mut out).await.unwrap();
        trigger.await.unwrap();
        code
    });
    assert_eq!(code, 0);
    let printed = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    assert_eq!(printed, "\n\n@[/nonexistent/rbpf-lib]: 1\n");
}

/// A writer the test keeps a handle on.
struct SharedWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
