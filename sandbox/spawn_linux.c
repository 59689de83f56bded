/*
 * sockjail's spawner: fork the program from a cgo call, confine it, exec it.
 *
 * Why C: go-landlock (below Landlock ABI 8), libseccomp and setrlimit all act
 * on every thread of the calling process, and a re-exec of sockjail as a
 * second stage costs a whole Go runtime start per connection. So the Go side
 * computes everything once (seccomp BPF, Landlock ruleset fd, ids, limits)
 * and this file applies it in a forked child, between fork and execve,
 * where only one thread exists. See docs/design.md, "Spawn path".
 *
 * Everything that runs in a child is async-signal-safe: raw syscalls through
 * syscall(2), no malloc, no stdio, no locks, no glibc wrappers that keep
 * per-process state (glibc's setresuid broadcasts to threads that do not
 * exist in the child and would hang). All data was prepared by the Go side
 * in C memory before the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn_linux.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

/* Landlock's uapi structs, spelled out: Debian 12's headers predate the
 * network rules and scopes. */
struct sj_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
struct sj_ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));
struct sj_ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};
#define SJ_LL_RULE_PATH_BENEATH 1
#define SJ_LL_RULE_NET_PORT 2
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* The kernel's struct sigaction for rt_sigaction(2) on x86-64. */
struct sj_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static size_t sj_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* sj_fail reports the failed step and its errno to the parent and exits.
 * The parent turns it into a Go error; 127 is the shell's "cannot run". */
static void __attribute__((noreturn)) sj_fail(int errfd, int step)
{
	int32_t msg[2] = {step, errno};
	syscall(SYS_write, errfd, msg, sizeof msg);
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}

static int sj_write_file(const char *path, const char *data)
{
	int fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = sj_strlen(data);
	long w = syscall(SYS_write, fd, data, n);
	int e = errno;
	syscall(SYS_close, fd);
	if (w != (long)n) {
		errno = w < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

/* sj_reset_signals sets every handler back to SIG_DFL: the child is a copy of
 * a Go process, and Go's handlers must never run in it. Signals stay blocked
 * until just before execve. */
static void sj_reset_signals(void)
{
	struct sj_ksigaction dfl = {0};
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	}
}

static void sj_ll_add_dir(struct sj_spawn *s, int errfd, int rs, const char *path)
{
	struct sj_ll_path_beneath_attr pb = {s->ll_tmp_access, 0};
	int fd = syscall(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK_TMP);
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, rs, SJ_LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK_TMP);
	syscall(SYS_close, fd);
}

/* sj_landlock builds the session's ruleset and enforces it on this process.
 *
 * It is built here, per session, and not once in sockjail: Landlock's path
 * walk skips a mountpoint that a mount covers ("hidden mount points"), so a
 * rule on the host's /tmp directory does not reach the tmpfs mounted over it
 * in the child. The rule must name the tmpfs root itself, which exists only
 * after the mount. The other rules come from descriptors sockjail opened once,
 * so this costs one syscall per rule. */
static void sj_landlock(struct sj_spawn *s, int errfd)
{
	struct sj_ll_ruleset_attr attr = {s->ll_handled_fs, s->ll_handled_net, s->ll_scoped};
	int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK_CREATE);
	for (int i = 0; i < s->nllpaths; i++) {
		struct sj_ll_path_beneath_attr pb = {s->llpaths[i].access, s->llpaths[i].fd};
		if (syscall(SYS_landlock_add_rule, rs, SJ_LL_RULE_PATH_BENEATH, &pb, 0) < 0)
			sj_fail(errfd, SJ_STEP_LANDLOCK_RULE);
	}
	for (int i = 0; i < s->nllports; i++) {
		struct sj_ll_net_port_attr np = {s->llports[i].access, s->llports[i].port};
		if (syscall(SYS_landlock_add_rule, rs, SJ_LL_RULE_NET_PORT, &np, 0) < 0)
			sj_fail(errfd, SJ_STEP_LANDLOCK_RULE);
	}
	if (s->ll_tmp_access) {
		if (s->clone_flags & CLONE_NEWNS)
			for (int i = 0; i < s->ntmp; i++)
				sj_ll_add_dir(s, errfd, rs, s->tmp_paths[i]);
		if (s->ll_tmpdir)
			sj_ll_add_dir(s, errfd, rs, s->ll_tmpdir);
	}
	if (syscall(SYS_landlock_restrict_self, rs, s->ll_flags) < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK);
	syscall(SYS_close, rs);
}

/* sj_program turns the current (single-threaded) child into the confined
 * program. It never returns. The order matters: rlimits and the bounding set
 * need privilege, so they come before the uid change; no_new_privs before
 * Landlock; seccomp last, so the filter need not allow the setup syscalls. */
static void __attribute__((noreturn)) sj_program(struct sj_spawn *s, int errfd)
{
	int fd[3];

	if (errfd < 3) {
		int n = fcntl(errfd, F_DUPFD_CLOEXEC, 3);
		if (n < 0)
			sj_fail(errfd, SJ_STEP_DUP);
		errfd = n;
	}
	if (syscall(SYS_setsid) < 0)
		sj_fail(errfd, SJ_STEP_SETSID);

	/* Move sources that sit in 0..2 out of the way first, so that
	 * dup2(fd[1], 1) cannot clobber a source still needed for 2. */
	for (int i = 0; i < 3; i++) {
		fd[i] = s->fd[i];
		if (fd[i] < 0) {
			fd[i] = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
			if (fd[i] < 0)
				sj_fail(errfd, SJ_STEP_DUP);
		}
		if (fd[i] < 3) {
			int n = syscall(SYS_fcntl, fd[i], F_DUPFD_CLOEXEC, 3);
			if (n < 0)
				sj_fail(errfd, SJ_STEP_DUP);
			fd[i] = n;
		}
	}
	for (int i = 0; i < 3; i++) {
		/* dup2 leaves FD_CLOEXEC clear on the new descriptor. */
		if (syscall(SYS_dup2, fd[i], i) < 0)
			sj_fail(errfd, SJ_STEP_DUP);
	}
	if (s->ctty && syscall(SYS_ioctl, 0, TIOCSCTTY, 0) < 0)
		sj_fail(errfd, SJ_STEP_TIOCSCTTY);
	/* Everything else sockjail holds (other connections, the ruleset fd,
	 * the error pipe) is closed by execve. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		sj_fail(errfd, SJ_STEP_CLOSE_RANGE);
	if (s->workdir && syscall(SYS_chdir, s->workdir) < 0)
		sj_fail(errfd, SJ_STEP_CHDIR);

	for (int i = 0; i < s->nrlim; i++) {
		struct rlimit rl = {s->rlim[i].cur, s->rlim[i].max};
		if (syscall(SYS_prlimit64, 0, s->rlim[i].resource, &rl, NULL) < 0)
			sj_fail(errfd, SJ_STEP_SETRLIMIT);
	}
	if (s->drop_bset) {
		for (int c = 0; c <= s->last_cap; c++)
			if (syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
				sj_fail(errfd, SJ_STEP_CAPBSET);
	}
	if (s->set_groups && syscall(SYS_setgroups, s->ngroups, s->groups) < 0)
		sj_fail(errfd, SJ_STEP_SETGROUPS);
	if (s->set_ids) {
		if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
			sj_fail(errfd, SJ_STEP_SETRESGID);
		if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
			sj_fail(errfd, SJ_STEP_SETRESUID);
	}
	if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		sj_fail(errfd, SJ_STEP_AMBIENT);
	{
		struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct data[2];
		memset(data, 0, sizeof data);
		if (syscall(SYS_capset, &hdr, data) < 0)
			sj_fail(errfd, SJ_STEP_CAPSET);
	}
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		sj_fail(errfd, SJ_STEP_NO_NEW_PRIVS);
	if (s->ll_enabled)
		sj_landlock(s, errfd);
	/* Unblock before the filter, which need not allow rt_sigprocmask. A
	 * signal arriving now takes its default action, as it would a moment
	 * after execve. */
	{
		uint64_t none = 0;
		if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8) < 0)
			sj_fail(errfd, SJ_STEP_SIGMASK);
	}
	if (s->bpf) {
		struct sock_fprog prog = {s->bpf_len, (struct sock_filter *)s->bpf};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			sj_fail(errfd, SJ_STEP_SECCOMP);
	}
	syscall(SYS_execve, s->path, s->argv, s->envp);
	sj_fail(errfd, SJ_STEP_EXECVE);
}

/* sj_init is pid 1 of the session's PID namespace. It forwards the usual
 * job-control signals to the program (a program that is itself pid 1 would
 * ignore SIGTERM without a handler), reaps orphans, and when the program
 * exits reports its raw wait status and exits; the kernel then kills every
 * other process left in the namespace. */
static void __attribute__((noreturn)) sj_init(pid_t prog, int stfd)
{
	uint64_t set = 0;
	int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

	syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (stfd > 0)
		syscall(SYS_close_range, 0, stfd - 1, 0);
	syscall(SYS_close_range, stfd + 1, ~0U, 0);

	for (unsigned i = 0; i < sizeof fwd / sizeof fwd[0]; i++)
		set |= 1ULL << (fwd[i] - 1);
	set |= 1ULL << (SIGCHLD - 1);
	for (;;) {
		siginfo_t si;
		int sig = syscall(SYS_rt_sigtimedwait, &set, &si, NULL, 8);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			syscall(SYS_kill, prog, sig);
			continue;
		}
		for (;;) {
			int st;
			long p = syscall(SYS_wait4, -1, &st, WNOHANG, NULL);
			if (p <= 0)
				break;
			if (p == prog) {
				int32_t st32 = st;
				syscall(SYS_write, stfd, &st32, sizeof st32);
				syscall(SYS_exit_group, 0);
			}
		}
	}
}

static void __attribute__((noreturn)) sj_child(struct sj_spawn *s, int errfd, int stfd)
{
	sj_reset_signals();
	if (s->pdeathsig && syscall(SYS_prctl, PR_SET_PDEATHSIG, s->pdeathsig, 0, 0, 0) < 0)
		sj_fail(errfd, SJ_STEP_PDEATHSIG);
	if (s->clone_flags & CLONE_NEWUSER) {
		/* An unprivileged process may map only its own ids, and only
		 * after giving up setgroups(2) in the namespace. */
		if (sj_write_file("/proc/self/setgroups", "deny") < 0)
			sj_fail(errfd, SJ_STEP_SETGROUPS_DENY);
		if (sj_write_file("/proc/self/uid_map", s->uid_map) < 0)
			sj_fail(errfd, SJ_STEP_UID_MAP);
		if (sj_write_file("/proc/self/gid_map", s->gid_map) < 0)
			sj_fail(errfd, SJ_STEP_GID_MAP);
	}
	if (s->clone_flags & CLONE_NEWNS) {
		/* Keep our tmpfs mounts from propagating back to the host. */
		if (syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			sj_fail(errfd, SJ_STEP_MOUNT_PRIVATE);
		for (int i = 0; i < s->ntmp; i++)
			if (syscall(SYS_mount, "tmpfs", s->tmp_paths[i], "tmpfs",
				    MS_NOSUID | MS_NODEV, s->tmp_opts) < 0)
				sj_fail(errfd, SJ_STEP_MOUNT_TMP);
	}
	if (s->init) {
		long pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
		if (pid < 0)
			sj_fail(errfd, SJ_STEP_FORK_PROGRAM);
		if (pid == 0)
			sj_program(s, errfd);
		sj_init(pid, stfd);
	}
	sj_program(s, errfd);
}

int sj_spawn(struct sj_spawn *s)
{
	int errp[2], stp[2] = {-1, -1};
	sigset_t all, old;
	int pidfd = -1;
	long pid;
	int e;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	if (s->init && pipe2(stp, O_CLOEXEC) < 0) {
		e = errno;
		close(errp[0]);
		close(errp[1]);
		return -e;
	}
	/* Block every signal across the clone, so that no Go signal handler
	 * can run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = syscall(SYS_clone, s->clone_flags | CLONE_PIDFD | SIGCHLD, 0, &pidfd, NULL, 0);
	if (pid == 0)
		sj_child(s, errp[1], stp[1]);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	close(errp[1]);
	if (stp[1] >= 0)
		close(stp[1]);
	if (pid < 0) {
		close(errp[0]);
		if (stp[0] >= 0)
			close(stp[0]);
		return -e;
	}
	s->pidfd = pidfd;
	s->err_fd = errp[0];
	s->status_fd = stp[0];
	return pid;
}

int sj_probe_clone(unsigned long flags, const char *uid_map, const char *gid_map)
{
	sigset_t all, old;
	long pid;
	int st, e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0) {
		sj_reset_signals();
		if (flags & CLONE_NEWUSER) {
			if (sj_write_file("/proc/self/setgroups", "deny") < 0 ||
			    sj_write_file("/proc/self/uid_map", uid_map) < 0 ||
			    sj_write_file("/proc/self/gid_map", gid_map) < 0)
				syscall(SYS_exit_group, errno & 0xff);
		}
		if ((flags & CLONE_NEWNS) &&
		    syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			syscall(SYS_exit_group, errno & 0xff);
		if ((flags & CLONE_NEWNS) &&
		    syscall(SYS_mount, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k") < 0)
			syscall(SYS_exit_group, errno & 0xff);
		syscall(SYS_exit_group, 0);
	}
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return e;
	while (waitpid(pid, &st, __WALL) < 0)
		if (errno != EINTR)
			return errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return EIO;
}
