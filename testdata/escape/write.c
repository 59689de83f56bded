/* write PATH: create (or truncate) a file outside the allowed paths. */
#include "escape.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "write PATH");
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return check("write", -1);
	return check("write", write(fd, "escaped\n", 8));
}
