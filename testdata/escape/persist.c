/*
 * persist write|hold|read PATH: carry data from one session to a later one
 * that gets the same dynamic uid.
 *
 * write leaves PATH (a file, mode 0600) and PATH.d/inner (a directory, mode
 * 0700, holding a file, mode 0600) behind, readable by nobody but the uid;
 * hold does the same and then waits for EOF on stdin, so that the test can
 * kill sockjail while the session lives; read tries to read both. The line
 * carries the uid, and for read the outcome for the inner file (inner=).
 */
#include "escape.h"
#include <fcntl.h>
#include <sys/stat.h>

static int put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	int err = write(fd, data, strlen(data)) < 0 ? errno : 0;
	close(fd);
	return err;
}

static int get(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int err = read(fd, buf, sizeof buf) < 0 ? errno : 0;
	close(fd);
	return err;
}

int main(int argc, char **argv)
{
	need_args(argc, 3, "persist write|hold|read PATH");
	const char *op = argv[1], *path = argv[2];
	char dir[4096], inner[4200];
	snprintf(dir, sizeof dir, "%s.d", path);
	snprintf(inner, sizeof inner, "%s/inner", dir);
	unsigned uid = getuid();

	if (strcmp(op, "read") == 0) {
		int err = get(path);
		int ierr = get(inner);
		report("persist-read", err, "uid=%u inner=%s", uid, ierr ? errname(ierr) : "ok");
		return 0;
	}
	if (strcmp(op, "write") != 0 && strcmp(op, "hold") != 0) {
		fprintf(stderr, "persist: unknown operation %s\n", op);
		return 2;
	}
	int err = put(path, "the first caller's secret\n");
	if (!err && mkdir(dir, 0700) < 0)
		err = errno;
	if (!err)
		err = put(inner, "the first caller's inner secret\n");
	report(strcmp(op, "write") == 0 ? "persist-write" : "persist-hold", err, "uid=%u", uid);
	if (strcmp(op, "hold") == 0) {
		char buf[256];
		while (read(0, buf, sizeof buf) > 0)
			;
	}
	return 0;
}
