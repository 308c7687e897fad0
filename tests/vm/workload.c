/* Workloads for the tools' tests in the VM lane (tests/vm_tools.rs): each
 * mode causes the kernel events one tool traces, over loopback or in
 * memory, and exits. Built by the test with the host's cc; the guest runs
 * the host's binaries as they are.
 *
 *   workload tcp PORT        listen, connect, accept, exchange bytes, close
 *   workload backlog PORT    fill a listener's accept queue of one so that
 *                            the next SYN is dropped and sent again (1 s)
 *   workload refused PORT    connect to a port nobody listens on
 *   workload unix TEXT       send TEXT through a Unix stream socket pair
 *   workload memory MB       touch MB of memory twice, 0.2 s apart
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listener(int port, int backlog)
{
	struct sockaddr_in a = loopback(port);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(s, backlog) < 0)
		die("listen");
	return s;
}

static int connect_to(int port, int nonblocking)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	if (nonblocking)
		fcntl(s, F_SETFL, O_NONBLOCK);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && !(nonblocking && errno == EINPROGRESS))
		return -1;
	return s;
}

static void pause_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

static int tcp(int port)
{
	char buf[8192];
	int l = listener(port, 16);
	int c = connect_to(port, 0);
	if (c < 0)
		die("connect");
	int a = accept(l, NULL, NULL);
	if (a < 0)
		die("accept");
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < 4; i++) {
		if (write(c, buf, sizeof(buf)) != sizeof(buf))
			die("write");
		for (size_t got = 0; got < sizeof(buf);) {
			ssize_t n = read(a, buf, sizeof(buf) - got);
			if (n <= 0)
				die("read");
			got += n;
		}
	}
	if (write(a, "done", 4) != 4 || read(c, buf, 4) != 4)
		die("done");
	pause_ms(50);
	close(c);
	close(a);
	close(l);
	return 0;
}

static int backlog(int port)
{
	int l = listener(port, 0);
	int first = connect_to(port, 0);
	if (first < 0)
		die("connect");
	/* The accept queue is full: the listener drops this SYN, and the
	 * client sends it again when its first timer (1 s) fires. */
	int second = connect_to(port, 1);
	if (second < 0)
		die("connect");
	pause_ms(1300);
	close(second);
	close(first);
	close(l);
	return 0;
}

static int refused(int port)
{
	int s = connect_to(port, 0);
	if (s >= 0 || errno != ECONNREFUSED) {
		fprintf(stderr, "expected ECONNREFUSED on port %d\n", port);
		return 1;
	}
	return 0;
}

static int unix_pair(const char *text)
{
	char buf[256];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	size_t len = strlen(text);
	if (write(sv[0], text, len) != (ssize_t)len)
		die("write");
	if (read(sv[1], buf, sizeof(buf)) != (ssize_t)len)
		die("read");
	return 0;
}

static int memory(long mb)
{
	size_t size = (size_t)mb << 20;
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < size; i += 4096)
			p[i] = (char)(i >> 12) | 1;
		pause_ms(200);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: workload tcp|backlog|refused PORT | unix TEXT | memory MB\n");
		return 2;
	}
	const char *mode = argv[1];
	if (!strcmp(mode, "tcp"))
		return tcp(atoi(argv[2]));
	if (!strcmp(mode, "backlog"))
		return backlog(atoi(argv[2]));
	if (!strcmp(mode, "refused"))
		return refused(atoi(argv[2]));
	if (!strcmp(mode, "unix"))
		return unix_pair(argv[2]);
	if (!strcmp(mode, "memory"))
		return memory(atol(argv[2]));
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
