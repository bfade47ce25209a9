// The fork/exec storm: N times fork(), execve(PROGRAM), waitpid(); prints the nanoseconds per
// round, of CPU time (this process and its children, user + system: where an in-kernel tracer's
// cost lands, and nothing of other processes on a busy machine) and of wall time. This is what a
// test suite or a shell script does, and it exercises the tracer's sched_process_fork/exec/exit
// programs as well as sys_enter.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
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

static long long cpu_ns(void) {
	struct rusage self, children;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	return tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + tv_ns(children.ru_utime) +
	       tv_ns(children.ru_stime);
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000;
	char *program = argc > 2 ? argv[2] : "/bin/true";
	char *child_argv[] = {program, NULL};
	char *envp[] = {NULL};
	long long cpu = cpu_ns();
	long long wall = now_ns();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execve(program, child_argv, envp);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "forkexec: %s failed\n", program);
			return 1;
		}
	}
	wall = now_ns() - wall;
	cpu = cpu_ns() - cpu;
	printf("%.1f %.1f\n", (double)cpu / (double)n, (double)wall / (double)n);
	return 0;
}
