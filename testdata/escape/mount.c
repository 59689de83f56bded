/* mount TARGET: mount a tmpfs on TARGET. With mount, a program could hide
 * or replace what the sandbox grants (a tmpfs over /etc, say). */
#include "escape.h"
#include <sys/mount.h>

int main(int argc, char **argv)
{
	need_args(argc, 2, "mount TARGET");
	return check("mount", mount("escape", argv[1], "tmpfs", 0, "size=1m"));
}
