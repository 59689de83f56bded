/*
 * prio prlimit|nice|affinity PID: change another process's resource limit
 * (prlimit64), nice value (setpriority) or CPU affinity
 * (sched_setaffinity), as the kernel lets a process of the same uid do. PID
 * is sockjail's own: without a PID namespace it runs as the program's uid,
 * and a lowered RLIMIT_CPU would have the kernel kill it. The program reads
 * the current value first (step=get) and sets the same (step=set), so a
 * success harms nothing.
 */
#include "escape.h"
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	need_args(argc, 3, "prio prlimit|nice|affinity PID");
	const char *mode = argv[1];
	pid_t pid = atoi(argv[2]);
	char name[64];
	snprintf(name, sizeof name, "prio-%s", mode);
	if (strcmp(mode, "prlimit") == 0) {
		struct rlimit old;
		if (syscall(SYS_prlimit64, pid, RLIMIT_CPU, NULL, &old) < 0) {
			report(name, errno, "step=get");
			return 0;
		}
		if (syscall(SYS_prlimit64, pid, RLIMIT_CPU, &old, NULL) < 0) {
			report(name, errno, "step=set");
			return 0;
		}
	} else if (strcmp(mode, "nice") == 0) {
		errno = 0;
		int prio = getpriority(PRIO_PROCESS, pid);
		if (prio == -1 && errno) {
			report(name, errno, "step=get");
			return 0;
		}
		if (setpriority(PRIO_PROCESS, pid, prio) < 0) {
			report(name, errno, "step=set");
			return 0;
		}
	} else if (strcmp(mode, "affinity") == 0) {
		cpu_set_t set;
		if (sched_getaffinity(pid, sizeof set, &set) < 0) {
			report(name, errno, "step=get");
			return 0;
		}
		if (sched_setaffinity(pid, sizeof set, &set) < 0) {
			report(name, errno, "step=set");
			return 0;
		}
	} else {
		fprintf(stderr, "prio: unknown mode %s\n", mode);
		return 2;
	}
	report(name, 0, NULL);
	return 0;
}
