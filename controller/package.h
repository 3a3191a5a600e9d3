/* An uploaded artifact checked against the runtime and handler it is
 * deployed with: the I/O around lib/fnpkg, which reads from the artifact's
 * file only what the checks need (its head, and for a zip its tail and its
 * central directory). */
#ifndef DITTO_PACKAGE_H
#define DITTO_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fnpkg.h"

/* Checks the artifact in fd (size bytes, read with pread: the offset is
 * left alone) as fnpkg_check_artifact does: *rt FN_RUNTIME_UNKNOWN is
 * inferred, handler NULL or "" takes the default. Returns 0 with *rt and
 * ret_handler resolved, -EINVAL with why (the bytes do not suit: the API's
 * bad_function), or -ENOMEM / -EIO. */
int package_check(int fd, uint64_t size, enum fn_runtime *rt, const char *handler,
		  char ret_handler[FNPKG_HANDLER_SIZE], char *why, size_t why_size);

#endif
