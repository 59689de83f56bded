/*
 * proc MODE ARGS: what a session can learn through /proc and /dev/shm.
 *
 *   proc hold TOKEN        session A: create /dev/shm/marker-TOKEN, print
 *                          escape=shm-hold, wait for EOF on stdin.
 *   proc look HOSTPID OTHERPID TOKEN SECRET
 *                          session B, one line per attempt:
 *     proc-other-session   stat /proc/OTHERPID (session A's program, by
 *                          its pid on the host)
 *     proc-host            stat /proc/HOSTPID (a host process)
 *     proc-host-environ    open /proc/HOSTPID/environ
 *     proc-host-cmdline    open /proc/HOSTPID/cmdline
 *     proc-host-root       readlink /proc/HOSTPID/root
 *     proc-host-fd         readlink /proc/HOSTPID/fd/0
 *     proc-self            readlink /proc/self (pid=, the target)
 *     proc-init            read /proc/1/status (name=, ppid= of the program)
 *     proc-init-environ    open /proc/1/environ (sockjail's environment)
 *     proc-sys             stat /proc/sys
 *     proc-sysrq-trigger   stat /proc/sysrq-trigger
 *     proc-kcore           stat /proc/kcore
 *     proc-reopen          open SECRET O_PATH (not checked), then reopen
 *                          it for reading through /proc/self/fd/N
 *     shm-other            stat /dev/shm/marker-TOKEN (A's marker)
 */
#include "escape.h"
#include <fcntl.h>
#include <sys/stat.h>

static void attempt_stat(const char *name, const char *path)
{
	struct stat st;
	report(name, lstat(path, &st) < 0 ? errno : 0, NULL);
}

static void attempt_open(const char *name, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	report(name, fd < 0 ? errno : 0, NULL);
	if (fd >= 0)
		close(fd);
}

static void attempt_readlink(const char *name, const char *path)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	if (n < 0) {
		report(name, errno, NULL);
		return;
	}
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == ' ')
			buf[i] = '_';
	report(name, 0, "target=%s", buf);
}

static void init_status(void)
{
	FILE *f = fopen("/proc/1/status", "re");
	if (!f) {
		report("proc-init", errno, "ppid=%d", (int)getppid());
		return;
	}
	char line[256], name[64] = "?";
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Name:\t%63s", name) == 1)
			break;
	fclose(f);
	report("proc-init", 0, "name=%s ppid=%d", name, (int)getppid());
}

static int look(char **argv)
{
	const char *hostpid = argv[0], *otherpid = argv[1], *token = argv[2], *secret = argv[3];
	char path[4096];

	snprintf(path, sizeof path, "/proc/%s", otherpid);
	attempt_stat("proc-other-session", path);
	snprintf(path, sizeof path, "/proc/%s", hostpid);
	attempt_stat("proc-host", path);
	snprintf(path, sizeof path, "/proc/%s/environ", hostpid);
	attempt_open("proc-host-environ", path);
	snprintf(path, sizeof path, "/proc/%s/cmdline", hostpid);
	attempt_open("proc-host-cmdline", path);
	snprintf(path, sizeof path, "/proc/%s/root", hostpid);
	attempt_readlink("proc-host-root", path);
	snprintf(path, sizeof path, "/proc/%s/fd/0", hostpid);
	attempt_readlink("proc-host-fd", path);

	char buf[64];
	ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
	if (n < 0) {
		report("proc-self", errno, "pid=%d", (int)getpid());
	} else {
		buf[n] = 0;
		report("proc-self", 0, "pid=%d target=%s", (int)getpid(), buf);
	}
	init_status();
	attempt_open("proc-init-environ", "/proc/1/environ");
	attempt_stat("proc-sys", "/proc/sys");
	attempt_stat("proc-sysrq-trigger", "/proc/sysrq-trigger");
	attempt_stat("proc-kcore", "/proc/kcore");

	int o = open(secret, O_PATH | O_CLOEXEC);
	if (o < 0) {
		report("proc-reopen", errno, "step=opath");
	} else {
		snprintf(path, sizeof path, "/proc/self/fd/%d", o);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		report("proc-reopen", fd < 0 ? errno : 0, "step=reopen");
	}

	snprintf(path, sizeof path, "/dev/shm/marker-%s", token);
	attempt_stat("shm-other", path);
	return 0;
}

static int hold(const char *token)
{
	char path[4096];
	snprintf(path, sizeof path, "/dev/shm/marker-%s", token);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	report("shm-hold", fd < 0 ? errno : 0, "path=%s", path);
	if (fd >= 0)
		close(fd);
	char b[256];
	while (read(0, b, sizeof b) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	need_args(argc, 3, "proc hold TOKEN | look HOSTPID OTHERPID TOKEN SECRET");
	if (strcmp(argv[1], "hold") == 0)
		return hold(argv[2]);
	if (strcmp(argv[1], "look") == 0) {
		need_args(argc, 6, "proc look HOSTPID OTHERPID TOKEN SECRET");
		return look(argv + 2);
	}
	fprintf(stderr, "proc: unknown mode %s\n", argv[1]);
	return 2;
}
