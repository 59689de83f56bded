/*
 * flood: use up a limit the kernel counts per uid, or check that this
 * session can still do ordinary work. The first line on stdin says which:
 *
 *   nproc    fork sleeping children until fork fails (RLIMIT_NPROC counts
 *            every process of the uid on the machine), at most 4096;
 *   inotify  create inotify instances until that fails
 *            (fs.inotify.max_user_instances counts them per uid), at most
 *            4096;
 *   probe    fork one child and create one inotify instance.
 *
 * A flood reports how far it got (count=) and the errno that stopped it,
 * then holds everything until EOF on stdin, so that another session can be
 * tried meanwhile. probe reports ok, or the errno and step that failed.
 */
#include "escape.h"
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>

static void hold(void)
{
	char buf[256];
	while (read(0, buf, sizeof buf) > 0)
		;
}

int main(void)
{
	char cmd[32] = {0};
	for (size_t i = 0; i < sizeof cmd - 1; i++) {
		if (read(0, &cmd[i], 1) != 1 || cmd[i] == '\n') {
			cmd[i] = 0;
			break;
		}
	}
	int n = 0, err = 0;
	if (strcmp(cmd, "nproc") == 0) {
		for (; n < 4096; n++) {
			pid_t pid = fork();
			if (pid == 0) {
				close(0);
				close(1);
				pause();
				_exit(0);
			}
			if (pid < 0) {
				err = errno;
				break;
			}
		}
		report("flood-nproc", err, "count=%d", n);
		hold();
		kill(0, SIGKILL);
		return 0;
	}
	if (strcmp(cmd, "inotify") == 0) {
		for (; n < 4096; n++) {
			if (inotify_init1(IN_CLOEXEC) < 0) {
				err = errno;
				break;
			}
		}
		report("flood-inotify", err, "count=%d", n);
		hold();
		return 0;
	}
	if (strcmp(cmd, "probe") == 0) {
		pid_t pid = fork();
		if (pid < 0) {
			report("flood-probe", errno, "step=fork");
			return 0;
		}
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		if (inotify_init1(IN_CLOEXEC) < 0) {
			report("flood-probe", errno, "step=inotify");
			return 0;
		}
		report("flood-probe", 0, NULL);
		return 0;
	}
	fprintf(stderr, "flood: unknown command %s\n", cmd);
	return 2;
}
