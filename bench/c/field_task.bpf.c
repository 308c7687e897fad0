// @[curtask->real_parent->tgid] = count() on sys_enter_getppid: two reads
// of kernel memory through pointers, at the offsets the running kernel's
// BTF gives (libbpf relocates the two fields declared here by name, so the
// loaded code holds constant offsets, as rbpf's does).
#include "common.h"
#include <bpf/bpf_core_read.h>

struct task_struct {
    struct task_struct *real_parent;
    int tgid;
} __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, __s64);
    __type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int field_task(void *ctx) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    __s64 tgid = BPF_CORE_READ(task, real_parent, tgid);
    __u64 *v = bpf_map_lookup_elem(&counts, &tgid);
    if (v) {
        *v += 1;
        return 0;
    }
    __u64 one = 1;
    bpf_map_update_elem(&counts, &tgid, &one, BPF_NOEXIST);
    return 0;
}
