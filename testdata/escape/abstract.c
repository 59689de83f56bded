/* abstract NAME: connect to the abstract unix socket "@NAME", which a
 * process outside the sandbox listens on. */
#include "escape.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "abstract NAME");
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		report("abstract-unix", errno, "step=socket");
		return 0;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(argv[1]);
	if (n > sizeof sa.sun_path - 1) {
		fprintf(stderr, "abstract: name too long\n");
		return 2;
	}
	memcpy(sa.sun_path + 1, argv[1], n); /* sun_path[0] = 0: abstract */
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	if (connect(s, (struct sockaddr *)&sa, len) < 0) {
		report("abstract-unix", errno, "step=connect");
		return 0;
	}
	report("abstract-unix", 0, NULL);
	return 0;
}
