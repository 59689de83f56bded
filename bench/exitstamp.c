/* exitstamp measures the close latency: the time from the program's exit to
 * the client's EOF. It reads CLOCK_MONOTONIC, writes that reading to the
 * connection as "exit <ns>\n" and exits at once with _exit. The client reads
 * the same clock when its read returns EOF; the difference is the time the
 * launcher needs to notice the exit and close (or shut down) the connection.
 *
 * The clock is read before the write, so the figure also includes one write
 * of a few bytes to a loopback socket (a few microseconds). The clock is
 * shared by every process on the host unless a time namespace is used; none
 * of the launchers benchmarked creates one. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	struct timespec ts;
	char buf[64];
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		_exit(1);
	int n = snprintf(buf, sizeof buf, "exit %lld\n",
			 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (write(1, buf, n) != n)
		_exit(1);
	_exit(0);
}
