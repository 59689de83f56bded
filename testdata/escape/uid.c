/*
 * uid [orphan]: report the program's uid and gid, then wait for EOF on
 * stdin. With "orphan" it first leaves a child behind in a new session,
 * sleeping, to check that sockjail ends the whole tree and only then frees
 * a dynamic uid.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "orphan") == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			setsid();
			if (fork() == 0) {
				close(0);
				close(1);
				sleep(120);
			}
			_exit(0);
		}
	}
	report("uid", 0, "uid=%u gid=%u", (unsigned)getuid(), (unsigned)getgid());
	char buf[256];
	while (read(0, buf, sizeof buf) > 0)
		;
	return 0;
}
