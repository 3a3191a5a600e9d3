/* Two real controllers on one private PostgreSQL server: a tenant's
 * requests that the other controller owns (scaling, invocations, the
 * tenant's view) are relayed to its owner and answered as it answers, with
 * X-Ditto-Forwarded-To naming it; one already relayed is served where it
 * lands; reads and keys are served by either; an owner that is gone (its
 * peer keeps it listed) leaves the request served locally, counted. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_view.h"
#include "ring.h"
#include "support/files.h"
#include "util.h"
#include "support/http.h"
#include "support/pgserver.h"
#include "support/procs.h"
#include "support/wait.h"

#define DEADLINE_MS 30000

static const char *const ids[2] = { "ctl-a", "ctl-b" };

struct pair {
	char dir[64];
	char uri[700];
	struct daemon_proc p[2];
	char admin[128];
};

static bool both_live(void *data)
{
	struct pair *t = data;
	struct view a, b;
	view_get(t->p[0].url, t->admin, &a);
	view_get(t->p[1].url, t->admin, &b);
	return a.live == 2 && b.live == 2;
}

/* The first tenant name t<N>, from t<from>, that ctl-a owns among ctl-a and
 * ctl-b; returns N. */
static int tenant_of_a(char name[16], int from)
{
	for (int i = from;; i++) {
		snprintf(name, 16, "t%d", i);
		if (ring_owner(name, ids, 2) == 0)
			return i;
	}
}

/* Whether the log at path holds a line with both a and b. */
static bool log_has(const char *path, const char *a, const char *b)
{
	void *data = NULL;
	size_t len = 0;
	assert_int_equal(file_read_all(path, &data, &len), 0);
	bool found = false;
	for (char *line = strtok(data, "\n"); line && !found; line = strtok(NULL, "\n"))
		found = strstr(line, a) && strstr(line, b);
	free(data);
	return found;
}

/* The count of ditto_forwarded_total{result="what"} at url. */
static long forwarded(struct pair *t, int k, const char *what)
{
	struct http_reply r;
	assert_int_equal(http_call(t->p[k].url, t->admin, "GET", "/metrics", NULL, 0, &r), 200);
	assert_int_equal(buf_append(&r.body, "", 1), 0);
	char needle[96];
	snprintf(needle, sizeof(needle), "ditto_forwarded_total{result=\"%s\"} ", what);
	const char *p = strstr((const char *)r.body.data, needle);
	long n = p ? strtol(p + strlen(needle), NULL, 10) : -1;
	http_reply_free(&r);
	return n;
}

static void test_forward(void **state)
{
	struct pgserver *pg = *state;
	struct pair t = { 0 };
	char conninfo[600], tenant[16], path[128], body[128], key[128];
	struct http_reply r;
	assert_int_equal(scratch_dir(t.dir, sizeof(t.dir), "forward"), 0);
	assert_int_equal(pgserver_new_db(pg, conninfo, sizeof(conninfo)), 0);
	snprintf(t.uri, sizeof(t.uri), "postgres:%s", conninfo);
	for (int k = 0; k < 2; k++) {
		char data[128];
		snprintf(data, sizeof(data), "%s/%s", t.dir, ids[k]);
		/* ctl-b keeps a silent ctl-a listed for a minute: long enough
		 * to see it unreachable. */
		const char *const extra[] = { "--store", t.uri,	 "--id", ids[k], "--peer-timeout-ms",
					      k ? "60000" : "3000", NULL };
		assert_int_equal(proc_start_controller(&t.p[k], data, 0, extra, t.admin), 0);
	}
	wait_until(both_live, &t, DEADLINE_MS, "both controllers to list each other");
	int n = tenant_of_a(tenant, 0);

	/* Made on ctl-b (any controller), its key works on both. */
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", tenant);
	assert_int_equal(http_call(t.p[1].url, t.admin, "POST", "/v1/tenants", body, strlen(body),
				   &r),
			 201);
	assert_string_equal(r.forwarded_to, "");
	snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(r.json, "key")));
	http_reply_free(&r);

	/* Scaling and the tenant's view, sent to ctl-b: ctl-a answers. */
	snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", tenant);
	const char *sc = "{\"concurrency\": 1}";
	assert_int_equal(http_call(t.p[1].url, t.admin, "PUT", path, sc, strlen(sc), &r), 200);
	assert_string_equal(r.forwarded_to, "ctl-a");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(r.json, "scaling"), "concurrency")),
			 1);
	http_reply_free(&r);
	snprintf(path, sizeof(path), "/v1/tenants/%s", tenant);
	assert_int_equal(http_call(t.p[1].url, key, "GET", path, NULL, 0, &r), 200);
	assert_string_equal(r.forwarded_to, "ctl-a");
	http_reply_free(&r);
	/* On its owner, nothing is relayed. */
	assert_int_equal(http_call(t.p[0].url, key, "GET", path, NULL, 0, &r), 200);
	assert_string_equal(r.forwarded_to, "");
	http_reply_free(&r);

	/* An invocation: the owner's error comes back as it sent it, with the
	 * query kept (a bad version is refused by the owner's handler). */
	const char *in = "{\"x\": 1}";
	assert_int_equal(http_call(t.p[1].url, key, "POST", "/v1/functions/nope/invoke?async=true",
				   in, strlen(in), &r),
			 404);
	assert_string_equal(r.forwarded_to, "ctl-a");
	assert_string_equal(http_error_code(&r), "not_found");
	http_reply_free(&r);
	/* Already relayed once: served where it lands. */
	assert_int_equal(http_call_header(t.p[1].url, key, "X-Ditto-Forwarded-By: ctl-x", "POST",
					  "/v1/functions/nope/invoke", in, strlen(in), &r),
			 404);
	assert_string_equal(r.forwarded_to, "");
	http_reply_free(&r);
	assert_int_equal(forwarded(&t, 1, "relayed"), 3);

	/* A tenant made on ctl-b with a concurrency limit: ctl-a, its owner,
	 * whose invoker holds the limits, is handed it. */
	char second[16], want[64];
	tenant_of_a(second, n + 1);
	snprintf(body, sizeof(body), "{\"name\":\"%s\", \"concurrency\": 2}", second);
	assert_int_equal(http_call(t.p[1].url, t.admin, "POST", "/v1/tenants", body, strlen(body),
				   &r),
			 201);
	http_reply_free(&r);
	snprintf(want, sizeof(want), "tenant_scaling name=%s ", second);
	assert_true(log_has(t.p[0].log, want, "concurrency=2"));
	assert_int_equal(forwarded(&t, 0, "relayed"), 0);

	/* ctl-a gone while ctl-b still lists it: served on ctl-b, counted. */
	assert_true(daemon_proc_stop(&t.p[0], SIGKILL, 10000) >= 0);
	assert_int_equal(http_call(t.p[1].url, key, "GET", path, NULL, 0, &r), 200);
	assert_string_equal(r.forwarded_to, "");
	http_reply_free(&r);
	assert_int_equal(forwarded(&t, 1, "unreachable"), 1);
	assert_int_equal(daemon_proc_stop(&t.p[1], SIGTERM, 15000), 0);
	remove_tree(t.dir);
}

int main(void)
{
	struct pgserver pg;
	int r = pgserver_start(&pg);
	if (r < 0) {
		printf("postgres: skipped: %s\n", pg.error[0] ? pg.error : strerror(-r));
		return 0;
	}
	const struct CMUnitTest tests[] = { cmocka_unit_test_prestate(test_forward, &pg) };
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	pgserver_stop(&pg);
	return failed;
}
