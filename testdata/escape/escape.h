/*
 * escape.h: shared helpers of the escape suite's programs.
 *
 * Every program tries one way out of the sandbox and prints one line on
 * stdout (the connection):
 *
 *     escape=NAME result=RESULT [key=value...]
 *
 * RESULT is "ok" when the attempt succeeded (an escape, unless the policy
 * allows it) or the errno name that stopped it. A program stopped by a
 * signal prints nothing; cmd/sockjail/escape_test.go sees sockjail exit
 * with 128+N. The programs are built with gcc -static so that they need no
 * library paths inside the sandbox.
 */
#ifndef SOCKJAIL_ESCAPE_H
#define SOCKJAIL_ESCAPE_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* errname returns the symbolic name of e: the test asserts names, not
 * numbers, so that a failure message reads like the README's table. */
static __attribute__((unused)) const char *errname(int e)
{
	switch (e) {
#define E(x) case x: return #x;
	E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG)
	E(ENOEXEC) E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES)
	E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR)
	E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ETXTBSY) E(EFBIG)
	E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE)
	E(ENOSYS) E(ELOOP) E(ENOTSOCK) E(EPROTOTYPE) E(ENOPROTOOPT)
	E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(EOPNOTSUPP)
	E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETUNREACH)
	E(ECONNREFUSED) E(ECONNRESET) E(ETIMEDOUT) E(EHOSTUNREACH)
	E(ENOTCONN) E(EDQUOT) E(ECONNABORTED) E(EISCONN)
#undef E
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

/* report prints the result line. err is 0 for success, else an errno.
 * extra, when not NULL, is a printf format for key=value pairs. */
static __attribute__((unused)) void report(const char *escape, int err, const char *extra, ...)
{
	printf("escape=%s result=%s", escape, err ? errname(err) : "ok");
	if (extra) {
		va_list ap;
		va_start(ap, extra);
		putchar(' ');
		vprintf(extra, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

/* check reports a system call's outcome (rc < 0: errno) and returns 0,
 * the exit status every program uses once it has reported. */
static __attribute__((unused)) int check(const char *escape, long rc)
{
	report(escape, rc < 0 ? errno : 0, NULL);
	return 0;
}

/* need_args exits with status 2 when a program has fewer than n args. */
static __attribute__((unused)) void need_args(int argc, int n, const char *usage)
{
	if (argc < n) {
		fprintf(stderr, "usage: %s\n", usage);
		exit(2);
	}
}

/* proto_name names a socket attempt by its protocol argument: "OP-tcp"
 * (0), "OP-mptcp" (262) or "OP-mptcp-hibits" (262 plus upper bits, which
 * the kernel ignores since the argument is an int). */
static __attribute__((unused)) const char *proto_name(const char *op, unsigned long proto)
{
	static char buf[64];
	const char *kind = proto == 0 ? "tcp" : proto == 262 ? "mptcp" :
			   (unsigned int)proto == 262 ? "mptcp-hibits" : "other";
	snprintf(buf, sizeof buf, "%s-%s", op, kind);
	return buf;
}

#endif
