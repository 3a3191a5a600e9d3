/* The controller's artifact files (DATA/artifacts/<sha256>) and their
 * garbage collection: the files of artifacts no function version can run
 * any more (the versions of deleted functions, and of a function's earlier
 * incarnations) are deleted, never one in use.
 *
 * In use means: named by a version a function get can return, by an
 * unfinished (queued or running) invocation's version, or pinned by an
 * invocation in flight, which pins its version's artifact in the same hold
 * of db.lock in which it looked the version up, and unpins it when its call
 * ends, so that a function deleted meanwhile keeps its artifact until then.
 *
 * A deploy renames its upload onto the digest and records the version
 * while holding the artifacts lock for reading; a collection holds it for
 * writing, so it never deletes a file between a deploy's rename and its
 * commit (the same bytes deployed again while their old file is collected).
 * Uploads in progress (.upload-*) are never touched. */
#ifndef DITTO_ARTIFACT_GC_H
#define DITTO_ARTIFACT_GC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Pins digest for an invocation in flight. Called with db->lock held.
 * Returns 0 or -ENOMEM. */
int artifact_gc_pin(struct db *db, const char *digest);
/* Releases a pin of artifact_gc_pin; takes db->lock itself. */
void artifact_gc_unpin(struct db *db, const char *digest);
/* Whether digest is pinned. Called with db->lock held. */
bool artifact_gc_pinned(const struct db *db, const char *digest);
/* Frees the pin table (at shutdown, no invocation in flight). */
void artifact_gc_pins_free(struct db *db);

struct artifact_gc_report {
	size_t collected; /* artifacts whose files were deleted (or would be) */
	uint64_t bytes;   /* their sizes */
	size_t orphans;   /* files no live artifact record names, deleted */
	uint64_t orphan_bytes;
	size_t kept_pinned; /* unused by any version, but in use by a call in flight */
};

/* Collects the artifacts nothing can run (see above) in dir, holding lock
 * for writing: marks them collected in the store and deletes their files,
 * and deletes files in dir named like a digest that no live record names
 * (a deploy interrupted between its rename and its commit). With dry_run
 * nothing changes and the report says what would go. Returns 0 with the
 * report, or -errno (the report then counts what was done before). */
int artifact_gc_run(struct db *db, pthread_rwlock_t *lock, const char *dir, bool dry_run,
		    struct artifact_gc_report *ret);

#endif
