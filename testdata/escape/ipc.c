/*
 * ipc hold KEY | get KEY: System V shared memory, which lives in the IPC
 * namespace, not in the filesystem: without a namespace of its own, a
 * session's segment is visible to every other session and outlives it.
 *
 *   hold KEY  create a segment with KEY (mode 0600), report, wait for EOF
 *             on stdin, then exit without removing it.
 *   get KEY   look the segment up ("shm-get"): ENOENT when it is not
 *             visible.
 */
#include "escape.h"
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	need_args(argc, 3, "ipc hold KEY | get KEY");
	key_t key = (key_t)strtoul(argv[2], NULL, 0);
	if (strcmp(argv[1], "hold") == 0) {
		int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
		report("shm-hold", id < 0 ? errno : 0, NULL);
		char buf[256];
		while (id >= 0 && read(0, buf, sizeof buf) > 0)
			;
		return 0;
	}
	if (strcmp(argv[1], "get") == 0)
		return check("shm-get", shmget(key, 0, 0));
	fprintf(stderr, "ipc: unknown mode %s\n", argv[1]);
	return 2;
}
