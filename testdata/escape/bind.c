/* bind PORT [PROTO]: bind() 127.0.0.1:PORT and listen. PROTO is 0 (TCP,
 * escape "bind-tcp") or 262 (IPPROTO_MPTCP, "bind-mptcp"). */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "bind PORT [PROTO]");
	int proto = argc > 2 ? atoi(argv[2]) : 0;
	const char *name = proto == 262 ? "bind-mptcp" : "bind-tcp";
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto);
	if (s < 0) {
		report(name, errno, "step=socket");
		return 0;
	}
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report(name, errno, "step=bind");
		return 0;
	}
	if (listen(s, 1) < 0) {
		report(name, errno, "step=listen");
		return 0;
	}
	report(name, 0, NULL);
	return 0;
}
