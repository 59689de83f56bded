/* mem BYTES: map and touch BYTES of anonymous memory, past RLIMIT_AS. */
#include "escape.h"
#include <sys/mman.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "mem BYTES");
	size_t n = strtoull(argv[1], NULL, 10);
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return check("address-space", -1);
	for (size_t i = 0; i < n; i += 4096)
		p[i] = 1;
	report("address-space", 0, "bytes=%zu", n);
	return 0;
}
