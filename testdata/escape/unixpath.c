/* unixpath PATH: connect to a pathname unix socket that a process outside
 * the sandbox listens on, in a directory no policy path names. Such
 * sockets lead to privileged daemons (the D-Bus system bus, journald). */
#include "escape.h"
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "unixpath PATH");
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		report("unix-path", errno, "step=socket");
		return 0;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof sa.sun_path) {
		fprintf(stderr, "unixpath: path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report("unix-path", errno, "step=connect");
		return 0;
	}
	report("unix-path", 0, NULL);
	return 0;
}
