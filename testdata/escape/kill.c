/* kill PID [SIG]: send a signal (default SIGCONT, harmless if it gets
 * through, but checked exactly like SIGKILL) to a process outside. */
#include "escape.h"
#include <signal.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "kill PID [SIG]");
	int sig = argc > 2 ? atoi(argv[2]) : SIGCONT;
	return check("kill", kill(atoi(argv[1]), sig));
}
