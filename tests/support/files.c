#include "support/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int remove_tree(const char *dir)
{
	char cmd[4200];
	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= (int)sizeof(cmd))
		return -EIO;
	return system(cmd) == 0 ? 0 : -EIO;
}
