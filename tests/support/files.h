/* Files in tests: scratch folders made with mkdtemp() go away whole. */
#ifndef DITTO_TESTS_FILES_H
#define DITTO_TESTS_FILES_H

#include <stddef.h>

/* Makes a new folder /tmp/ditto-<name>-XXXXXX, its path in dir (size bytes).
 * Returns 0 or -errno. */
int scratch_dir(char *dir, size_t size, const char *name);

/* Removes dir and everything below it, as `rm -rf` does (a missing dir is
 * fine). Returns 0 or -errno. */
int remove_tree(const char *dir);

#endif
