/* bind PORT [PROTO]: bind() 127.0.0.1:PORT and listen. PROTO is as for
 * connect.c: 0 ("bind-tcp"), 262 ("bind-mptcp") or 0x100000106
 * ("bind-mptcp-hibits"). */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "bind PORT [PROTO]");
	unsigned long proto = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	const char *name = proto_name("bind", proto);
	int s = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto);
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
	/* The protocol the kernel actually gave the socket (262: MPTCP). */
	int got = -1;
	socklen_t gl = sizeof got;
	getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &got, &gl);
	report(name, 0, "proto=%d", got);
	return 0;
}
