/* The function cache (fn_cache.h): a hit returns the version the store gave
 * for the same tenant, name and version asked; a deploy's or delete's forget
 * drops every version, and a read that raced with one is not kept; a slot
 * older than the TTL is not returned; and an invocation that pinned its
 * artifact through a cached lookup keeps it from the collection after its
 * function is deleted. */
#include <pthread.h>

#include "artifact_gc.h"
#include "fn_cache.h"
#include "store_fixture.h"

static struct store_function version_of(const char *tenant, const char *name, int64_t v,
					const char *digest)
{
	struct store_function fn = { .version = v, .size = 10, .limits = LIMITS };
	snprintf(fn.tenant, sizeof(fn.tenant), "%s", tenant);
	snprintf(fn.name, sizeof(fn.name), "%s", name);
	snprintf(fn.digest, sizeof(fn.digest), "%s", digest);
	return fn;
}

static void test_hit(void **state)
{
	struct fn_cache fc;
	fn_cache_init(&fc);
	struct store_function got, v2 = version_of("acme", "f", 2, DIGEST_A);
	assert_false(fn_cache_get(&fc, "acme", "f", 0, &got));
	fn_cache_put(&fc, fn_cache_gen(&fc), 0, &v2);
	assert_true(fn_cache_get(&fc, "acme", "f", 0, &got));
	assert_int_equal(got.version, 2);
	assert_string_equal(got.digest, DIGEST_A);
	/* The latest is not taken for a version asked by number, nor for
	 * another tenant's or function's. */
	assert_false(fn_cache_get(&fc, "acme", "f", 2, &got));
	assert_false(fn_cache_get(&fc, "other", "f", 0, &got));
	assert_false(fn_cache_get(&fc, "acme", "g", 0, &got));
	struct store_function v1 = version_of("acme", "f", 1, DIGEST_B);
	fn_cache_put(&fc, fn_cache_gen(&fc), 1, &v1);
	assert_true(fn_cache_get(&fc, "acme", "f", 1, &got));
	assert_string_equal(got.digest, DIGEST_B);
	fn_cache_destroy(&fc);
}

static void test_forget_on_put_and_delete(void **state)
{
	struct fn_cache fc;
	fn_cache_init(&fc);
	struct store_function got, v1 = version_of("acme", "f", 1, DIGEST_A);
	fn_cache_put(&fc, fn_cache_gen(&fc), 0, &v1);
	fn_cache_forget(&fc); /* a deploy of version 2 */
	assert_false(fn_cache_get(&fc, "acme", "f", 0, &got));
	/* A read that began before a forget may hold what went: not kept. */
	uint64_t gen = fn_cache_gen(&fc);
	fn_cache_forget(&fc); /* a delete */
	fn_cache_put(&fc, gen, 0, &v1);
	assert_false(fn_cache_get(&fc, "acme", "f", 0, &got));
	fn_cache_put(&fc, fn_cache_gen(&fc), 0, &v1);
	assert_true(fn_cache_get(&fc, "acme", "f", 0, &got));
	fn_cache_destroy(&fc);
}

static void test_ttl(void **state)
{
	struct fn_cache fc;
	fn_cache_init(&fc);
	struct store_function got, v1 = version_of("acme", "f", 1, DIGEST_A);
	fn_cache_put(&fc, fn_cache_gen(&fc), 0, &v1);
	assert_true(fn_cache_get(&fc, "acme", "f", 0, &got));
	/* The slot read FN_CACHE_TTL_US ago: another controller's deploy may
	 * have happened since, so it is read again. */
	for (size_t i = 0; i < FN_CACHE_SLOTS; i++)
		fc.slots[i].read_us -= FN_CACHE_TTL_US;
	assert_false(fn_cache_get(&fc, "acme", "f", 0, &got));
	fn_cache_destroy(&fc);
}

/* The latest version of acme's f, pinned, as an invocation looks it up. */
static int lookup_pin(struct db *db, struct fn_cache *fc, struct store_function *f)
{
	return fn_cache_lookup(fc, db, "acme", "f", 0, true, f);
}

static void test_gc_refuses_pinned(void **state)
{
	struct fixture *f = *state;
	struct db db = { .store = f->s };
	pthread_mutex_init(&db.lock, NULL);
	pthread_rwlock_t lock;
	pthread_rwlock_init(&lock, NULL);
	struct fn_cache fc;
	fn_cache_init(&fc);
	int64_t v;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	assert_int_equal(store_function_put(f->s, "acme", "f", DIGEST_A, 10, &LIMITS, &v), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", f->dir, DIGEST_A);
	assert_int_equal(file_replace_text(path, "0123456789", 0600, false), 0);

	struct store_function fn;
	assert_int_equal(lookup_pin(&db, &fc, &fn), 0); /* from the store */
	artifact_gc_unpin(&db, fn.digest);
	/* Deleted behind the cache's back (as by another controller): the
	 * lookup is the cache's, not the store's, within the TTL. */
	assert_int_equal(store_function_delete(f->s, "acme", "f"), 0);
	assert_int_equal(lookup_pin(&db, &fc, &fn), 0);
	assert_string_equal(fn.digest, DIGEST_A);
	pthread_mutex_lock(&db.lock);
	fn_cache_forget(&fc);
	pthread_mutex_unlock(&db.lock);

	struct artifact_gc_report g;
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.collected, 0);
	assert_int_equal(g.kept_pinned, 1);
	assert_int_equal(access(path, F_OK), 0);
	/* Deleted: the next lookup finds nothing, cached or not. */
	assert_int_equal(lookup_pin(&db, &fc, &fn), -ENOENT);
	artifact_gc_unpin(&db, DIGEST_A);
	assert_int_equal(artifact_gc_run(&db, &lock, f->dir, false, &g), 0);
	assert_int_equal(g.collected, 1);
	assert_int_equal(access(path, F_OK), -1);

	fn_cache_destroy(&fc);
	artifact_gc_pins_free(&db);
	pthread_rwlock_destroy(&lock);
	pthread_mutex_destroy(&db.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit),
		cmocka_unit_test(test_forget_on_put_and_delete),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test_setup_teardown(test_gc_refuses_pinned, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
