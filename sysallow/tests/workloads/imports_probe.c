/* Imports fopen, usleep and poll; calls poll only when asked to wait, a path a recording of
 * the quick run never takes. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    FILE *f = fopen("/dev/null", "r");
    if (f)
        fclose(f);
    usleep(1000);
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        if (poll(NULL, 0, 10) < 0) {
            perror("poll");
            return 1;
        }
        puts("waited");
    } else {
        puts("quick");
    }
    return 0;
}
