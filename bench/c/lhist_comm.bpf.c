// @[comm] = lhist(args.fd, 100000, 200000, 10000) on sys_enter_close:
// a per-CPU hash keyed by (comm, bucket), as a keyed histogram must be.
#include "common.h"

#define MIN 100000
#define MAX 200000
#define STEP 10000

struct key {
    char comm[16];
    __u64 bucket;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct key);
    __type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_close")
int lhist_comm(struct sys_enter *ctx) {
    __u64 v = ctx->args[0];
    struct key k;
    bpf_get_current_comm(k.comm, sizeof k.comm);
    if (v < MIN)
        k.bucket = 0;
    else if (v >= MAX)
        k.bucket = (MAX - MIN) / STEP + 1;
    else
        k.bucket = (v - MIN) / STEP + 1;
    __u64 *c = bpf_map_lookup_elem(&counts, &k);
    if (c) {
        *c += 1;
        return 0;
    }
    __u64 one = 1;
    bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
    return 0;
}
