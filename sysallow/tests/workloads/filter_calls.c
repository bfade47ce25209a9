/* A container runtime's last steps, without the exec: install BEFORE allow-all seccomp filters
 * (a runtime that already runs under a filter), move into the cgroup whose cgroup.procs is
 * PROCS, install one more allow-all filter there (the container's), then make exactly N
 * getppid calls and M calls of nfsservctl (x86_64 180, removed from Linux: always ENOSYS),
 * and exit.
 * Usage: filter_calls PROCS BEFORE N M */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void allow_all(void) {
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = code};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp");
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: filter_calls PROCS BEFORE N M\n");
        return 2;
    }
    long before = atol(argv[2]), n = atol(argv[3]), m = atol(argv[4]);
    for (long i = 0; i < before; i++)
        allow_all();
    FILE *procs = fopen(argv[1], "w");
    if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0) {
        perror(argv[1]);
        return 2;
    }
    allow_all();
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    for (long i = 0; i < m; i++)
        syscall(180);
    return 0;
}
