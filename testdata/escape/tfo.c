/*
 * tfo IP PORT sendto|sendmsg|sendmmsg|sockopt: open a TCP connection with
 * TCP Fast Open. sendto/sendmsg/sendmmsg with MSG_FASTOPEN connect
 * implicitly, inside the send, where Landlock's connect hook never runs
 * (landlock-lsm/linux issue 41); "sockopt" sets TCP_FASTOPEN_CONNECT and
 * calls connect(2), which Landlock does see. Escape names are
 * "tfo-MODE".
 */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	need_args(argc, 4, "tfo IP PORT sendto|sendmsg|sendmmsg|sockopt");
	const char *mode = argv[3];
	char name[64];
	snprintf(name, sizeof name, "tfo-%s", mode);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		report(name, errno, "step=socket");
		return 0;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "tfo: bad address %s\n", argv[1]);
		return 2;
	}
	char data[] = "tfo";
	struct iovec iov = {.iov_base = data, .iov_len = 3};
	struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
	long rc;
	const char *step = "send";
	if (strcmp(mode, "sendto") == 0) {
		rc = sendto(s, data, 3, MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof sa);
	} else if (strcmp(mode, "sendmsg") == 0) {
		rc = sendmsg(s, &mh, MSG_FASTOPEN);
	} else if (strcmp(mode, "sendmmsg") == 0) {
		struct mmsghdr mm = {.msg_hdr = mh};
		rc = sendmmsg(s, &mm, 1, MSG_FASTOPEN);
	} else if (strcmp(mode, "sockopt") == 0) {
		int one = 1;
		step = "setsockopt";
		rc = setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);
		if (rc == 0) {
			step = "connect";
			rc = connect(s, (struct sockaddr *)&sa, sizeof sa);
		}
		if (rc == 0) {
			step = "send";
			rc = send(s, data, 3, 0);
		}
	} else {
		fprintf(stderr, "tfo: unknown mode %s\n", mode);
		return 2;
	}
	if (rc < 0) {
		report(name, errno, "step=%s", step);
		return 0;
	}
	report(name, 0, NULL);
	return 0;
}
