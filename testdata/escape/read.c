/* read PATH: open a file outside the allowed paths and read from it. */
#include "escape.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "read PATH");
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return check("read", -1);
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0)
		return check("read", -1);
	report("read", 0, "bytes=%zd", n);
	return 0;
}
