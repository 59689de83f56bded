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
 * The children share sockjail's memory (CLONE_VM, like posix_spawn): a
 * fork-style copy of a Go process costs page tables and copy-on-write faults
 * in proportion to its heap (measured: 1.3 ms at an empty heap, 6 ms at
 * 64 MiB, 20 ms at 256 MiB), and `serve` has a large heap. So everything
 * that runs in a child is async-signal-safe and touches no shared state:
 * raw inline syscalls that return -errno (glibc's syscall(2) writes errno,
 * which lives in the TLS of the sockjail thread the child was cloned from),
 * no malloc, no stdio, no locks, no stack protector (its canary is in that
 * TLS too), and its own stack. All data was prepared by the Go side in C
 * memory before the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn_linux.h"

/* sj_sys makes a raw x86-64 syscall and returns the kernel's result:
 * -errno on failure. It never touches errno. */
static inline long sj_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define SJ_A(x) ((long)(x))
#define sj_sys0(n) sj_sys6(n, 0, 0, 0, 0, 0, 0)
#define sj_sys1(n, a) sj_sys6(n, SJ_A(a), 0, 0, 0, 0, 0)
#define sj_sys2(n, a, b) sj_sys6(n, SJ_A(a), SJ_A(b), 0, 0, 0, 0)
#define sj_sys3(n, a, b, c) sj_sys6(n, SJ_A(a), SJ_A(b), SJ_A(c), 0, 0, 0)
#define sj_sys4(n, a, b, c, d) sj_sys6(n, SJ_A(a), SJ_A(b), SJ_A(c), SJ_A(d), 0, 0)
#define sj_sys5(n, a, b, c, d, e) sj_sys6(n, SJ_A(a), SJ_A(b), SJ_A(c), SJ_A(d), SJ_A(e), 0)

/* Stacks of the children: A lives on as the namespace's init, B (the
 * program before execve) borrows part of A's. */
#define SJ_STACK_SIZE (256 * 1024)
#define SJ_STACK_B (64 * 1024)

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

/* sj_fail reports the failed step and its errno (err is -errno, as sj_sys
 * returns it) to the parent and exits. 127 is the shell's "cannot run". */
static void __attribute__((noreturn)) sj_fail(int errfd, int step, long err)
{
	int32_t msg[2] = {step, (int32_t)-err};
	sj_sys3(SYS_write, errfd, msg, sizeof msg);
	for (;;)
		sj_sys1(SYS_exit_group, 127);
}

static long sj_write_file(const char *path, const char *data)
{
	long fd = sj_sys4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	size_t n = sj_strlen(data);
	long w = sj_sys3(SYS_write, fd, data, n);
	sj_sys1(SYS_close, fd);
	if (w < 0)
		return w;
	return w == (long)n ? 0 : -EIO;
}

/* sj_mount_proc mounts the session's procfs: read-only, and with
 * subset=pid (Linux 5.8) only the process directories, self and thread-self,
 * so no /proc/sys, /proc/sysrq-trigger, /proc/kcore or other system files. */
static long sj_mount_proc(void)
{
	return sj_sys5(SYS_mount, "proc", "/proc", "proc",
		       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid");
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
		sj_sys4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	}
}

static void sj_ll_add_dir(int errfd, long rs, const char *path, uint64_t access)
{
	struct sj_ll_path_beneath_attr pb = {access, 0};
	/* O_NOFOLLOW: the TmpDir-mode directory sits in the shared /tmp, owned
	 * by the session's uid, which could rename it and leave a link in its
	 * place; the rule must never follow one (to "/", say). */
	long fd = sj_sys4(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK_TMP, fd);
	pb.parent_fd = fd;
	long r = sj_sys4(SYS_landlock_add_rule, rs, SJ_LL_RULE_PATH_BENEATH, &pb, 0);
	if (r < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK_TMP, r);
	sj_sys1(SYS_close, fd);
}

/* sj_landlock builds the session's ruleset and enforces it on this process.
 *
 * It is built here, per session, and not once in sockjail: Landlock's path
 * walk skips a mountpoint that a mount covers ("hidden mount points"), so a
 * rule on the host's /tmp directory does not reach the tmpfs mounted over it
 * in the child. The rule must name the tmpfs root itself, which exists only
 * after the mount. The same holds for the fresh /proc and the private
 * /dev/shm. The other rules come from descriptors sockjail opened once,
 * so this costs one syscall per rule. */
static void sj_landlock(struct sj_spawn *s, int errfd)
{
	struct sj_ll_ruleset_attr attr = {s->ll_handled_fs, s->ll_handled_net, s->ll_scoped};
	long r, rs = sj_sys3(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK_CREATE, rs);
	for (int i = 0; i < s->nllpaths; i++) {
		struct sj_ll_path_beneath_attr pb = {s->llpaths[i].access, s->llpaths[i].fd};
		if ((r = sj_sys4(SYS_landlock_add_rule, rs, SJ_LL_RULE_PATH_BENEATH, &pb, 0)) < 0)
			sj_fail(errfd, SJ_STEP_LANDLOCK_RULE, r);
	}
	for (int i = 0; i < s->nllports; i++) {
		struct sj_ll_net_port_attr np = {s->llports[i].access, s->llports[i].port};
		if ((r = sj_sys4(SYS_landlock_add_rule, rs, SJ_LL_RULE_NET_PORT, &np, 0)) < 0)
			sj_fail(errfd, SJ_STEP_LANDLOCK_RULE, r);
	}
	if (s->ll_tmp_access) {
		if (s->clone_flags & CLONE_NEWNS)
			for (int i = 0; i < s->ntmp; i++)
				sj_ll_add_dir(errfd, rs, s->tmp_paths[i], s->ll_tmp_access);
		if (s->ll_tmpdir)
			sj_ll_add_dir(errfd, rs, s->ll_tmpdir, s->ll_tmp_access);
	}
	/* The new mounts' roots: a rule on the host's /proc or /dev/shm
	 * would not reach them (hidden mount points, as for /tmp). */
	if (s->clone_flags & CLONE_NEWNS) {
		if (s->mount_proc && s->ll_proc_access)
			sj_ll_add_dir(errfd, rs, "/proc", s->ll_proc_access);
		if (s->shm_opts && s->ll_tmp_access)
			sj_ll_add_dir(errfd, rs, "/dev/shm", s->ll_tmp_access);
	}
	if ((r = sj_sys2(SYS_landlock_restrict_self, rs, s->ll_flags)) < 0)
		sj_fail(errfd, SJ_STEP_LANDLOCK, r);
	sj_sys1(SYS_close, rs);
}

/* sj_rlimit_late reports whether limit l is RLIMIT_NOFILE and lowers (or
 * keeps) the hard maximum, so that it can be applied after privileges are
 * gone and after the Landlock ruleset has been built. */
static int sj_rlimit_late(const struct sj_rlimit *l)
{
	struct rlimit cur;
	if (l->resource != RLIMIT_NOFILE)
		return 0;
	if (sj_sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &cur) < 0)
		return 0;
	return l->max <= cur.rlim_max;
}

/* sj_rlimits applies the policy's rlimits: the early ones (late = 0), or the
 * ones sj_rlimit_late keeps for after Landlock (late = 1). */
static void sj_rlimits(struct sj_spawn *s, int errfd, int late)
{
	long r;
	for (int i = 0; i < s->nrlim; i++) {
		if (sj_rlimit_late(&s->rlim[i]) != late)
			continue;
		struct rlimit rl = {s->rlim[i].cur, s->rlim[i].max};
		if ((r = sj_sys4(SYS_prlimit64, 0, s->rlim[i].resource, &rl, NULL)) < 0)
			sj_fail(errfd, SJ_STEP_SETRLIMIT, r);
	}
}

/* sj_exec_path returns the path to execute the program by: its own path
 * when the program's user can reach it (checked now, after the uid change
 * and before Landlock, so that only the file system's permissions and the
 * session's mounts count), else /proc/self/fd/N of the descriptor sockjail
 * opened, written into buf. A script's interpreter opens that path again
 * after execve, so for a script N is a copy without close-on-exec: the
 * program then holds one descriptor of its own file. */
static const char *sj_exec_path(struct sj_spawn *s, int errfd, char buf[32])
{
	static const char prefix[] = "/proc/self/fd/";
	char digits[12];
	long fd = s->prog_fd, r;
	int n = 0, i = 0;

	if (fd < 0)
		return s->path;
	r = sj_sys4(SYS_faccessat, AT_FDCWD, s->path, X_OK, 0);
	if (r != -ENOENT && r != -EACCES)
		return s->path;
	if (s->prog_script && (fd = sj_sys3(SYS_fcntl, fd, F_DUPFD, 3)) < 0)
		sj_fail(errfd, SJ_STEP_PROG_FD, fd);
	do
		digits[n++] = '0' + fd % 10;
	while ((fd /= 10) > 0);
	for (; prefix[i]; i++)
		buf[i] = prefix[i];
	while (n > 0)
		buf[i++] = digits[--n];
	buf[i] = 0;
	return buf;
}

/* sj_trace loads the tracing filter, which sends every syscall to a
 * user-notification listener, and hands the listener to sockjail over
 * trace_sock with SCM_RIGHTS. That sendmsg is the one call the filter lets
 * through unseen (by its descriptor and flags); every later syscall, the
 * execve first, waits for sockjail's supervisor. */
static void sj_trace(struct sj_spawn *s, int errfd)
{
	struct sock_fprog prog = {s->bpf_len, (struct sock_filter *)s->bpf};
	long lfd = sj_sys3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (lfd < 0)
		sj_fail(errfd, SJ_STEP_SECCOMP, lfd);
	{
		char byte = 'L';
		struct iovec iov = {&byte, 1};
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} u;
		struct msghdr msg;
		struct cmsghdr *c;
		long r;
		memset(&msg, 0, sizeof msg);
		memset(&u, 0, sizeof u);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		*(int *)CMSG_DATA(c) = (int)lfd;
		r = sj_sys3(SYS_sendmsg, s->trace_sock, &msg, SJ_TRACE_SEND_FLAGS);
		if (r < 0)
			sj_fail(errfd, SJ_STEP_TRACE, r);
		/* Only sockjail holds the listener now; the program must not. */
		sj_sys1(SYS_close, lfd);
	}
}

/* sj_early_program reports whether the program's process starts before A
 * mounts the namespace's filesystems: in init mode with v1 cgroups, so that
 * its moves into the session's cgroups (each v1 migration takes the
 * kernel's cgroup_threadgroup_rwsem for writing, about 0.2 ms for four)
 * overlap A's mounts instead of following them. It then waits for
 * setup_done before it goes on. */
static int sj_early_program(const struct sj_spawn *s)
{
	return s->init && s->ncgprocs > 0;
}

/* sj_await_setup waits until A has set *flag (sj_setup_done). The two
 * share memory (CLONE_VM), so a private futex on the flag is enough. */
static void sj_await_setup(int *flag)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		sj_sys4(SYS_futex, flag, FUTEX_WAIT_PRIVATE, 0, NULL);
}

static void sj_setup_done(int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
	sj_sys3(SYS_futex, flag, FUTEX_WAKE_PRIVATE, 1);
}

/* sj_program turns the current (single-threaded) child into the confined
 * program. It never returns. The order matters: rlimits and the bounding set
 * need privilege, so they come before the uid change; no_new_privs before
 * Landlock; seccomp last, so the filter need not allow the setup syscalls. */
static void __attribute__((noreturn)) sj_program(struct sj_spawn *s, int errfd)
{
	int fd[3];
	long r;
	char exec_buf[32];
	const char *exec_path;

	/* v1: join the session's cgroups before anything else, so that all
	 * the program allocates, kernel memory included, is charged there.
	 * Opening the files here rather than in sockjail takes them off the
	 * path to the program's start: in init mode this runs while A
	 * mounts (sj_early_program). */
	for (int i = 0; i < s->ncgprocs; i++) {
		long fd = sj_sys4(SYS_openat, AT_FDCWD, s->cgprocs[i], O_WRONLY | O_CLOEXEC, 0);
		if (fd < 0)
			sj_fail(errfd, SJ_STEP_CGROUP, fd);
		r = sj_sys3(SYS_write, fd, "0", 1);
		sj_sys1(SYS_close, fd);
		if (r < 0)
			sj_fail(errfd, SJ_STEP_CGROUP, r);
	}
	if (sj_early_program(s))
		sj_await_setup(&s->setup_done);

	if (errfd < 3) {
		if ((r = sj_sys3(SYS_fcntl, errfd, F_DUPFD_CLOEXEC, 3)) < 0)
			sj_fail(errfd, SJ_STEP_DUP, r);
		errfd = r;
	}
	if ((r = sj_sys0(SYS_setsid)) < 0)
		sj_fail(errfd, SJ_STEP_SETSID, r);

	/* Move sources that sit in 0..2 out of the way first, so that
	 * dup2(fd[1], 1) cannot clobber a source still needed for 2. */
	for (int i = 0; i < 3; i++) {
		fd[i] = s->fd[i];
		if (fd[i] < 0) {
			if ((r = sj_sys4(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC, 0)) < 0)
				sj_fail(errfd, SJ_STEP_DUP, r);
			fd[i] = r;
		}
		if (fd[i] < 3) {
			if ((r = sj_sys3(SYS_fcntl, fd[i], F_DUPFD_CLOEXEC, 3)) < 0)
				sj_fail(errfd, SJ_STEP_DUP, r);
			fd[i] = r;
		}
	}
	for (int i = 0; i < 3; i++) {
		/* dup2 leaves FD_CLOEXEC clear on the new descriptor. */
		if ((r = sj_sys2(SYS_dup2, fd[i], i)) < 0)
			sj_fail(errfd, SJ_STEP_DUP, r);
	}
	if (s->ctty && (r = sj_sys3(SYS_ioctl, 0, TIOCSCTTY, 0)) < 0)
		sj_fail(errfd, SJ_STEP_TIOCSCTTY, r);
	/* Everything else sockjail holds (other connections, the rule fds,
	 * the error pipe) is closed by execve. */
	if ((r = sj_sys3(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC)) < 0)
		sj_fail(errfd, SJ_STEP_CLOSE_RANGE, r);
	if (s->workdir && (r = sj_sys1(SYS_chdir, s->workdir)) < 0)
		sj_fail(errfd, SJ_STEP_CHDIR, r);

	/* RLIMIT_NOFILE waits until Landlock is built (sj_late_rlimits): the
	 * child still holds every fd sockjail has open (only marked
	 * close-on-exec), so under a serve with more open connections than the
	 * limit, building the ruleset would find no free fd number (EMFILE).
	 * A limit that raises the hard maximum needs privilege and is applied
	 * here, while it is still held. */
	sj_rlimits(s, errfd, 0);
	if (s->drop_bset) {
		for (int c = 0; c <= s->last_cap; c++)
			if ((r = sj_sys5(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0)) < 0)
				sj_fail(errfd, SJ_STEP_CAPBSET, r);
	}
	if (s->set_groups && (r = sj_sys2(SYS_setgroups, s->ngroups, s->groups)) < 0)
		sj_fail(errfd, SJ_STEP_SETGROUPS, r);
	if (s->set_ids) {
		if ((r = sj_sys3(SYS_setresgid, s->gid, s->gid, s->gid)) < 0)
			sj_fail(errfd, SJ_STEP_SETRESGID, r);
		if ((r = sj_sys3(SYS_setresuid, s->uid, s->uid, s->uid)) < 0)
			sj_fail(errfd, SJ_STEP_SETRESUID, r);
	}
	if ((r = sj_sys5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) < 0 && r != -EINVAL)
		sj_fail(errfd, SJ_STEP_AMBIENT, r);
	{
		struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct data[2];
		memset(data, 0, sizeof data);
		if ((r = sj_sys2(SYS_capset, &hdr, data)) < 0)
			sj_fail(errfd, SJ_STEP_CAPSET, r);
	}
	if ((r = sj_sys5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
		sj_fail(errfd, SJ_STEP_NO_NEW_PRIVS, r);
	exec_path = sj_exec_path(s, errfd, exec_buf);
	if (s->ll_enabled)
		sj_landlock(s, errfd);
	sj_rlimits(s, errfd, 1);
	/* Unblock before the filter, which need not allow rt_sigprocmask. A
	 * signal arriving now takes its default action, as it would a moment
	 * after execve. */
	{
		uint64_t none = 0;
		if ((r = sj_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8)) < 0)
			sj_fail(errfd, SJ_STEP_SIGMASK, r);
	}
	if (s->bpf && s->trace_sock >= 0) {
		sj_trace(s, errfd);
	} else if (s->bpf) {
		struct sock_fprog prog = {s->bpf_len, (struct sock_filter *)s->bpf};
		if ((r = sj_sys3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) < 0)
			sj_fail(errfd, SJ_STEP_SECCOMP, r);
	}
	r = sj_sys3(SYS_execve, exec_path, s->argv, s->envp);
	sj_fail(errfd, SJ_STEP_EXECVE, r);
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* struct clone_args of clone3(2), spelled out: Debian 12's headers lack
 * the cgroup field. */
struct sj_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* sj_clone3(args, size, fn, arg) is clone3(2) for a child on its own stack
 * (args->stack): glibc has no clone3 wrapper. In the parent it returns the
 * child's pid or -errno; the child calls fn(arg) and exits with its
 * result. fn and arg ride in r8 and r9, which the syscall preserves and
 * the kernel copies into the child. */
long sj_clone3(struct sj_clone_args *args, unsigned long size, int (*fn)(void *), void *arg);
__asm__(".text\n"
	".globl sj_clone3\n"
	".hidden sj_clone3\n"
	".type sj_clone3,@function\n"
	"sj_clone3:\n"
	"	mov %rdx, %r8\n"
	"	mov %rcx, %r9\n"
	"	mov $" "435" ", %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	ret\n"
	"1:	xor %ebp, %ebp\n"
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %rax, %rdi\n"
	"	mov $60, %eax\n"
	"	syscall\n"
	"	hlt\n"
	".size sj_clone3, .-sj_clone3\n");

/* sj_clone_into starts fn(arg) on [stack, stack+size) with clone flags
 * (exit signal SIGCHLD), born in the cgroup cgfd when it is >= 0. It
 * returns the pid or -errno, and the pidfd through pidfd with CLONE_PIDFD. */
static long sj_clone_into(int (*fn)(void *), void *arg, char *stack, size_t size,
			  unsigned long flags, int cgfd, int *pidfd)
{
	struct sj_clone_args ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = flags;
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	ca.stack = (uint64_t)(uintptr_t)stack;
	ca.stack_size = size;
	if (cgfd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = cgfd;
	}
	return sj_clone3(&ca, sizeof ca, fn, arg);
}

/* sj_init is pid 1 of the session's PID namespace. It forwards the usual
 * job-control signals to the program (a program that is itself pid 1 would
 * ignore SIGTERM without a handler), reaps orphans, and when the program
 * exits reports its raw wait status and exits; the kernel then kills every
 * other process left in the namespace. It lives in sockjail's memory
 * (CLONE_VM) but touches only its own stack. */
static void __attribute__((noreturn)) sj_init(pid_t prog, int stfd)
{
	uint64_t set = 0;
	int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

	if (stfd > 0)
		sj_sys3(SYS_close_range, 0, stfd - 1, 0);
	sj_sys3(SYS_close_range, stfd + 1, ~0U, 0);

	for (unsigned i = 0; i < sizeof fwd / sizeof fwd[0]; i++)
		set |= 1ULL << (fwd[i] - 1);
	set |= 1ULL << (SIGCHLD - 1);
	for (;;) {
		siginfo_t si;
		long sig = sj_sys4(SYS_rt_sigtimedwait, &set, &si, NULL, 8);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			sj_sys2(SYS_kill, prog, sig);
			continue;
		}
		for (;;) {
			int st;
			long p = sj_sys4(SYS_wait4, -1, &st, WNOHANG, NULL);
			if (p <= 0)
				break;
			if (p == prog) {
				int32_t st32 = st;
				sj_sys3(SYS_write, stfd, &st32, sizeof st32);
				for (;;)
					sj_sys1(SYS_exit_group, 0);
			}
		}
	}
}

static int sj_program_entry(void *arg)
{
	struct sj_spawn *s = arg;
	sj_program(s, s->child_errfd);
}

/* sj_first is the first child: A (init mode) or the program itself. */
static int sj_first(void *arg)
{
	struct sj_spawn *s = arg;
	int errfd = s->child_errfd, stfd = s->child_stfd;
	int early = sj_early_program(s);
	long r, pid = -1;

	sj_reset_signals();
	/* The namespace (or the program) dies with sockjail. A shares
	 * sockjail's memory and must not outlive it anyway. */
	if (s->pdeathsig && (r = sj_sys5(SYS_prctl, PR_SET_PDEATHSIG, s->pdeathsig, 0, 0, 0)) < 0)
		sj_fail(errfd, SJ_STEP_PDEATHSIG, r);
	if (!s->init)
		sj_program(s, errfd);

	if (s->clone_flags & CLONE_NEWUSER) {
		/* An unprivileged process may map only its own ids, and only
		 * after giving up setgroups(2) in the namespace. */
		if ((r = sj_write_file("/proc/self/setgroups", "deny")) < 0)
			sj_fail(errfd, SJ_STEP_SETGROUPS_DENY, r);
		if ((r = sj_write_file("/proc/self/uid_map", s->uid_map)) < 0)
			sj_fail(errfd, SJ_STEP_UID_MAP, r);
		if ((r = sj_write_file("/proc/self/gid_map", s->gid_map)) < 0)
			sj_fail(errfd, SJ_STEP_GID_MAP, r);
	}
	/* With v1 cgroups the program's process starts now, on the lower part
	 * of A's stack, and joins its cgroups while A mounts; it waits for
	 * setup_done before anything else (sj_early_program). Should A fail
	 * below, it dies with A: A is its PID namespace's init. */
	if (early) {
		pid = clone(sj_program_entry, (char *)s->stack + SJ_STACK_B, CLONE_VM | SIGCHLD, s);
		if (pid < 0)
			sj_fail(errfd, SJ_STEP_FORK_PROGRAM, -EAGAIN);
	}
	if (s->clone_flags & CLONE_NEWNS) {
		/* Keep our tmpfs mounts from propagating back to the host. */
		if ((r = sj_sys5(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) < 0)
			sj_fail(errfd, SJ_STEP_MOUNT_PRIVATE, r);
		for (int i = 0; i < s->ntmp; i++)
			if ((r = sj_sys5(SYS_mount, "tmpfs", s->tmp_paths[i], "tmpfs",
					 MS_NOSUID | MS_NODEV, s->tmp_opts)) < 0)
				sj_fail(errfd, SJ_STEP_MOUNT_TMP, r);
		/* A is pid 1 of the new PID namespace, so the procfs it mounts
		 * shows that namespace only. It covers the host's /proc and
		 * every mount below it. */
		if (s->mount_proc && (r = sj_mount_proc()) < 0)
			sj_fail(errfd, SJ_STEP_MOUNT_PROC, r);
		if (s->shm_opts && (r = sj_sys5(SYS_mount, "tmpfs", "/dev/shm", "tmpfs",
						 MS_NOSUID | MS_NODEV | MS_NOEXEC, s->shm_opts)) < 0)
			sj_fail(errfd, SJ_STEP_MOUNT_SHM, r);
	}
	/* A stays dumpable: the flag belongs to the memory it shares with
	 * sockjail, and a non-dumpable A would make the next session's
	 * /proc/self/uid_map root's. The program cannot ptrace A anyway: as
	 * root, A has another uid; in a user namespace A holds every
	 * capability there and the program none, and the kernel refuses a
	 * tracer whose permitted set is not a superset of the tracee's. */
	if (early) {
		/* Nothing of s is read after this: sockjail frees it once the
		 * program's execve closed the error pipe. */
		sj_setup_done(&s->setup_done);
		sj_init(pid, stfd);
	}
	/* Otherwise B starts now, on the lower part of A's stack, while A is
	 * suspended (CLONE_VFORK) until B's execve or exit. */
	{
		char *stack_b = (char *)s->stack;
		if (s->cgroup_fd >= 0) {
			pid = sj_clone_into(sj_program_entry, s, stack_b, SJ_STACK_B,
					    CLONE_VM | CLONE_VFORK, s->cgroup_fd, NULL);
			if (pid < 0)
				sj_fail(errfd, SJ_STEP_CGROUP, pid);
		} else {
			pid = clone(sj_program_entry, stack_b + SJ_STACK_B,
				    CLONE_VM | CLONE_VFORK | SIGCHLD, s);
			if (pid < 0)
				sj_fail(errfd, SJ_STEP_FORK_PROGRAM, -EAGAIN);
		}
		sj_init(pid, stfd);
	}
}

int sj_spawn(struct sj_spawn *s)
{
	int errp[2], stp[2] = {-1, -1};
	sigset_t all, old;
	int pidfd = -1;
	long pid;
	int e, flags;
	char *stack;

	stack = mmap(NULL, SJ_STACK_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		e = errno;
		munmap(stack, SJ_STACK_SIZE);
		return -e;
	}
	if (s->init && pipe2(stp, O_CLOEXEC) < 0) {
		e = errno;
		close(errp[0]);
		close(errp[1]);
		munmap(stack, SJ_STACK_SIZE);
		return -e;
	}
	s->stack = stack;
	s->child_errfd = errp[1];
	s->child_stfd = stp[1];
	s->setup_done = 0;
	flags = CLONE_VM | CLONE_PIDFD | SIGCHLD | (int)s->clone_flags;
	if (!s->init && s->trace_sock < 0)
		/* The program itself: this thread waits until its execve, as
		 * posix_spawn does, so the stack is free again on return. */
		flags |= CLONE_VFORK;

	/* Block every signal across the clone, so that no Go signal handler
	 * can run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (!s->init && s->cgroup_fd >= 0) {
		/* The program itself is the first child: born in its cgroup. */
		pid = sj_clone_into(sj_first, s, stack, SJ_STACK_SIZE,
				    (unsigned long)flags & ~0xffUL, s->cgroup_fd, &pidfd);
		e = pid < 0 ? (int)-pid : 0;
	} else {
		pid = clone(sj_first, stack + SJ_STACK_SIZE, flags, s, &pidfd);
		e = errno;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	close(errp[1]);
	if (stp[1] >= 0)
		close(stp[1]);
	/* Without CLONE_VFORK (init, or tracing) the child still runs on the
	 * stack: it is freed once the first child is reaped. */
	if (pid < 0 || (flags & CLONE_VFORK)) {
		munmap(stack, SJ_STACK_SIZE);
		s->stack = NULL;
	}
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

void sj_free_stack(void *stack)
{
	if (stack)
		munmap(stack, SJ_STACK_SIZE);
}

int sj_probe_clone(unsigned long flags, const char *uid_map, const char *gid_map, int *proc_err)
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
		/* The namespaces work; a refused procfs is reported apart
		 * (128 + errno), since a session can go on without it. */
		if ((flags & CLONE_NEWNS) && (flags & CLONE_NEWPID)) {
			long r = sj_mount_proc();
			if (r < 0)
				syscall(SYS_exit_group, 128 | (-r & 0x7f));
		}
		syscall(SYS_exit_group, 0);
	}
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return e;
	while (waitpid(pid, &st, __WALL) < 0)
		if (errno != EINTR)
			return errno;
	*proc_err = 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) >= 128) {
		*proc_err = WEXITSTATUS(st) & 0x7f;
		return 0;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return EIO;
}
