/*
 * setid METHOD PATH: plant a set-user-ID (or, with chmod-setgid, a
 * set-group-ID) file at PATH, in a directory the policy lets the program
 * write. Such a file keeps the program's uid: a host user who runs it later
 * gets that uid's rights, over other sessions' files when the uid is
 * shared (nobody), sockjail's own user's when it runs unprivileged, or the
 * next caller's when it is a dynamic uid handed out again.
 *
 * METHOD is how: chmod, fchmod, fchmodat, fchmodat2 and chmod-setgid
 * first create PATH (mode 0755) and then set the bits; creat, mknod,
 * mknodat, open, openat and openat2 create it with them; tmpfile opens an
 * unnamed file in PATH's directory with them (O_TMPFILE). The result line
 * carries the mode the file ended up with (mode=none when there is none).
 */
#include "escape.h"
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static const char *mode_of(int fd, const char *path)
{
	static char buf[16];
	struct stat st;
	int rc = fd >= 0 ? fstat(fd, &st) : stat(path, &st);
	if (rc < 0)
		return "none";
	snprintf(buf, sizeof buf, "%04o", (unsigned)(st.st_mode & 07777));
	return buf;
}

int main(int argc, char **argv)
{
	need_args(argc, 3, "setid METHOD PATH");
	const char *m = argv[1], *path = argv[2];
	char name[64];
	snprintf(name, sizeof name, "setid-%s", m);
	const mode_t suid = S_ISUID | 0755;
	long rc;
	int fd = -1;

	if (strcmp(m, "chmod") == 0 || strcmp(m, "fchmod") == 0 || strcmp(m, "fchmodat") == 0 ||
	    strcmp(m, "fchmodat2") == 0 || strcmp(m, "chmod-setgid") == 0) {
		int f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
		if (f < 0) {
			int err = errno;
			report(name, err, "step=create mode=%s", mode_of(-1, path));
			return 0;
		}
		if (strcmp(m, "chmod") == 0)
			rc = chmod(path, suid);
		else if (strcmp(m, "chmod-setgid") == 0)
			rc = chmod(path, S_ISGID | 0755);
		else if (strcmp(m, "fchmod") == 0)
			rc = fchmod(f, suid);
		else if (strcmp(m, "fchmodat") == 0)
			rc = syscall(SYS_fchmodat, AT_FDCWD, path, suid);
		else
			rc = syscall(452 /* fchmodat2 */, AT_FDCWD, path, suid, 0);
		close(f);
	} else if (strcmp(m, "creat") == 0) {
		rc = fd = creat(path, suid);
	} else if (strcmp(m, "mknod") == 0) {
		rc = syscall(SYS_mknod, path, S_IFREG | suid, 0);
	} else if (strcmp(m, "mknodat") == 0) {
		rc = syscall(SYS_mknodat, AT_FDCWD, path, S_IFREG | suid, 0);
	} else if (strcmp(m, "open") == 0) {
		rc = fd = syscall(SYS_open, path, O_WRONLY | O_CREAT | O_EXCL, suid);
	} else if (strcmp(m, "openat") == 0) {
		rc = fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, suid);
	} else if (strcmp(m, "tmpfile") == 0) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s", path);
		rc = fd = open(dirname(dir), O_TMPFILE | O_RDWR, suid);
	} else if (strcmp(m, "openat2") == 0) {
		struct open_how how = {.flags = O_WRONLY | O_CREAT | O_EXCL, .mode = suid};
		rc = fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
	} else {
		fprintf(stderr, "setid: unknown method %s\n", m);
		return 2;
	}
	int err = rc < 0 ? errno : 0; /* before mode_of's stat */
	report(name, err, "mode=%s", mode_of(fd, path));
	return 0;
}
