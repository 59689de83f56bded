/* env NAME: is sockjail's own environment variable NAME visible to the
 * program? ok when it is (a leak), ENOENT when it is not. */
#include "escape.h"

int main(int argc, char **argv)
{
	need_args(argc, 2, "env NAME");
	report("env-leak", getenv(argv[1]) ? 0 : ENOENT, NULL);
	return 0;
}
