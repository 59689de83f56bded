/*
 * The C half of sockjail's spawn path. See spawn_linux.c and the
 * "Spawn path" section of docs/design.md.
 */
#ifndef SOCKJAIL_SPAWN_LINUX_H
#define SOCKJAIL_SPAWN_LINUX_H

#include <stdint.h>

/* sj_rlimit is one setrlimit(2) call made in the program's process. */
struct sj_rlimit {
	int resource;
	uint64_t cur, max;
};

/* sj_llpath is a Landlock path-beneath rule: fd is an O_PATH descriptor
 * opened by sockjail, inherited by the child. */
struct sj_llpath {
	int fd;
	uint64_t access;
};

/* sj_llport is a Landlock TCP port rule. */
struct sj_llport {
	uint64_t port;
	uint64_t access;
};

/*
 * sj_spawn describes one program start. The Go side fills it in C memory
 * (C.malloc: the children share sockjail's memory and read it after
 * sj_spawn returns, so it must not live on a Go stack that can move) and
 * frees it once err_fd reached EOF, when no child reads it any more.
 */
struct sj_spawn {
	const char *path;     /* absolute path of the program */
	/* The program, opened O_PATH by sockjail (-1: none). When the
	 * program's user can't reach path (a directory on the way closed to
	 * it, or a mount of the session hiding it), the program is executed
	 * through /proc/self/fd/prog_fd instead. prog_script: it is a #!
	 * script, whose interpreter opens it again by that path after
	 * execve, so the descriptor must stay open across it. */
	int prog_fd;
	int prog_script;
	char *const *argv;    /* NULL-terminated */
	char *const *envp;    /* NULL-terminated */
	int fd[3];            /* become the program's 0, 1, 2 */
	int ctty;             /* make fd 0 the controlling terminal */
	const char *workdir;  /* NULL: keep sockjail's */

	unsigned long clone_flags; /* CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID */
	int init;                  /* child A runs as PID-namespace init */
	int pdeathsig;             /* signal the first child gets when the spawning thread dies; 0 = none */

	/* CLONE_NEWUSER: written to /proc/self/{uid_map,gid_map} by child A. */
	const char *uid_map, *gid_map;

	/* CLONE_NEWNS: a fresh tmpfs with tmp_opts on each existing path. */
	int ntmp;
	const char *tmp_paths[2];
	const char *tmp_opts;
	/* CLONE_NEWNS: a fresh procfs (subset=pid, read-only) on /proc, and a
	 * tmpfs with shm_opts on /dev/shm when shm_opts is not NULL. */
	int mount_proc;
	const char *shm_opts;

	/* The session's cgroup. v1: the cgroup.procs files that the program's
	 * process opens and writes itself into before anything else; v2: the
	 * cgroup's directory, which the program's process is cloned into
	 * (CLONE_INTO_CGROUP), or -1. */
	int ncgprocs;
	const char *cgprocs[4];
	int cgroup_fd;

	/* Credentials, applied in the program's process in this order. */
	int nrlim;
	const struct sj_rlimit *rlim;
	int drop_bset;   /* drop capabilities 0..last_cap from the bounding set */
	int last_cap;
	int set_groups;  /* setgroups(ngroups, groups) */
	int ngroups;
	const uint32_t *groups;
	int set_ids;     /* setresgid(gid), setresuid(uid) */
	uint32_t uid, gid;

	/* Landlock: the ruleset is built in the program's process, after the
	 * private /tmp is mounted, because a rule on the /tmp mountpoint does
	 * not cover a filesystem mounted over it (see spawn_linux.c). */
	int ll_enabled;
	uint64_t ll_handled_fs, ll_handled_net, ll_scoped;
	uint32_t ll_flags; /* landlock_restrict_self flags (logging) */
	int nllpaths;
	const struct sj_llpath *llpaths;
	int nllports;
	const struct sj_llport *llports;
	uint64_t ll_tmp_access; /* granted on each tmp_paths entry, ll_tmpdir and /dev/shm */
	uint64_t ll_proc_access; /* granted on the fresh /proc */
	const char *ll_tmpdir;  /* TmpDir mode: the session's directory */
	const void *bpf; /* struct sock_filter[bpf_len]; NULL: no seccomp */
	unsigned short bpf_len;
	/* Tracing (sockjail learn): trace_sock >= 0 is a unix socket on which
	 * the program's process sends the seccomp user-notification listener
	 * its filter created (SECCOMP_FILTER_FLAG_NEW_LISTENER), before
	 * execve. The filter lets exactly that sendmsg through (see
	 * trace_linux.go). The spawning thread does not wait for execve then:
	 * execve itself waits for the supervisor. */
	int trace_sock;

	/* Set by sj_spawn for the children: the write ends of the pipes. */
	int child_errfd, child_stfd;
	/* Init mode with v1 cgroups: A sets it to 1 once the namespace's
	 * mounts are in place; the program's process, started before them,
	 * waits for it (sj_first). */
	int setup_done;

	/* Outputs. */
	void *stack;   /* init mode: A's stack, to free with sj_free_stack once A is reaped */
	int pidfd;     /* pidfd of the first child (A, or the program) */
	int err_fd;    /* read end: {step, errno} from a failed child, EOF on exec */
	int status_fd; /* read end (init only): the program's raw wait status */
};

/* The flags of the one sendmsg the tracing filter lets through: a
 * combination no program has a reason to use (MSG_CONFIRM means nothing on
 * a unix socket), checked with the descriptor. */
#define SJ_TRACE_SEND_FLAGS (0x4000 /* MSG_NOSIGNAL */ | 0x40 /* MSG_DONTWAIT */ | 0x800 /* MSG_CONFIRM */)

/* Steps a child can fail at; spawn_linux.go names them. */
enum {
	SJ_STEP_NONE = 0,
	SJ_STEP_SIGNALS,
	SJ_STEP_PDEATHSIG,
	SJ_STEP_SETGROUPS_DENY,
	SJ_STEP_UID_MAP,
	SJ_STEP_GID_MAP,
	SJ_STEP_MOUNT_PRIVATE,
	SJ_STEP_MOUNT_TMP,
	SJ_STEP_MOUNT_PROC,
	SJ_STEP_MOUNT_SHM,
	SJ_STEP_FORK_PROGRAM,
	SJ_STEP_SETSID,
	SJ_STEP_DUP,
	SJ_STEP_TIOCSCTTY,
	SJ_STEP_CLOSE_RANGE,
	SJ_STEP_CHDIR,
	SJ_STEP_SETRLIMIT,
	SJ_STEP_CAPBSET,
	SJ_STEP_SETGROUPS,
	SJ_STEP_SETRESGID,
	SJ_STEP_SETRESUID,
	SJ_STEP_AMBIENT,
	SJ_STEP_CAPSET,
	SJ_STEP_NO_NEW_PRIVS,
	SJ_STEP_LANDLOCK_CREATE,
	SJ_STEP_LANDLOCK_RULE,
	SJ_STEP_LANDLOCK_TMP,
	SJ_STEP_LANDLOCK,
	SJ_STEP_SECCOMP,
	SJ_STEP_SIGMASK,
	SJ_STEP_EXECVE,
	SJ_STEP_PROG_FD,
	SJ_STEP_CGROUP,
	SJ_STEP_TRACE,
	SJ_STEP_COUNT
};

/* sj_spawn starts the program; it returns the first child's pid or -errno. */
int sj_spawn(struct sj_spawn *s);

/* sj_free_stack frees an init's stack after the init has been reaped. */
void sj_free_stack(void *stack);

/* sj_probe_clone reports 0 when a child can be cloned with flags (and, for
 * CLONE_NEWUSER, map its own uid), else an errno. With CLONE_NEWNS and
 * CLONE_NEWPID the child also mounts a fresh procfs as a session would, and
 * *proc_err gets 0 or the errno the kernel refused it with. */
int sj_probe_clone(unsigned long flags, const char *uid_map, const char *gid_map, int *proc_err);

#endif
