/* ptrace PID: PTRACE_ATTACH to a process (sockjail, its helper process,
 * or another session's program); detaches at once if it worked. */
#include "escape.h"
#include <sys/ptrace.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "ptrace PID");
	pid_t pid = atoi(argv[1]);
	if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0)
		return check("ptrace", -1);
	waitpid(pid, NULL, __WALL);
	ptrace(PTRACE_DETACH, pid, 0, 0);
	report("ptrace", 0, NULL);
	return 0;
}
