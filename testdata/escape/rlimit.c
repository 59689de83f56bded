/* rlimit: raise RLIMIT_NOFILE's hard limit by one, which needs
 * CAP_SYS_RESOURCE. The hard limit is first lowered to at most 1024 (the
 * default policy's nofile), so that unconfined root can raise it again and
 * the attempt is not refused by fs.nr_open instead. */
#include "escape.h"
#include <sys/resource.h>

int main(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return check("rlimit-raise", -1);
	if (rl.rlim_max == RLIM_INFINITY) {
		/* Nothing to raise: the limit is already unlimited. */
		report("rlimit-raise", 0, "hard=unlimited");
		return 0;
	}
	if (rl.rlim_max > 1024) {
		rl.rlim_max = rl.rlim_cur = 1024;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return check("rlimit-raise", -1);
	}
	rl.rlim_max++;
	rl.rlim_cur = rl.rlim_max;
	return check("rlimit-raise", setrlimit(RLIMIT_NOFILE, &rl));
}
