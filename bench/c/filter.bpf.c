// sys_enter_getppid /pid == 1/ { @ = count(); }: the predicate filters
// out every event of the workload.
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} count SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int filter(void *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) != 1) return 0;
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&count, &zero);
    if (v) *v += 1;
    return 0;
}
