/* Garbage collection of artifacts (POST /v1/artifacts/gc) through the real
 * controller over loopback: what deleted functions and earlier incarnations
 * alone named goes, with its count and bytes; what a live version or a
 * queued invocation names stays; a dry run changes nothing; orphan files go
 * and uploads in progress stay; the same bytes deployed again have their
 * file back, also while collections run alongside. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_fixture.h"
#include "sha256.h"

static const char X[] = "#!/bin/sh\necho '{\"x\":1}'\n";
static const char Y[] = "#!/bin/sh\necho '{\"y\":22}'\n";

static void deploy(struct fixture *f, const char *key, const char *name, const char *bytes)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/functions/%s", name);
	assert_int_equal(call(f, key, "PUT", path, bytes, 0, NULL), 201);
}

static void delete_fn(struct fixture *f, const char *key, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/functions/%s", name);
	assert_int_equal(call(f, key, "DELETE", path, NULL, 0, NULL), 200);
}

/* Whether the controller's file of bytes is there. */
static bool stored(struct fixture *f, const char *bytes)
{
	char digest[SHA256_HEX_SIZE], path[256];
	sha256_hex(bytes, strlen(bytes), digest);
	snprintf(path, sizeof(path), "%s/artifacts/%s", f->dir, digest);
	return access(path, F_OK) == 0;
}

/* Runs a collection (query: "" or "?dry_run=true") and checks its counts. */
static void gc(struct fixture *f, const char *query, long collected, long bytes, long orphans)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/artifacts/gc%s", query);
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", path, NULL, 0, &o), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "collected")), collected);
	assert_int_equal(json_integer_value(json_object_get(o, "bytes")), bytes);
	assert_int_equal(json_integer_value(json_object_get(o, "orphans")), orphans);
	json_decref(o);
}

static void test_collects_what_nothing_runs(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	deploy(f, key, "a", X);
	deploy(f, key, "b", Y);
	deploy(f, key, "c", X);
	gc(f, "", 0, 0, 0);
	/* a's bytes are c's too. */
	delete_fn(f, key, "a");
	gc(f, "", 0, 0, 0);
	delete_fn(f, key, "c");
	gc(f, "?dry_run=true", 1, (long)strlen(X), 0);
	assert_true(stored(f, X));
	gc(f, "", 1, (long)strlen(X), 0);
	assert_false(stored(f, X));
	assert_true(stored(f, Y));
	assert_int_equal(call(f, key, "GET", "/v1/functions/b", NULL, 0, NULL), 200);
	gc(f, "", 0, 0, 0);

	/* The same bytes deployed again: the file is back and stays. */
	deploy(f, key, "d", X);
	assert_true(stored(f, X));
	gc(f, "", 0, 0, 0);
	assert_true(stored(f, X));

	/* A function deleted and made anew: its first incarnation's bytes go. */
	deploy(f, key, "e", Y);
	delete_fn(f, key, "b");
	delete_fn(f, key, "e");
	deploy(f, key, "e", X);
	gc(f, "", 1, (long)strlen(Y), 0);
	assert_false(stored(f, Y));
	assert_true(stored(f, X));
	json_t *o;
	assert_int_equal(call(f, key, "GET", "/v1/functions/e?version=1", NULL, 0, &o), 404);
	json_decref(o);
}

/* Files named like a digest that no record names go; uploads stay. */
static void test_orphans_and_uploads(void **state)
{
	struct fixture *f = *state;
	char orphan[256], upload[256], other[256];
	snprintf(orphan, sizeof(orphan), "%s/artifacts/%064d", f->dir, 7);
	snprintf(upload, sizeof(upload), "%s/artifacts/.upload-abcdef", f->dir);
	snprintf(other, sizeof(other), "%s/artifacts/README", f->dir);
	assert_int_equal(file_replace_text(orphan, "12345", 0600, false), 0);
	assert_int_equal(file_replace_text(upload, "in progress", 0600, false), 0);
	assert_int_equal(file_replace_text(other, "not mine", 0600, false), 0);
	gc(f, "?dry_run=1", 0, 0, 1);
	assert_int_equal(access(orphan, F_OK), 0);
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", "/v1/artifacts/gc", NULL, 0, &o), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "orphan_bytes")), 5);
	json_decref(o);
	assert_int_equal(access(orphan, F_OK), -1);
	assert_int_equal(access(upload, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
}

/* A queued invocation's version keeps its artifact after its function is
 * deleted (with no host, the invocation waits for one). */
static void test_queued_invocation_keeps_artifact(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	deploy(f, key, "q", X);
	json_t *o;
	assert_int_equal(call(f, key, "POST", "/v1/functions/q/invoke?async=true", "{}", 0, &o),
			 202);
	json_decref(o);
	delete_fn(f, key, "q");
	gc(f, "", 0, 0, 0);
	assert_true(stored(f, X));
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	static const struct {
		const char *method, *path;
		int status;
		const char *code;
	} rows[] = {
		{ "POST", "/v1/artifacts/gc?dry_run=maybe", 400, "bad_parameter" },
		{ "POST", "/v1/artifacts/gc?dry_run", 400, "bad_request" },
		{ "POST", "/v1/artifacts/gc?all=1", 400, "bad_parameter" },
		{ "GET", "/v1/artifacts/gc", 405, "bad_method" },
		{ "POST", "/v1/artifacts", 404, "not_found" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		json_t *o;
		assert_int_equal(call(f, f->admin, rows[i].method, rows[i].path, NULL, 0, &o),
				 rows[i].status);
		assert_string_equal(error_code(o), rows[i].code);
		json_decref(o);
	}
	assert_int_equal(call(f, key, "POST", "/v1/artifacts/gc", NULL, 0, NULL), 403);
	assert_int_equal(call(f, NULL, "POST", "/v1/artifacts/gc", NULL, 0, NULL), 401);
}

/* Collections run back to back on a connection of their own. */
struct collector {
	const char *url, *admin;
	atomic_bool stop;
	int runs, failures;
};

static void *collect_loop(void *arg)
{
	struct collector *c = arg;
	struct api_client ac = { 0 };
	if (api_client_init(&ac, c->url) < 0 || api_client_set_bearer(&ac, c->admin) < 0) {
		c->failures++;
		return NULL;
	}
	while (!atomic_load(&c->stop)) {
		json_t *o = NULL;
		if (api_client_call(&ac, "POST", "/v1/artifacts/gc", NULL, 0, 30000, &o) != 200)
			c->failures++;
		json_decref(o);
		c->runs++;
	}
	api_client_free(&ac);
	return NULL;
}

/* The same bytes deployed again and again while collections run: each
 * deploy's file is there when it answers (a collection never lands
 * between its rename and its commit), and so is the last one's after. */
static void test_deploy_races_collection(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	struct collector c = { .url = f->proc.url, .admin = f->admin };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, collect_loop, &c), 0);
	for (int i = 0; i < 40; i++) {
		deploy(f, key, "r", X);
		if (!stored(f, X))
			fail_msg("round %d: the deployed artifact's file is gone", i);
		delete_fn(f, key, "r");
	}
	deploy(f, key, "r", X);
	atomic_store(&c.stop, true);
	pthread_join(t, NULL);
	assert_int_equal(c.failures, 0);
	assert_true(c.runs > 0);
	assert_true(stored(f, X));
	gc(f, "", 0, 0, 0);
	assert_true(stored(f, X));
	assert_int_equal(call(f, key, "GET", "/v1/functions/r", NULL, 0, NULL), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_collects_what_nothing_runs),
		FIXTURE_TEST(test_orphans_and_uploads),
		FIXTURE_TEST(test_queued_invocation_keeps_artifact),
		FIXTURE_TEST(test_refusals),
		FIXTURE_TEST(test_deploy_races_collection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
