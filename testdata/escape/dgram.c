/*
 * dgram sendto|connect|raw|seqpacket|stream PATH TOKEN: reach a pathname
 * unix datagram socket (as journald's, /dev/log or an sd_notify socket)
 * outside the policy from a socketpair(2), without socket(AF_UNIX):
 *
 *   sendto     a SOCK_DGRAM pair, sendto(2) with PATH as the address;
 *   connect    a SOCK_DGRAM pair, connect(2) to PATH, then send(2);
 *   raw        a SOCK_RAW pair (AF_UNIX makes it SOCK_DGRAM), sendto(2);
 *   seqpacket  a SOCK_SEQPACKET pair, sendto(2) with PATH: the kernel
 *              sends to the peer and ignores the address;
 *   stream     a SOCK_STREAM pair whose peer is closed, connect(2) to
 *              PATH: a connected stream socket can't be connected again.
 *
 * It sends TOKEN, so the test can tell whether it arrived. The result's
 * step= says which call failed.
 */
#include "escape.h"
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	need_args(argc, 4, "dgram sendto|connect|raw|seqpacket|stream PATH TOKEN");
	const char *mode = argv[1], *token = argv[3];
	char name[64];
	snprintf(name, sizeof name, "dgram-%s", mode);
	int type = SOCK_DGRAM;
	if (strcmp(mode, "raw") == 0)
		type = SOCK_RAW;
	else if (strcmp(mode, "seqpacket") == 0)
		type = SOCK_SEQPACKET;
	else if (strcmp(mode, "stream") == 0)
		type = SOCK_STREAM;
	else if (strcmp(mode, "sendto") != 0 && strcmp(mode, "connect") != 0) {
		fprintf(stderr, "dgram: unknown mode %s\n", mode);
		return 2;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[2]) >= sizeof sa.sun_path) {
		fprintf(stderr, "dgram: path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[2]);

	int sv[2];
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
		report(name, errno, "step=socketpair");
		return 0;
	}
	if (type == SOCK_STREAM)
		close(sv[1]);
	if (strcmp(mode, "connect") == 0 || type == SOCK_STREAM) {
		if (connect(sv[0], (struct sockaddr *)&sa, sizeof sa) < 0) {
			report(name, errno, "step=connect");
			return 0;
		}
		if (send(sv[0], token, strlen(token), 0) < 0) {
			report(name, errno, "step=send");
			return 0;
		}
	} else if (sendto(sv[0], token, strlen(token), 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report(name, errno, "step=sendto");
		return 0;
	}
	report(name, 0, NULL);
	return 0;
}
