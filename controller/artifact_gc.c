/* Artifact pins and garbage collection (artifact_gc.h). */
#include "artifact_gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static struct db_pin *pin_find(const struct db *db, const char *digest)
{
	for (size_t i = 0; i < db->n_pins; i++)
		if (!strcmp(db->pins[i].digest, digest))
			return &db->pins[i];
	return NULL;
}

int artifact_gc_pin(struct db *db, const char *digest)
{
	struct db_pin *p = pin_find(db, digest);
	if (p) {
		p->count++;
		return 0;
	}
	if (array_reserve(&db->pins, &db->cap_pins, db->n_pins + 1, sizeof(*db->pins), 16) < 0)
		return -ENOMEM;
	p = &db->pins[db->n_pins++];
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	p->count = 1;
	return 0;
}

void artifact_gc_unpin(struct db *db, const char *digest)
{
	pthread_mutex_lock(&db->lock);
	struct db_pin *p = pin_find(db, digest);
	if (p && --p->count == 0)
		*p = db->pins[--db->n_pins];
	pthread_mutex_unlock(&db->lock);
}

bool artifact_gc_pinned(const struct db *db, const char *digest)
{
	return pin_find(db, digest) != NULL;
}

void artifact_gc_pins_free(struct db *db)
{
	free(db->pins);
	db->pins = NULL;
	db->n_pins = db->cap_pins = 0;
}

/* Marks the unused, unpinned artifacts collected (unless dry_run) and
 * returns them (malloc'd) for their files to go. */
static int collect_records(struct db *db, bool dry_run, struct store_artifact **ret, size_t *ret_n,
			   struct artifact_gc_report *rep)
{
	struct store_artifact *a = NULL;
	size_t n = 0, kept = 0;
	pthread_mutex_lock(&db->lock);
	int r = store_artifact_unused(db->store, &a, &n);
	if (r == 0 && !dry_run)
		r = store_batch_begin(db->store);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (artifact_gc_pinned(db, a[i].digest)) {
			rep->kept_pinned++;
			continue;
		}
		if (!dry_run)
			r = store_artifact_collect(db->store, a[i].digest);
		a[kept++] = a[i];
	}
	if (!dry_run)
		r = store_batch_end(db->store, r);
	pthread_mutex_unlock(&db->lock);
	if (r < 0) {
		free(a);
		return r;
	}
	*ret = a;
	*ret_n = kept;
	return 0;
}

/* Deletes the files in dir named like a digest that no live record names.
 * Runs under the artifacts lock, so no deploy is between rename and commit. */
static int sweep_orphans(struct db *db, const char *dir, bool dry_run,
			 struct artifact_gc_report *rep)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!store_is_lower_hex(e->d_name, STORE_DIGEST_SIZE - 1))
			continue;
		uint64_t size;
		pthread_mutex_lock(&db->lock);
		int r = store_artifact_get(db->store, e->d_name, &size);
		bool keep = r != -ENOENT || artifact_gc_pinned(db, e->d_name);
		pthread_mutex_unlock(&db->lock);
		struct stat st;
		if (keep || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!dry_run && unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			continue;
		rep->orphans++;
		rep->orphan_bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	return 0;
}

int artifact_gc_run(struct db *db, pthread_rwlock_t *lock, const char *dir, bool dry_run,
		    struct artifact_gc_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_rwlock_wrlock(lock);
	struct store_artifact *a = NULL;
	size_t n = 0;
	int r = collect_records(db, dry_run, &a, &n, ret);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char path[1200];
		snprintf(path, sizeof(path), "%s/%s", dir, a[i].digest);
		/* Recorded as collected already: a file that will not go is
		 * an orphan, which the next pass sweeps. */
		if (!dry_run && unlink(path) < 0 && errno != ENOENT)
			continue;
		ret->collected++;
		ret->bytes += a[i].size;
	}
	free(a);
	if (r == 0)
		r = sweep_orphans(db, dir, dry_run, ret);
	pthread_rwlock_unlock(lock);
	return r;
}
