/* `ditto up --store` and `ditto down` around the store, with stand-in daemons: a copy of
 * the built ditto in a scratch folder beside a Python ditto-controller (it answers what up
 * waits for, records the --store it was given and, for PostgreSQL, the database it reaches
 * with it) and a shell ditto-agent. No VM boots. The local PostgreSQL server is real: up
 * starts it in DIR/postgres, the controller reaches it through the conninfo up passes, down
 * stops it, and a start that fails stops it too. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "pg_local.h"
#include "support/files.h"
#include "support/procs.h"
#include "support/run.h"
#include "util.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Serves /healthz and a host "local" that is up; writes DATA/seen: the --store value on
 * its first line, then what the database it names answers for current_database(). */
static const char fake_controller[] =
	"#!/usr/bin/env python3\n"
	"import http.server, json, os, signal, subprocess, sys\n"
	"a = sys.argv[1:]\n"
	"arg = lambda n: a[a.index(n) + 1] if n in a else ''\n"
	"data, ready, store = arg('--data'), arg('--ready-file'), arg('--store')\n"
	"os.makedirs(data, exist_ok=True)\n"
	"db = ''\n"
	"if store.startswith('postgres:'):\n"
	"    db = subprocess.run(['psql', '-Atc', 'SELECT current_database()', store[9:]],\n"
	"                        capture_output=True, text=True).stdout\n"
	"open(os.path.join(data, 'seen'), 'w').write(store + '\\n' + db)\n"
	"open(os.path.join(data, 'admin.key'), 'w').write('dk_' + '0' * 40)\n"
	"if os.environ.get('FAKE_FAIL'):\n"
	"    sys.exit(3)\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def do_GET(self):\n"
	"        b = json.dumps({'hosts': [{'id': 'local', 'state': 'up'}]}).encode()\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Length', str(len(b)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b)\n"
	"    def log_message(self, *args):\n"
	"        pass\n"
	"s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
	"open(ready + '.tmp', 'w').write('http://127.0.0.1:%d\\n' % s.server_port)\n"
	"os.rename(ready + '.tmp', ready)\n"
	"signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))\n"
	"s.serve_forever()\n";

static const char fake_agent[] = "#!/bin/sh\n"
				 "trap 'exit 0' TERM\n"
				 "while :; do sleep 1 & wait $!; done\n";

static char scratch[256], bin[300];

/* Runs the scratch copy of ditto with args; fail, when not NULL, makes the stand-in
 * controller exit at once. */
static void ditto(struct run_out *r, const char *fail, const char *const *args)
{
	const char *argv[32] = { bin };
	size_t n = 1;
	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	char env[32] = "FAKE_FAIL";
	if (fail)
		snprintf(env, sizeof(env), "FAKE_FAIL=%s", fail);
	run_program(r, scratch, ARGV(env), argv);
}

static void write_exec(const char *name, const char *text)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/bin/%s", scratch, name);
	assert_int_equal(file_replace_text(path, text, 0755, false), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
	if (scratch_dir(scratch, sizeof(scratch), "upstore") < 0)
		return -1;
	/* The postgres user passes through to DIR/postgres when this runs as root. */
	chmod(scratch, 0711);
	char dir[300], src[300];
	snprintf(dir, sizeof(dir), "%s/bin/guest", scratch);
	snprintf(bin, sizeof(bin), "%s/bin/ditto", scratch);
	snprintf(src, sizeof(src), "%s/ditto", test_build_dir());
	void *data;
	size_t len;
	int fd;
	if (mkdir_parents(dir, 0755) < 0 || file_read_all(src, &data, &len) < 0)
		return -1;
	fd = open(bin, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	free(data);
	if (fd >= 0)
		close(fd);
	if (!ok)
		return -1;
	write_exec("ditto-controller", fake_controller);
	write_exec("ditto-agent", fake_agent);
	return 0;
}

static int teardown(void **state)
{
	return remove_tree(scratch);
}

/* The one stderr line of a refusal. */
static void expect_refused(const struct run_out *r, int status, const char *fragment)
{
	if (r->status != status || !strstr(r->err, fragment) || r->out[0])
		fail_msg("exit %d, stderr \"%s\", stdout \"%s\"", r->status, r->err, r->out);
	assert_int_equal(strchr(r->err, '\n') - r->err + 1, (long)strlen(r->err));
}

static void test_refusals(void **state)
{
	const char *const bad[] = { "", "mysql", "postgres:", "sqlite:", "Postgres" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_out r;
		ditto(&r, NULL, ARGV("up", "--data-dir", "/nonexistent/x", "--store", bad[i]));
		expect_refused(&r, 2, "--store must be sqlite, sqlite:PATH, postgres or");
		run_out_free(&r);
	}
}

/* What the stand-in controller was given as --store, and what the database answered. */
static char *seen(const char *data_dir)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/controller/seen", data_dir);
	void *data = NULL;
	size_t len;
	assert_int_equal(file_read_all(path, &data, &len), 0);
	return data;
}

static bool pg_alive(pid_t pid)
{
	char path[64], text[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	/* Gone, or a zombie its new parent has not reaped yet. */
	return pid > 0 && file_read_text(path, text, sizeof(text)) > 0 && !strstr(text, ") Z");
}

static json_t *up_json(const char *dir, const char *store)
{
	struct run_out r;
	ditto(&r, NULL, ARGV("--json", "up", "--data-dir", dir, "--port", "0", "--store", store));
	if (r.status != 0)
		fail_msg("up --store %s: exit %d: %s", store, r.status, r.err);
	json_t *o = json_loads(r.out, 0, NULL);
	assert_non_null(o);
	run_out_free(&r);
	return o;
}

static json_t *down_json(const char *dir)
{
	struct run_out r;
	ditto(&r, NULL, ARGV("--json", "down", "--data-dir", dir));
	if (r.status != 0)
		fail_msg("down: exit %d: %s", r.status, r.err);
	json_t *o = json_loads(r.out, 0, NULL);
	assert_non_null(o);
	run_out_free(&r);
	return o;
}

static void test_local_postgres(void **state)
{
	char bindir[256];
	if (pg_local_bindir(bindir, sizeof(bindir)) < 0) {
		printf("postgres: skipped: PostgreSQL's server binaries are not installed\n");
		skip();
	}
	char dir[300], want[512];
	snprintf(dir, sizeof(dir), "%s/local", scratch);
	json_t *o = up_json(dir, "postgres");
	snprintf(want, sizeof(want), "postgres:host=%s/postgres port=5432 dbname=ditto", dir);
	assert_string_equal(json_string_value(json_object_get(o, "store")), want);
	pid_t pg = (pid_t)json_integer_value(json_object_get(o, "postgres_pid"));
	json_decref(o);
	assert_true(pg_alive(pg));
	/* The controller reached the server's database "ditto" with what it was given. */
	char *s = seen(dir);
	snprintf(want, sizeof(want), "postgres:host=%s/postgres port=5432 dbname=ditto\nditto\n",
		 dir);
	assert_string_equal(s, want);
	free(s);

	o = down_json(dir);
	assert_int_equal(json_integer_value(json_object_get(o, "postgres_pid")), pg);
	json_decref(o);
	assert_false(pg_alive(pg));

	/* A start that fails stops the server it started; the cluster stays for the next. */
	struct run_out r;
	ditto(&r, "1", ARGV("up", "--data-dir", dir, "--port", "0", "--store", "postgres"));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "ditto-controller exited with status 3"));
	run_out_free(&r);
	s = seen(dir);
	assert_non_null(strstr(s, "\nditto\n"));
	free(s);
	assert_false(pg_alive(pg_local_pid(strcat(dir, "/postgres"))));
	char version[400];
	snprintf(version, sizeof(version), "%s/data/PG_VERSION", dir);
	assert_int_equal(access(version, F_OK), 0);
}

static void test_named_stores(void **state)
{
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/named", scratch);
	/* A server of the user's: passed as it is, and nothing started for it. */
	json_t *o = up_json(dir, "postgres:host=/nowhere dbname=x");
	assert_string_equal(json_string_value(json_object_get(o, "store")),
			    "postgres:host=/nowhere dbname=x");
	assert_null(json_object_get(o, "postgres_pid"));
	json_decref(o);
	char *s = seen(dir);
	assert_string_equal(s, "postgres:host=/nowhere dbname=x\n");
	free(s);
	char pg_dir[400];
	snprintf(pg_dir, sizeof(pg_dir), "%s/postgres", dir);
	assert_int_equal(access(pg_dir, F_OK), -1);
	o = down_json(dir);
	assert_null(json_object_get(o, "postgres_pid"));
	json_decref(o);

	/* sqlite is the controller's own default: no --store at all. */
	o = up_json(dir, "sqlite");
	char want[400];
	snprintf(want, sizeof(want), "sqlite:%s/controller/ditto.db", dir);
	assert_string_equal(json_string_value(json_object_get(o, "store")), want);
	json_decref(o);
	s = seen(dir);
	assert_string_equal(s, "\n");
	free(s);
	json_decref(down_json(dir));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_local_postgres),
		cmocka_unit_test(test_named_stores),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
