/* Argument-rule probe: each mode makes one kind of call and prints "ok" or
 * "denied: <strerror>", exiting 0 either way, so that a test can tell what a profile let run.
 *
 *   sockets     socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) and socket(AF_INET, SOCK_DGRAM)
 *   packet      socket(AF_PACKET, SOCK_RAW)
 *   vsock       socket(AF_VSOCK, SOCK_STREAM)
 *   fork        fork() and wait for the child
 *   newuser     clone(CLONE_NEWUSER|SIGCHLD) and wait for the child
 *   threads     4 pthreads (glibc 2.34+ makes them with clone3 only)
 *   ioctls N    ioctl(/dev/null, request) for N distinct requests (each fails with ENOTTY)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(int ok) {
    if (ok) puts("ok");
    else printf("denied: %s\n", strerror(errno));
    return 0;
}

static int sock(int domain, int type) {
    int fd = socket(domain, type, 0);
    if (fd >= 0) close(fd);
    return fd >= 0;
}

static void *worker(void *arg) { return arg; }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "sockets"))
        return report(sock(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) && sock(AF_INET, SOCK_DGRAM));
    if (!strcmp(mode, "packet")) return report(sock(AF_PACKET, SOCK_RAW));
    if (!strcmp(mode, "vsock")) return report(sock(AF_VSOCK, SOCK_STREAM));
    if (!strcmp(mode, "fork") || !strcmp(mode, "newuser")) {
        long flags = SIGCHLD | (!strcmp(mode, "newuser") ? CLONE_NEWUSER : 0);
        long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return report(pid > 0);
    }
    if (!strcmp(mode, "threads")) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            int err = pthread_create(&t[i], NULL, worker, NULL);
            if (err) { errno = err; return report(0); }
        }
        for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
        return report(1);
    }
    if (!strcmp(mode, "ioctls") && argc > 2) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) ioctl(fd, 0x5400 + i, 0); /* ENOTTY on /dev/null */
        return report(fd >= 0);
    }
    fprintf(stderr, "usage: args_probe sockets|packet|vsock|fork|newuser|threads|ioctls N\n");
    return 2;
}
