/*
 * bomb: tries to exhaust one of a session's bounds, reports on stdout how
 * far it got, then waits for EOF on stdin (so that the test can measure
 * the session while it holds what it took) unless told not to.
 *
 *   bomb files N        create up to N empty files in /tmp; prints
 *                       "files COUNT ERRNO"
 *   bomb memory MIB     fork 4 children that each touch MIB MiB; prints
 *                       "memory CHILD MIB" as each finishes touching
 *   bomb fork N         fork up to N children that sleep; prints
 *                       "fork COUNT ERRNO"
 *   bomb threads N      start up to N threads that sleep; prints
 *                       "threads COUNT ERRNO"
 *   bomb spin SECONDS   burn CPU in 4 threads for SECONDS of wall time;
 *                       prints "spin done"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void wait_eof(void)
{
	char c;
	while (read(0, &c, 1) > 0)
		;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static volatile int stop;

static void *spinner(void *arg)
{
	(void)arg;
	volatile unsigned long n = 0;
	while (!stop)
		n++;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bomb files|memory|fork|threads|spin N\n");
		return 2;
	}
	long n = atol(argv[2]);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "files")) {
		long i;
		int err = 0;
		char name[64];
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof name, "/tmp/f%ld", i);
			int fd = open(name, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0600);
			if (fd < 0) {
				err = errno;
				break;
			}
			close(fd);
		}
		printf("files %ld %s\n", i, err ? strerrorname_np(err) : "OK");
	} else if (!strcmp(argv[1], "memory")) {
		for (int c = 0; c < 4; c++) {
			if (fork() == 0) {
				size_t sz = (size_t)n << 20;
				char *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				if (p == MAP_FAILED)
					_exit(1);
				for (size_t off = 0; off < sz; off += 4096)
					p[off] = 1;
				printf("memory %d %ld\n", c, n);
				wait_eof();
				_exit(0);
			}
		}
	} else if (!strcmp(argv[1], "fork")) {
		long i;
		int err = 0;
		for (i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid < 0) {
				err = errno;
				break;
			}
			if (pid == 0) {
				for (;;)
					pause();
			}
		}
		printf("fork %ld %s\n", i, err ? strerrorname_np(err) : "OK");
	} else if (!strcmp(argv[1], "threads")) {
		long i;
		int err = 0;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 * 1024);
		for (i = 0; i < n; i++) {
			pthread_t t;
			if ((err = pthread_create(&t, &a, sleeper, NULL)) != 0)
				break;
		}
		printf("threads %ld %s\n", i, err ? strerrorname_np(err) : "OK");
	} else if (!strcmp(argv[1], "spin")) {
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, spinner, NULL);
		struct timespec ts = {n, 0};
		nanosleep(&ts, NULL);
		stop = 1;
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		printf("spin done\n");
		return 0;
	} else {
		fprintf(stderr, "bomb: unknown mode %s\n", argv[1]);
		return 2;
	}
	wait_eof();
	return 0;
}
