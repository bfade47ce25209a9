// The mmap-heavy workload: N times mmap (an anonymous private writable page) and munmap;
// prints the nanoseconds per pair. Such a mapping is accounted (VM_ACCOUNT), so each mmap
// makes the kernel's advisory CAP_SYS_ADMIN check (cap_vm_enough_memory): the workload that
// shows what recording capability checks costs (the capabilities-on/off comparison).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static long long now_ns(clockid_t clock) {
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pair(void) {
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	munmap(p, 4096);
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
