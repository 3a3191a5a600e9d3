/* A platform `ditto up --store postgres` starts: its controller on the local PostgreSQL
 * server up runs, a function deployed and invoked on a real VM, and the tenant, its key, the
 * function and the invocation's record still there after `ditto down` and `ditto up` again.
 * Skipped, saying why, where PostgreSQL's server binaries are not installed. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pg_local.h"
#include "support/procs.h"

static char pg_dir[160];

int pg_platform_setup(void **state)
{
	snprintf(pg_dir, sizeof(pg_dir), "%s/pgplatform", S.dir);
	/* Run as root, the server runs as the postgres user, which must pass through. */
	return chmod(S.dir, 0711);
}

int pg_platform_teardown(void **state)
{
	/* Stops a platform a failed test left running, its server too. */
	struct run r;
	run_as(&r, NULL, NULL, ARGV("down", "--data-dir", pg_dir));
	run_free(&r);
	return 0;
}

/* Starts the platform; its URL and admin key go to env (DITTO_URL=, DITTO_KEY=). */
static void up(char env[2][200])
{
	struct run r;
	run_as(&r, NULL, NULL,
	       ARGV("--json", "up", "--data-dir", pg_dir, "--port", "0", "--store", "postgres"));
	expect_ok(&r);
	json_t *o = out_json(&r);
	char want[300];
	snprintf(want, sizeof(want), "postgres:host=%s/postgres port=5432 dbname=ditto", pg_dir);
	assert_string_equal(json_string_value(json_object_get(o, "store")), want);
	assert_true(json_integer_value(json_object_get(o, "postgres_pid")) > 0);
	snprintf(env[0], 200, "DITTO_URL=%s", json_string_value(json_object_get(o, "url")));
	snprintf(env[1], 200, "DITTO_KEY=%s", json_string_value(json_object_get(o, "admin_key")));
	json_decref(o);
	run_free(&r);
}

/* Runs ditto on the platform of env as key (NULL: the admin key env holds). */
static void on(struct run *r, char env[2][200], const char *key, const char *const *argv)
{
	char k[200];
	snprintf(k, sizeof(k), "DITTO_KEY=%s", key ? key : "");
	const char *e[] = { env[0], key ? k : env[1], "DITTO_ENV=/nonexistent/ditto.env", NULL };
	run_env(r, e, NULL, argv);
	expect_ok(r);
}

static void down(void)
{
	struct run r;
	run_as(&r, NULL, NULL, ARGV("down", "--data-dir", pg_dir));
	expect_ok(&r);
	assert_non_null(strstr(r.out, ", postgres pid "));
	run_free(&r);
}

void test_up_postgres(void **state)
{
	char bin[256];
	if (pg_local_bindir(bin, sizeof(bin)) < 0) {
		printf("postgres: skipped: PostgreSQL's server binaries are not installed\n");
		skip();
	}
	char env[2][200], key[128], fn[512], id[64];
	up(env);
	struct run r;
	on(&r, env, NULL, ARGV("tenant", "create", "pgdemo"));
	take_key(&r, key, sizeof(key));
	run_free(&r);
	snprintf(fn, sizeof(fn), "%s/functions/echo", test_build_dir());
	on(&r, env, key, ARGV("deploy", "echo", fn));
	run_free(&r);
	on(&r, env, key, ARGV("--json", "invoke", "echo", "--data", "\"through postgres\""));
	json_t *o = out_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_string_equal(json_string_value(json_object_get(o, "result")),
			    "\"through postgres\"");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
	json_decref(o);
	run_free(&r);
	down();

	/* Everything was in PostgreSQL: the key, the function and the record. */
	up(env);
	on(&r, env, key, ARGV("--json", "invocation", id));
	o = out_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_string_equal(json_string_value(json_object_get(o, "function")), "echo");
	json_decref(o);
	run_free(&r);
	on(&r, env, key, ARGV("functions"));
	assert_non_null(strstr(r.out, "echo"));
	run_free(&r);
	down();
}
