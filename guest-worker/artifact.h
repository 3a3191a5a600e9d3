/* The guest's artifact cache: executables stored by the SHA-256 of their
 * content, one file per digest (named by the lowercase hex digest) in one
 * directory (tmpfs in the VM: /run/ditto/artifacts). */
#ifndef DITTO_GUEST_ARTIFACT_H
#define DITTO_GUEST_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>

#include "sha256.h"

/* A digest's length in hex digits (SHA256_HEX_SIZE holds one and its NUL). */
#define ARTIFACT_DIGEST_LEN (SHA256_HEX_SIZE - 1)
#define ARTIFACT_DEFAULT_DIR "/run/ditto/artifacts"

struct artifact_store {
	char *dir;
	int dirfd;
};

/* Creates the directory (and parents) if needed and opens it. Returns 0 or
 * -errno. */
int artifact_store_open(const char *dir, struct artifact_store *ret);
/* Closes the store; accepts a zeroed or already closed store. */
void artifact_store_close(struct artifact_store *s);

/* True for exactly 64 lowercase hex digits, the only names the store uses
 * (so a digest can never name a path outside the directory). */
bool artifact_digest_is_valid(const char *digest);

/* Stores data under digest after checking that it is the SHA-256 of data:
 * written to a temporary file, made executable (0755) and renamed into
 * place, so a reader never sees a partial file. Returns 0, -EINVAL for a
 * malformed digest, -EBADMSG when data does not match it, or -errno. */
int artifact_put(const struct artifact_store *s, const char *digest, const void *data, size_t len);

/* Stores data under digest as artifact_put() does, without checking that
 * digest is its SHA-256 (the caller names it: an opened end-to-end encrypted
 * artifact is kept under the digest of its sealed bytes), with this mode.
 * Returns 0, -EINVAL for a malformed digest, or -errno. */
int artifact_write(const struct artifact_store *s, const char *digest, const void *data, size_t len,
		   unsigned mode);

/* True when an artifact with this (valid) digest is stored. */
bool artifact_has(const struct artifact_store *s, const char *digest);

/* Writes the artifact's absolute path to out. Returns 0, -EINVAL for a
 * malformed digest, or -ENAMETOOLONG. */
int artifact_path(const struct artifact_store *s, const char *digest, char *out, size_t size);

/* Counts the stored artifacts. Returns the count or -errno. */
int artifact_count(const struct artifact_store *s);

#endif
