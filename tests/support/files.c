#include "support/files.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int scratch_dir(char *dir, size_t size, const char *name)
{
	if (snprintf(dir, size, "/tmp/ditto-%s-XXXXXX", name) >= (int)size)
		return -ENAMETOOLONG;
	return mkdtemp(dir) ? 0 : -errno;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -errno : 0;
}

int remove_tree(const char *dir)
{
	int r = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (r < 0)
		return errno == ENOENT ? 0 : -errno;
	return r;
}
