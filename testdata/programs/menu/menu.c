/*
 * menu: a small BBS-style menu for sockjail's interactive tests.
 *
 * It is written the way such programs are: plain stdio, no fflush, no
 * terminal handling of its own. On a pty its prompts appear at once (stdout
 * is line buffered and glibc flushes it before reading stdin) and the line
 * discipline echoes and edits input; on a raw socket the same program would
 * show nothing until it exits.
 *
 *   menu              the interactive menu (see the banner)
 *   menu size         print TERM and the window size, then exit
 *   menu bytes N      write N bytes of 'x' (no newline), then exit
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void show_terminal(void)
{
	struct winsize ws = {0};
	const char *term = getenv("TERM");
	if (ioctl(0, TIOCGWINSZ, &ws) < 0)
		printf("TERM=%s size=unknown (stdin is not a terminal)\n", term ? term : "");
	else
		printf("TERM=%s size=%dx%d\n", term ? term : "", ws.ws_col, ws.ws_row);
	printf("tty=%s\n", isatty(0) ? ttyname(0) : "none");
	/* What an rlogin client's handshake said ([terminal] protocol = "rlogin"). */
	const char *user = getenv("SOCKJAIL_RLOGIN_USER");
	const char *server_user = getenv("SOCKJAIL_RLOGIN_SERVER_USER");
	const char *speed = getenv("SOCKJAIL_TERM_SPEED");
	if (user || server_user || speed)
		printf("rlogin user=%s server_user=%s speed=%s uid=%d\n", user ? user : "",
		       server_user ? server_user : "", speed ? speed : "", (int)getuid());
}

static int bytes(long n)
{
	static char buf[8192];
	memset(buf, 'x', sizeof buf);
	while (n > 0) {
		size_t k = n < (long)sizeof buf ? (size_t)n : sizeof buf;
		if (fwrite(buf, 1, k, stdout) != k)
			return 1;
		n -= (long)k;
	}
	return fflush(stdout) != 0;
}

/* hexline reads one line and prints its bytes in hex, newline excluded. */
static void hexline(void)
{
	char line[512];
	printf("Bytes: ");
	if (!fgets(line, sizeof line, stdin))
		return;
	printf("hex:");
	for (size_t i = 0; line[i] && line[i] != '\n'; i++)
		printf(" %02x", (unsigned char)line[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "size") == 0) {
		show_terminal();
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "bytes") == 0)
		return bytes(atol(argv[2]));
	if (argc != 1) {
		fprintf(stderr, "usage: menu [size | bytes N]\n");
		return 64;
	}

	printf("Welcome to the sockjail test BBS.\n");
	for (;;) {
		char line[256];
		printf("\n[n] your name  [t] terminal  [h] hex input  [q] quit\nChoice: ");
		if (!fgets(line, sizeof line, stdin)) {
			printf("\nEOF, bye.\n");
			return 0;
		}
		switch (line[0]) {
		case 'n': {
			char name[64];
			printf("Name: ");
			if (!fgets(name, sizeof name, stdin))
				return 0;
			name[strcspn(name, "\n")] = 0;
			printf("Hello, %s!\n", name);
			break;
		}
		case 't':
			show_terminal();
			break;
		case 'h':
			hexline();
			break;
		case 'q':
			printf("Bye.\n");
			return 0;
		default:
			printf("No such choice.\n");
		}
	}
}
