/*
 * sysallow-probe: a small static test program for the container tests (built with
 * `gcc -static -O2`, put into the test image as /usr/bin/sysallow-probe by
 * sysallow/tests/e2e/common/image.rs).
 *
 *   sysallow-probe hello        print "sysallow-probe: hello" and exit 0
 *   sysallow-probe exit N       exit with status N
 *   sysallow-probe sleep SECS   wait SECS seconds (SIGTERM ends it at once, status 0:
 *                               as a container's PID 1 it needs a handler to stop quickly)
 *   sysallow-probe syscalls     make a fixed, known set of syscalls (getpid, getppid, uname,
 *                               openat+read+close of /etc/passwd, write), then exit 0
 *   sysallow-probe cgroup       print /proc/self/cgroup
 *   sysallow-probe denied       call keyctl and clone3, which Docker's default profile denies
 *                               (EPERM and ENOSYS), and print the errno each got
 *   sysallow-probe denied-podman  call add_key and userfaultfd, which Podman's default profile
 *                               denies (ENOSYS, as for all it does not list, and EPERM), and
 *                               print the errno each got
 *   sysallow-probe late         a client whose wait depends on timing: a forked peer answers
 *                               "pong" on a socket after some work; the client does its own
 *                               work, reads without blocking, and polls only when the answer
 *                               is not there yet (rarely on an idle machine, often on a busy
 *                               one), like busybox wget waiting for its data
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

/* Work without a syscall. */
static void spin(long n) {
    for (volatile long i = 0; i < n; i++) {}
}

static int late(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { perror("socketpair"); return 1; }
    pid_t peer = fork();
    if (peer < 0) { perror("fork"); return 1; }
    if (peer == 0) {
        close(sv[0]);
        spin(200000);
        _exit(write(sv[1], "pong\n", 5) == 5 ? 0 : 1);
    }
    close(sv[1]);
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) { perror("fcntl"); return 1; }
    spin(2000000);
    char buf[16];
    ssize_t n;
    while ((n = read(sv[0], buf, sizeof buf)) < 0 && errno == EAGAIN) {
        struct pollfd p = {.fd = sv[0], .events = POLLIN};
        if (poll(&p, 1, 10000) < 0) { perror("poll"); return 1; }
    }
    if (n <= 0) { perror("read"); return 1; }
    int status;
    if (waitpid(peer, &status, 0) != peer || status != 0) { fputs("peer failed\n", stderr); return 1; }
    return write(1, buf, (size_t)n) == n ? 0 : 1;
}

static int cat(const char *path) {
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { perror(path); return 1; }
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (write(1, buf, (size_t)n) != n) return 1;
    }
    close(fd);
    return n < 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "hello";
    if (strcmp(mode, "hello") == 0) {
        static const char msg[] = "sysallow-probe: hello\n";
        return write(1, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1) ? 0 : 1;
    }
    if (strcmp(mode, "exit") == 0 && argc > 2) return atoi(argv[2]);
    if (strcmp(mode, "sleep") == 0 && argc > 2) {
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        struct timespec left = {.tv_sec = atol(argv[2]), .tv_nsec = 0};
        while (nanosleep(&left, &left) != 0) {}
        return 0;
    }
    if (strcmp(mode, "syscalls") == 0) {
        struct utsname u;
        char buf[256];
        long pid = syscall(SYS_getpid);
        long ppid = syscall(SYS_getppid);
        if (uname(&u) != 0) return 1;
        int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) { (void)read(fd, buf, sizeof buf); close(fd); }
        int len = snprintf(buf, sizeof buf, "sysallow-probe: pid %ld ppid %ld %s\n", pid, ppid, u.sysname);
        return write(1, buf, (size_t)len) == len ? 0 : 1;
    }
    if (strcmp(mode, "cgroup") == 0) return cat("/proc/self/cgroup");
    if (strcmp(mode, "late") == 0) return late();
    if (strcmp(mode, "denied") == 0) {
        /* KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING; clone3 with no arguments. */
        long k = syscall(SYS_keyctl, 0L, -3L, 0L);
        int keyctl_errno = k < 0 ? errno : 0;
        long c = syscall(SYS_clone3, NULL, 0L);
        int clone3_errno = c < 0 ? errno : 0;
        printf("keyctl: errno %d\nclone3: errno %d\n", keyctl_errno, clone3_errno);
        return 0;
    }
    if (strcmp(mode, "denied-podman") == 0) {
        /* add_key with no type fails with EFAULT where it runs; userfaultfd(0) may succeed. */
        long a = syscall(SYS_add_key, NULL, NULL, NULL, 0L, 0L);
        int add_key_errno = a < 0 ? errno : 0;
        long u = syscall(SYS_userfaultfd, 0L);
        int userfaultfd_errno = u < 0 ? errno : 0;
        if (u >= 0)
            close((int)u);
        printf("add_key: errno %d\nuserfaultfd: errno %d\n", add_key_errno, userfaultfd_errno);
        return 0;
    }
    fprintf(stderr, "usage: sysallow-probe hello|exit N|sleep SECS|syscalls|cgroup|late|denied|"
                    "denied-podman\n");
    return 2;
}
