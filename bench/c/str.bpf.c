// @s = str(args.filename) on sys_enter_openat: the user string read
// straight into the map's value.
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, char[64]);
} last SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int str(struct sys_enter *ctx) {
    __u32 zero = 0;
    char *v = bpf_map_lookup_elem(&last, &zero);
    if (v) bpf_probe_read_user_str(v, 64, (const void *)ctx->args[1]);
    return 0;
}
