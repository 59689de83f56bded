/*
 * meta chmod|utime|setxattr PATH: change the metadata of a file outside the
 * allowed paths that the program's uid owns (a service user's own files:
 * its home, its state). Landlock up to ABI 7 controls opening, creating,
 * removing and renaming files, not chmod(2), utime(2) or setxattr(2) by
 * path, so only the uid's ownership decides. chmod 0666 would hand the
 * file to every other user of the machine.
 */
#include "escape.h"
#include <sys/stat.h>
#include <sys/xattr.h>
#include <utime.h>

int main(int argc, char **argv)
{
	need_args(argc, 3, "meta chmod|utime|setxattr PATH");
	const char *op = argv[1], *path = argv[2];
	if (strcmp(op, "chmod") == 0)
		return check("meta-chmod", chmod(path, 0666));
	if (strcmp(op, "utime") == 0)
		return check("meta-utime", utime(path, NULL));
	if (strcmp(op, "setxattr") == 0)
		return check("meta-setxattr", setxattr(path, "user.sockjail-escape", "x", 1, 0));
	fprintf(stderr, "meta: unknown operation %s\n", op);
	return 2;
}
