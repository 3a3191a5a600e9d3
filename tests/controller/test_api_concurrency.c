/* A tenant's concurrency (the most invocations of its functions running at
 * once, sync and async together), through the real controller: set at
 * POST /v1/tenants and PUT .../scaling, shown by GET, every bad value a 400
 * naming the field. Against a canned agent that holds the tenant's calls:
 * a tenant at concurrency 1 runs one call at a time over all its functions
 * (another sync call is 429) while another tenant's call runs at once; the
 * limit is read back after a restart, and a raised one lets a queued call
 * start at once. */
#include <pthread.h>

#include "api_fixture.h"
#include "held_agent.h"
#include "support/wait.h"

static const char FN[] = "#!/bin/sh\necho '{\"held\":1}'\n";

/* The tenant's scaling.concurrency as GET shows it. */
static json_int_t concurrency_of(struct fixture *f, const char *tenant)
{
	char path[128];
	json_t *o;
	snprintf(path, sizeof(path), "/v1/tenants/%s", tenant);
	assert_int_equal(call(f, f->admin, "GET", path, NULL, 0, &o), 200);
	json_t *c = json_object_get(json_object_get(o, "scaling"), "concurrency");
	assert_true(json_is_integer(c));
	json_int_t v = json_integer_value(c);
	json_decref(o);
	return v;
}

/* method path with {"concurrency": value} (and the name for a POST) is
 * refused 400 bad_field naming the field. */
static void refused(struct fixture *f, const char *method, const char *path, const char *value)
{
	char body[256];
	json_t *o;
	if (!strcmp(method, "POST"))
		snprintf(body, sizeof(body), "{\"name\":\"bad\",\"concurrency\":%s}", value);
	else
		snprintf(body, sizeof(body), "{\"concurrency\":%s}", value);
	assert_int_equal(call(f, f->admin, method, path, body, 0, &o), 400);
	assert_string_equal(error_code(o), "bad_field");
	assert_non_null(error_message(o));
	assert_non_null(strstr(error_message(o), "concurrency"));
	json_decref(o);
}

static void test_set_and_shown(void **state)
{
	struct fixture *f = *state;
	char key[128];
	json_t *o;
	make_tenant(f, "acme", key);
	assert_int_equal(concurrency_of(f, "acme"), 100);
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants",
			      "{\"name\":\"beta\",\"concurrency\":5}", 0, &o),
			 201);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(o, "scaling"), "concurrency")),
		5);
	json_decref(o);
	assert_int_equal(concurrency_of(f, "beta"), 5);
	/* The other fields keep their values; the bounds are allowed. */
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/acme/scaling",
			      "{\"concurrency\":10000}", 0, &o),
			 200);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "scaling"), "max")),
			 4);
	json_decref(o);
	assert_int_equal(concurrency_of(f, "acme"), 10000);
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/acme/scaling", "{\"concurrency\":1}",
			      0, NULL),
			 200);
	assert_int_equal(concurrency_of(f, "acme"), 1);
	/* The list shows it too. */
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants", NULL, 0, &o), 200);
	json_t *t = json_array_get(json_object_get(o, "tenants"), 1);
	assert_string_equal(json_string_value(json_object_get(t, "name")), "beta");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(t, "scaling"), "concurrency")),
		5);
	json_decref(o);

	const char *const bad[] = { "0",    "-1",   "10001", "1.5",       "\"5\"",
				    "true", "null", "[1]",   "{\"n\":1}", "4294967297" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		refused(f, "PUT", "/v1/tenants/acme/scaling", bad[i]);
		refused(f, "POST", "/v1/tenants", bad[i]);
	}
	/* Nothing changed, nothing made. */
	assert_int_equal(concurrency_of(f, "acme"), 1);
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants/bad", NULL, 0, NULL), 404);
	/* Only the admin sets it. */
	assert_int_equal(
		call(f, key, "PUT", "/v1/tenants/acme/scaling", "{\"concurrency\":2}", 0, NULL),
		403);
	assert_int_equal(concurrency_of(f, "acme"), 1);
}

/* An invocation's status as its tenant (key) reads it. */
struct record {
	struct fixture *f;
	const char *key, *id;
	char status[32];
};

static bool record_done(void *arg)
{
	struct record *w = arg;
	char path[128];
	json_t *o;
	snprintf(path, sizeof(path), "/v1/invocations/%s", w->id);
	assert_int_equal(call(w->f, w->key, "GET", path, NULL, 0, &o), 200);
	snprintf(w->status, sizeof(w->status), "%s",
		 json_string_value(json_object_get(o, "status")));
	json_decref(o);
	return strcmp(w->status, "queued") && strcmp(w->status, "running");
}

/* How many held calls the agent has seen. */
static int held(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	int n = a->invokes;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static bool two_held(void *arg)
{
	return held(arg) >= 2;
}

/* Restarts the controller on its data folder, and registers the agent's
 * host again for both tenants. */
static void restart(struct fixture *f, struct agent *a)
{
	static const char *const tenants[] = { "acme", "beta", NULL };
	daemon_proc_stop(&f->proc, SIGTERM, 10000);
	assert_int_equal(start_controller(f), 0);
	agent_register(f, a, tenants);
}

static void test_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	char acme[128], beta[128], ids[6][64], echo[64];
	agent_start(&a);
	snprintf(a.hold, sizeof(a.hold), "acme");
	make_tenant(f, "acme", acme);
	make_tenant(f, "beta", beta);
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/acme/scaling", "{\"concurrency\":1}",
			      0, NULL),
			 200);
	assert_int_equal(call(f, acme, "PUT", "/v1/functions/f1", FN, 0, NULL), 201);
	assert_int_equal(call(f, acme, "PUT", "/v1/functions/f2", FN, 0, NULL), 201);
	assert_int_equal(call(f, beta, "PUT", "/v1/functions/echo", FN, 0, NULL), 201);
	/* The limit is the stored one, read again at start. */
	restart(f, &a);
	for (int i = 0; i < 6; i++)
		submit_async(f, acme, i % 2 ? "f2" : "f1", ids[i]);
	wait_until(invoke_arrived, &a, 30000, "the first call at the agent");
	/* Each function is under its own max_concurrency (10), but the tenant
	 * is at its limit: a sync call is refused, another tenant's runs. */
	json_t *o;
	assert_int_equal(call(f, acme, "POST", "/v1/functions/f2/invoke", "{}", 2, &o), 429);
	assert_string_equal(error_code(o), "too_many_requests");
	json_decref(o);
	submit_async(f, beta, "echo", echo);
	struct record w = { f, beta, echo, "" };
	wait_until(record_done, &w, 30000, "the other tenant's call");
	assert_string_equal(w.status, "ok");
	assert_int_equal(held(&a), 1);
	/* A raised limit lets a second queued call start at once. */
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/acme/scaling", "{\"concurrency\":2}",
			      0, NULL),
			 200);
	wait_until(two_held, &a, 30000, "a second call at the agent");
	agent_release(&a);
	for (int i = 0; i < 6; i++) {
		struct record r = { f, acme, ids[i], "" };
		wait_until(record_done, &r, 60000, "a held call");
		assert_string_equal(r.status, "ok");
	}
	pthread_mutex_lock(&a.lock);
	assert_int_equal(a.invokes, 6);
	assert_int_equal(a.max_active, 2);
	pthread_mutex_unlock(&a.lock);
	agent_stop(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_set_and_shown),
		FIXTURE_TEST(test_one_at_a_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
