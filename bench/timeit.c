// Times a real workload: runs argv[1..] (fork, execvp, wait4) and prints the nanoseconds it
// took, of CPU time (the workload's processes, user + system: where an in-kernel tracer's cost
// lands) and of wall time. Wrapping the workload leaves a tracer's own start-up and shut-down
// out of the measurement.
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv) {
	return (long long)tv.tv_sec * 1000000000LL + (long long)tv.tv_usec * 1000LL;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: timeit CMD [ARGS...]\n");
		return 2;
	}
	long long wall = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	int status;
	struct rusage usage;
	// The rusage of a waited child covers its own waited-for descendants (sh's tar and cat).
	if (wait4(pid, &status, 0, &usage) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "timeit: %s failed\n", argv[1]);
		return 1;
	}
	wall = now_ns() - wall;
	long long cpu = tv_ns(usage.ru_utime) + tv_ns(usage.ru_stime);
	printf("%lld %lld\n", cpu, wall);
	return 0;
}
