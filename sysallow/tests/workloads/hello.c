/* A small workload for `sysallow run` tests: prints a line, optionally creates a directory,
 * and exits with a chosen status.
 *
 *   hello [STATUS [DIR]]   print "hello", mkdir DIR if given (exit 3 if that fails), then exit
 *                          with STATUS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    printf("hello\n");
    fflush(stdout);
    if (argc > 2 && mkdir(argv[2], 0700) != 0) {
        perror("mkdir");
        return 3;
    }
    return argc > 1 ? atoi(argv[1]) : 0;
}
