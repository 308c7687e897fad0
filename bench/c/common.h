// Shared by the reference programs and their loader.
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <linux/types.h>

// The record the printf reference sends through its ring buffer.
struct event {
    __u64 a, b, c;
    char s[16];
};

#ifdef __BPF__
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The layout of every syscalls:sys_enter_* tracepoint record: the common
// fields, the syscall number, then six argument slots of 8 bytes.
struct sys_enter {
    __u64 common;
    __s32 nr;
    __u32 pad;
    __u64 args[6];
};

char LICENSE[] SEC("license") = "GPL";
#endif

#endif
