//! The usage text (`-h`, a bad option, no program) in bpftrace's layout,
//! and the wording of command-line mistakes.

/// What `rbpf -h` prints, on standard error as bpftrace does.
pub const TEXT: &str = "\
USAGE:
    rbpf [options] filename [ARG...]
    rbpf [options] - <stdin input>
    rbpf [options] -e 'program' [ARG...]
    rbpf [options] object.o

OPTIONS:
    -B MODE        output buffering mode ('line', 'full', 'none')
    -f FORMAT      output format ('text', 'json')
    -o file        write the output to file
    -e 'program'   run this program
    -h, --help     print this text
    -I DIR         look for #include files in DIR too
    --include FILE include FILE before the program
    -l [search]    list probes (all, those matching search, or those of -e)
    -p PID         trace only process PID, stop when it exits
    -c 'CMD'       run CMD as a child (cpid), stop when it exits
    --usdt-file-activation
                   raise USDT semaphores in every process that maps the file
    --unsafe       allow unsafe builtin functions (system, signal)
    -q             quiet: no \"Attaching N probes...\" line
    --info         print what this kernel supports
    -k             warn when a helper other than a read fails
    -kk            warn when any helper fails, reads included
    -V, --version  print rbpf's version
    --no-warnings  print no warnings
    --flamegraph FILE.svg
                   draw the map keyed by stacks as a flame graph at the end
    --folded FILE  write the map keyed by stacks as folded stacks at the end
    --flame-map @M the map those two draw, when several are keyed by stacks

COMPILED OBJECTS:
    --emit-elf FILE
                   compile the program to FILE, a BPF ELF object, and exit;
                   positional parameters ($1...), -k and --unsafe are
                   compiled in
    rbpf FILE      run an object written by --emit-elf, compiling nothing
                   (-c and -p still follow a process: give them here)
    --describe-target DIR
                   describe this machine (tracepoints, features, BTF) in DIR
    --target DIR   compile for the machine DIR describes

TROUBLESHOOTING OPTIONS:
    -v             with -l: probe arguments; otherwise: verifier statistics
    -d, --debug    print the AST, the checked program, maps and disassembly
    -dd            that, and the verifier's log of every program loaded
    --emit-llvm FILE
                   refused: rbpf has no LLVM IR (see --emit-elf, -d)
    --dry-run      load, attach and detach without running

ENVIRONMENT:
    BPFTRACE_STRLEN             [default: 64] bytes per string (at most 200)
    BPFTRACE_MAP_KEYS_MAX       [default: 4096] keys a map holds
    BPFTRACE_MAX_PROBES         [default: none] most probes a program attaches
    BPFTRACE_LOG_SIZE           [default: 1000000] bytes of verifier log kept
    BPFTRACE_PERF_RB_PAGES      [default: 64] ring buffer pages per CPU
    BPFTRACE_CAT_BYTES_MAX      [default: 10k] most bytes cat() prints
    BPFTRACE_MAX_BPF_PROGS      [default: none] most BPF programs generated
    BPFTRACE_NO_USER_SYMBOLS    [default: 0] print user addresses unnamed
    BPFTRACE_NO_CPP_DEMANGLE    [default: 0] leave C++ symbol names mangled
    BPFTRACE_CACHE_USER_SYMBOLS [default: 1] keep user symbols once read
    BPFTRACE_BTF                [default: none] kernel BTF file
    BPFTRACE_VMLINUX            [default: none] kernel image bounding kprobe offsets

EXAMPLES:
rbpf -l '*sleep*'
    list the probes whose name contains \"sleep\"
rbpf -e 'tracepoint:syscalls:sys_enter_nanosleep { printf(\"%d sleeps\\n\", pid); }'
    print the pid of each process that starts to sleep
rbpf -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'
    count system calls by process name
";

/// The first line rbpf prints for a command line clap refused, in
/// getopt's words as bpftrace prints them (`unrecognized option '--x'`).
pub fn describe(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::UnknownArgument if arg.starts_with("--") => format!("unrecognized option '{arg}'"),
        ErrorKind::UnknownArgument => format!("invalid option -- '{}'", arg.trim_start_matches('-')),
        ErrorKind::InvalidValue if !arg.is_empty() => {
            format!("option requires an argument -- '{}'", arg.split_whitespace().next().unwrap_or("").trim_start_matches('-'))
        }
        _ => {
            // clap's own first line, without its `error: ` prefix.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default();
            line.strip_prefix("error: ").unwrap_or(line).to_string()
        }
    }
}

/// An I/O error as strerror(3) words it, without Rust's " (os error N)".
pub fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or_default().to_string()
}
