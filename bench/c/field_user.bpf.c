// @[args->tp->tv_nsec] = count() on sys_enter_clock_gettime: one field
// read through a pointer to user memory (struct __kernel_timespec, whose
// layout is the system call's ABI: tv_nsec at offset 8).
#include "common.h"

struct kernel_timespec {
    __s64 tv_sec;
    __s64 tv_nsec;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, __s64);
    __type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_clock_gettime")
int field_user(struct sys_enter *ctx) {
    const struct kernel_timespec *tp = (const void *)ctx->args[1];
    __s64 nsec = 0;
    bpf_probe_read_user(&nsec, sizeof nsec, &tp->tv_nsec);
    __u64 *v = bpf_map_lookup_elem(&counts, &nsec);
    if (v) {
        *v += 1;
        return 0;
    }
    __u64 one = 1;
    bpf_map_update_elem(&counts, &nsec, &one, BPF_NOEXIST);
    return 0;
}
