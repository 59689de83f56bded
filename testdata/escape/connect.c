/* connect IP PORT [PROTO]: connect() to a TCP port on IPv4. PROTO is 0
 * (TCP, escape "connect-tcp") or 262 (IPPROTO_MPTCP, "connect-mptcp"),
 * which Landlock's TCP rules do not cover. PROTO 0x100000106 is MPTCP with
 * garbage in the upper half of the register ("connect-mptcp-hibits"): the
 * kernel reads an int and sees 262, a filter comparing 64 bits may not. */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	need_args(argc, 3, "connect IP PORT [PROTO]");
	unsigned long proto = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
	const char *name = proto_name("connect", proto);
	int s = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto);
	if (s < 0) {
		report(name, errno, "step=socket");
		return 0;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "connect: bad address %s\n", argv[1]);
		return 2;
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report(name, errno, "step=connect");
		return 0;
	}
	/* The protocol the kernel actually gave the socket (262: MPTCP). */
	int got = -1;
	socklen_t gl = sizeof got;
	getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &got, &gl);
	report(name, 0, "proto=%d", got);
	return 0;
}
