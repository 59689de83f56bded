/*
 * forkbomb MAX: fork children that sleep until killed, at most MAX of them
 * (the loop is bounded so that a broken nproc limit cannot run away), then
 * kill and reap them all. It reports EAGAIN when fork was refused before
 * MAX, and the number of children it got.
 */
#include "escape.h"
#include <signal.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "forkbomb MAX");
	int max = atoi(argv[1]);
	if (max <= 0 || max > 4096) {
		fprintf(stderr, "forkbomb: MAX must be 1..4096\n");
		return 2;
	}
	pid_t *kids = calloc(max, sizeof *kids);
	int n, err = 0;
	for (n = 0; n < max; n++) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			for (;;)
				pause();
		}
		kids[n] = pid;
	}
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	report("forkbomb", err, "forks=%d", n);
	return 0;
}
