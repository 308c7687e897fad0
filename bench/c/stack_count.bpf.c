// @[kstack] = count() and @[ustack] = count() on sys_enter_getppid: the
// stack's id from bpf_get_stackid into a stack-trace map of 127-frame
// stacks, as the key of a per-CPU hash of counts. Built twice (bench/run):
// as kstack_count.bpf.o, and with -DUSER_STACK as ustack_count.bpf.o, which
// asks for the user stack (BPF_F_USER_STACK) and keeps the pid whose
// addresses they are in the key's high 32 bits.
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

#ifdef USER_STACK
#define STACK_FLAGS BPF_F_USER_STACK
#define COUNT_STACK count_ustack
#else
#define STACK_FLAGS 0
#define COUNT_STACK count_kstack
#endif

SEC("tracepoint/syscalls/sys_enter_getppid")
int COUNT_STACK(void *ctx) {
    __u64 key = (__u32)bpf_get_stackid(ctx, &stacks, STACK_FLAGS);
#ifdef USER_STACK
    key |= bpf_get_current_pid_tgid() >> 32 << 32;
#endif
    __u64 *v = bpf_map_lookup_elem(&counts, &key);
    if (v) {
        *v += 1;
        return 0;
    }
    __u64 one = 1;
    bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
    return 0;
}
