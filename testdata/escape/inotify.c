/*
 * inotify DIR: watch a directory outside the policy. Landlock does not
 * mediate inotify: the kernel asks only that the uid may read DIR, and the
 * watch then reports the names of the files created, opened and read in
 * it, by anyone. fanotify needs CAP_SYS_ADMIN for anything but a watch
 * on one inode and is outside @system-service.
 */
#include "escape.h"
#include <sys/inotify.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "inotify DIR");
	int fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0) {
		report("inotify-watch", errno, "step=init");
		return 0;
	}
	if (inotify_add_watch(fd, argv[1], IN_CREATE | IN_OPEN | IN_ACCESS) < 0) {
		report("inotify-watch", errno, "step=add_watch");
		return 0;
	}
	report("inotify-watch", 0, NULL);
	return 0;
}
