/*
 * paths symlink TARGET LINK | opath DIR NAME | rename FROM TO: reach a file
 * outside the allowed paths by another name.
 *
 *   symlink  create LINK -> TARGET (in a writable directory) and read
 *            through it: Landlock checks the file the link resolves to.
 *   opath    open DIR with O_PATH (Landlock does not check O_PATH opens),
 *            then openat(dirfd, NAME) for reading: that open is checked.
 *   rename   move a file out of its directory into a writable one.
 */
#include "escape.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	need_args(argc, 4, "paths symlink TARGET LINK | opath DIR NAME | rename FROM TO");
	const char *op = argv[1];
	if (strcmp(op, "symlink") == 0) {
		if (symlink(argv[2], argv[3]) < 0) {
			report("symlink-read", errno, "step=symlink");
			return 0;
		}
		int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
		report("symlink-read", fd < 0 ? errno : 0, "step=open");
		return 0;
	}
	if (strcmp(op, "opath") == 0) {
		int dfd = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			report("opath-read", errno, "step=opath");
			return 0;
		}
		int fd = openat(dfd, argv[3], O_RDONLY | O_CLOEXEC);
		report("opath-read", fd < 0 ? errno : 0, "step=openat");
		return 0;
	}
	if (strcmp(op, "rename") == 0)
		return check("rename-out", rename(argv[2], argv[3]));
	fprintf(stderr, "paths: unknown operation %s\n", op);
	return 2;
}
