/* The agent's artifact store: function executables kept on the host by their
 * SHA-256, pushed into a guest the first time one of its invocations needs
 * them. */
#ifndef DITTO_ARTIFACTS_H
#define DITTO_ARTIFACTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* At most this many digests are remembered; past it artifacts_has asks the
 * file system, as before. */
#define ARTIFACTS_KNOWN_SLOTS 1024

/* What the store holds, kept in memory so that the warm path's artifacts_has
 * makes no system call: a digest is known once stored or once found on disk,
 * and forgotten when its file turns out gone (artifacts_get's -ENOENT) or by
 * artifacts_forget. Used from the agent's loop thread only. */
struct artifacts {
	char dir[PATH_MAX];
	size_t max_size;
	size_t n_known;
	/* An open-addressed set of binary SHA-256s (all zero: free). */
	unsigned char known[ARTIFACTS_KNOWN_SLOTS][32];
};

/* Creates dir if needed. Returns 0 or -errno. */
int artifacts_init(struct artifacts *a, const char *dir, size_t max_size);

/* True when digest is 64 lowercase hex characters. */
bool artifacts_digest_is_valid(const char *digest);

/* Stores data under digest after checking that its SHA-256 is digest.
 * Returns 0, -EINVAL (malformed digest), -EBADMSG (content does not match),
 * -EFBIG (over max_size) or -errno. Storing the same artifact twice is fine. */
int artifacts_put(struct artifacts *a, const char *digest, const void *data, size_t len);

/* Whether the store holds digest: from memory when it is known, else from the
 * file system (and known from then on). */
bool artifacts_has(struct artifacts *a, const char *digest);

/* Forgets digest, so that artifacts_has asks the file system again: call it
 * when its file goes. */
void artifacts_forget(struct artifacts *a, const char *digest);

/* Reads an artifact into a malloc'd buffer. Returns 0, -ENOENT (its file is
 * gone: it is forgotten too) or -errno. */
int artifacts_get(struct artifacts *a, const char *digest, void **ret, size_t *ret_len);

#endif
