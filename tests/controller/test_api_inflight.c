/* What a call in flight keeps, through the real controller against a
 * canned agent on loopback that holds each invocation until the test lets
 * it answer: its function deleted and artifacts collected meanwhile, the
 * call's artifact stays (and goes once the call ends); its host removed,
 * the removal is refused until forced, and forced, the call ends at once
 * with 502 host_lost. Async scheduling is fair: one tenant's function at
 * its max_concurrency, with 40 calls queued, holds up no other tenant's
 * async call, and its queued calls' queued_us counts their wait. A
 * synchronous call the agent never answers ends 504 timeout within the
 * function's timeout and the boot margin. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "api_fixture.h"
#include "held_agent.h"
#include "sha256.h"
#include "support/wait.h"

static const char FN[] = "#!/bin/sh\necho '{\"held\":1}'\n";

/* A synchronous invocation on a connection of its own. */
struct caller {
	const char *url;
	char key[128];
	int status;
	char code[32];
};

static void *call_main(void *arg)
{
	struct caller *c = arg;
	struct api_client ac = { 0 };
	json_t *o = NULL;
	if (api_client_init(&ac, c->url) == 0 && api_client_set_bearer(&ac, c->key) == 0)
		c->status = api_client_call(&ac, "POST", "/v1/functions/f/invoke", "{}", 2, 60000,
					    &o);
	const char *code = error_code(o);
	snprintf(c->code, sizeof(c->code), "%s", code ? code : "");
	json_decref(o);
	api_client_free(&ac);
	return NULL;
}

/* Tenant acme with function f, its VM ready on the agent as host h1, and
 * a synchronous call of f held there (the caller's thread in t). */
static void call_held(struct fixture *f, struct agent *a, struct caller *c, pthread_t *t)
{
	agent_start(a);
	make_tenant(f, "acme", c->key);
	c->url = f->proc.url;
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"id\":\"h1\",\"address\":\"%s\",\"cores\":4,\"token\":\"t\",\"boot_id\":\"b1\","
		 "\"status\":{\"vms\":[{\"tenant\":\"acme\",\"state\":\"ready\",\"workers\":1,"
		 "\"pid\":7}]}}",
		 a->url);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", body, 0, NULL), 201);
	assert_int_equal(call(f, c->key, "PUT", "/v1/functions/f", FN, 0, NULL), 201);
	assert_int_equal(pthread_create(t, NULL, call_main, c), 0);
	wait_until(invoke_arrived, a, 30000, "the invocation at the agent");
}

static bool stored(struct fixture *f)
{
	char digest[SHA256_HEX_SIZE], path[256];
	sha256_hex(FN, strlen(FN), digest);
	snprintf(path, sizeof(path), "%s/artifacts/%s", f->dir, digest);
	return access(path, F_OK) == 0;
}

static json_t *gc(struct fixture *f)
{
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", "/v1/artifacts/gc", NULL, 0, &o), 200);
	return o;
}

static void test_call_keeps_its_artifact(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	struct caller c = { 0 };
	pthread_t t;
	call_held(f, &a, &c, &t);
	assert_int_equal(call(f, c.key, "DELETE", "/v1/functions/f", NULL, 0, NULL), 200);
	json_t *o = gc(f);
	/* Kept by its running record, or by its pin before the recorder
	 * wrote that. */
	assert_int_equal(json_integer_value(json_object_get(o, "collected")), 0);
	json_decref(o);
	assert_true(stored(f));
	agent_release(&a);
	pthread_join(t, NULL);
	assert_int_equal(c.status, 200);
	o = gc(f);
	assert_int_equal(json_integer_value(json_object_get(o, "collected")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "bytes")), (json_int_t)strlen(FN));
	json_decref(o);
	assert_false(stored(f));
	agent_stop(&a);
}

static void test_forced_removal_ends_call(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	struct caller c = { 0 };
	pthread_t t;
	call_held(f, &a, &c, &t);
	json_t *o;
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1", NULL, 0, &o), 409);
	json_decref(o);
	/* The agent still holds the call: it ends because the host is lost. */
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/hosts/h1?force=true", NULL, 0, &o), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "vms_lost")), 1);
	json_decref(o);
	pthread_join(t, NULL);
	assert_int_equal(c.status, 502);
	assert_string_equal(c.code, "host_lost");
	agent_stop(&a);
}

/* The status of invocation id, as its tenant (key) reads it. */
static void status_of(struct fixture *f, const char *key, const char *id, char *ret, size_t size,
		      int64_t *ret_queued_us)
{
	char path[128];
	json_t *o;
	snprintf(path, sizeof(path), "/v1/invocations/%s", id);
	assert_int_equal(call(f, key, "GET", path, NULL, 0, &o), 200);
	snprintf(ret, size, "%s", json_string_value(json_object_get(o, "status")));
	if (ret_queued_us)
		*ret_queued_us = json_integer_value(
			json_object_get(json_object_get(o, "timing"), "queued_us"));
	json_decref(o);
}

struct finished {
	struct fixture *f;
	const char *key, *id;
};

static bool is_finished(void *arg)
{
	struct finished *w = arg;
	char st[32];
	status_of(w->f, w->key, w->id, st, sizeof(st), NULL);
	return strcmp(st, "queued") && strcmp(st, "running");
}

static void test_async_fair_across_tenants(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	char acme[128], beta[128], ids[40][64], echo[64], body[512];
	agent_start(&a);
	snprintf(a.hold, sizeof(a.hold), "acme");
	make_tenant(f, "acme", acme);
	make_tenant(f, "beta", beta);
	snprintf(body, sizeof(body),
		 "{\"id\":\"h1\",\"address\":\"%s\",\"cores\":4,\"token\":\"t\",\"boot_id\":\"b1\","
		 "\"status\":{\"vms\":[{\"tenant\":\"acme\",\"state\":\"ready\",\"workers\":1,"
		 "\"pid\":7},{\"tenant\":\"beta\",\"state\":\"ready\",\"workers\":1,\"pid\":8}]}}",
		 a.url);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", body, 0, NULL), 201);
	assert_int_equal(call(f, acme, "PUT", "/v1/functions/slow?max_concurrency=1", FN, 0, NULL),
			 201);
	assert_int_equal(call(f, beta, "PUT", "/v1/functions/echo", FN, 0, NULL), 201);
	for (int i = 0; i < 40; i++)
		submit_async(f, acme, "slow", ids[i]);
	wait_until(invoke_arrived, &a, 30000, "the first slow call at the agent");
	uint64_t held_from = time_now_us();
	submit_async(f, beta, "echo", echo);
	struct finished w = { f, beta, echo };
	wait_until(is_finished, &w, 30000, "the other tenant's async call");
	char st[32];
	status_of(f, beta, echo, st, sizeof(st), NULL);
	assert_string_equal(st, "ok");
	/* The slow function's calls are still waiting their turn. */
	status_of(f, acme, ids[39], st, sizeof(st), NULL);
	assert_string_equal(st, "queued");
	pthread_mutex_lock(&a.lock);
	assert_int_equal(a.invokes, 1);
	pthread_mutex_unlock(&a.lock);
	uint64_t held_us = time_now_us() - held_from;
	agent_release(&a);
	for (int i = 0; i < 40; i++) {
		struct finished s = { f, acme, ids[i] };
		wait_until(is_finished, &s, 60000, "a slow call");
	}
	/* Each waited behind the first, which was held: their queued_us counts
	 * that wait from the 202 on. */
	int ok = 0;
	for (int i = 0; i < 40; i++) {
		int64_t queued_us;
		status_of(f, acme, ids[i], st, sizeof(st), &queued_us);
		ok += !strcmp(st, "ok");
		if (strcmp(ids[i], ids[0]) && i == 39)
			assert_true(queued_us >= (int64_t)held_us);
	}
	assert_int_equal(ok, 40);
	agent_stop(&a);
}

/* The sync call's thread, and whether it ended. */
struct bounded {
	struct caller c;
	atomic_bool done;
};

static void *bounded_main(void *arg)
{
	struct bounded *b = arg;
	call_main(&b->c);
	atomic_store(&b->done, true);
	return NULL;
}

/* A synchronous call whose agent never answers (its host's heartbeats go
 * on) ends 504 timeout after the function's timeout plus the boot margin,
 * not the agent's long guard. */
static void test_sync_wait_bounded(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	struct bounded b = { 0 };
	char body[512];
	pthread_t t;
	agent_start(&a);
	make_tenant(f, "acme", b.c.key);
	b.c.url = f->proc.url;
	snprintf(body, sizeof(body),
		 "{\"id\":\"h1\",\"address\":\"%s\",\"cores\":4,\"token\":\"t\",\"boot_id\":\"b1\","
		 "\"status\":{\"vms\":[{\"tenant\":\"acme\",\"state\":\"ready\",\"workers\":1,"
		 "\"pid\":7}]}}",
		 a.url);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", body, 0, NULL), 201);
	assert_int_equal(call(f, b.c.key, "PUT", "/v1/functions/f?timeout=1000", FN, 0, NULL), 201);
	/* The caller gives up after 60 s: the agent's guard alone is 120 s. */
	assert_int_equal(pthread_create(&t, NULL, bounded_main, &b), 0);
	char *hb = strstr(body, "\"boot_id\"");
	hb[-1] = '{';
	while (!atomic_load(&b.done)) {
		assert_int_equal(
			call(f, f->admin, "POST", "/v1/hosts/h1/heartbeat", hb - 1, 0, NULL), 200);
		struct timespec ts = { 1, 0 }; /* the agents' heartbeat period */
		nanosleep(&ts, NULL);
	}
	pthread_join(t, NULL);
	assert_int_equal(b.c.status, 504);
	assert_string_equal(b.c.code, "timeout");
	agent_stop(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_call_keeps_its_artifact),
		FIXTURE_TEST(test_forced_removal_ends_call),
		FIXTURE_TEST(test_async_fair_across_tenants),
		FIXTURE_TEST(test_sync_wait_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
