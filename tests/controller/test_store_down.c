/* A real controller on a private PostgreSQL server that goes away and comes
 * back: meanwhile requests that need the store are answered 503
 * store_unavailable with Retry-After (never 401 for a key it cannot check,
 * never 500), and once the server is back they succeed, the controller not
 * restarted. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/files.h"
#include "support/http.h"
#include "support/pgserver.h"
#include "support/procs.h"
#include "support/wait.h"

#define DEADLINE_MS 60000

struct ctx {
	const char *url, *key;
};

/* GET /v1/functions answers 200: the store is reachable again. */
static bool functions_listed(void *data)
{
	struct ctx *c = data;
	struct http_reply r;
	long status = http_call(c->url, c->key, "GET", "/v1/functions", NULL, 0, &r);
	http_reply_free(&r);
	return status == 200;
}

/* What a request answers while the store is down. */
static void assert_unavailable(const char *url, const char *key, const char *method,
			       const char *path, const char *body)
{
	struct http_reply r;
	long status = http_call(url, key, method, path, body, body ? strlen(body) : 0, &r);
	if (status != 503)
		fprintf(stderr, "%s %s: %ld %.*s\n", method, path, status, (int)r.body.len,
			(const char *)r.body.data);
	assert_int_equal(status, 503);
	assert_string_equal(http_error_code(&r), "store_unavailable");
	assert_string_equal(r.retry_after, "1");
	http_reply_free(&r);
}

static void test_store_down_and_back(void **state)
{
	struct pgserver *pg = *state;
	char dir[64], data[128], conninfo[600], uri[700], admin[128], key[128];
	struct daemon_proc p;
	struct http_reply r;
	assert_int_equal(scratch_dir(dir, sizeof(dir), "store-down"), 0);
	assert_int_equal(pgserver_new_db(pg, conninfo, sizeof(conninfo)), 0);
	snprintf(uri, sizeof(uri), "postgres:%s", conninfo);
	snprintf(data, sizeof(data), "%s/ctl", dir);
	const char *const extra[] = { "--store", uri, NULL };
	assert_int_equal(proc_start_controller(&p, data, 0, extra, admin), 0);
	const char *t = "{\"name\":\"acme\"}";
	assert_int_equal(http_call(p.url, admin, "POST", "/v1/tenants", t, strlen(t), &r), 201);
	snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(r.json, "key")));
	http_reply_free(&r);
	struct ctx c = { p.url, key };
	assert_true(functions_listed(&c));

	assert_int_equal(pgserver_pause(pg), 0);
	/* A key checked a moment ago, then one never seen (its check needs
	 * the store), then an admin write. */
	assert_unavailable(p.url, key, "GET", "/v1/functions", NULL);
	char other[128];
	snprintf(other, sizeof(other), "%s", key);
	other[strlen(other) - 1] = other[strlen(other) - 1] == 'a' ? 'b' : 'a';
	assert_unavailable(p.url, other, "GET", "/v1/functions", NULL);
	assert_unavailable(p.url, admin, "POST", "/v1/tenants", "{\"name\":\"bolt\"}");
	assert_unavailable(p.url, key, "GET", "/v1/invocations", NULL);

	assert_int_equal(pgserver_resume(pg), 0);
	wait_until(functions_listed, &c, DEADLINE_MS, "the controller to reach the store again");
	const char *b = "{\"name\":\"bolt\"}";
	assert_int_equal(http_call(p.url, admin, "POST", "/v1/tenants", b, strlen(b), &r), 201);
	http_reply_free(&r);
	assert_int_equal(daemon_proc_stop(&p, SIGTERM, 15000), 0);
	remove_tree(dir);
}

int main(void)
{
	struct pgserver pg;
	int r = pgserver_start(&pg);
	if (r < 0) {
		printf("postgres: skipped: %s\n", pg.error[0] ? pg.error : strerror(-r));
		return 0;
	}
	const struct CMUnitTest tests[] = { cmocka_unit_test_prestate(test_store_down_and_back,
								      &pg) };
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	pgserver_stop(&pg);
	return failed;
}
