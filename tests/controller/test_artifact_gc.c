/* Artifact pins and collection in-process (artifact_gc.h): a pinned
 * artifact of a deleted function stays until its last pin goes, counted as
 * kept; a dry run changes nothing; pins count. */
#include <pthread.h>

#include "artifact_gc.h"
#include "store_fixture.h"

/* Writes the file of digest in dir. */
static void artifact_file(const char *dir, const char *digest, const char *bytes)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, digest);
	assert_int_equal(file_replace_text(path, bytes, 0600, false), 0);
}

static bool present(const char *dir, const char *digest)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, digest);
	return access(path, F_OK) == 0;
}

static void test_pins(void **state)
{
	struct fixture *f = *state;
	struct db db = { .store = f->s };
	pthread_mutex_init(&db.lock, NULL);
	pthread_rwlock_t lock;
	pthread_rwlock_init(&lock, NULL);
	int64_t v;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	assert_int_equal(store_function_put(f->s, "acme", "f", DIGEST_A, 10, &LIMITS, &v), 0);
	artifact_file(f->dir, DIGEST_A, "0123456789");
	assert_int_equal(store_function_delete(f->s, "acme", "f"), 0);

	/* Two calls in flight: both pins must go before the artifact does. */
	assert_int_equal(artifact_gc_pin(&db, DIGEST_A), 0);
	assert_int_equal(artifact_gc_pin(&db, DIGEST_A), 0);
	assert_true(artifact_gc_pinned(&db, DIGEST_A));
	assert_false(artifact_gc_pinned(&db, DIGEST_B));
	struct artifact_gc_report g;
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.collected, 0);
	assert_int_equal(g.kept_pinned, 1);
	assert_int_equal(g.orphans, 0);
	assert_true(present(f->dir, DIGEST_A));
	artifact_gc_unpin(&db, DIGEST_A);
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.kept_pinned, 1);
	assert_true(present(f->dir, DIGEST_A));
	artifact_gc_unpin(&db, DIGEST_A);
	assert_false(artifact_gc_pinned(&db, DIGEST_A));

	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, true, &g), 0);
	assert_int_equal(g.collected, 1);
	assert_int_equal(g.bytes, 10);
	assert_true(present(f->dir, DIGEST_A));
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.collected, 1);
	assert_int_equal(g.kept_pinned, 0);
	assert_false(present(f->dir, DIGEST_A));
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.collected + g.orphans, 0);

	/* A file no record names goes as an orphan, unless pinned. */
	artifact_file(f->dir, DIGEST_B, "xyz");
	assert_int_equal(artifact_gc_pin(&db, DIGEST_B), 0);
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.orphans, 0);
	artifact_gc_unpin(&db, DIGEST_B);
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.orphans, 1);
	assert_int_equal(g.orphan_bytes, 3);
	assert_false(present(f->dir, DIGEST_B));

	/* A missing folder is an error, not a crash. */
	assert_true(artifact_gc_run(&db, &lock, "/nonexistent/ditto", false, &g) < 0);
	artifact_gc_pins_free(&db);
	pthread_rwlock_destroy(&lock);
	pthread_mutex_destroy(&db.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pins, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
