/* A program whose signal arrives on some runs only: it arms a 100 ms timer, then works
 * (sleeps) for argv[1] milliseconds. A short run ends before the timer fires, so its
 * recording never sees the handler return (rt_sigreturn); a long run gets SIGALRM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t fired;

static void on_alarm(int sig) {
    (void)sig;
    fired++;
}

int main(int argc, char **argv) {
    int ms = argc > 1 ? atoi(argv[1]) : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval timer = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < ms / 10; i++)
        nanosleep(&tick, NULL); /* EINTR when the signal arrives: the loop goes on */
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("fired=%d\n", (int)fired);
    return 0;
}
