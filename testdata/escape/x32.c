/* x32: getpid with the x32 bit set (0x40000000 | 39). The x32 ABI is the
 * x86-64 audit architecture with other numbers, so a filter must check the
 * bit itself. */
#include "escape.h"
#include <sys/syscall.h>

int main(void)
{
	return check("x32", syscall(0x40000000L | SYS_getpid));
}
