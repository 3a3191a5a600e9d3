/* The agent's artifact store: function executables kept on the host by their
 * SHA-256, pushed into a guest the first time one of its invocations needs
 * them. */
#ifndef DITTO_ARTIFACTS_H
#define DITTO_ARTIFACTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct artifacts {
	char dir[PATH_MAX];
	size_t max_size;
};

/* Creates dir if needed. Returns 0 or -errno. */
int artifacts_init(struct artifacts *a, const char *dir, size_t max_size);

/* True when digest is 64 lowercase hex characters. */
bool artifacts_digest_is_valid(const char *digest);

/* Stores data under digest after checking that its SHA-256 is digest.
 * Returns 0, -EINVAL (malformed digest), -EBADMSG (content does not match),
 * -EFBIG (over max_size) or -errno. Storing the same artifact twice is fine. */
int artifacts_put(struct artifacts *a, const char *digest, const void *data, size_t len);

bool artifacts_has(const struct artifacts *a, const char *digest);

/* Reads an artifact into a malloc'd buffer. Returns 0, -ENOENT or -errno. */
int artifacts_get(const struct artifacts *a, const char *digest, void **ret, size_t *ret_len);

#endif
