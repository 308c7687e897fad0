// @[pid, comm] = sum(args.fd) on sys_enter_close.
#include "common.h"

struct key {
    __u64 pid;
    char comm[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct key);
    __type(value, __u64);
} sums SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_close")
int sum_pid_comm(struct sys_enter *ctx) {
    struct key k;
    k.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(k.comm, sizeof k.comm);
    __u64 *v = bpf_map_lookup_elem(&sums, &k);
    if (v) {
        *v += ctx->args[0];
        return 0;
    }
    __u64 first = ctx->args[0];
    bpf_map_update_elem(&sums, &k, &first, BPF_NOEXIST);
    return 0;
}
