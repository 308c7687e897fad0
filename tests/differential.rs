//! Differential tests: programs whose output is deterministic run under
//! rbpf and under bpftrace (Debian's package), and must print the same bytes.

mod common;

use std::process::Command;

const PROGRAMS: &[&str] = &[
    r#"BEGIN { printf("hello, world\n"); exit(); }"#,
    r#"BEGIN { printf("%d %d %u|%5d|%-5d|%05d|%x %X %c|%s|%10s|%-10s|%.2s\n", -7, 8, 9, 42, 42, 42, 255, 255, 66, "str", "right", "left", "trunc"); exit(); }"#,
    r#"BEGIN { printf("%ld %lu %lld %llu %lx\n", -1, 18446744073709551615, 123456789012, 5, 3735928559); exit(); }"#,
    r#"BEGIN { printf("100%% sure, %s\n", "yes"); exit(); }"#,
    r#"BEGIN { @x = 5; @y = -3; @z = 0x10; exit(); }"#,
    r#"BEGIN { @c["b"] = count(); @c["a"] = count(); @c["a"] = count(); @c["c"] = count(); @c["c"] = count(); @c["c"] = count(); exit(); }"#,
    r#"BEGIN { @s = sum(5); @s = sum(-8); @mn = min(3); @mn = min(-4); @mn = min(9); @mx = max(3); @mx = max(11); exit(); }"#,
    r#"BEGIN { @a = avg(1); @a = avg(2); @a = avg(4); @b[1] = avg(10); @b[2] = avg(-10); exit(); }"#,
    r#"BEGIN { @m[1, "one"] = 10; @m[2, "two"] = 5; @m[3, "three"] = 7; exit(); }"#,
    r#"BEGIN { @s[1] = "zz"; @s[2] = "aa"; @t = "text"; exit(); }"#,
    r#"BEGIN { $a = 10; $b = 3; printf("%d %d %d %d %d\n", $a / $b, $a % $b, $a << 2, $a >> 1, $a & 6 | 1 ^ 8); exit(); }"#,
    r#"BEGIN { $n = -10; printf("%d %d %d %d\n", $n / 3, $n % 3, -$n, ~$n); exit(); }"#,
    r#"BEGIN { printf("%d %d %d %d %d %d\n", 1 < 2, 2 <= 1, 3 == 3, 3 != 3, 1 && 0, 0 || 2); exit(); }"#,
    r#"BEGIN { if (1 > 2) { printf("no\n"); } else if (2 > 1) { printf("yes\n"); } else { printf("never\n"); } exit(); }"#,
    r#"BEGIN { printf("%s\n", probe); @p[probe] = 1; exit(); }"#,
    r#"BEGIN { @x = 1; exit(); } END { printf("end\n"); @y = 2; }"#,
    r#"BEGIN { @a[1] = 1; @a[2] = 2; @b = @a[2] + @a[3]; exit(); }"#,
    r#"BEGIN { @s = stats(4); @s = stats(7); @h = hist(0); @h = hist(1); @h = hist(5); @h = hist(100); @h = hist(100); @h = hist(-1); @l = lhist(15, 0, 100, 10); @l = lhist(150, 0, 100, 10); @k[1] = hist(3); @k[2] = hist(2000); @k[2] = hist(3000000); exit(); }"#,
    r#"BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 2) { continue; } if ($i == 4) { break; } printf("%d\n", $i); } exit(); }"#,
    r#"BEGIN { $x = 10; $x += 5; $x -= 2; $x *= 3; $x <<= 3; $x >>= 1; $x &= 0xff; $x |= 1; $x ^= 3; @a = 1; @a += 4; @a++; @b[1] = 5; @b[1] *= 2; printf("%d\n", $x); exit(); }"#,
    r#"BEGIN { $a = 5; printf("%d %s %d %d %d\n", $a > 3 ? 100 : 200, 1 > 2 ? "yes" : "no", (uint8)257, (int8)255, (int32)4294967295); exit(); }"#,
    r#"BEGIN { unroll(3) { @c = count(); } printf("%d %d\n", sizeof(uint32), sizeof(comm)); if ("abc" != "abd") { printf("ne\n"); } exit(); }"#,
    r#"BEGIN { printf("%d %d %d %d\n", strncmp("hello", "help", 3), strncmp("hello", "help", 4), strcontains("hello world", "o w"), strcontains("ab", "abc")); printf("%x %x\n", bswap((uint32)0x11223344), bswap((uint16)0x1122)); exit(); }"#,
];

fn bpftrace_available() -> bool {
    let found = Command::new("bpftrace").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("RBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("bpftrace is not installed: .ci/run installs it from Debian's packages");
        }
        eprintln!("skipping differential tests: bpftrace is not installed");
    }
    found
}

#[test]
fn same_output_as_bpftrace() {
    if !common::kernel_tests_enabled("same_output_as_bpftrace") || !bpftrace_available() {
        return;
    }
    let mut failures = Vec::new();
    for program in PROGRAMS {
        let ours = common::run(&["-e", program]);
        let theirs = Command::new("bpftrace").args(["-e", program]).output().expect("run bpftrace");
        let (ours_out, theirs_out) = (String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs.stdout));
        if ours_out != theirs_out || ours.status.code() != Some(0) {
            failures.push(format!(
                "{program}\n--- bpftrace\n{theirs_out}--- rbpf (status {:?})\n{ours_out}{}",
                ours.status.code(),
                String::from_utf8_lossy(&ours.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} differ:\n\n{}", failures.len(), PROGRAMS.len(), failures.join("\n\n"));
}
