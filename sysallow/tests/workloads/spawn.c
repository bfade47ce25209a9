/* posix_spawn a child (itself, with the argument "child") and wait for it. glibc 2.36's
 * posix_spawn uses clone3 and falls back to clone only when clone3 fails with ENOSYS: under a
 * profile that answers clone3 with EPERM, the spawn fails.
 *
 *   spawn         spawn "spawn child", wait, print "spawned: child exited 0", exit 0;
 *                 if posix_spawn fails, print the error and exit 1.
 *   spawn child   exit 0 at once.
 */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return 0;
    char *child_argv[] = {argv[0], "child", NULL};
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], NULL, NULL, child_argv, environ);
    if (err != 0) {
        printf("posix_spawn failed: %s\n", strerror(err));
        return 1;
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 1;
    }
    printf("spawned: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
