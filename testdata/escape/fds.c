/*
 * fds: look for file descriptors above 2 that sockjail left open (a log
 * pipe, a listener, a lock file, a Landlock ruleset or a directory would
 * each be a way around the sandbox). It reports EBADF when there is none,
 * else ok with the first one's number and file type.
 */
#include "escape.h"
#include <sys/stat.h>

int main(void)
{
	for (int fd = 3; fd < 4096; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		const char *type = S_ISSOCK(st.st_mode) ? "socket" : S_ISDIR(st.st_mode) ? "dir" :
				   S_ISREG(st.st_mode) ? "file" : S_ISFIFO(st.st_mode) ? "fifo" :
				   S_ISCHR(st.st_mode) ? "char" : "other";
		report("fd-leak", 0, "fd=%d type=%s", fd, type);
		return 0;
	}
	report("fd-leak", EBADF, NULL);
	return 0;
}
