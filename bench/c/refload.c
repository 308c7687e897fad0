// Loads a hand-written reference BPF object with libbpf, attaches every
// program in it, prints "Attached", and runs until SIGINT or SIGTERM.
// An object with a ring buffer map named "events" has its records (struct
// event in common.h) printed as "%llu %llu %llu %s" lines, as a tracer's
// printf would be.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "common.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static int on_event(void *ctx, void *data, size_t len) {
    (void)ctx;
    const struct event *e = data;
    if (len < sizeof *e) return 0;
    printf("%llu %llu %llu %s\n", (unsigned long long)e->a, (unsigned long long)e->b,
           (unsigned long long)e->c, e->s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OBJECT.bpf.o\n", argv[0]);
        return 2;
    }
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj) {
        fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (bpf_object__load(obj)) {
        fprintf(stderr, "load %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct bpf_link *links[64];
    int nlinks = 0;
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, obj) {
        if (nlinks == 64) break;
        struct bpf_link *link = bpf_program__attach(prog);
        if (!link) {
            fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
            return 1;
        }
        links[nlinks++] = link;
    }
    // No SA_RESTART: the signal must interrupt pause() and epoll_wait().
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("Attached %d probes\n", nlinks);
    fflush(stdout);

    struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
    if (events) {
        struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(events), on_event, NULL, NULL);
        if (!rb) {
            fprintf(stderr, "ring buffer: %s\n", strerror(errno));
            return 1;
        }
        while (!stopping) ring_buffer__poll(rb, 1000);
        ring_buffer__consume(rb);
        ring_buffer__free(rb);
    } else {
        while (!stopping) pause();
    }
    fflush(stdout);
    for (int i = 0; i < nlinks; i++) bpf_link__destroy(links[i]);
    bpf_object__close(obj);
    return 0;
}
