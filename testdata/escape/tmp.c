/*
 * tmp MODE ARGS: another session's /tmp.
 *
 *   tmp hold DIR TOKEN   session A: create DIR/marker-TOKEN (DIR is /tmp,
 *                        /var/tmp or "TMPDIR" for $TMPDIR), print its path,
 *                        wait for EOF on stdin, then check that the marker
 *                        still holds what A wrote (nobody else changed it).
 *   tmp list PATH        session B: is basename(PATH) visible in its dir?
 *   tmp read PATH        session B: open A's marker for reading.
 *   tmp write PATH       session B: open A's marker for writing (no O_CREAT).
 */
#include "escape.h"
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>

static const char content[] = "session A\n";

static int hold(const char *dir, const char *token)
{
	if (strcmp(dir, "TMPDIR") == 0) {
		dir = getenv("TMPDIR");
		if (!dir)
			dir = "/tmp";
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/marker-%s", dir, token);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, content, sizeof content - 1) != sizeof content - 1) {
		report("tmp-hold", errno, "path=%s", path);
		return 0;
	}
	close(fd);
	report("tmp-hold", 0, "path=%s", path);
	char buf[256];
	while (read(0, buf, sizeof buf) > 0)
		;
	char got[64] = {0};
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, got, sizeof got - 1);
	int intact = n == sizeof content - 1 && memcmp(got, content, n) == 0;
	report("tmp-intact", intact ? 0 : (fd < 0 ? errno : EIO), NULL);
	return 0;
}

static int list(char *path)
{
	char d[4096], b[4096];
	snprintf(d, sizeof d, "%s", path);
	snprintf(b, sizeof b, "%s", path);
	const char *dir = dirname(d), *base = basename(b);
	DIR *dp = opendir(dir);
	if (!dp)
		return check("tmp-list", -1);
	struct dirent *de;
	int entries = 0;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		entries++;
		if (strcmp(de->d_name, base) == 0) {
			report("tmp-list", 0, "entries=%d", entries);
			return 0;
		}
	}
	/* Not visible: report it like a failed lookup. */
	report("tmp-list", ENOENT, "entries=%d", entries);
	return 0;
}

int main(int argc, char **argv)
{
	need_args(argc, 3, "tmp hold DIR TOKEN | list PATH | read PATH | write PATH");
	if (strcmp(argv[1], "hold") == 0) {
		need_args(argc, 4, "tmp hold DIR TOKEN");
		return hold(argv[2], argv[3]);
	}
	if (strcmp(argv[1], "list") == 0)
		return list(argv[2]);
	if (strcmp(argv[1], "read") == 0)
		return check("tmp-read", open(argv[2], O_RDONLY | O_CLOEXEC));
	if (strcmp(argv[1], "write") == 0)
		return check("tmp-write", open(argv[2], O_WRONLY | O_APPEND | O_CLOEXEC));
	fprintf(stderr, "tmp: unknown mode %s\n", argv[1]);
	return 2;
}
