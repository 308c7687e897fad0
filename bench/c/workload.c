// The synthetic workload the benchmarks trace: a tight loop of one system
// call. Prints the loop's wall time in nanoseconds.
//
//   benchload MODE N [--wait]
//     getppid          N getppid() calls
//     close            N close(100000 + i % 100000): fails with EBADF, and
//                      gives the probes an argument that varies
//     openat           N openat() of one missing path (a user string)
//     openat-distinct  N openat() of missing paths, i % 100000 distinct
//     clock_gettime    N clock_gettime() system calls (not the vDSO's), each
//                      given a timespec whose tv_nsec is i % 64 on entry
//   --wait  read one byte from standard input first, so that a tracer can
//           be started on this pid before the loop runs
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s getppid|close|openat|openat-distinct|clock_gettime N [--wait]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    if (argc > 3 && strcmp(argv[3], "--wait") == 0) {
        char c;
        if (read(0, &c, 1) < 0) return 1;
    }
    char path[64];
    long long t0 = now_ns();
    if (strcmp(mode, "getppid") == 0) {
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
    } else if (strcmp(mode, "close") == 0) {
        for (long i = 0; i < n; i++) close(100000 + (int)(i % 100000));
    } else if (strcmp(mode, "openat") == 0) {
        for (long i = 0; i < n; i++) openat(AT_FDCWD, "/nonexistent/rbpf-bench/file", O_RDONLY);
    } else if (strcmp(mode, "openat-distinct") == 0) {
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "/nonexistent/rbpf-bench/%06ld", i % 100000);
            openat(AT_FDCWD, path, O_RDONLY);
        }
    } else if (strcmp(mode, "clock_gettime") == 0) {
        struct timespec ts;
        for (long i = 0; i < n; i++) {
            ts.tv_sec = 0;
            ts.tv_nsec = i % 64;
            syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("%lld\n", now_ns() - t0);
    return 0;
}
