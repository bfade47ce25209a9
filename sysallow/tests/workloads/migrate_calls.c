/* One process, pinned to CPU 0, that moves itself between cgroups without an exec: into the
 * cgroup whose cgroup.procs is PROCS_A, N getppid calls, into PROCS_B, M getppid calls.
 * Usage: migrate_calls PROCS_A N PROCS_B M */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void move_to(const char *procs) {
    FILE *f = fopen(procs, "w");
    if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0) {
        perror(procs);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: migrate_calls PROCS_A N PROCS_B M\n");
        return 2;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
        perror("sched_setaffinity");
        return 2;
    }
    long n = atol(argv[2]), m = atol(argv[4]);
    move_to(argv[1]);
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    move_to(argv[3]);
    for (long i = 0; i < m; i++)
        syscall(SYS_getppid);
    return 0;
}
