// N times mmap (an anonymous private writable page) and munmap (default 1000). Each such
// mapping is accounted, so each mmap makes the kernel's advisory CAP_SYS_ADMIN check
// (cap_vm_enough_memory): the capability tests' "needs nothing, checks a lot" workload.
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000;
	for (long i = 0; i < n; i++) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		munmap(p, 4096);
	}
	return 0;
}
