/* backend-client IP PORT: connect to a TCP backend and copy what it sends to
 * stdout, then exit. The program of outbound-tcp.toml. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: backend-client IP PORT\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "backend-client: bad address %s\n", argv[1]);
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("backend-client: connect");
		return 1;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(s, buf, sizeof buf)) > 0)
		if (write(1, buf, n) != n) {
			perror("backend-client: write");
			return 1;
		}
	return n < 0;
}
