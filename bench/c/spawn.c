// Runs a command in a child of its own and reports the child's pid and
// peak RSS, so that the RSS is the command's alone.
//
//   benchspawn PIDFILE RSSFILE COMMAND [ARG...]
//
// Linux keeps a process's peak RSS across execve, from the memory it
// replaced: a tool started by the (Python) harness would report at least
// the harness's own RSS. A fresh fork of this small program replaces only
// itself. SIGINT and SIGTERM are passed on to the child; the exit status
// is the child's (128 + signal when a signal ended it).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

static int write_number(const char *path, long value) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "%ld\n", value);
    return fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PIDFILE RSSFILE COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = forward;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }
    child = pid;
    if (write_number(argv[1], pid) != 0) {
        perror(argv[1]);
        kill(pid, SIGKILL);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("wait4");
            return 2;
        }
    }
    if (write_number(argv[2], ru.ru_maxrss) != 0) perror(argv[2]);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
