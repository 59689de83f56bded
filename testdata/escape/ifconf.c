/*
 * ifconf fd0|socket|name|index|arp: ask the kernel about the host's network
 * interfaces through socket ioctls, which answer for the network namespace
 * of the socket asked, not of the caller:
 *
 *   fd0     SIOCGIFCONF on the connection itself (fd 0), a socket of the
 *           host's namespace whatever namespace the program is in;
 *   socket  SIOCGIFCONF on a new TCP socket;
 *   name    SIOCGIFNAME: the name of interface index 1;
 *   index   SIOCGIFINDEX of "lo";
 *   arp     SIOCGARP: the neighbour entry of 127.0.0.1.
 *
 * On success it reports how many interfaces (ifs=) or the name (name=).
 */
#include "escape.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "ifconf fd0|socket|name|index|arp");
	const char *mode = argv[1];
	char name[64];
	snprintf(name, sizeof name, "ifconf-%s", mode);
	int s = 0;
	if (strcmp(mode, "fd0") != 0) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			report(name, errno, "step=socket");
			return 0;
		}
	}
	if (strcmp(mode, "fd0") == 0 || strcmp(mode, "socket") == 0) {
		struct ifreq ifr[64];
		struct ifconf ifc = {.ifc_len = sizeof ifr, .ifc_req = ifr};
		if (ioctl(s, SIOCGIFCONF, &ifc) < 0) {
			report(name, errno, "step=ioctl");
			return 0;
		}
		report(name, 0, "ifs=%d", (int)(ifc.ifc_len / sizeof ifr[0]));
	} else if (strcmp(mode, "name") == 0) {
		struct ifreq ifr = {.ifr_ifindex = 1};
		if (ioctl(s, SIOCGIFNAME, &ifr) < 0) {
			report(name, errno, "step=ioctl");
			return 0;
		}
		report(name, 0, "name=%s", ifr.ifr_name);
	} else if (strcmp(mode, "index") == 0) {
		struct ifreq ifr = {0};
		strcpy(ifr.ifr_name, "lo");
		if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
			report(name, errno, "step=ioctl");
			return 0;
		}
		report(name, 0, "index=%d", ifr.ifr_ifindex);
	} else if (strcmp(mode, "arp") == 0) {
		struct arpreq req = {0};
		struct sockaddr_in *sin = (struct sockaddr_in *)&req.arp_pa;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		strcpy(req.arp_dev, "lo");
		/* Unconfined, lo has no neighbour entry: ENXIO from the
		 * kernel's lookup, not a refusal. */
		report(name, ioctl(s, SIOCGARP, &req) < 0 ? errno : 0, "step=ioctl");
	} else {
		fprintf(stderr, "ifconf: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
