/* Artifacts' bytes in a store several controllers share (PostgreSQL): a
 * table of chunks of CHUNK_SIZE bytes per digest, which every controller
 * copies into its artifacts folder, a local cache, before it first pushes
 * the artifact to an agent. On SQLite the folder is the only copy and these
 * calls do nothing.
 *
 * Chunks move one statement each, under the shared handle's lock only for
 * that statement, so a large deploy or fetch holds other requests up for a
 * chunk at most. An artifact is content-addressed: its chunks never change,
 * a deploy of the same bytes writes none again, and a fetched copy is kept
 * only when its SHA-256 is its name. */
#include "db.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#define CHUNK_SIZE (1u << 20)

/* clang-format off */
const struct sq_query store_artifact_queries[Q_COUNT] = {
	[Q_CHUNK_PUT] = {
		"INSERT INTO artifact_chunks (digest, seq, data) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (digest, seq) DO NOTHING",
	},
	[Q_CHUNK_GET] = { "SELECT data FROM artifact_chunks WHERE digest = ?1 AND seq = ?2" },
	[Q_CHUNK_COUNT] = { "SELECT count(*) FROM artifact_chunks WHERE digest = ?1" },
	[Q_CHUNK_DELETE] = { "DELETE FROM artifact_chunks WHERE digest = ?1" },
};
/* clang-format on */

bool store_keeps_artifacts(const struct store *s)
{
	return !strcmp(sq_engine_name(s), "postgres");
}

int sq_artifact_bytes_drop(struct store *s, const char *digest)
{
	if (!store_keeps_artifacts(s))
		return 0;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_CHUNK_DELETE, "t", digest);
	return st ? sq_step_done(st) : -ENOMEM;
}

/* Runs one chunk's statement under the lock. */
static int chunk_put(struct db *db, const char *digest, int64_t seq, const void *p, size_t n)
{
	pthread_mutex_lock(&db->lock);
	struct sq_stmt *st = sq_prep_bind(db->store, Q_CHUNK_PUT, "tIb", digest, seq, p, n);
	int r = st ? sq_step_done(st) : -ENOMEM;
	sq_reset(st);
	pthread_mutex_unlock(&db->lock);
	return r;
}

/* Copies chunk seq into buf (CHUNK_SIZE bytes). Returns its length,
 * -ENOENT past the last chunk, or -errno. */
static ssize_t chunk_get(struct db *db, const char *digest, int64_t seq, uint8_t *buf)
{
	pthread_mutex_lock(&db->lock);
	struct sq_stmt *st = sq_prep_bind(db->store, Q_CHUNK_GET, "tI", digest, seq);
	ssize_t r = st ? sq_step_row(st) : -ENOMEM;
	if (r == 0) {
		size_t n = sq_col_bytes(st, 0);
		if (n && n <= CHUNK_SIZE)
			memcpy(buf, sq_col_blob(st, 0), n);
		r = n && n <= CHUNK_SIZE ? (ssize_t)n : -EIO;
	}
	sq_reset(st);
	pthread_mutex_unlock(&db->lock);
	return r;
}

/* How many chunks the store holds for digest. */
static int64_t chunk_count(struct db *db, const char *digest)
{
	pthread_mutex_lock(&db->lock);
	struct sq_stmt *st = sq_prep_bind(db->store, Q_CHUNK_COUNT, "t", digest);
	int64_t r = st ? sq_step_row(st) : -ENOMEM;
	if (r == 0)
		r = sq_col_int64(st, 0);
	sq_reset(st);
	pthread_mutex_unlock(&db->lock);
	return r;
}

/* Reads up to n bytes, short only at the end of the file. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int db_artifact_share(struct db *db, const char *digest, const char *path)
{
	if (!store_keeps_artifacts(db->store))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	int64_t want = ((int64_t)sb.st_size + CHUNK_SIZE - 1) / CHUNK_SIZE;
	int64_t have = chunk_count(db, digest);
	uint8_t *buf = have == want ? NULL : malloc(CHUNK_SIZE);
	int r = have < 0 ? (int)have : have == want ? 0 : buf ? 0 : -ENOMEM;
	for (int64_t seq = 0; buf && r == 0 && seq < want; seq++) {
		ssize_t n = read_full(fd, buf, CHUNK_SIZE);
		if (n <= 0)
			r = n < 0 ? (int)n : -EIO; /* the file shrank */
		else
			r = chunk_put(db, digest, seq, buf, (size_t)n);
	}
	free(buf);
	close(fd);
	return r;
}

/* Writes all n bytes at p. Returns 0 or -errno. */
static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Writes digest's chunks to fd, checking them against digest. */
static int fetch_into(struct db *db, const char *digest, int fd)
{
	uint8_t *buf = malloc(CHUNK_SIZE);
	if (!buf)
		return -ENOMEM;
	struct sha256 ctx;
	sha256_init(&ctx);
	int r = 0;
	int64_t seq = 0;
	for (; r == 0; seq++) {
		ssize_t n = chunk_get(db, digest, seq, buf);
		if (n == -ENOENT)
			break;
		if (n < 0)
			r = (int)n;
		else if ((r = write_full(fd, buf, (size_t)n)) == 0)
			sha256_update(&ctx, buf, (size_t)n);
	}
	free(buf);
	if (r < 0)
		return r;
	if (seq == 0)
		return -ENOENT;
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	sha256_final(&ctx, d);
	sha256_digest_to_hex(d, hex);
	return strcmp(hex, digest) ? -EIO : 0;
}

int db_artifact_cache(struct db *db, const char *digest, const char *path)
{
	if (access(path, F_OK) == 0)
		return 0;
	if (!store_keeps_artifacts(db->store))
		return -ENOENT;
	/* Named as uploads are, so a copy cut short goes at the next start. */
	const char *slash = strrchr(path, '/');
	char tmp[1200];
	int len = slash ? (int)(slash - path) : 1;
	if (snprintf(tmp, sizeof(tmp), "%.*s/.upload-XXXXXX", len, slash ? path : ".") >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fetch_into(db, digest, fd);
	if (r == 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0))
		r = -errno;
	close(fd);
	if (r < 0)
		unlink(tmp);
	return r;
}
