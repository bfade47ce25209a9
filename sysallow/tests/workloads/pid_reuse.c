/* pid_reuse CGROUP: a process whose last thread is not its leader, then another process given
 * the same pid, both inside the cgroup v2 directory CGROUP (root: writes ns_last_pid).
 *
 * 1. A, forked outside CGROUP, moves into it and execs this program (by argv[0], an absolute
 *    path) as "leader": its main thread starts a thread and exits first (pthread_exit); the
 *    thread, the last one alive, ends the process with exit_group. The process's group dies with a thread that is not
 *    its leader.
 * 2. B is forked outside CGROUP with A's pid (ns_last_pid, retried while other forks on the
 *    machine take it), moves into CGROUP, calls getpriority (which A never calls) and exits.
 *
 * A recorder that kept A's entry past its end attributes B's getpriority to this program;
 * B made no exec, and its parent is not recorded, so it has no program of its own.
 * Prints "reused PID" (status 0), or "not reused" (status 1).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *last_thread(void *arg) {
    (void)arg;
    usleep(50000);
    syscall(SYS_exit_group, 0);
    return NULL;
}

static int join(const char *cgroup) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroup);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int ok = write(fd, "0", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}

static int set_last_pid(pid_t pid) {
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    if (fd < 0)
        return -1;
    char text[32];
    int n = snprintf(text, sizeof text, "%d", (int)pid);
    int ok = write(fd, text, n) == n;
    close(fd);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "leader") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, last_thread, NULL) != 0)
            return 3;
        pthread_exit(NULL);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: pid_reuse CGROUP\n");
        return 2;
    }
    const char *cgroup = argv[1];
    pid_t a = fork();
    if (a == 0) {
        if (join(cgroup) != 0)
            _exit(4);
        /* By its own path (argv[0] is absolute): the recording names it so. */
        execl(argv[0], argv[0], "leader", (char *)NULL);
        _exit(5);
    }
    int status;
    if (waitpid(a, &status, 0) != a || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "leader failed: %d\n", status);
        return 2;
    }
    for (int attempt = 0; attempt < 20000; attempt++) {
        if (set_last_pid(a - 1) != 0) {
            perror("ns_last_pid");
            return 2;
        }
        pid_t b = fork();
        if (b == 0) {
            if (getpid() != a)
                _exit(7);
            if (join(cgroup) != 0)
                _exit(4);
            syscall(SYS_getpriority, PRIO_PROCESS, 0);
            _exit(0);
        }
        if (waitpid(b, &status, 0) == b && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("reused %d\n", (int)a);
            return 0;
        }
    }
    printf("not reused\n");
    return 1;
}
