// The soak workload (`cargo xtask soak`): THREADS threads call getppid() as fast as they can
// for SECONDS while the main thread forks FORKS children (each exits at once), so a recording
// sees full syscall rate, many threads and a fork storm at the same time. At the end it prints
// exactly how many getppid calls and forks it made, for the recording's counts to be checked
// against: `getppid N` and `forks M`. syscall(2) is used so that libc caches nothing.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;

static void *spin(void *arg) {
	unsigned long long *calls = arg;
	unsigned long long n = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		syscall(SYS_getppid);
		n++;
	}
	*calls = n;
	return NULL;
}

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: soak SECONDS THREADS FORKS\n");
		return 2;
	}
	double seconds = atof(argv[1]);
	int threads = atoi(argv[2]);
	long forks = atol(argv[3]);
	if (seconds <= 0 || threads < 1 || threads > 4096 || forks < 0) {
		fprintf(stderr, "soak: bad arguments\n");
		return 2;
	}
	// The forks come from a process of their own, forked before any thread exists: a fork of
	// a process with 64 threads spinning copies a busy address space and waits its turn among
	// them (33 ms a fork measured here). It gets most of a CPU (nice -20; needs root, else the
	// forks are only slower) and spreads the forks over the run: the i-th not before its share
	// of the time has passed (a slow machine goes on until every fork is made).
	double start = now_s();
	pid_t forker = fork();
	if (forker < 0) {
		perror("fork");
		return 1;
	}
	if (forker == 0) {
		setpriority(PRIO_PROCESS, 0, -20);
		for (long i = 0; i < forks; i++) {
			while (now_s() - start < seconds * 0.9 * (double)i / (double)forks)
				usleep(1000);
			pid_t pid = fork();
			if (pid < 0) {
				perror("fork");
				_exit(1);
			}
			if (pid == 0)
				_exit(0);
			if (waitpid(pid, NULL, 0) != pid) {
				perror("waitpid");
				_exit(1);
			}
		}
		_exit(0);
	}
	pthread_t *tids = calloc((size_t)threads, sizeof *tids);
	unsigned long long *calls = calloc((size_t)threads, sizeof *calls);
	if (!tids || !calls)
		return 1;
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, spin, &calls[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	int status;
	if (waitpid(forker, &status, 0) != forker || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "soak: the forking process failed\n");
		return 1;
	}
	while (now_s() - start < seconds)
		usleep(10000);
	atomic_store(&stop, 1);
	unsigned long long total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		total += calls[i];
	}
	// Every fork(2) made: the forker's, and the forker itself.
	printf("getppid %llu\nforks %ld\n", total, forks + 1);
	return 0;
}
