/* link FROM TO: hard-link a file into another directory, to reach it
 * through a path the sandbox allows (Landlock's "refer" right). */
#include "escape.h"

int main(int argc, char **argv)
{
	need_args(argc, 3, "link FROM TO");
	return check("link", link(argv[1], argv[2]));
}
