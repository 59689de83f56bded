/* listen: listen(2) on a TCP socket that was never bound. The kernel binds
 * it to an ephemeral port itself (autobind), where Landlock's bind hook
 * never runs: a server port past bind_tcp. */
#include "escape.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		report("listen-autobind", errno, "step=socket");
		return 0;
	}
	if (listen(s, 1) < 0) {
		report("listen-autobind", errno, "step=listen");
		return 0;
	}
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	getsockname(s, (struct sockaddr *)&sa, &len);
	report("listen-autobind", 0, "port=%d", ntohs(sa.sin_port));
	return 0;
}
