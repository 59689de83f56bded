/*
 * clone clone|clone3: create a user namespace without unshare(2), through
 * clone(2) with CLONE_NEWUSER, or clone3(2), whose flags sit in memory
 * where a seccomp filter cannot read them. The child exits at once.
 */
#include "escape.h"
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "clone clone|clone3");
	long pid;
	const char *name;
	if (strcmp(argv[1], "clone3") == 0) {
		name = "clone3-newuser";
		struct clone_args ca;
		memset(&ca, 0, sizeof ca);
		ca.flags = CLONE_NEWUSER;
		ca.exit_signal = SIGCHLD;
		pid = syscall(SYS_clone3, &ca, sizeof ca);
	} else {
		name = "clone-newuser";
		/* x86-64 argument order: flags, stack, parent_tid, child_tid, tls. */
		pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0L, 0L, 0L, 0L);
	}
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return check(name, -1);
	waitpid(pid, NULL, 0);
	report(name, 0, NULL);
	return 0;
}
