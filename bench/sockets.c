// The socket-heavy workload: N times socket(AF_UNIX, SOCK_DGRAM) and close(); prints the
// nanoseconds per pair. socket is a syscall whose argument sysallow captures (domain and
// type), so this shows what capturing costs (the capture-on/off comparison of the bench).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clock) {
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pair(void) {
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 100000;
	for (long i = 0; i < n / 10; i++)
		pair();
	long long cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	long long wall = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++)
		pair();
	wall = now_ns(CLOCK_MONOTONIC) - wall;
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	printf("%.3f %.3f\n", (double)cpu / (double)n, (double)wall / (double)n);
	return 0;
}
