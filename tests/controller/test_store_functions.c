/* Function versions: deploys, lookups, deletes and concurrent writers. */
#include <pthread.h>

#include "store_fixture.h"

static void test_functions(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	int64_t v = 0;
	assert_int_equal(store_function_put(s, "acme", "Hello_1.x-y", DIGEST_A, 10, &LIMITS, &v),
			 0);
	assert_int_equal(v, 1);
	struct store_limits persistent = {
		5000, 256, 2, "persistent", true, FN_RUNTIME_BINARY, ""
	};
	assert_int_equal(
		store_function_put(s, "acme", "Hello_1.x-y", DIGEST_B, 20, &persistent, &v), 0);
	assert_int_equal(v, 2);

	struct store_function fn;
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 0, &fn), 0);
	assert_int_equal(fn.version, 2);
	assert_string_equal(fn.digest, DIGEST_B);
	assert_int_equal(fn.size, 20);
	assert_int_equal(fn.limits.timeout_ms, 5000);
	assert_int_equal(fn.limits.memory_mib, 256);
	assert_int_equal(fn.limits.max_concurrency, 2);
	assert_string_equal(fn.limits.mode, "persistent");
	/* Whether a version is encrypted is its own: version 1 is not. */
	assert_true(fn.limits.encrypted);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 1, &fn), 0);
	assert_false(fn.limits.encrypted);
	assert_int_equal(fn.version, 1);
	assert_string_equal(fn.digest, DIGEST_A);
	assert_string_equal(fn.limits.mode, "process");
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 3, &fn), -ENOENT);
	uint64_t size;
	assert_int_equal(store_artifact_get(s, DIGEST_B, &size), 0);
	assert_int_equal(size, 20);

	/* Stored versions cannot be changed, even bypassing the store: the
	 * database refuses it as a constraint. */
	assert_int_equal(sq_exec(s, "UPDATE function_versions SET timeout_ms = 1"), -EINVAL);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 1, &fn), 0);
	assert_int_equal(fn.limits.timeout_ms, 1000);

	/* Tenants see only their own functions. */
	assert_int_equal(store_function_get(s, "beta", "Hello_1.x-y", 0, &fn), -ENOENT);
	put_fn(s, "beta", "Hello_1.x-y", 1);
	put_fn(s, "acme", "other", 1);
	struct store_function *list;
	size_t n;
	assert_int_equal(store_function_list(s, "acme", &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "Hello_1.x-y");
	assert_int_equal(list[0].version, 2);
	assert_string_equal(list[1].name, "other");
	free(list);
	assert_int_equal(store_function_list(s, "beta", &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].tenant, "beta");
	free(list);

	/* Bad input. */
	assert_int_equal(store_function_put(s, "acme", "a/b", DIGEST_A, 10, &LIMITS, &v), -EINVAL);
	assert_int_equal(store_function_put(s, "acme", "", DIGEST_A, 10, &LIMITS, &v), -EINVAL);
	assert_int_equal(store_function_put(s, "acme", "f", "ABC", 10, &LIMITS, &v), -EINVAL);
	struct store_limits bad = LIMITS;
	strcpy(bad.mode, "thread");
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
	bad = LIMITS;
	bad.timeout_ms = 0;
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
	assert_int_equal(store_function_put(s, "nobody", "f", DIGEST_A, 10, &LIMITS, &v), -ENOENT);
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 11, &LIMITS, &v), -EEXIST);
	assert_int_equal(store_function_get(s, "acme", "f", 0, &fn), -ENOENT);

	/* Delete, then re-create: numbering goes on, old versions stay gone. */
	assert_int_equal(store_function_delete(s, "acme", "Hello_1.x-y"), 0);
	assert_int_equal(store_function_delete(s, "acme", "Hello_1.x-y"), -ENOENT);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 0, &fn), -ENOENT);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 1, &fn), -ENOENT);
	assert_int_equal(store_function_get(s, "beta", "Hello_1.x-y", 0, &fn), 0);
	assert_int_equal(store_function_list(s, "acme", &list, &n), 0);
	assert_int_equal(n, 1);
	free(list);
	put_fn(s, "acme", "Hello_1.x-y", 3);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 0, &fn), 0);
	assert_int_equal(fn.version, 3);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 2, &fn), -ENOENT);
}

/* Runtimes and handlers are kept per version; a version that names none
 * is binary. Bad ones are refused as limits are. */
static void test_runtimes(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	struct store_limits py = LIMITS;
	py.runtime = FN_RUNTIME_PYTHON3;
	snprintf(py.handler, sizeof(py.handler), "pkg.mod.main");
	int64_t v;
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &py, &v), 0);
	put_fn(s, "acme", "f", 2);
	struct store_function fn;
	assert_int_equal(store_function_get(s, "acme", "f", 1, &fn), 0);
	assert_int_equal(fn.limits.runtime, FN_RUNTIME_PYTHON3);
	assert_string_equal(fn.limits.handler, "pkg.mod.main");
	assert_int_equal(store_function_get(s, "acme", "f", 2, &fn), 0);
	assert_int_equal(fn.limits.runtime, FN_RUNTIME_BINARY);
	assert_string_equal(fn.limits.handler, "");

	struct store_limits bad = py;
	bad.runtime = FN_RUNTIME_SHELL; /* a handler where none belongs */
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
	bad = py;
	bad.runtime = FN_RUNTIME_UNKNOWN;
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
	bad = py;
	snprintf(bad.handler, sizeof(bad.handler), "a-b");
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
}

/* A database of schema 4 gains the runtime (binary for every version it
 * held, which run as before), the handler and the invocations' exception,
 * and keeps what it held. */
static void test_migration_from_v4(void **state)
{
	struct fixture *f = *state;
	tenant_with_fn(f->s, "old", "fn");
	char id[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(f->s, "old", "fn", 1, true, "{}", 2, id), 0);
	finish(f->s, id, STORE_OK);
	store_reopen_from(f, "ALTER TABLE tenants DROP COLUMN concurrency;"
			     "ALTER TABLE artifacts DROP COLUMN collected_ms;"
			     "ALTER TABLE function_versions DROP COLUMN runtime;"
			     "ALTER TABLE function_versions DROP COLUMN handler;"
			     "ALTER TABLE invocations DROP COLUMN exception;"
			     "PRAGMA user_version = 4;");
	struct store_function fn;
	assert_int_equal(store_function_get(f->s, "old", "fn", 1, &fn), 0);
	assert_int_equal(fn.limits.runtime, FN_RUNTIME_BINARY);
	assert_string_equal(fn.limits.handler, "");
	assert_int_equal(fn.limits.timeout_ms, LIMITS.timeout_ms);
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(f->s, "old", id, &inv), 0);
	assert_int_equal(inv.status, STORE_OK);
	assert_null(inv.exception);
	store_invocation_clear(&inv);

	/* The new columns work: a nodejs version, an exception recorded. */
	struct store_limits js = LIMITS;
	js.runtime = FN_RUNTIME_NODEJS;
	snprintf(js.handler, sizeof(js.handler), "lib/app.$run");
	int64_t v;
	assert_int_equal(store_function_put(f->s, "old", "fn", DIGEST_A, 10, &js, &v), 0);
	assert_int_equal(store_function_get(f->s, "old", "fn", 0, &fn), 0);
	assert_int_equal(fn.limits.runtime, FN_RUNTIME_NODEJS);
	assert_string_equal(fn.limits.handler, "lib/app.$run");
	assert_int_equal(store_invocation_create(f->s, "old", "fn", 2, false, NULL, 0, id), 0);
	static const char exc[] = "{\"type\":\"TypeError\",\"message\":\"x\",\"traceback\":\"t\"}";
	struct store_outcome o = { .status = STORE_ERROR, .error = "e", .exception = exc };
	assert_int_equal(store_invocation_finish(f->s, id, &o), 0);
	assert_int_equal(store_invocation_get(f->s, "old", id, &inv), 0);
	assert_string_equal(inv.exception, exc);
	store_invocation_clear(&inv);
}

#define PUTS_PER_THREAD 40

struct writer {
	const char *uri;
	int64_t versions[PUTS_PER_THREAD];
	int errors;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct store *s;
	if (store_open(w->uri, &s) < 0) {
		w->errors++;
		return NULL;
	}
	for (int i = 0; i < PUTS_PER_THREAD; i++)
		if (store_function_put(s, "acme", "race", DIGEST_A, 10, &LIMITS, &w->versions[i]) <
		    0)
			w->errors++;
	store_close(s);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_concurrent_puts(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	struct writer w[2] = { { .uri = f->uri }, { .uri = f->uri } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	int64_t all[2 * PUTS_PER_THREAD];
	for (int i = 0; i < 2; i++) {
		assert_int_equal(w[i].errors, 0);
		/* Each writer sees its own versions increase. */
		for (int j = 1; j < PUTS_PER_THREAD; j++)
			assert_true(w[i].versions[j] > w[i].versions[j - 1]);
		memcpy(all + i * PUTS_PER_THREAD, w[i].versions, sizeof(w[i].versions));
	}
	qsort(all, 2 * PUTS_PER_THREAD, sizeof(all[0]), cmp_i64);
	for (int i = 0; i < 2 * PUTS_PER_THREAD; i++)
		assert_int_equal(all[i], i + 1);
	struct store_function fn;
	assert_int_equal(store_function_get(f->s, "acme", "race", 0, &fn), 0);
	assert_int_equal(fn.version, 2 * PUTS_PER_THREAD);
}

/* The digests store_artifact_unused lists, joined by spaces, into out. */
static void unused(struct store *s, char *out, size_t size)
{
	struct store_artifact *a;
	size_t n;
	assert_int_equal(store_artifact_unused(s, &a, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%.4s", i ? " " : "",
			 a[i].digest);
	free(a);
}

/* What nothing can run: versions of deleted functions and of earlier
 * incarnations, unless an unfinished invocation names them; collected, an
 * artifact reads as absent until the same bytes are put again. On SQLite
 * also from a database of schema 5, which gains the collected mark. */
static void test_artifact_collection(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	char list[256];
	int64_t v;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &LIMITS, &v), 0);
	assert_int_equal(store_function_put(s, "acme", "g", DIGEST_B, 20, &LIMITS, &v), 0);
	if (!f->pg)
		store_reopen_from(f, "ALTER TABLE tenants DROP COLUMN concurrency;"
				     "ALTER TABLE artifacts DROP COLUMN collected_ms;"
				     "PRAGMA user_version = 5;");
	s = f->s;
	unused(s, list, sizeof(list));
	assert_string_equal(list, "");
	char id[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, true, "{}", 2, id), 0);
	assert_int_equal(store_function_delete(s, "acme", "f"), 0);
	unused(s, list, sizeof(list));
	assert_string_equal(list, ""); /* the queued invocation's */
	finish(s, id, STORE_OK);
	unused(s, list, sizeof(list));
	assert_string_equal(list, "aaaa");
	/* g made anew: its first incarnation's bytes are unused too. */
	assert_int_equal(store_function_delete(s, "acme", "g"), 0);
	assert_int_equal(store_function_put(s, "acme", "g", DIGEST_A, 10, &LIMITS, &v), 0);
	unused(s, list, sizeof(list));
	assert_string_equal(list, "bbbb");
	assert_int_equal(store_artifact_collect(s, DIGEST_B), 0);
	assert_int_equal(store_artifact_collect(s, DIGEST_B), -ENOENT);
	uint64_t size;
	assert_int_equal(store_artifact_get(s, DIGEST_B, &size), -ENOENT);
	unused(s, list, sizeof(list));
	assert_string_equal(list, "");
	/* The deleted versions stay readable in their records' joins. */
	assert_int_equal(store_function_put(s, "acme", "h", DIGEST_B, 20, &LIMITS, &v), 0);
	assert_int_equal(store_artifact_get(s, DIGEST_B, &size), 0);
	assert_int_equal(size, 20);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_runtimes),
		cmocka_unit_test(test_concurrent_puts),
		cmocka_unit_test(test_artifact_collection),
	};
	const struct CMUnitTest lite[] = {
		cmocka_unit_test(test_migration_from_v4),
	};
	return STORE_RUN(both, lite);
}
