/*
 * fsize BYTES [ignore]: write BYTES into $TMPDIR/big (or /tmp/big). Past
 * RLIMIT_FSIZE the kernel sends SIGXFSZ, which kills the program; with
 * "ignore" SIGXFSZ is ignored and the write fails with EFBIG instead.
 */
#include "escape.h"
#include <fcntl.h>
#include <signal.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "fsize BYTES [ignore]");
	long long want = atoll(argv[1]);
	if (argc > 2 && strcmp(argv[2], "ignore") == 0)
		signal(SIGXFSZ, SIG_IGN);
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/big", dir ? dir : "/tmp");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		report("file-size", errno, "step=open");
		return 0;
	}
	static char buf[64 * 1024];
	memset(buf, 'x', sizeof buf);
	long long done = 0;
	while (done < want) {
		size_t n = want - done < (long long)sizeof buf ? want - done : sizeof buf;
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			report("file-size", errno, "written=%lld", done);
			return 0;
		}
		done += w;
	}
	report("file-size", 0, "written=%lld", done);
	return 0;
}
