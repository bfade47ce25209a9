/* Exercises argument filtering: personality and socket with chosen values.
 * Prints one line per call, "NAME(ARG): ok" or "NAME(ARG): <strerror>", and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <unistd.h>

static void report(const char *what, long ret) {
    printf("%s: %s\n", what, ret < 0 ? strerror(errno) : "ok");
}

int main(void) {
    report("personality(0xffffffff)", personality(0xffffffff));
    report("personality(PER_LINUX32)", personality(PER_LINUX32));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("socket(AF_UNIX)", fd);
    if (fd >= 0)
        close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    report("socket(AF_INET)", fd);
    if (fd >= 0)
        close(fd);
    return 0;
}
