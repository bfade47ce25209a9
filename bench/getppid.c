// The syscall-heavy workload: N getppid() calls in a tight loop; prints the nanoseconds per
// call. getppid is the cheapest real syscall (no locks, no copy), so what a tracer adds per
// syscall stands out. syscall(2) is used so that libc caches nothing.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long long now_ns(clockid_t clock) {
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	// Warm up: page in, settle the CPU frequency a little.
	for (long i = 0; i < n / 10; i++)
		syscall(SYS_getppid);
	long long cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	long long wall = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	wall = now_ns(CLOCK_MONOTONIC) - wall;
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	printf("%.3f %.3f\n", (double)cpu / (double)n, (double)wall / (double)n);
	return 0;
}
