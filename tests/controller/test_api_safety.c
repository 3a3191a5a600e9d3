/* Revoking keys and removing hosts, through the real controller over
 * loopback: listing shows ids and never secrets, a revoked key is refused
 * at once, a host with VMs is kept unless forced, and a removed host's
 * heartbeat is refused until it registers again. */
#include "api_fixture.h"

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Makes a second key for tenant as token, into key and its id into key_id. */
static void second_key(struct fixture *f, const char *token, const char *tenant, char key[128],
		       char key_id[32])
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s/keys", tenant);
	json_t *o;
	assert_int_equal(call(f, token, "POST", path, NULL, 0, &o), 201);
	snprintf(key, 128, "%s", str(o, "key"));
	snprintf(key_id, 32, "%s", str(o, "key_id"));
	assert_int_equal(strncmp(key, key_id, strlen(key_id)), 0);
	json_decref(o);
}

/* Whether the listing of tenant's keys holds key_id; no entry holds a secret. */
static bool listed(struct fixture *f, const char *token, const char *tenant, const char *key_id,
		   const char *secret)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s/keys", tenant);
	json_t *o;
	assert_int_equal(call(f, token, "GET", path, NULL, 0, &o), 200);
	char *text = json_dumps(o, 0);
	assert_null(strstr(text, secret + 15));
	free(text);
	bool found = false;
	size_t i;
	json_t *k;
	json_array_foreach(json_object_get(o, "keys"), i, k)
	{
		assert_true(json_integer_value(json_object_get(k, "created_ms")) > 0);
		assert_null(json_object_get(k, "key"));
		found |= !strcmp(str(k, "key_id"), key_id);
	}
	json_decref(o);
	return found;
}

static void test_key_revoke(void **state)
{
	struct fixture *f = *state;
	char first[128], key[128], key_id[32], other[128];
	make_tenant(f, "acme", first);
	make_tenant(f, "other", other);
	second_key(f, f->admin, "acme", key, key_id);
	assert_true(listed(f, first, "acme", key_id, key));
	assert_true(listed(f, f->admin, "acme", key_id, key));
	assert_int_equal(call(f, key, "GET", "/v1/functions", NULL, 0, NULL), 200);

	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/acme/keys/%s", key_id);
	json_t *o;
	/* Another tenant can neither see nor revoke acme's keys. */
	assert_int_equal(call(f, other, "GET", "/v1/tenants/acme/keys", NULL, 0, NULL), 403);
	assert_int_equal(call(f, other, "DELETE", path, NULL, 0, &o), 403);
	assert_string_equal(error_code(o), "forbidden");
	json_decref(o);
	/* Nor through its own tenant's path: the id is acme's. */
	char wrong[128];
	snprintf(wrong, sizeof(wrong), "/v1/tenants/other/keys/%s", key_id);
	assert_int_equal(call(f, other, "DELETE", wrong, NULL, 0, &o), 404);
	assert_string_equal(error_code(o), "not_found");
	json_decref(o);
	assert_int_equal(call(f, key, "GET", "/v1/functions", NULL, 0, NULL), 200);

	/* Revoked: the very next request with it is 401, on a connection
	 * that already carried it. */
	assert_int_equal(call(f, f->admin, "DELETE", path, NULL, 0, &o), 200);
	assert_string_equal(str(o, "key_id"), key_id);
	assert_true(json_is_true(json_object_get(o, "revoked")));
	json_decref(o);
	assert_int_equal(call(f, key, "GET", "/v1/functions", NULL, 0, &o), 401);
	assert_string_equal(error_code(o), "unauthorized");
	json_decref(o);
	assert_false(listed(f, first, "acme", key_id, key));
	assert_int_equal(call(f, f->admin, "DELETE", path, NULL, 0, &o), 404);
	assert_string_equal(error_code(o), "not_found");
	json_decref(o);
	/* The tenant's other key still works, and may revoke itself. */
	assert_int_equal(call(f, first, "GET", "/v1/functions", NULL, 0, NULL), 200);
	char own[128];
	snprintf(own, sizeof(own), "/v1/tenants/acme/keys/%.15s", first);
	assert_int_equal(call(f, first, "DELETE", own, NULL, 0, NULL), 200);
	assert_int_equal(call(f, first, "GET", "/v1/functions", NULL, 0, NULL), 401);
}

/* Ids that are not key ids, and tenants that do not exist. */
static void test_key_refusals(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	static const char *const bad[] = {
		"/v1/tenants/acme/keys/dk_",
		"/v1/tenants/acme/keys/dk_0123456789ab0",
		"/v1/tenants/acme/keys/dk_0123456789AB",
		"/v1/tenants/acme/keys/%FF%FE",
		"/v1/tenants/acme/keys/xx_0123456789ab",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *o;
		assert_int_equal(call(f, f->admin, "DELETE", bad[i], NULL, 0, &o), 404);
		assert_string_equal(error_code(o), "not_found");
		json_decref(o);
	}
	json_t *o;
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants/nobody/keys", NULL, 0, &o), 404);
	json_decref(o);
	assert_int_equal(
		call(f, f->admin, "DELETE", "/v1/tenants/nobody/keys/dk_0123456789ab", NULL, 0, &o),
		404);
	json_decref(o);
	assert_int_equal(
		call(f, f->admin, "PUT", "/v1/tenants/acme/keys/dk_0123456789ab", NULL, 0, &o),
		405);
	json_decref(o);
	/* The admin key is no tenant's: its id revokes nothing here. */
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/acme/keys/%.15s", f->admin);
	assert_int_equal(call(f, f->admin, "DELETE", path, NULL, 0, NULL), 404);
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants", NULL, 0, NULL), 200);
}

/* Registers host id (boot b1) whose agent reports vms (a JSON array). */
static void register_host(struct fixture *f, const char *id, const char *vms)
{
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"id\":\"%s\",\"address\":\"http://127.0.0.1:1\",\"cores\":2,"
		 "\"token\":\"t\",\"boot_id\":\"b1\",\"status\":{\"vms\":%s}}",
		 id, vms);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", body, 0, NULL), 201);
}

static int heartbeat(struct fixture *f, const char *id)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", id);
	return call(f, f->admin, "POST", path, "{\"boot_id\":\"b1\",\"status\":{\"vms\":[]}}", 0,
		    NULL);
}

/* How many hosts GET /v1/hosts lists, and whether id is among them. */
static bool host_listed(struct fixture *f, const char *id)
{
	json_t *o;
	assert_int_equal(call(f, f->admin, "GET", "/v1/hosts", NULL, 0, &o), 200);
	bool found = false;
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(o, "hosts"), i, h) found |= !strcmp(str(h, "id"), id);
	json_decref(o);
	return found;
}

#define READY_VM                                                                     \
	"[{\"tenant\":\"acme\",\"state\":\"ready\",\"workers\":1,\"min_workers\":0," \
	"\"max_workers\":4,\"mechanism\":\"precreated\",\"policy\":\"elastic\",\"pid\":7}]"

/* An idle host goes at once, from the list and the store; its heartbeat is
 * refused until it registers again. */
static void test_host_remove(void **state)
{
	struct fixture *f = *state;
	register_host(f, "h1", "[]");
	register_host(f, "h2", "[]");
	json_t *o;
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1", NULL, 0, &o), 200);
	assert_string_equal(str(o, "id"), "h1");
	assert_true(json_is_true(json_object_get(o, "removed")));
	json_decref(o);
	assert_false(host_listed(f, "h1"));
	assert_true(host_listed(f, "h2"));
	assert_int_equal(heartbeat(f, "h1"), 404);
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1", NULL, 0, &o), 404);
	assert_string_equal(error_code(o), "not_found");
	json_decref(o);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts/h1/drain", NULL, 0, NULL), 404);

	/* Gone from the store too: a restarted controller does not list it. */
	daemon_proc_stop(&f->proc, SIGTERM, 10000);
	assert_int_equal(start_controller(f), 0);
	assert_false(host_listed(f, "h1"));
	assert_true(host_listed(f, "h2"));

	/* Registering again brings it back, up and not draining. */
	register_host(f, "h1", "[]");
	assert_true(host_listed(f, "h1"));
	assert_int_equal(heartbeat(f, "h1"), 200);
}

/* A host running a VM is kept (409, draining or not) unless forced; forced,
 * its VM is lost and its heartbeat refused. */
static void test_host_remove_busy(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	register_host(f, "h1", READY_VM);
	json_t *o;
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1", NULL, 0, &o), 409);
	assert_string_equal(error_code(o), "conflict");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "error"), "vms")),
			 1);
	json_decref(o);
	/* Draining with nowhere to move to leaves the VM where it is. */
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts/h1/drain", NULL, 0, NULL), 200);
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1?force=false", NULL, 0, NULL),
			 409);
	assert_true(host_listed(f, "h1"));
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1?force=true", NULL, 0, &o), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "vms_lost")), 1);
	json_decref(o);
	assert_false(host_listed(f, "h1"));
	assert_int_equal(heartbeat(f, "h1"), 404);
	/* The tenant's VM runs nowhere now. */
	assert_int_equal(call(f, key, "GET", "/v1/tenants/acme", NULL, 0, &o), 200);
	json_t *vm = json_array_get(json_object_get(o, "vms"), 0);
	assert_true(!vm || !json_object_get(vm, "host") ||
		    json_is_null(json_object_get(vm, "host")));
	json_decref(o);
}

static void test_host_remove_refusals(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	register_host(f, "h1", "[]");
	static const struct {
		const char *path;
		int status;
		const char *code;
	} rows[] = {
		{ "/v1/hosts/h1?force=yes", 400, "bad_parameter" },
		{ "/v1/hosts/h1?force", 400, "bad_request" },
		{ "/v1/hosts/h1?force=true&force=true", 400, "bad_request" },
		{ "/v1/hosts/h1?now=1", 400, "bad_parameter" },
		{ "/v1/hosts/nope", 404, "not_found" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		json_t *o;
		assert_int_equal(call(f, f->admin, "DELETE", rows[i].path, NULL, 0, &o),
				 rows[i].status);
		assert_string_equal(error_code(o), rows[i].code);
		json_decref(o);
	}
	assert_int_equal(call(f, key, "DELETE", "/v1/hosts/h1", NULL, 0, NULL), 403);
	assert_int_equal(call(f, NULL, "DELETE", "/v1/hosts/h1", NULL, 0, NULL), 401);
	assert_true(host_listed(f, "h1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_key_revoke),           FIXTURE_TEST(test_key_refusals),
		FIXTURE_TEST(test_host_remove),          FIXTURE_TEST(test_host_remove_busy),
		FIXTURE_TEST(test_host_remove_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
