/* int80: getpid through the i386 ABI (int 0x80, syscall number 20), which a
 * seccomp filter written for x86-64 numbers would check against the wrong
 * table. The sandbox must kill the process (SIGSYS). */
#include "escape.h"

int main(void)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
	if (ret < 0 && ret > -4096) {
		errno = -ret;
		return check("int80", -1);
	}
	report("int80", 0, "pid=%ld", ret);
	return 0;
}
