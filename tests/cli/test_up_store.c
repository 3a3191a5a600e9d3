/* `ditto up --store` and `ditto down` around the store, with stand-in daemons: a copy of
 * the built ditto in a scratch folder beside a Python ditto-controller (it answers what up
 * waits for, records the --store it was given and, for PostgreSQL, the database it reaches
 * with it) and a shell ditto-agent. The local PostgreSQL server is real: up starts it in
 * DIR/postgres, the controller reaches it through the conninfo up passes, down stops it, and
 * a start that fails stops it too. Then the real daemons (an image they never boot, so no VM
 * runs): what a platform keeps lives through down and up, in the store asked for. */
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
	/* Named as the real one, which down checks before it signals. */
	"open('/proc/self/comm', 'w').write('ditto-controller'[:15])\n"
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

static char scratch[256], bin[300], image[300];

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
	/* A guest image the agent accepts and never boots. */
	snprintf(image, sizeof(image), "%s/image", scratch);
	const char *const files[][2] = {
		{ "image.json", "{\"cmdline\": \"console=ttyS0\", \"image_digest\": \"00\"}\n" },
		{ "vmlinux", "" },
		{ "initramfs.cpio.gz", "" },
	};
	if (mkdir_parents(image, 0755) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/%s", image, files[i][0]);
		if (file_replace_text(path, files[i][1], 0644, false) < 0)
			return -1;
	}
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

static bool pg_available(void)
{
	char bindir[256];
	bool ok = pg_local_bindir(bindir, sizeof(bindir)) == 0;
	if (!ok)
		printf("postgres: skipped: PostgreSQL's server binaries are not installed\n");
	return ok;
}

static void test_local_postgres(void **state)
{
	if (!pg_available())
		skip();
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

/* Runs the build's own ditto with args against the platform of env (NULL: none). */
static void real(struct run_out *r, const char *const *env, const char *const *args)
{
	char self[300];
	snprintf(self, sizeof(self), "%s/ditto", test_build_dir());
	const char *argv[32] = { self };
	size_t n = 1;
	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	run_program(r, scratch, env, argv);
	if (r->status != 0)
		fail_msg("ditto %s %s: exit %d: %s", args[0], args[1], r->status, r->err);
}

/* Starts the real platform on store, and returns the environment that reaches it. */
static void real_up(const char *dir, const char *store, char env[2][200])
{
	struct run_out r;
	real(&r, NULL,
	     ARGV("--json", "up", "--data-dir", dir, "--port", "0", "--image", image, "--store",
		  store));
	json_t *o = json_loads(r.out, 0, NULL);
	assert_non_null(o);
	snprintf(env[0], 200, "DITTO_URL=%s", json_string_value(json_object_get(o, "url")));
	snprintf(env[1], 200, "DITTO_KEY=%s", json_string_value(json_object_get(o, "admin_key")));
	json_decref(o);
	run_out_free(&r);
}

/* A tenant made on the real platform is still there after down and up, in store. */
static void real_platform(const char *store, bool sqlite_file)
{
	char dir[300], db[400], env[2][200];
	snprintf(dir, sizeof(dir), "%s/real-%s", scratch, store);
	snprintf(db, sizeof(db), "%s/controller/ditto.db", dir);
	struct run_out r;
	real_up(dir, store, env);
	real(&r, ARGV(env[0], env[1]), ARGV("tenant", "create", "acme"));
	run_out_free(&r);
	real(&r, NULL, ARGV("down", "--data-dir", dir));
	run_out_free(&r);
	real_up(dir, store, env);
	real(&r, ARGV(env[0], env[1]), ARGV("--json", "tenant", "get", "acme"));
	assert_non_null(strstr(r.out, "\"acme\""));
	run_out_free(&r);
	real(&r, NULL, ARGV("down", "--data-dir", dir));
	run_out_free(&r);
	assert_int_equal(access(db, F_OK) == 0, sqlite_file);
}

static void test_real_platform(void **state)
{
	real_platform("sqlite", true);
	if (!pg_available())
		skip();
	real_platform("postgres", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_local_postgres),
		cmocka_unit_test(test_named_stores),
		cmocka_unit_test(test_real_platform),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
