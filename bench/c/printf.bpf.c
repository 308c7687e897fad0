// printf("%d %d %d %s\n", pid, tid, cpu, comm) on sys_enter_getppid: one
// ring buffer record per event, formatted by the loader.
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int printf_event(void *ctx) {
    struct event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
    if (!e) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    e->a = id >> 32;
    e->b = (__u32)id;
    e->c = bpf_get_smp_processor_id();
    bpf_get_current_comm(e->s, sizeof e->s);
    bpf_ringbuf_submit(e, 0);
    return 0;
}
