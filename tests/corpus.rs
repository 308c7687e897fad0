//! The verifier corpus: every program here must compile, load into the
//! kernel (the verifier's acceptance is the check), attach and detach.
//! Every program of the differential corpus (tests/differential/cases/) is
//! also put through `rbpf --dry-run` by tests/differential.rs; this list
//! keeps the tracepoint programs that corpus does not drive with a workload.

mod common;

const CORPUS: &[&str] = &[
    "tracepoint:syscalls:sys_enter_execve { @c[comm] = count(); }",
    "tracepoint:syscalls:sys_enter_execve < @c[comm] = count() >",
    "BEGIN { printf(\"hello\\n\"); exit(); }",
    "BEGIN { @x = 1; } END { @y = 2; }",
    "tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args.filename)); }",
    "tracepoint:syscalls:sys_enter_openat { @[str(args.filename)] = count(); }",
    "tracepoint:syscalls:sys_enter_openat { @[str(args.filename, 8)] = count(); }",
    "tracepoint:syscalls:sys_enter_read /args.count > 100/ { @bytes[pid, comm] = sum(args.count); }",
    "tracepoint:syscalls:sys_exit_read /args.ret > 0/ { @min = min(args.ret); @max = max(args.ret); @avg = avg(args.ret); }",
    "tracepoint:sched:sched_switch { @[args.prev_comm] = count(); @p[args.next_pid] = args.prev_pid; }",
    "tracepoint:sched:sched_process_exec { printf(\"%s\\n\", str(args.filename)); }",
    "tracepoint:sched:sched_switch /args.prev_comm == \"swapper/0\"/ { $n = args.prev_pid; @[str(args.next_comm, $n), str(comm, 4)] = count(); }",
    "tracepoint:syscalls:sys_enter_openat { $f = str(args.filename); if ($f == \"/etc/passwd\") { $f = \"x\"; } @[$f == str(args.filename, 8), $f] = count(); }",
    "tracepoint:syscalls:sys_enter_getppid, tracepoint:syscalls:sys_enter_getpid { @[probe] = count(); }",
    "tracepoint:syscalls:sys_enter_write /pid != 0 && (uid == 0 || gid > 1000) || !(cpu < 1)/ { @w[tid] = count(); }",
    "tracepoint:syscalls:sys_enter_write { $x = args.count * 2 + 1; $y = ($x << 3) >> 1; $z = $x & 0xff | $y ^ 7; @v = $x % 7 - $y / 3 + $z; }",
    "tracepoint:syscalls:sys_enter_write { $s = -5; @d = $s / 2; @m = $s % 3; @n = -$s; @b = ~$s; }",
    "tracepoint:syscalls:sys_enter_write { if (args.count > 10) { @big = count(); } else if (args.count > 5) { @mid = count(); } else { @small = count(); } }",
    "tracepoint:syscalls:sys_enter_write { @last[comm] = nsecs; @el = elapsed; }",
    "tracepoint:syscalls:sys_enter_write { $c = comm; @by[$c, probe] = count(); printf(\"%s %s\\n\", $c, probe); }",
    "tracepoint:syscalls:sys_enter_write { @s[comm] = comm; printf(\"%s\\n\", @s[comm]); @n[1] = 2; @k = @n[1] + 1; }",
    "tracepoint:syscalls:sys_enter_write { printf(\"%d %i %u %x %X %c %p %ld %lu %lld %llu %-5d|%05d|%.3s\\n\", 1, 2, 3, 4, 5, 65, 6, 7, 8, 9, 10, 11, 12, \"abcdef\"); }",
    "interval:ms:100 { @ticks = count(); }",
    "interval:s:1 { printf(\"%d\\n\", elapsed / 1000000000); }",
    "tracepoint:syscalls:sys_enter_write { @a = (1 + (2 + (3 + (4 + (5 + (pid + (tid + (uid + (gid + cpu))))))))); }",
    "tracepoint:syscalls:sys_enter_write { @b = pid * (tid + (uid * (gid + (cpu * (pid + (tid * (uid + 1))))))); }",
    "tracepoint:syscalls:sys_enter_write /pid == 1/ { exit(); }",
    "tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filename)); @x = pid + (tid + (nsecs ? 3 : 5)); }",
    "tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filename)); if ((pid - (tid - (uid - (gid - (cpu - (nsecs ? 1 : 0)))))) > 0) { @y = 1; } }",
    "BEGIN { $i = 0; while ($i < 100) { $i++; if ($i % 7 == 0) { continue; } if ($i > 90) { break; } @s = sum($i); } exit(); }",
    "tracepoint:syscalls:sys_enter_write { for ($i : 0..args.count & 15) { @n[$i] = count(); } unroll(3) { @u++; } }",
    "tracepoint:syscalls:sys_enter_write { $x = args.count; $x += 3; $x <<= 2; @v[comm] = (uint8)$x + (int16)$x; @t = $x > 10 ? $x : -1; }",
    "tracepoint:syscalls:sys_enter_openat /str(args.filename) == \"/etc/passwd\" || comm != \"cat\"/ { @[comm == \"ls\" ? \"ls\" : \"other\"] = count(); }",
    "config = { max_strlen = 128 } tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filename)); if (pid == 1) { return; } @c++; }",
    "BEGIN { $y = 5; $x = $y++ + --$y + sizeof(uint16) + $#; printf(\"%d\\n\", $x); exit(7); }",
    "tracepoint:syscalls:sys_enter_write { @h[comm] = hist(args.count); @h3 = hist(args.count, 3); @l = lhist(args.count, 0, 1000, 100); @s[pid] = stats(args.count); }",
    "tracepoint:syscalls:sys_enter_write { @c[tid] = count(); @mx = max(args.count); @a = avg(args.count); if (@c[tid] > 10 && @mx > 0 && @a > 1) { delete(@c[tid]); print(@mx); } }",
    "BEGIN { @x[1] = 2; delete(@x, 1); clear(@y); zero(@y); @y = count(); print(@y, 5, 2); print(5); print(\"hi\"); printf(\"%d\\n\", has_key(@x, 1)); exit(); }",
    "tracepoint:syscalls:sys_enter_openat { $f = str(args.filename); if (strcontains($f, \"passwd\") && strncmp($f, \"/etc\", 4) == 0) { @[comm] = strlen($f); } }",
    "tracepoint:syscalls:sys_enter_write { @r = rand % 10; @c[cgroup] = count(); @j = jiffies; @n[numaid, ncpus] = count(); @b = bswap(args.count); time(\"%H:%M\\n\"); cat(\"/proc/%d/comm\", pid); }",
    "tracepoint:syscalls:sys_enter_openat { @o[comm] = (pid, str(args.filename)); $t = @o[comm]; printf(\"%d %s\\n\", $t.0, @o[comm].1); @k[(comm, tid)] = (args.flags, (\"x\", comm)); if (has_key(@k, (comm, tid))) { print(@k[comm, tid].1); } }",
    "tracepoint:sched:sched_switch { @s[args.prev_comm, (args.prev_pid, args.next_comm)] = (args.prev_comm, \"ab\", args.next_pid); $x = (\"a\", (\"bc\", args.prev_comm), nsecs); @x = $x; @y = $x.1; @z = (@y, @x.1.1); }",
    "tracepoint:syscalls:sys_enter_write { printf(\"%s %s %s\\n\", strftime(\"%H:%M:%S\", nsecs), username, ntop(2, args.fd)); $a = ntop(args.fd); print($a); @u[username] = count(); }",
    "tracepoint:syscalls:sys_enter_openat { $n = args.flags; printf(\"%r %rx %rh\\n\", buf(args.filename, $n), buf(comm, 16), buf(str(args.filename), 8)); @[buf(args.filename, 3)] = buf(comm, $n); $b = buf(\"x\", 0); print($b); }",
    "tracepoint:raw_syscalls:sys_enter { @[buf(args.args)] = count(); @a = buf(args->args, 100); }",
    "tracepoint:syscalls:sys_enter_execve { join(args.argv); join(args.argv, \", \"); }",
    "BEGIN { @m[1] = 2; @m[3] = 4; $s = 0; for ($kv : @m) { $s += $kv.0 * $kv.1; if ($s > 100) { break; } } printf(\"%d %d\\n\", $s, len(@m)); exit(); }",
    "BEGIN { @m[\"a\", 1] = \"x\"; $p = \"pre\"; for ($kv : @m) { printf(\"%s %s %d %s\\n\", $p, $kv.0.0, $kv.0.1, $kv.1); $p = $kv.1; @copy[$kv.0.0] = $kv.1; } exit(); }",
    "tracepoint:syscalls:sys_enter_write { @c[comm] = count(); @s[pid] = sum(args.count); @mx[tid] = max(args.count); $n = args.count; for ($kv : @c) { if ($kv.1 > 10) { delete(@c[$kv.0]); continue; } @seen[$kv.0] = $kv.1 + $n; } for ($kv : @s) { @t = $kv.1; } for ($kv : @mx) { @u = $kv.1; } }",
    "BEGIN { @a[1] = 1; @b[2] = 2; $x = 0; for ($i : @a) { $y = 0; for ($j : @b) { $x += $i.0 * $j.1; $y++; if ($y > 5) { exit(); } } $z = 0; while ($z < 3) { $z++; } } printf(\"%d\\n\", $x); exit(); }",
    "interval:ms:100 { @n[cpu] = nsecs; for ($kv : @n) { printf(\"%d %d %s %d\\n\", $kv.0, $kv.1, comm, pid); } if (len(@n) > 0) { exit(); } }",
];

#[test]
fn every_corpus_program_loads_and_attaches() {
    if !common::kernel_tests_enabled("every_corpus_program_loads_and_attaches") {
        return;
    }
    let mut failures = Vec::new();
    for program in CORPUS {
        let out = common::run(&["--dry-run", "-e", program]);
        if out.status.code() != Some(0) {
            failures.push(format!("{program}\n{}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{} of {} programs failed:\n\n{}", failures.len(), CORPUS.len(), failures.join("\n"));
}

#[test]
fn every_script_loads_and_attaches() {
    if !common::kernel_tests_enabled("every_script_loads_and_attaches") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    scripts.sort();
    assert!(!scripts.is_empty());
    let mut failures = Vec::new();
    let mut left_to_vm = Vec::new();
    for script in scripts {
        let out = common::run(&["--dry-run", script.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(0) {
            continue;
        }
        // tests/vm_tools.rs loads and runs these in a guest whose kernel
        // has kprobes, and lists its variables in /proc/kallsyms (for
        // kaddr()); here they must fail only for want of those.
        if stderr.starts_with("error: kprobes are not available") || stderr.contains("built without CONFIG_KALLSYMS_ALL") {
            left_to_vm.push(script.file_name().unwrap().to_string_lossy().into_owned());
        } else {
            failures.push(format!("{}:\n{stderr}", script.display()));
        }
    }
    if !left_to_vm.is_empty() {
        eprintln!("left to the VM lane (no kprobes, or no variables in kallsyms, in this kernel): {}", left_to_vm.join(" "));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
