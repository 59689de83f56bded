/*
 * udp IP PORT TOKEN: send TOKEN in a UDP datagram to IP:PORT. Landlock (up
 * to ABI 7 at least) has no UDP rules, so this reaches the network past
 * [network] unless something else stops it. The test's listener checks
 * whether TOKEN arrived.
 */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	need_args(argc, 4, "udp IP PORT TOKEN");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		report("udp-send", errno, "step=socket");
		return 0;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "udp: bad address %s\n", argv[1]);
		return 2;
	}
	if (sendto(s, argv[3], strlen(argv[3]), 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report("udp-send", errno, "step=sendto");
		return 0;
	}
	report("udp-send", 0, NULL);
	return 0;
}
