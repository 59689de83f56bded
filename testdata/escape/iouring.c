/* iouring: io_uring_setup. io_uring's requests bypass seccomp entirely, so
 * the default policy must refuse the ring itself. */
#include "escape.h"
#include <linux/io_uring.h>
#include <sys/syscall.h>

int main(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	return check("io-uring", syscall(SYS_io_uring_setup, 4, &p));
}
