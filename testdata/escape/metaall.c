/*
 * metaall NAME PATH: change PATH's metadata with the syscall NAME, called
 * by its x86-64 number (so that syscalls newer than the C library's headers
 * work too: file_setattr is 469). PATH is a file that the program's uid
 * owns, outside the policy or under a read-only rule: Landlock has no right
 * for metadata, and the sandbox must refuse every one of them. The
 * descriptor-based calls (fchmod, fchown, fsetxattr, fremovexattr and the
 * two FS_IOC_* ioctls) open PATH read-only first (step=open), as a
 * read-only rule allows. The test expects the xattr user.sockjail on PATH
 * (for the remove calls) and compares PATH's ctime before and after.
 */
#include "escape.h"
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/time.h>

struct xattr_args { /* <linux/xattr.h>, Linux 6.13 */
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

struct file_attr { /* <linux/fs.h>, Linux 6.17 */
	uint64_t fa_xflags;
	uint32_t fa_extsize;
	uint32_t fa_nextents;
	uint32_t fa_projid;
	uint32_t fa_cowextsize;
};

#define XATTR "user.sockjail"
#define FS_XFLAG_NODUMP_ 0x80

int main(int argc, char **argv)
{
	need_args(argc, 3, "metaall NAME PATH");
	const char *call = argv[1], *path = argv[2];
	char name[64];
	snprintf(name, sizeof name, "meta-%s", call);
	long uid = getuid(), gid = getgid();
	struct timeval tv[2] = {{1, 0}, {1, 0}};
	struct timespec ts[2] = {{1, 0}, {1, 0}};
	struct xattr_args xa = {.value = (uintptr_t) "1", .size = 1};
	struct file_attr fa = {.fa_xflags = FS_XFLAG_NODUMP_};
	long at = AT_FDCWD, rc;

	int fd = -1;
	if (call[0] == 'f' && strncmp(call, "futimesat", 9) != 0 && strncmp(call, "fchmodat", 8) != 0 &&
	    strcmp(call, "fchownat") != 0 && strcmp(call, "file_setattr") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			report(name, errno, "step=open");
			return 0;
		}
	} else if (strncmp(call, "ioctl-", 6) == 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			report(name, errno, "step=open");
			return 0;
		}
	}

	if (strcmp(call, "chmod") == 0)
		rc = syscall(90, path, 0640);
	else if (strcmp(call, "fchmod") == 0)
		rc = syscall(91, fd, 0640);
	else if (strcmp(call, "fchmodat") == 0)
		rc = syscall(268, at, path, 0640);
	else if (strcmp(call, "fchmodat2") == 0)
		rc = syscall(452, at, path, 0640, 0);
	else if (strcmp(call, "chown") == 0)
		rc = syscall(92, path, uid, gid);
	else if (strcmp(call, "fchown") == 0)
		rc = syscall(93, fd, uid, gid);
	else if (strcmp(call, "lchown") == 0)
		rc = syscall(94, path, uid, gid);
	else if (strcmp(call, "fchownat") == 0)
		rc = syscall(260, at, path, uid, gid, 0);
	else if (strcmp(call, "utime") == 0) {
		long times[2] = {1, 1}; /* struct utimbuf */
		rc = syscall(132, path, times);
	} else if (strcmp(call, "utimes") == 0)
		rc = syscall(235, path, tv);
	else if (strcmp(call, "futimesat") == 0)
		rc = syscall(261, at, path, tv);
	else if (strcmp(call, "utimensat") == 0)
		rc = syscall(280, at, path, ts, 0);
	else if (strcmp(call, "setxattr") == 0)
		rc = syscall(188, path, XATTR, "1", 1, 0);
	else if (strcmp(call, "lsetxattr") == 0)
		rc = syscall(189, path, XATTR, "1", 1, 0);
	else if (strcmp(call, "fsetxattr") == 0)
		rc = syscall(190, fd, XATTR, "1", 1, 0);
	else if (strcmp(call, "setxattrat") == 0)
		rc = syscall(463, at, path, 0, XATTR, &xa, sizeof xa);
	else if (strcmp(call, "removexattr") == 0)
		rc = syscall(197, path, XATTR);
	else if (strcmp(call, "lremovexattr") == 0)
		rc = syscall(198, path, XATTR);
	else if (strcmp(call, "fremovexattr") == 0)
		rc = syscall(199, fd, XATTR);
	else if (strcmp(call, "removexattrat") == 0)
		rc = syscall(466, at, path, 0, XATTR);
	else if (strcmp(call, "file_setattr") == 0)
		rc = syscall(469, at, path, &fa, sizeof fa, 0);
	else if (strcmp(call, "ioctl-setflags") == 0) {
		long flags = 0;
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
			report(name, errno, "step=getflags");
			return 0;
		}
		flags |= FS_NODUMP_FL;
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	} else if (strcmp(call, "ioctl-fssetxattr") == 0) {
		struct fsxattr x = {0};
		if (ioctl(fd, FS_IOC_FSGETXATTR, &x) < 0) {
			report(name, errno, "step=getxattr");
			return 0;
		}
		x.fsx_xflags |= FS_XFLAG_NODUMP_;
		rc = ioctl(fd, FS_IOC_FSSETXATTR, &x);
	} else {
		fprintf(stderr, "metaall: unknown syscall %s\n", call);
		return 2;
	}
	report(name, rc < 0 ? errno : 0, "step=call");
	return 0;
}
