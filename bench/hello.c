/* hello is the benchmark's workload: the smallest useful per-connection
 * program. It writes one line to the connection (fd 1) and exits. Built with
 * `gcc -static` so that its start costs no dynamic linking, which makes the
 * launcher's own overhead stand out. */
#include <unistd.h>

int main(void) {
	static const char msg[] = "Hello World\n";
	if (write(1, msg, sizeof msg - 1) != sizeof msg - 1)
		return 1;
	return 0;
}
