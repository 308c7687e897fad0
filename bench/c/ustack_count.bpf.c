// @[ustack] = count() on sys_enter_getppid: the user stack's id from
// bpf_get_stackid (BPF_F_USER_STACK) in the low 32 bits of the key and
// the pid whose addresses they are in the high 32, counted in a per-CPU
// hash.
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, 4096);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, 127 * sizeof(__u64));
} stacks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_ustack(void *ctx) {
    __u64 key = (__u32)bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
    key |= bpf_get_current_pid_tgid() >> 32 << 32;
    __u64 *v = bpf_map_lookup_elem(&counts, &key);
    if (v) {
        *v += 1;
        return 0;
    }
    __u64 one = 1;
    bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
    return 0;
}
