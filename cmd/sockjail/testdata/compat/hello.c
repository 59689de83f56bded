/* A C program under the default policy, built static and dynamic: it
 * answers a line from stdin. */
#include <stdio.h>
#include <string.h>

int main(void)
{
	char line[256];
	if (!fgets(line, sizeof line, stdin))
		return 1;
	line[strcspn(line, "\n")] = 0;
	printf("c=%s\n", line);
	return 0;
}
