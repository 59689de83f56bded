/*
 * triple NAME FAMILY TYPE PROTOCOL: create a socket of a (family, type,
 * protocol) triple that Landlock's TCP rules do not cover (SCTP, SMC over
 * inet, raw, seqpacket), numbers in C notation. The sandbox allows only
 * the triples Landlock covers; a kernel that has the protocol would
 * otherwise give the program a socket that bind and connect rules miss.
 */
#include "escape.h"
#include <sys/socket.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	need_args(argc, 5, "triple NAME FAMILY TYPE PROTOCOL");
	char name[64];
	snprintf(name, sizeof name, "triple-%s", argv[1]);
	long s = syscall(SYS_socket, strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0));
	report(name, s < 0 ? errno : 0, NULL);
	return 0;
}
