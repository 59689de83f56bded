/* idle holds a connection open: it writes "ready\n" so that the client knows
 * the program runs, then reads and discards input until EOF. The benchmark
 * opens hundreds of these to measure a launcher's memory per open
 * connection. */
#include <errno.h>
#include <unistd.h>

int main(void) {
	char buf[512];
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return 1;
	}
}
