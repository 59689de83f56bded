/* setuid: become root again. */
#include "escape.h"

int main(void)
{
	return check("setuid-root", setuid(0));
}
