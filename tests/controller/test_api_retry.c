/* Async retries through the real controller, against a canned agent that
 * refuses a tenant's first calls with 503 vm_not_ready: the invocation runs
 * again after each backoff and completes, its record counting the retries;
 * while it waits out a backoff it holds neither the controller's one async
 * worker nor a slot, so another tenant's call runs meanwhile; calls refused
 * past the retry bound fail with the agent's reason. */
#include <pthread.h>

#include "api_fixture.h"
#include "held_agent.h"
#include "support/wait.h"

static const char FN[] = "#!/bin/sh\necho '{}'\n";

/* Restarts the controller on its data folder with one async worker and a
 * host timeout longer than the test (the canned agent never heartbeats). */
static void restart_one_worker(struct fixture *f)
{
	const char *const extra[] = { "--max-artifact",    MAX_ARTIFACT, "--async-workers", "1",
				      "--host-timeout-ms", "3600000",    AGENT_LINK_HTTP,   NULL };
	daemon_proc_stop(&f->proc, SIGTERM, 10000);
	assert_int_equal(proc_start_controller(&f->proc, f->dir, 0, extra, f->admin), 0);
	api_client_free(&f->c);
	assert_int_equal(api_client_init(&f->c, f->proc.url), 0);
}

/* An invocation as its tenant (key) reads it. */
struct record {
	struct fixture *f;
	const char *key, *id;
	char status[32];
	json_int_t retries;
	char error[256];
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
	w->retries = json_integer_value(json_object_get(o, "retries"));
	const char *e = json_string_value(json_object_get(o, "error"));
	snprintf(w->error, sizeof(w->error), "%s", e ? e : "");
	json_decref(o);
	return strcmp(w->status, "queued") && strcmp(w->status, "running");
}

static int refused(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	int n = a->refused;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static bool three_refused(void *arg)
{
	return refused(arg) >= 3;
}

/* Sets up tenants acme (whose VM the agent refuses) and beta, each with
 * function f, and the agent as their host. */
static void tenants_setup(struct fixture *f, struct agent *a, char acme[128], char beta[128])
{
	static const char *const tenants[] = { "acme", "beta", NULL };
	make_tenant(f, "acme", acme);
	make_tenant(f, "beta", beta);
	assert_int_equal(call(f, acme, "PUT", "/v1/functions/f", FN, 0, NULL), 201);
	assert_int_equal(call(f, beta, "PUT", "/v1/functions/f", FN, 0, NULL), 201);
	agent_register(f, a, tenants);
}

static void test_retried_without_holding_a_worker(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	char acme[128], beta[128], id[64], other[64];
	restart_one_worker(f);
	agent_start(&a);
	snprintf(a.hold, sizeof(a.hold), "acme");
	a.refuse = 3;
	agent_release(&a); /* nothing waits: refused, then answered at once */
	tenants_setup(f, &a, acme, beta);

	submit_async(f, acme, "f", id);
	/* Refused three times; it now waits 4 s before its fourth attempt. */
	wait_until(three_refused, &a, 30000, "three refused attempts");
	submit_async(f, beta, "f", other);
	struct record b = { f, beta, other, "", 0, "" };
	wait_until(record_done, &b, 30000, "the other tenant's call");
	assert_string_equal(b.status, "ok");
	/* It ran on the one worker while acme's call waited out its backoff. */
	struct record r = { f, acme, id, "", 0, "" };
	assert_false(record_done(&r));
	pthread_mutex_lock(&a.lock);
	assert_int_equal(a.invokes, 0);
	pthread_mutex_unlock(&a.lock);

	wait_until(record_done, &r, 60000, "the retried call");
	assert_string_equal(r.status, "ok");
	assert_int_equal(r.retries, 3);
	pthread_mutex_lock(&a.lock);
	assert_int_equal(a.refused, 3);
	assert_int_equal(a.invokes, 1);
	pthread_mutex_unlock(&a.lock);
	agent_stop(&a);
}

static void test_retries_bounded(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	char acme[128], beta[128], id[64];
	restart_one_worker(f);
	agent_start(&a);
	snprintf(a.hold, sizeof(a.hold), "acme");
	a.refuse = 1000;
	agent_release(&a);
	tenants_setup(f, &a, acme, beta);

	submit_async(f, acme, "f", id);
	struct record r = { f, acme, id, "", 0, "" };
	wait_until(record_done, &r, 120000, "the call's last attempt");
	assert_string_equal(r.status, "error");
	assert_int_equal(r.retries, 4); /* five attempts in all */
	assert_non_null(strstr(r.error, "booting"));
	pthread_mutex_lock(&a.lock);
	assert_int_equal(a.refused, 5);
	assert_int_equal(a.invokes, 0);
	pthread_mutex_unlock(&a.lock);
	agent_stop(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_retried_without_holding_a_worker),
		FIXTURE_TEST(test_retries_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
