/*
 * sys NAME NR [ARG...]: make system call NR with up to six numeric
 * arguments (decimal, hex with 0x, or negative) and report it as escape
 * "sys-NAME". The arguments are chosen so that the call is harmless when it
 * runs; what matters is whether the sandbox lets it run at all.
 */
#include "escape.h"
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	need_args(argc, 3, "sys NAME NR [ARG...]");
	long a[6] = {0};
	for (int i = 3; i < argc && i < 9; i++)
		a[i - 3] = strtol(argv[i], NULL, 0);
	char name[64];
	snprintf(name, sizeof name, "sys-%s", argv[1]);
	return check(name, syscall(strtol(argv[2], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]));
}
