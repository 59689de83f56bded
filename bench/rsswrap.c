/* rsswrap runs a command and appends its peak resident set size to a file:
 *
 *     rsswrap OUTFILE PROGRAM [ARGS...]
 *
 * It forks, execs PROGRAM (searched in PATH) in the child with fd 0/1/2 unchanged, closes its
 * own copies of fd 0 and 1 (so that it never holds the connection open), and
 * waits with wait4. The line appended is ru_maxrss in KiB: the largest RSS
 * of PROGRAM or of any descendant it waited for (Linux keeps the maximum over
 * the waited-for tree). For `sockjail run -- hello` that is sockjail's own
 * peak, since the static hello needs far less. It exits with PROGRAM's
 * status, 128+N for a signal N.
 *
 * It is written in C, not Go, so that measuring costs no runtime start of
 * its own on the connection's path. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: rsswrap OUTFILE PROGRAM [ARGS...]\n");
		return 64;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("rsswrap: fork");
		return 71;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("rsswrap: exec");
		_exit(127);
	}
	close(0);
	close(1);
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		perror("rsswrap: wait4");
		return 71;
	}
	int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		char line[32];
		int n = snprintf(line, sizeof line, "%ld\n", ru.ru_maxrss);
		/* One write with O_APPEND: concurrent wrappers don't interleave. */
		if (write(fd, line, n) != n)
			perror("rsswrap: write");
		close(fd);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
