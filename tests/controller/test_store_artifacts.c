/* Artifacts' bytes in a store every controller shares: a deploy's file goes
 * into the store in chunks, another controller's handle writes it back into
 * its own folder, checked against its digest; collecting drops the bytes.
 * On SQLite the controller's folder is the only copy. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "db.h"
#include "sha256.h"
#include "store_fixture.h"

#define SIZE (2 * 1024 * 1024 + 4321) /* three chunks, the last one short */

struct art {
	uint8_t *bytes;
	char digest[STORE_DIGEST_SIZE];
	char path[256];
};

/* Writes SIZE bytes into f's folder (or a new one) under their digest. */
static void art_make(struct art *a, const char *dir)
{
	a->bytes = malloc(SIZE);
	assert_non_null(a->bytes);
	for (size_t i = 0; i < SIZE; i++)
		a->bytes[i] = (uint8_t)(i * 2654435761u >> 13);
	sha256_hex(a->bytes, SIZE, a->digest);
	snprintf(a->path, sizeof(a->path), "%s/%s", dir, a->digest);
	int fd = open(a->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, a->bytes, SIZE), SIZE);
	close(fd);
}

static bool file_holds(const char *path, const struct art *a)
{
	void *p;
	size_t n;
	if (file_read_all(path, &p, &n) < 0)
		return false;
	bool same = n == SIZE && !memcmp(p, a->bytes, SIZE);
	free(p);
	return same;
}

static int64_t chunks(struct store *s, const char *digest)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM artifact_chunks WHERE digest = '%s'",
		 digest);
	struct sq_stmt *st;
	assert_int_equal(sq_prep_sql(s, sql, &st), 0);
	assert_int_equal(sq_step(st), SQ_ROW);
	int64_t n = sq_col_int64(st, 0);
	sq_stmt_free(st);
	return n;
}

static void test_bytes_shared(void **state)
{
	struct fixture *f = *state;
	char dir[64], other_dir[64];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "art"), 0);
	assert_int_equal(scratch_dir(other_dir, sizeof(other_dir), "art2"), 0);
	struct db db = { .store = f->s };
	pthread_mutex_init(&db.lock, NULL);
	struct art a;
	art_make(&a, dir);
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	assert_int_equal(db_artifact_share(&db, a.digest, a.path), 0);
	int64_t v;
	assert_int_equal(store_function_put(f->s, "acme", "f", a.digest, SIZE, &LIMITS, &v), 0);
	/* The file there stays as it is. */
	assert_int_equal(db_artifact_cache(&db, a.digest, a.path), 0);

	/* Another controller, on its own handle and folder. */
	struct db other = { 0 };
	pthread_mutex_init(&other.lock, NULL);
	assert_int_equal(store_open(f->uri, &other.store), 0);
	char copy[256];
	snprintf(copy, sizeof(copy), "%s/%s", other_dir, a.digest);
	if (!f->pg) {
		assert_false(store_keeps_artifacts(f->s));
		assert_int_equal(db_artifact_cache(&other, a.digest, copy), -ENOENT);
		goto out;
	}
	assert_true(store_keeps_artifacts(f->s));
	assert_int_equal(chunks(f->s, a.digest), 3);
	assert_int_equal(db_artifact_cache(&other, a.digest, copy), 0);
	assert_true(file_holds(copy, &a));
	/* Shared twice, nothing changes. */
	assert_int_equal(db_artifact_share(&other, a.digest, copy), 0);
	assert_int_equal(chunks(f->s, a.digest), 3);

	/* Bytes cut short are refused, and leave no file behind. */
	unlink(copy);
	char sql[160];
	snprintf(sql, sizeof(sql), "DELETE FROM artifact_chunks WHERE digest = '%s' AND seq = 2",
		 a.digest);
	assert_int_equal(sq_exec(f->s, sql), 0);
	assert_int_equal(db_artifact_cache(&other, a.digest, copy), -EIO);
	assert_int_equal(rmdir(other_dir), 0); /* empty: no temporary file either */
	assert_int_equal(mkdir(other_dir, 0700), 0);
	/* A deploy of the same file fills in what is missing. */
	assert_int_equal(db_artifact_share(&db, a.digest, a.path), 0);
	assert_int_equal(db_artifact_cache(&other, a.digest, copy), 0);
	assert_true(file_holds(copy, &a));

	/* Collected, the bytes go with the record. */
	unlink(copy);
	assert_int_equal(store_function_delete(f->s, "acme", "f"), 0);
	assert_int_equal(store_artifact_collect(f->s, a.digest), 0);
	assert_int_equal(chunks(f->s, a.digest), 0);
	assert_int_equal(db_artifact_cache(&other, a.digest, copy), -ENOENT);
out:
	store_close(other.store);
	pthread_mutex_destroy(&other.lock);
	pthread_mutex_destroy(&db.lock);
	free(a.bytes);
	remove_tree(dir);
	remove_tree(other_dir);
}

int main(void)
{
	const struct CMUnitTest both[] = { cmocka_unit_test(test_bytes_shared) };
	return store_run(both, 1, NULL, 0);
}
