// Prints CLOCK_MONOTONIC in nanoseconds as soon as it runs: the harness notes the clock just
// before it spawns `sysallow record -- stamp`, and the difference is the recorder's start-up
// (plus one exec, measured alone in the untraced baseline). Linked statically so the dynamic
// loader adds nothing.
#include <stdio.h>
#include <time.h>

int main(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
