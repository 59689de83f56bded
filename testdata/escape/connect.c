/* connect IP PORT [PROTO]: connect() to a TCP port on IPv4. PROTO is 0
 * (TCP, escape "connect-tcp") or 262 (IPPROTO_MPTCP, "connect-mptcp"),
 * which Landlock's TCP rules do not cover. */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	need_args(argc, 3, "connect IP PORT [PROTO]");
	int proto = argc > 3 ? atoi(argv[3]) : 0;
	const char *name = proto == 262 ? "connect-mptcp" : "connect-tcp";
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto);
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
	report(name, 0, NULL);
	return 0;
}
