/*
 * probe: a static test helper for the sandbox package. Each argument is one
 * attempt; for each it prints "ATTEMPT ok" or "ATTEMPT ERRNONAME", one line,
 * so the Go test can assert the exact errno. Attempts that should kill the
 * process (i386 int 0x80, where the host has an i386 entry) never print.
 *
 *   open-r:PATH  open-w:PATH  exec:PATH  connect:PORT  bind:PORT  mptcp
 *   setuid0  clone3  int80  x32  ids  limits  tmpfs:PATH  write:PATH
 *   kill:PID  readlink:PATH  ls:DIR  statfs:PATH  exists:PATH
 *
 * readlink prints the link's target, ls the directory's entries sorted and
 * comma-separated, statfs "tmpfs|proc|other SIZE INODES RO" (SIZE in bytes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long rc)
{
	if (rc < 0)
		printf("%s %s\n", what, strerrorname_np(errno));
	else
		printf("%s ok\n", what);
	fflush(stdout);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls(const char *a, const char *dir)
{
	char *names[512];
	int n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		report(a, -1);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 512)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmpstr);
	printf("%s ", a);
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", names[i]);
	printf("\n");
	fflush(stdout);
}

static long tcp(int port, int do_bind, int proto)
{
	int fd = socket(AF_INET, SOCK_STREAM, proto);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	long rc = do_bind ? bind(fd, (void *)&sa, sizeof sa) : connect(fd, (void *)&sa, sizeof sa);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *arg = strchr(a, ':');
		if (arg)
			arg++;
		if (!strncmp(a, "open-r:", 7)) {
			report(a, open(arg, O_RDONLY));
		} else if (!strncmp(a, "open-w:", 7)) {
			report(a, open(arg, O_WRONLY | O_CREAT, 0644));
		} else if (!strcmp(a, "tmpdir-w")) {
			char path[4096];
			snprintf(path, sizeof path, "%s/x", getenv("TMPDIR") ? getenv("TMPDIR") : "/nonexistent");
			report(a, open(path, O_WRONLY | O_CREAT, 0644));
		} else if (!strncmp(a, "write:", 6)) {
			/* write a file of arg bytes to /tmp/probe-out */
			int fd = open("/tmp/probe-out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
			long n = atol(arg), rc = fd;
			static char buf[65536];
			signal(SIGXFSZ, SIG_IGN);
			while (rc >= 0 && n > 0) {
				rc = write(fd, buf, n < (long)sizeof buf ? n : (long)sizeof buf);
				if (rc > 0)
					n -= rc;
			}
			report(a, rc);
		} else if (!strncmp(a, "exec:", 5)) {
			pid_t p = fork();
			if (p == 0) {
				char *av[] = {arg, NULL};
				execv(arg, av);
				_exit(100 + errno);
			}
			int st;
			waitpid(p, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) >= 100) {
				errno = WEXITSTATUS(st) - 100;
				report(a, -1);
			} else
				report(a, 0);
		} else if (!strncmp(a, "connect:", 8)) {
			report(a, tcp(atoi(arg), 0, 0));
		} else if (!strncmp(a, "bind:", 5)) {
			report(a, tcp(atoi(arg), 1, 0));
		} else if (!strcmp(a, "mptcp")) {
			report(a, socket(AF_INET, SOCK_STREAM, 262));
		} else if (!strcmp(a, "mptcp-high")) {
			/* IPPROTO_MPTCP with garbage in the upper 32 bits. */
			report(a, syscall(SYS_socket, AF_INET, SOCK_STREAM, 0x100000000L | 262));
		} else if (!strncmp(a, "unix-connect:", 13)) {
			struct sockaddr_un su = {.sun_family = AF_UNIX};
			int fd = socket(AF_UNIX, SOCK_STREAM, 0);
			long rc = fd;
			if (fd >= 0) {
				strncpy(su.sun_path, arg, sizeof su.sun_path - 1);
				rc = connect(fd, (void *)&su, sizeof su);
			}
			report(a, rc);
		} else if (!strcmp(a, "socketpair")) {
			int sv[2];
			report(a, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		} else if (!strncmp(a, "tfo:", 4)) {
			/* TCP Fast Open: connect inside sendto. */
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(arg))};
			sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			report(a, sendto(fd, "x", 1, MSG_FASTOPEN, (void *)&sa, sizeof sa));
			close(fd);
		} else if (!strncmp(a, "bind-listen:", 12)) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(arg))};
			sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			long rc = bind(fd, (void *)&sa, sizeof sa);
			if (rc == 0)
				rc = listen(fd, 1);
			report(a, rc);
			close(fd);
		} else if (!strcmp(a, "listen-autobind")) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			report(a, listen(fd, 1));
			close(fd);
		} else if (!strcmp(a, "udp")) {
			report(a, socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		} else if (!strcmp(a, "tcp6")) {
			report(a, socket(AF_INET6, SOCK_STREAM, 0));
		} else if (!strcmp(a, "setuid0")) {
			report(a, syscall(SYS_setuid, 0));
		} else if (!strcmp(a, "clone-newuser")) {
			long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
			if (rc == 0)
				_exit(0);
			if (rc > 0)
				waitpid(rc, NULL, 0);
			report(a, rc);
		} else if (!strcmp(a, "unshare-user")) {
			report(a, unshare(CLONE_NEWUSER));
		} else if (!strcmp(a, "clone3")) {
			report(a, syscall(SYS_clone3, NULL, 0));
		} else if (!strcmp(a, "int80")) {
			long rc;
			/* i386 getpid is 20. The filter must kill us here;
			 * unconfined, the answer tells whether this host has an
			 * i386 syscall entry at all. */
			__asm__ volatile("int $0x80" : "=a"(rc) : "a"(20L) : "memory");
			if (rc < 0 && rc > -4096)
				errno = -rc;
			report(a, rc < 0 && rc > -4096 ? -1 : 0);
		} else if (!strcmp(a, "x32")) {
			/* x32 getpid: 0x40000000 | 39. */
			report(a, syscall(0x40000000L | 39));
		} else if (!strcmp(a, "ids")) {
			gid_t g[64];
			int n = getgroups(64, g);
			printf("ids %d %d %d", (int)getuid(), (int)getgid(), n);
			for (int j = 0; j < n; j++)
				printf(" %d", (int)g[j]);
			printf("\n");
			fflush(stdout);
		} else if (!strcmp(a, "limits")) {
			struct rlimit r;
			int res[] = {RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_CORE};
			printf("limits");
			for (unsigned j = 0; j < sizeof res / sizeof res[0]; j++) {
				getrlimit(res[j], &r);
				printf(" %lld/%lld", (long long)(r.rlim_cur == RLIM_INFINITY ? -1 : (long long)r.rlim_cur),
				       (long long)(r.rlim_max == RLIM_INFINITY ? -1 : (long long)r.rlim_max));
			}
			printf("\n");
			fflush(stdout);
		} else if (!strncmp(a, "tmpfs:", 6)) {
			struct statfs sf;
			if (statfs(arg, &sf) < 0)
				report(a, -1);
			else
				printf("%s %s\n", a, sf.f_type == 0x01021994 ? "tmpfs" : "other");
			fflush(stdout);
		} else if (!strncmp(a, "ptrace:", 7)) {
			long rc = ptrace(PTRACE_ATTACH, atoi(arg), 0, 0);
			report(a, rc);
			if (rc == 0)
				ptrace(PTRACE_DETACH, atoi(arg), 0, 0);
		} else if (!strncmp(a, "chmod:", 6)) {
			report(a, chmod(arg, 0777));
		} else if (!strncmp(a, "readlink:", 9)) {
			char buf[4096];
			ssize_t n = readlink(arg, buf, sizeof buf - 1);
			if (n < 0) {
				report(a, -1);
			} else {
				buf[n] = 0;
				printf("%s %s\n", a, buf);
				fflush(stdout);
			}
		} else if (!strncmp(a, "ls:", 3)) {
			ls(a, arg);
		} else if (!strncmp(a, "exists:", 7)) {
			struct stat st;
			report(a, lstat(arg, &st));
		} else if (!strncmp(a, "statfs:", 7)) {
			struct statfs sf;
			if (statfs(arg, &sf) < 0) {
				report(a, -1);
			} else {
				const char *type = sf.f_type == 0x01021994 ? "tmpfs" : sf.f_type == 0x9fa0 ? "proc" : "other";
				printf("%s %s %llu %llu %s\n", a, type, (unsigned long long)sf.f_blocks * sf.f_bsize,
				       (unsigned long long)sf.f_files, sf.f_flags & ST_RDONLY ? "ro" : "rw");
				fflush(stdout);
			}
		} else if (!strncmp(a, "kill:", 5)) {
			report(a, kill(atoi(arg), 0));
		} else {
			printf("%s unknown\n", a);
		}
	}
	return 0;
}
