/* Files in tests: scratch folders made with mkdtemp() go away whole. */
#ifndef DITTO_TESTS_FILES_H
#define DITTO_TESTS_FILES_H

/* Removes dir and everything below it, as `rm -rf` does. Returns 0, or -EIO
 * when something could not be removed. */
int remove_tree(const char *dir);

#endif
