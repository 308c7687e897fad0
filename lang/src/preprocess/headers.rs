//! The constants a few system headers define as macros, for the scripts
//! that include those headers to use them: macros are not in BTF, and
//! rbpf reads no kernel or libc headers. Only headers that bpftrace's own
//! tools include are here, and only their macros that are stable ABI.

/// Whether `--include NAME`, found in no -I directory, names a system
/// header (whose types come from BTF) rather than a file of the user's
/// that is missing: a header in a directory (`linux/sched.h`), one whose
/// macros are known here, or one of /usr/include.
pub(super) fn is_system_header(name: &str) -> bool {
    name.contains('/') || !known_macros(name).is_empty() || std::path::Path::new("/usr/include").join(name).is_file()
}

/// The macros `#include <NAME>` defines when no `-I` directory holds NAME.
pub(super) fn known_macros(header: &str) -> &'static [(&'static str, &'static str)] {
    match header {
        // Task states, from include/linux/sched.h.
        "linux/sched.h" => &[
            ("TASK_RUNNING", "0x0000"),
            ("TASK_INTERRUPTIBLE", "0x0001"),
            ("TASK_UNINTERRUPTIBLE", "0x0002"),
            ("__TASK_STOPPED", "0x0004"),
            ("__TASK_TRACED", "0x0008"),
            ("EXIT_DEAD", "0x0010"),
            ("EXIT_ZOMBIE", "0x0020"),
            ("TASK_PARKED", "0x0040"),
            ("TASK_DEAD", "0x0080"),
        ],
        // Address families, the same in the kernel's and libc's headers.
        "sys/socket.h" | "linux/socket.h" => &[
            ("AF_UNSPEC", "0"),
            ("AF_UNIX", "1"),
            ("AF_LOCAL", "1"),
            ("AF_INET", "2"),
            ("AF_INET6", "10"),
            ("AF_NETLINK", "16"),
            ("AF_PACKET", "17"),
        ],
        _ => &[],
    }
}
