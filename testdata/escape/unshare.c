/* unshare: a new user namespace would give the program every capability
 * inside it, and with them mount and network namespaces. */
#include "escape.h"
#include <sched.h>

int main(void)
{
	return check("unshare-user", unshare(CLONE_NEWUSER));
}
