/*
 * family vsock|netlink: create a socket of an address family that Landlock
 * has no rules for. AF_VSOCK reaches the hypervisor's host from a VM;
 * AF_NETLINK talks to the kernel's network configuration. The sandbox
 * refuses every family but AF_UNIX, AF_INET and AF_INET6 (EAFNOSUPPORT), as
 * systemd's RestrictAddressFamilies= does.
 */
#include "escape.h"
#include <linux/netlink.h>
#include <sys/socket.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

int main(int argc, char **argv)
{
	need_args(argc, 2, "family vsock|netlink");
	int s;
	if (strcmp(argv[1], "vsock") == 0)
		s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	else if (strcmp(argv[1], "netlink") == 0)
		s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	else {
		fprintf(stderr, "family: unknown family %s\n", argv[1]);
		return 2;
	}
	report(argv[1][0] == 'v' ? "family-vsock" : "family-netlink", s < 0 ? errno : 0, NULL);
	return 0;
}
