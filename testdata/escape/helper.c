/* helper [NAME]: the target of exec attempts. It reports success and its
 * credentials, so that a setuid-root copy shows whether exec raised them. */
#include "escape.h"

int main(int argc, char **argv)
{
	uid_t r, e, s;
	if (getresuid(&r, &e, &s) < 0)
		return check(argc > 1 ? argv[1] : "helper", -1);
	report(argc > 1 ? argv[1] : "helper", 0, "uid=%u euid=%u suid=%u",
	       (unsigned)r, (unsigned)e, (unsigned)s);
	return 0;
}
