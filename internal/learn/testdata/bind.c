/* A program for sockjail learn's tests: it binds a TCP port on loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = {0};
	int s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (argc < 2 || s < 0) {
		perror("socket");
		return 1;
	}
	a.sin_family = AF_INET;
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("bind");
		return 1;
	}
	if (listen(s, 1) < 0) {
		perror("listen");
		return 1;
	}
	printf("bound %s\n", argv[1]);
	return 0;
}
