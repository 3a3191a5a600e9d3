/* One controller on SQLite: it lists itself, the leader at epoch 1; a
 * second controller on the same SQLite file is refused at its start with
 * one line on stderr; bad cluster flags are refused the same way. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cluster_view.h"
#include "support/files.h"
#include "support/procs.h"
#include "support/run.h"

/* Runs ditto-controller with args after --data dir --port 0, expecting
 * status and one line on stderr that holds want. */
static void refused(const char *dir, const char *const *args, int status, const char *want)
{
	char exe[300];
	snprintf(exe, sizeof(exe), "%s/ditto-controller", test_build_dir());
	const char *argv[16] = { exe, "--data", dir, "--port", "0" };
	size_t n = 5;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct run_out o;
	run_program(&o, dir, NULL, argv);
	assert_int_equal(o.status, status);
	if (!strstr(o.err, want))
		fail_msg("stderr \"%s\" lacks \"%s\"", o.err, want);
	char *nl = strchr(o.err, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, "");
	run_out_free(&o);
}

static void test_sqlite_one_controller(void **state)
{
	(void)state;
	char dir[64], a_dir[128], b_dir[128], admin[128], store[200];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "cluster"), 0);
	snprintf(a_dir, sizeof(a_dir), "%s/a", dir);
	snprintf(b_dir, sizeof(b_dir), "%s/b", dir);
	struct daemon_proc a = { 0 };
	const char *const extra[] = { "--id", "solo", NULL };
	assert_int_equal(proc_start_controller(&a, a_dir, 0, extra, admin), 0);
	struct view v;
	view_get(a.url, admin, &v);
	assert_int_equal(v.status, 200);
	assert_int_equal(v.listed, 1);
	assert_int_equal(v.live, 1);
	assert_string_equal(v.self, "solo");
	assert_true(v.self_leader);
	assert_int_equal(v.epoch, 1);
	/* Only the admin key lists them. */
	struct http_reply r;
	assert_int_equal(http_call(a.url, NULL, "GET", "/v1/controllers", NULL, 0, &r), 401);
	http_reply_free(&r);

	snprintf(store, sizeof(store), "sqlite:%s/ditto.db", a_dir);
	assert_int_equal(mkdir(b_dir, 0700), 0);
	const char *const second[] = { "--store", store, NULL };
	refused(b_dir, second, 1, "another controller uses the store");
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 10000), 0);
	/* Once the first is gone, the file is free. */
	struct daemon_proc b = { 0 };
	assert_int_equal(proc_start_controller(&b, b_dir, 0, second, admin), 0);
	assert_int_equal(daemon_proc_stop(&b, SIGTERM, 10000), 0);
	remove_tree(dir);
}

static void test_bad_flags(void **state)
{
	(void)state;
	char dir[64];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "clusterflags"), 0);
	const char *const bad_id[] = { "--id", "Bad_Id", NULL };
	refused(dir, bad_id, 2, "--id must be [a-z0-9-]{1,63}");
	const char *const long_id[] = {
		"--id", "a234567890123456789012345678901234567890123456789012345678901234", NULL
	};
	refused(dir, long_id, 2, "--id must be");
	const char *const low[] = { "--peer-timeout-ms", "10", NULL };
	refused(dir, low, 2, "--peer-timeout-ms must be 1500..600000");
	const char *const word[] = { "--peer-timeout-ms", "soon", NULL };
	refused(dir, word, 2, "--peer-timeout-ms must be");
	const char *const ftp[] = { "--advertise", "ftp://10.0.0.1", NULL };
	refused(dir, ftp, 2, "--advertise must be an http:// or https:// URL");
	const char *const empty[] = { "--advertise", "http://", NULL };
	refused(dir, empty, 2, "--advertise must be");
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite_one_controller),
		cmocka_unit_test(test_bad_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
