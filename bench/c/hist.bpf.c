// @ = hist(args.fd) on sys_enter_close: power-of-two buckets in a per-CPU
// array (bucket 0 holds 0, bucket n+1 holds [2^n, 2^(n+1))).
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 66);
    __type(key, __u32);
    __type(value, __u64);
} buckets SEC(".maps");

static __always_inline __u32 log2_bucket(__u64 v) {
    if (v == 0) return 0;
    __u32 r = 1;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8) { v >>= 8; r += 8; }
    if (v >> 4) { v >>= 4; r += 4; }
    if (v >> 2) { v >>= 2; r += 2; }
    if (v >> 1) { r += 1; }
    return r;
}

SEC("tracepoint/syscalls/sys_enter_close")
int hist(struct sys_enter *ctx) {
    __u32 b = log2_bucket(ctx->args[0]);
    __u64 *v = bpf_map_lookup_elem(&buckets, &b);
    if (v) *v += 1;
    return 0;
}
