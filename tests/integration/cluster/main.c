/* Two real controllers on one private PostgreSQL server and one real agent
 * heartbeating to both, with real tenant VMs: a function deployed through
 * one controller is invocable through the other; an invocation sent to the
 * controller that does not own its tenant is relayed to the owner, which
 * runs it; a tenant's concurrency limit of 1 holds with calls sent to both
 * controllers at once. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/cluster_view.h"
#include "support/files.h"
#include "support/http.h"
#include "support/pgserver.h"
#include "support/procs.h"
#include "support/wait.h"
#include "util.h"

/* How long anything the platform does on its own may take (a VM boot
 * under TCG takes seconds). */
#define DEADLINE_MS 240000L

static const char *const ids[2] = { "ctl-a", "ctl-b" };

struct cluster {
	char dir[64];
	struct pgserver pg;
	struct daemon_proc ctl[2], agent;
	char admin[128];
	char key[128]; /* the tenant's */
	char tenant[16];
	int owner; /* the index of the controller that owns the tenant */
};

static void controller_start(struct cluster *c, const char *uri, int k)
{
	char data[128];
	snprintf(data, sizeof(data), "%s/%s", c->dir, ids[k]);
	const char *const extra[] = { "--store", uri, "--id", ids[k], "--host-timeout-ms", "5000",
				      NULL };
	assert_int_equal(proc_start_controller(&c->ctl[k], data, 0, extra, c->admin), 0);
}

/* Host h1 is up in both controllers' fleets. */
static bool host_up_on_both(void *data)
{
	struct cluster *c = data;
	for (int k = 0; k < 2; k++) {
		struct http_reply r;
		long s = http_call(c->ctl[k].url, c->admin, "GET", "/v1/hosts", NULL, 0, &r);
		json_t *h = json_array_get(json_object_get(r.json, "hosts"), 0);
		bool up = s == 200 && h &&
			  !strcmp(json_string_value(json_object_get(h, "state")) ?: "", "up");
		http_reply_free(&r);
		if (!up)
			return false;
	}
	return true;
}

/* Each controller lists both live: their views agree on every owner. */
static bool both_live(void *data)
{
	struct cluster *c = data;
	struct view a, b;
	view_get(c->ctl[0].url, c->admin, &a);
	view_get(c->ctl[1].url, c->admin, &b);
	return a.live == 2 && b.live == 2;
}

static int setup(void **state)
{
	static struct cluster c;
	int r = pgserver_start(&c.pg);
	if (r < 0) {
		printf("postgres: skipped: %s\n", c.pg.error[0] ? c.pg.error : strerror(-r));
		return -1;
	}
	char conninfo[600], uri[700], data[128], key[160];
	assert_int_equal(scratch_dir(c.dir, sizeof(c.dir), "cluster"), 0);
	assert_int_equal(pgserver_new_db(&c.pg, conninfo, sizeof(conninfo)), 0);
	snprintf(uri, sizeof(uri), "postgres:%s", conninfo);
	controller_start(&c, uri, 0);
	controller_start(&c, uri, 1);
	wait_until(both_live, &c, DEADLINE_MS, "both controllers to list each other");
	snprintf(data, sizeof(data), "%s/h1", c.dir);
	snprintf(key, sizeof(key), "%s/%s/admin.key", c.dir, ids[1]);
	const char *const args[] = { "--controller",	      c.ctl[0].url, "--controller",
				     c.ctl[1].url,	      "--controller-key-file", key,
				     "--host-id",	      "h1",	    "--heartbeat-ms",
				     "200",		      NULL };
	assert_int_equal(proc_start_agent(&c.agent, data, args), 0);
	wait_until(host_up_on_both, &c, DEADLINE_MS, "host h1 up on both controllers");
	/* A tenant with a concurrency of 1, made through ctl-b; its owner is
	 * the one the other relays its view to. */
	snprintf(c.tenant, sizeof(c.tenant), "c1");
	char body[128], path[64];
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"concurrency\":1}", c.tenant);
	struct http_reply rep;
	assert_int_equal(http_call(c.ctl[1].url, c.admin, "POST", "/v1/tenants", body,
				   strlen(body), &rep),
			 201);
	snprintf(c.key, sizeof(c.key), "%s", json_string_value(json_object_get(rep.json, "key")));
	http_reply_free(&rep);
	snprintf(path, sizeof(path), "/v1/tenants/%s", c.tenant);
	assert_int_equal(http_call(c.ctl[0].url, c.key, "GET", path, NULL, 0, &rep), 200);
	c.owner = !strcmp(rep.forwarded_to, ids[1]) ? 1 : 0;
	http_reply_free(&rep);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct cluster *c = *state;
	daemon_proc_stop(&c->agent, SIGTERM, 60000);
	for (int k = 0; k < 2; k++)
		daemon_proc_stop(&c->ctl[k], SIGTERM, 60000);
	if (!getenv("DITTO_KEEP"))
		remove_tree(c->dir);
	pgserver_stop(&c->pg);
	return 0;
}

/* Deploys BUILD/functions/busy as "busy" through the controller that does
 * not own the tenant. */
static void deploy_busy(struct cluster *c)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/busy", test_build_dir());
	void *data;
	size_t len;
	assert_int_equal(file_read_all(path, &data, &len), 0);
	struct http_reply r;
	assert_int_equal(http_call(c->ctl[1 - c->owner].url, c->key, "PUT", "/v1/functions/busy",
				   data, len, &r),
			 201);
	free(data);
	http_reply_free(&r);
}

/* Deployed through the controller that does not own the tenant and
 * invoked there: the owner runs it; through the owner it runs without a
 * relay. */
static void test_deploy_and_relayed_invoke(void **state)
{
	struct cluster *c = *state;
	int other = 1 - c->owner;
	deploy_busy(c);
	const char *in = "{\"ms\":1}";
	struct http_reply r;
	assert_int_equal(http_call(c->ctl[other].url, c->key, "POST", "/v1/functions/busy/invoke",
				   in, strlen(in), &r),
			 200);
	assert_string_equal(r.forwarded_to, ids[c->owner]);
	http_reply_free(&r);
	assert_int_equal(http_call(c->ctl[c->owner].url, c->key, "POST",
				   "/v1/functions/busy/invoke", in, strlen(in), &r),
			 200);
	assert_string_equal(r.forwarded_to, "");
	http_reply_free(&r);
}

struct bg {
	const char *url, *key;
	long status;
};

static void *bg_long_call(void *arg)
{
	struct bg *b = arg;
	const char *in = "{\"ms\":4000}";
	struct http_reply r;
	b->status = http_call(b->url, b->key, "POST", "/v1/functions/busy/invoke", in, strlen(in),
			      &r);
	http_reply_free(&r);
	return NULL;
}

/* The owner lists a running invocation of the tenant. */
static bool one_running(void *data)
{
	struct cluster *c = data;
	struct http_reply r;
	long s = http_call(c->ctl[c->owner].url, c->key, "GET", "/v1/invocations?status=running",
			   NULL, 0, &r);
	bool yes = s == 200 && json_array_size(json_object_get(r.json, "invocations")) >= 1;
	http_reply_free(&r);
	return yes;
}

/* With a call running that came through one controller, a second one sent
 * to the other is refused by the tenant's limit of 1, both ways round: the
 * limit holds across controllers. */
static void test_concurrency_across_controllers(void **state)
{
	struct cluster *c = *state;
	for (int first = 0; first < 2; first++) {
		struct bg b = { c->ctl[first].url, c->key, 0 };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, bg_long_call, &b), 0);
		wait_until(one_running, c, DEADLINE_MS, "the long call to run");
		const char *in = "{\"ms\":1}";
		struct http_reply r;
		assert_int_equal(http_call(c->ctl[1 - first].url, c->key, "POST",
					   "/v1/functions/busy/invoke", in, strlen(in), &r),
				 429);
		assert_string_equal(http_error_code(&r), "too_many_requests");
		http_reply_free(&r);
		pthread_join(t, NULL);
		assert_int_equal(b.status, 200);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deploy_and_relayed_invoke),
		cmocka_unit_test(test_concurrency_across_controllers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
