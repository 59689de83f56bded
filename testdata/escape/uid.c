/*
 * uid [orphan [TOKEN]]: report the program's uid and gid, then wait for EOF on
 * stdin. With "orphan" it first leaves a child behind in a new session,
 * sleeping, to check that sockjail ends the whole tree and only then frees
 * a dynamic uid. TOKEN, ignored, marks the command line for the test.
 */
#include "escape.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	const char *orphan = "none";
	if (argc > 1 && strcmp(argv[1], "orphan") == 0) {
		/* The child forks the sleeper, then tells through a pipe
		 * whether that worked, and exits: the sleeper is orphaned. */
		int p[2];
		char ok = 0;
		if (pipe(p) < 0) {
			orphan = errname(errno);
		} else {
			pid_t pid = fork();
			if (pid == 0) {
				setsid();
				pid_t g = fork();
				if (g == 0) {
					close(0);
					close(1);
					close(p[1]);
					sleep(120);
					_exit(0);
				}
				ok = g > 0;
				write(p[1], &ok, 1);
				_exit(0);
			}
			close(p[1]);
			if (pid < 0 || read(p[0], &ok, 1) != 1 || !ok)
				orphan = "failed";
			else
				orphan = "ok";
			waitpid(pid, NULL, 0);
		}
	}
	report("uid", 0, "uid=%u gid=%u orphan=%s", (unsigned)getuid(), (unsigned)getgid(), orphan);
	char buf[256];
	while (read(0, buf, sizeof buf) > 0)
		;
	return 0;
}
