/* exec PATH NAME: execve a binary. On success the binary (helper.c) prints
 * the result line itself, under the escape name NAME. */
#include "escape.h"

int main(int argc, char **argv)
{
	need_args(argc, 3, "exec PATH NAME");
	char *args[] = {argv[1], argv[2], NULL};
	char *env[] = {NULL};
	execve(argv[1], args, env);
	report(argv[2], errno, NULL);
	return 0;
}
