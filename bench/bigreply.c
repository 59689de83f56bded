/* bigreply writes a large reply to the connection (fd 1) and exits: the
 * throughput workload. argv[1] is the size in bytes (default 100 MiB). The
 * buffer is filled with a repeating pattern so that a client can check what
 * arrived, not just how much. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

int main(int argc, char **argv) {
	static char buf[CHUNK];
	long long left = argc > 1 ? atoll(argv[1]) : 100LL << 20;
	for (int i = 0; i < CHUNK; i++)
		buf[i] = 'a' + i % 26;
	long long off = 0;
	while (left > 0) {
		/* Each chunk starts where the pattern left off, so the stream is
		 * 'a'+(offset%26) at every offset. */
		size_t n = left < CHUNK - 26 ? (size_t)left : CHUNK - 26;
		ssize_t w = write(1, buf + off % 26, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		left -= w;
		off += w;
	}
	return 0;
}
