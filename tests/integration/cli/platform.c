/* A platform `ditto up` starts: its hosts, and stopping it with `ditto
 * down`, also after a start that cannot succeed. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void up_json(struct run *r, const char *const *extra)
{
	const char *argv[16] = { "--json", "up", "--data-dir", S.plat_dir, "--port", "0" };
	int n = 6;
	for (int i = 0; extra && extra[i] && n < 15; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	run_as(r, NULL, NULL, argv);
}

void test_up(void **state)
{
	struct run r;
	/* The agent copies what crosses its guest channels, for test_e2e. */
	up_json(&r, ARGV("--wire-capture", S.wire_dir));
	if (r.status != 0)
		fail_msg("ditto up: exit %d: %s", r.status, r.err);
	json_t *o = out_json(&r);
	snprintf(S.plat_url, sizeof(S.plat_url), "%s",
		 json_string_value(json_object_get(o, "url")));
	snprintf(S.plat_admin, sizeof(S.plat_admin), "%s",
		 json_string_value(json_object_get(o, "admin_key")));
	assert_true(is_key(S.plat_admin));
	assert_false(json_is_true(json_object_get(o, "already_running")));
	json_decref(o);
	run_free(&r);

	/* The env file holds both, for the owner only. */
	char path[256], want[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/ditto.env", S.plat_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *env = slurp(path);
	snprintf(want, sizeof(want), "DITTO_URL=%s\nDITTO_KEY=%s\n", S.plat_url, S.plat_admin);
	assert_string_equal(env, want);
	free(env);

	/* A second up finds it running. */
	up_json(&r, NULL);
	expect_ok(&r);
	o = out_json(&r);
	assert_true(json_is_true(json_object_get(o, "already_running")));
	assert_string_equal(json_string_value(json_object_get(o, "url")), S.plat_url);
	json_decref(o);
	run_free(&r);

	/* The host registered as "local" and is up. */
	PLAT(&r, S.plat_admin, "hosts");
	expect_out(&r, "ID ", ARGV("\nlocal ", " up "));
	run_free(&r);
	PLAT(&r, S.plat_admin, "tenant", "create", "acme");
	take_key(&r, S.plat_key, sizeof(S.plat_key));
	run_free(&r);
}

void test_hosts_drain(void **state)
{
	struct run r;
	PLAT(&r, S.plat_admin, "hosts", "drain", "local");
	expect_ok(&r);
	assert_string_equal(r.out, "host local: draining\n");
	run_free(&r);
	json_t *o = plat_json(S.plat_admin, ARGV("hosts", "--json"));
	json_t *h = json_array_get(json_object_get(o, "hosts"), 0);
	assert_string_equal(json_string_value(json_object_get(h, "id")), "local");
	assert_string_equal(json_string_value(json_object_get(h, "state")), "draining");
	json_decref(o);
	PLAT(&r, S.plat_admin, "hosts", "undrain", "local");
	expect_ok(&r);
	assert_string_equal(r.out, "host local: up\n");
	run_free(&r);
	plat_fails(S.plat_admin, 1, "(not_found, HTTP 404)", ARGV("hosts", "drain", "nowhere"));
	plat_fails(S.plat_key, 1, "(forbidden, HTTP 403)", ARGV("hosts"));
}

void test_down(void **state)
{
	char pidfile[256];
	snprintf(pidfile, sizeof(pidfile), "%s/controller.pid", S.plat_dir);
	char text[32];
	assert_true(file_read_text(pidfile, text, sizeof(text)) > 0);
	pid_t ctl = (pid_t)atoi(text);

	struct run r;
	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", S.plat_dir, NULL });
	expect_ok(&r);
	assert_true(strncmp(r.out, "stopped the platform from ", 26) == 0);
	run_free(&r);
	assert_int_equal(access(pidfile, F_OK), -1);
	/* The controller is gone (or a zombie its new parent has not reaped). */
	char stat[64], line[256] = "";
	snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)ctl);
	if (file_read_text(stat, line, sizeof(line)) > 0)
		assert_non_null(strstr(line, ") Z"));
	plat_fails(S.plat_admin, 3, "cannot reach the controller", ARGV("hosts"));

	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", S.plat_dir, NULL });
	expect_error(&r, 1, "no platform is running");
	run_free(&r);
}

/* A start that cannot succeed stops what it started and shows the logs. */
void test_up_failure(void **state)
{
	struct run r;
	up_json(&r, (const char *const[]){ "--cores", "4096", NULL });
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_true(strncmp(r.err, "ditto: ", 7) == 0);
	assert_non_null(strstr(r.err, "last lines of"));
	run_free(&r);
	char pidfile[256];
	snprintf(pidfile, sizeof(pidfile), "%s/controller.pid", S.plat_dir);
	assert_int_equal(access(pidfile, F_OK), -1);
	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", S.plat_dir, NULL });
	expect_error(&r, 1, "no platform is running");
	run_free(&r);
}
