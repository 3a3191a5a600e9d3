/* The store handle the controller's threads share, and the mutex that
 * serialises them on it. SQLite serialises writers anyway, and each call is
 * short next to the HTTP work around it. */
#ifndef DITTO_DB_H
#define DITTO_DB_H

#include <pthread.h>

#include "store.h"

/* An artifact in use by invocations in flight (artifact_gc.h). */
struct db_pin {
	char digest[STORE_DIGEST_SIZE];
	unsigned count;
};

struct db {
	struct store *store;
	pthread_mutex_t lock;
	/* The artifacts invocations in flight use, which garbage collection
	 * keeps; read and changed with lock held. */
	struct db_pin *pins;
	size_t n_pins, cap_pins;
};

/* Copies the artifact file at path, named digest, into the store when it
 * keeps artifacts' bytes (store_keeps_artifacts; a no-op otherwise), a
 * chunk at a time under db->lock; chunks it has already stay, and an
 * artifact it has whole costs one query. Returns 0 or -errno. */
int db_artifact_share(struct db *db, const char *digest, const char *path);
/* Makes sure the artifact file at path, named digest, is there: when it is
 * missing and the store keeps artifacts' bytes, writes it from them (a
 * chunk at a time under db->lock, into a temporary file beside it renamed
 * once its SHA-256 is digest). Returns 0, -ENOENT when neither has it,
 * -EIO when the stored bytes are not digest's (cut short), or -errno. */
int db_artifact_cache(struct db *db, const char *digest, const char *path);

#endif
