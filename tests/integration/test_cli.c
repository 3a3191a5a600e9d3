/* End-to-end tests of the `ditto` command line: the real binary, run as a
 * subprocess against a real ditto-controller on a free loopback port (and,
 * for invocations and hosts, a real platform started by `ditto up` with a
 * real agent booting real VMs). They check what a user or a script sees:
 * stdout, the one stderr line of an error, and the exit code. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent_client.h"
#include "sha256.h"
#include "util.h"

#define MAX_ARTIFACT "65536"
#define RUN_DEADLINE_NS (300LL * 1000000000LL)
#define RECORD_DEADLINE_NS (120LL * 1000000000LL)

struct fixture {
	char build[256];
	char dir[64];
	struct agent_proc ctl; /* pid and url of the controller */
	char admin[128];
	char tenant_key[128];
	/* The platform `ditto up` started, for the invocation tests. */
	char plat_dir[128], plat_url[128], plat_admin[128], plat_key[128];
};

/* What one run of ditto left behind. */
struct run {
	int status; /* the exit code, or 128 + the signal */
	char *out, *err;
	char cmd[256]; /* the arguments, for failure messages */
};

static struct fixture g;

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static char *slurp(const char *path)
{
	void *data;
	size_t len;
	if (read_file(path, &data, &len) < 0)
		return strdup("");
	return data; /* read_file NUL-terminates */
}

/* Runs BUILD/ditto with argv (NULL-terminated, without the program name)
 * and env: "NAME=VALUE" sets, "NAME" unsets, on top of this process's
 * environment. input, when not NULL, is its standard input. */
static void run_env(struct run *r, const char *const *env, const char *input, const char *const *argv)
{
	char bin[512], out[128], err[128], in[128];
	snprintf(bin, sizeof(bin), "%s/ditto", g.build);
	snprintf(out, sizeof(out), "%s/run.out", g.dir);
	snprintf(err, sizeof(err), "%s/run.err", g.dir);
	snprintf(in, sizeof(in), "%s/run.in", g.dir);
	if (input) {
		FILE *f = fopen(in, "we");
		assert_non_null(f);
		fputs(input, f);
		assert_int_equal(fclose(f), 0);
	}
	const char *args[64] = { bin };
	int n = 1;
	r->cmd[0] = '\0';
	for (; argv[n - 1] && n < 63; n++) {
		args[n] = argv[n - 1];
		size_t used = strlen(r->cmd);
		snprintf(r->cmd + used, sizeof(r->cmd) - used, " %s", argv[n - 1]);
	}
	args[n] = NULL;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (size_t i = 0; env && env[i]; i++) {
			const char *eq = strchr(env[i], '=');
			if (eq) {
				char name[64];
				snprintf(name, sizeof(name), "%.*s", (int)(eq - env[i]), env[i]);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(env[i]);
			}
		}
		int fi = open(input ? in : "/dev/null", O_RDONLY);
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(126);
		execv(bin, (char *const *)args);
		_exit(127);
	}
	long long deadline = now_ns() + RUN_DEADLINE_NS;
	int st;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		assert_true(w == 0);
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("ditto %s did not finish", argv[0] ? argv[0] : "");
		}
		/* A short step: the command usually ends within milliseconds. */
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = slurp(out);
	r->err = slurp(err);
}

/* Runs ditto against the test controller as key (NULL: no key at all). */
static void run_as(struct run *r, const char *key, const char *input, const char *const *argv)
{
	char url[160], k[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", g.ctl.url);
	snprintf(k, sizeof(k), "DITTO_KEY=%s", key ? key : "");
	/* DITTO_ENV points nowhere, so a ./data/ditto.env of a local
	 * platform cannot leak into the tests. */
	const char *env[] = { url, key ? k : "DITTO_KEY", "DITTO_ENV=/nonexistent/ditto.env", "DITTO_TENANT", NULL };
	run_env(r, env, input, argv);
}

#define DITTO(r, key, ...) run_as((r), (key), NULL, (const char *const[]){ __VA_ARGS__, NULL })

/* The run printed exactly one line on stderr (ending in a newline). */
static bool one_line(const char *s)
{
	size_t n = strlen(s);
	return n > 1 && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1;
}

static void expect_error(const struct run *r, int status, const char *fragment)
{
	if (r->status != status || !one_line(r->err) || !strstr(r->err, fragment) || strncmp(r->err, "ditto", 5))
		fail_msg("ditto%s: expected exit %d and one stderr line with \"%s\"; got exit %d, stderr \"%s\", "
			 "stdout \"%s\"",
			 r->cmd, status, fragment, r->status, r->err, r->out);
	assert_string_equal(r->out, "");
}

static void expect_ok(const struct run *r)
{
	if (r->status != 0)
		fail_msg("ditto%s: expected success; got exit %d, stderr \"%s\"", r->cmd, r->status, r->err);
}

/* Parses the run's stdout as one JSON object. */
static json_t *out_json(const struct run *r)
{
	json_error_t e;
	json_t *o = json_loads(r->out, 0, &e);
	if (!json_is_object(o))
		fail_msg("stdout is not a JSON object (%s): %s", e.text, r->out);
	return o;
}

static bool is_key(const char *s)
{
	if (strncmp(s, "dk_", 3) != 0 || strlen(s) != 43)
		return false;
	for (const char *p = s + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* A key printed alone on its line. */
static void take_key(const struct run *r, char *out, size_t size)
{
	expect_ok(r);
	size_t n = strlen(r->out);
	assert_true(n > 1 && r->out[n - 1] == '\n');
	snprintf(out, size, "%.*s", (int)(n - 1), r->out);
	assert_true(is_key(out));
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

/* ---- the controller ----------------------------------------------------------------------- */

static int controller_start(void)
{
	char bin[512], data[128], ready[128], log[128], key[160];
	snprintf(bin, sizeof(bin), "%s/ditto-controller", g.build);
	snprintf(data, sizeof(data), "%s/controller", g.dir);
	snprintf(ready, sizeof(ready), "%s/url", g.dir);
	snprintf(log, sizeof(log), "%s/controller.log", g.dir);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* A test that dies early takes the controller with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(bin, bin, "--port", "0", "--data", data, "--ready-file", ready, "--max-artifact", MAX_ARTIFACT,
		      (char *)NULL);
		_exit(127);
	}
	g.ctl.pid = pid;
	long long deadline = now_ns() + 30LL * 1000000000LL;
	while (file_read_text(ready, g.ctl.url, sizeof(g.ctl.url)) <= 0) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid || now_ns() > deadline) {
			fprintf(stderr, "the controller did not start; see %s\n", log);
			return -ECHILD;
		}
		/* The controller writes the file once, by rename. */
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	snprintf(key, sizeof(key), "%s/admin.key", data);
	return file_read_text(key, g.admin, sizeof(g.admin)) > 0 ? 0 : -EIO;
}

static int setup(void **state)
{
	const char *b = getenv("DITTO_BUILD");
	snprintf(g.build, sizeof(g.build), "%s", b ? b : "build");
	snprintf(g.dir, sizeof(g.dir), "/tmp/ditto-cli-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	char bin[600];
	snprintf(bin, sizeof(bin), "%s/ditto", g.build);
	if (access(bin, X_OK) < 0) {
		fprintf(stderr, "missing %s: build it first (make %s)\n", bin, bin);
		return -1;
	}
	return controller_start();
}

static int teardown(void **state)
{
	int st = agent_proc_stop(&g.ctl, 10000);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", g.dir);
	return st == 0 ? 0 : -1;
}

/* ---- help and usage -------------------------------------------------------------------- */

static const char *const commands[][2] = {
	{ "deploy", NULL },	{ "invoke", NULL },	 { "functions", NULL },	 { "get", NULL },
	{ "delete", NULL },	{ "invocations", NULL }, { "invocation", NULL }, { "logs", NULL },
	{ "tenant", "create" }, { "tenant", "list" },	 { "tenant", "get" },	 { "key", "create" },
	{ "scale", NULL },	{ "hosts", NULL },	 { "hosts", "drain" },	 { "hosts", "undrain" },
	{ "up", NULL },		{ "down", NULL },
};

static void test_help(void **state)
{
	struct run r;
	DITTO(&r, NULL, "--help");
	expect_ok(&r);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "exit codes:"));
	assert_non_null(strstr(r.out, "4  the invocation failed"));
	assert_non_null(strstr(r.out, "DITTO_ENV"));
	run_free(&r);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *noun = commands[i][0], *verb = commands[i][1];
		if (verb)
			DITTO(&r, NULL, noun, verb, "--help");
		else
			DITTO(&r, NULL, noun, "--help");
		expect_ok(&r);
		char want[64];
		snprintf(want, sizeof(want), "usage: ditto %s%s%s", noun, verb ? " " : "", verb ? verb : "");
		if (strncmp(r.out, want, strlen(want)) != 0)
			fail_msg("help of %s: %s", want, r.out);
		assert_non_null(strstr(r.out, "--json"));
		run_free(&r);
	}
	/* A noun alone with --help lists its verbs. */
	DITTO(&r, NULL, "tenant", "--help");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "ditto tenant create NAME"));
	assert_non_null(strstr(r.out, "ditto tenant list"));
	run_free(&r);
}

/* Every malformed command line exits 2 with one line on stderr, before any
 * request is made (the key is a wrong one, which would make a request fail
 * with exit 1 instead). */
static void test_usage_errors(void **state)
{
	static const char *const cases[][8] = {
		{ NULL },
		{ "frobnicate" },
		{ "--bogus", "functions" },
		{ "--url" },
		{ "functions", "extra" },
		{ "functions", "--url" },
		{ "functions", "--frob" },
		{ "functions", "--json=yes" },
		{ "deploy" },
		{ "deploy", "f" },
		{ "deploy", "f", "file", "more" },
		{ "deploy", "f", "file", "--timeout", "soon" },
		{ "deploy", "f", "file", "--memory", "0" },
		{ "deploy", "f", "file", "--concurrency", "-3" },
		{ "deploy", "f", "file", "--mode", "fast" },
		{ "invoke" },
		{ "invoke", "f", "--version", "0" },
		{ "invoke", "f", "--data" },
		{ "get" },
		{ "get", "f", "--version", "latest" },
		{ "delete", "a", "b" },
		{ "invocations", "a", "b" },
		{ "invocations", "--limit", "many" },
		{ "invocation" },
		{ "logs" },
		{ "logs", "a", "b" },
		{ "tenant" },
		{ "tenant", "frob" },
		{ "tenant", "create" },
		{ "tenant", "get", "a", "b" },
		{ "key" },
		{ "key", "create" }, /* neither TENANT nor DITTO_TENANT */
		{ "scale" },
		{ "scale", "acme" },
		{ "scale", "acme", "--min", "-1" },
		{ "scale", "acme", "--mechanism", "warp" },
		{ "scale", "acme", "--policy", "sometimes" },
		{ "scale", "acme", "--policy", "fixed:" },
		{ "hosts", "frob" },
		{ "hosts", "drain" },
		{ "hosts", "undrain", "a", "b" },
		{ "up", "--port", "70000" },
		{ "up", "extra" },
		{ "down", "extra" },
		{ "down", "--data-dir" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run r;
		run_as(&r, "dk_0000000000000000000000000000000000000000", NULL, cases[i]);
		if (r.status != 2 || !one_line(r.err) || r.out[0])
			fail_msg("case %zu (%s %s): exit %d, stderr \"%s\", stdout \"%s\"", i,
				 cases[i][0] ? cases[i][0] : "", cases[i][0] && cases[i][1] ? cases[i][1] : "",
				 r.status, r.err, r.out);
		run_free(&r);
	}
	/* No key configured at all is a configuration error. */
	struct run r;
	DITTO(&r, NULL, "functions");
	expect_error(&r, 2, "no API key");
	run_free(&r);
}

static void test_unreachable(void **state)
{
	/* A port that was free a moment ago: nothing listens there. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sin.sin_port));
	struct run r;
	DITTO(&r, g.admin, "--url", url, "tenant", "list");
	expect_error(&r, 3, "cannot reach the controller");
	run_free(&r);
	/* The flag may come after the command too. */
	DITTO(&r, g.admin, "tenant", "list", "--url", url);
	expect_error(&r, 3, url);
	run_free(&r);
}

static void test_wrong_key(void **state)
{
	struct run r;
	DITTO(&r, "dk_0000000000000000000000000000000000000000", "functions");
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	assert_non_null(strstr(r.err, "unknown or revoked key"));
	run_free(&r);
	DITTO(&r, g.admin, "--key", "dk_1111111111111111111111111111111111111111", "tenant", "list");
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	run_free(&r);
}

/* ---- tenants, keys, scaling --------------------------------------------------------------- */

static void test_tenants(void **state)
{
	struct run r;
	DITTO(&r, g.admin, "tenant", "create", "acme");
	take_key(&r, g.tenant_key, sizeof(g.tenant_key));
	run_free(&r);

	DITTO(&r, g.admin, "tenant", "create", "acme");
	expect_error(&r, 1, "(exists, HTTP 409)");
	run_free(&r);
	DITTO(&r, g.admin, "tenant", "create", "Not_Valid");
	expect_error(&r, 1, "(bad_name, HTTP 400)");
	run_free(&r);
	DITTO(&r, g.tenant_key, "tenant", "list");
	expect_error(&r, 1, "(forbidden, HTTP 403)");
	run_free(&r);

	DITTO(&r, g.admin, "tenant", "list");
	expect_ok(&r);
	assert_true(strncmp(r.out, "NAME ", 5) == 0);
	assert_non_null(strstr(r.out, "\nacme "));
	assert_non_null(strstr(r.out, "MECHANISM"));
	run_free(&r);

	DITTO(&r, g.admin, "--json", "tenant", "list");
	expect_ok(&r);
	json_t *o = out_json(&r);
	json_t *t = json_array_get(json_object_get(o, "tenants"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "name")), "acme");
	assert_true(json_is_object(json_object_get(t, "scaling")));
	json_decref(o);
	run_free(&r);

	/* The tenant's own key reads its tenant; the table names it. */
	DITTO(&r, g.tenant_key, "tenant", "get", "acme");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "Name:"));
	assert_non_null(strstr(r.out, "acme"));
	assert_non_null(strstr(r.out, "Scaling:"));
	run_free(&r);
	DITTO(&r, g.admin, "tenant", "get", "acme", "--json");
	expect_ok(&r);
	o = out_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "acme");
	json_decref(o);
	run_free(&r);
	DITTO(&r, g.admin, "tenant", "get", "nobody");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);
}

static void test_keys(void **state)
{
	struct run r;
	char k1[128], k2[128], k3[128];
	DITTO(&r, g.admin, "key", "create", "acme");
	take_key(&r, k1, sizeof(k1));
	run_free(&r);
	/* A tenant key makes keys for its own tenant... */
	DITTO(&r, k1, "key", "create", "acme");
	take_key(&r, k2, sizeof(k2));
	run_free(&r);
	assert_string_not_equal(k1, k2);
	/* ... named by DITTO_TENANT when not on the command line ... */
	char url[160], key[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", g.ctl.url);
	snprintf(key, sizeof(key), "DITTO_KEY=%s", k2);
	const char *env[] = { url, key, "DITTO_TENANT=acme", "DITTO_ENV=/nonexistent", NULL };
	run_env(&r, env, NULL, (const char *const[]){ "key", "create", NULL });
	take_key(&r, k3, sizeof(k3));
	run_free(&r);
	/* ... and no other tenant's. */
	DITTO(&r, g.admin, "tenant", "create", "other");
	expect_ok(&r);
	run_free(&r);
	DITTO(&r, k3, "key", "create", "other");
	expect_error(&r, 1, "(forbidden, HTTP 403)");
	run_free(&r);

	DITTO(&r, g.admin, "key", "create", "acme", "--json");
	expect_ok(&r);
	json_t *o = out_json(&r);
	assert_true(is_key(json_string_value(json_object_get(o, "key"))));
	json_decref(o);
	run_free(&r);
}

static void test_scale(void **state)
{
	struct run r;
	DITTO(&r, g.admin, "scale", "acme", "--min", "1", "--max", "3", "--mechanism", "hotplug", "--policy",
	      "elastic:500");
	expect_ok(&r);
	assert_string_equal(r.out, "tenant acme: min 1, max 3, mechanism hotplug, policy elastic:500\n");
	run_free(&r);
	/* Left-out fields keep their values. */
	DITTO(&r, g.admin, "--json", "scale", "acme", "--policy", "fixed:2");
	expect_ok(&r);
	json_t *o = out_json(&r);
	json_t *s = json_object_get(o, "scaling");
	assert_int_equal(json_integer_value(json_object_get(s, "min")), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "max")), 3);
	assert_string_equal(json_string_value(json_object_get(s, "mechanism")), "hotplug");
	assert_string_equal(json_string_value(json_object_get(s, "policy")), "fixed:2");
	json_decref(o);
	run_free(&r);

	DITTO(&r, g.admin, "scale", "acme", "--min", "3", "--max", "2");
	expect_error(&r, 1, "(bad_field, HTTP 400)");
	run_free(&r);
	DITTO(&r, g.admin, "scale", "nobody", "--max", "2");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);
	DITTO(&r, g.tenant_key, "scale", "acme", "--max", "2");
	expect_error(&r, 1, "(forbidden, HTTP 403)");
	run_free(&r);
}

/* ---- functions ------------------------------------------------------------------------- */

static void test_functions(void **state)
{
	char art[128], big[128];
	snprintf(art, sizeof(art), "%s/hello.sh", g.dir);
	static const char script[] = "#!/bin/sh\necho '{\"hello\":1}'\n";
	write_text(art, script, 0755);
	char digest[SHA256_HEX_SIZE];
	sha256_hex(script, strlen(script), digest);

	struct run r;
	DITTO(&r, g.tenant_key, "functions");
	expect_ok(&r);
	assert_string_equal(r.out, "");
	run_free(&r);

	DITTO(&r, g.tenant_key, "deploy", "hello", art, "--timeout", "5000", "--memory", "128", "--concurrency", "3",
	      "--mode", "persistent");
	expect_ok(&r);
	assert_true(strncmp(r.out, "deployed hello version 1 ", 25) == 0);
	run_free(&r);

	/* A second deploy is version 2; --json is the API's function object. */
	DITTO(&r, g.tenant_key, "--json", "deploy", "hello", art);
	expect_ok(&r);
	json_t *o = out_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), digest);
	assert_int_equal(json_integer_value(json_object_get(o, "size")), strlen(script));
	json_decref(o);
	run_free(&r);

	DITTO(&r, g.tenant_key, "functions");
	expect_ok(&r);
	assert_true(strncmp(r.out, "NAME ", 5) == 0);
	assert_non_null(strstr(r.out, "\nhello   2 "));
	run_free(&r);
	DITTO(&r, g.tenant_key, "functions", "--json");
	expect_ok(&r);
	o = out_json(&r);
	assert_int_equal(json_array_size(json_object_get(o, "functions")), 1);
	json_decref(o);
	run_free(&r);

	/* Version 1 kept its limits. */
	DITTO(&r, g.tenant_key, "get", "hello", "--version", "1");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "Version:"));
	assert_non_null(strstr(r.out, "persistent"));
	assert_non_null(strstr(r.out, "5000 ms"));
	assert_non_null(strstr(r.out, "128 MiB"));
	assert_non_null(strstr(r.out, digest));
	run_free(&r);
	DITTO(&r, g.tenant_key, "get", "hello", "--json");
	expect_ok(&r);
	o = out_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	json_decref(o);
	run_free(&r);
	DITTO(&r, g.tenant_key, "get", "hello", "--version", "9");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);

	/* Refusals: over a limit, an empty artifact, an admin key on a tenant
	 * route, a file that is not there. */
	DITTO(&r, g.tenant_key, "deploy", "hello", art, "--timeout", "1");
	expect_error(&r, 1, "(bad_parameter, HTTP 400)");
	run_free(&r);
	snprintf(big, sizeof(big), "%s/big", g.dir);
	int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * atoi(MAX_ARTIFACT)), 0);
	close(fd);
	DITTO(&r, g.tenant_key, "deploy", "big", big);
	expect_error(&r, 1, "(too_large, HTTP 413)");
	run_free(&r);
	write_text(big, "", 0644);
	DITTO(&r, g.tenant_key, "deploy", "empty", big);
	expect_error(&r, 1, "(empty, HTTP 400)");
	run_free(&r);
	DITTO(&r, g.admin, "deploy", "hello", art);
	expect_error(&r, 1, "(forbidden, HTTP 403)");
	run_free(&r);
	DITTO(&r, g.tenant_key, "deploy", "hello", "/nonexistent/file");
	expect_error(&r, 1, "cannot open /nonexistent/file");
	run_free(&r);

	DITTO(&r, g.tenant_key, "delete", "hello");
	expect_ok(&r);
	assert_string_equal(r.out, "deleted function hello\n");
	run_free(&r);
	DITTO(&r, g.tenant_key, "delete", "hello");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);
	DITTO(&r, g.tenant_key, "functions", "--json");
	expect_ok(&r);
	o = out_json(&r);
	assert_int_equal(json_array_size(json_object_get(o, "functions")), 0);
	json_decref(o);
	run_free(&r);
}

/* DITTO_URL and DITTO_KEY come from the env file when DITTO_KEY is unset;
 * DITTO_KEY in the environment, or a flag, wins over it. */
static void test_env_file(void **state)
{
	char path[128], text[512], envvar[160];
	snprintf(path, sizeof(path), "%s/ditto.env", g.dir);
	snprintf(text, sizeof(text), "# written by hand\nDITTO_URL=%s\nexport DITTO_KEY=\"%s\"\n", g.ctl.url, g.admin);
	write_text(path, text, 0600);
	snprintf(envvar, sizeof(envvar), "DITTO_ENV=%s", path);
	const char *from_file[] = { "DITTO_URL", "DITTO_KEY", envvar, NULL };
	struct run r;
	run_env(&r, from_file, NULL, (const char *const[]){ "tenant", "list", NULL });
	expect_ok(&r);
	assert_non_null(strstr(r.out, "acme"));
	run_free(&r);
	run_env(&r, from_file, NULL,
		(const char *const[]){ "tenant", "list", "--key", "dk_0000000000000000000000000000000000000000",
				       NULL });
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	run_free(&r);
	/* With DITTO_KEY set the file is not read: the URL is the default,
	 * where nothing of this test listens, or the one DITTO_URL names. */
	char url[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", g.ctl.url);
	const char *env_key[] = { url, "DITTO_KEY=dk_0000000000000000000000000000000000000000", envvar, NULL };
	run_env(&r, env_key, NULL, (const char *const[]){ "tenant", "list", NULL });
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	run_free(&r);
}

/* ---- a platform with an agent: invocations, logs, hosts, up and down ------------------------ */

static void up_json(struct run *r, const char *const *extra)
{
	const char *argv[16] = { "--json", "up", "--data-dir", g.plat_dir, "--port", "0" };
	int n = 6;
	for (int i = 0; extra && extra[i] && n < 15; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	run_as(r, NULL, NULL, argv);
}

/* Runs ditto against the platform as key. */
static void plat(struct run *r, const char *key, const char *input, const char *const *argv)
{
	char url[160], k[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", g.plat_url);
	snprintf(k, sizeof(k), "DITTO_KEY=%s", key);
	const char *env[] = { url, k, "DITTO_ENV=/nonexistent/ditto.env", NULL };
	run_env(r, env, input, argv);
}

#define PLAT(r, key, ...) plat((r), (key), NULL, (const char *const[]){ __VA_ARGS__, NULL })

static int platform_setup(void **state)
{
	snprintf(g.plat_dir, sizeof(g.plat_dir), "%s/platform", g.dir);
	return 0;
}

static int platform_teardown(void **state)
{
	/* Stops a platform a failed test left running. */
	struct run r;
	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", g.plat_dir, NULL });
	run_free(&r);
	return 0;
}

static void test_up(void **state)
{
	struct run r;
	up_json(&r, NULL);
	if (r.status != 0)
		fail_msg("ditto up: exit %d: %s", r.status, r.err);
	json_t *o = out_json(&r);
	snprintf(g.plat_url, sizeof(g.plat_url), "%s", json_string_value(json_object_get(o, "url")));
	snprintf(g.plat_admin, sizeof(g.plat_admin), "%s", json_string_value(json_object_get(o, "admin_key")));
	assert_true(is_key(g.plat_admin));
	assert_false(json_is_true(json_object_get(o, "already_running")));
	json_decref(o);
	run_free(&r);

	/* The env file holds both, for the owner only. */
	char path[256], want[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/ditto.env", g.plat_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *env = slurp(path);
	snprintf(want, sizeof(want), "DITTO_URL=%s\nDITTO_KEY=%s\n", g.plat_url, g.plat_admin);
	assert_string_equal(env, want);
	free(env);

	/* A second up finds it running. */
	up_json(&r, NULL);
	expect_ok(&r);
	o = out_json(&r);
	assert_true(json_is_true(json_object_get(o, "already_running")));
	assert_string_equal(json_string_value(json_object_get(o, "url")), g.plat_url);
	json_decref(o);
	run_free(&r);

	/* The host registered as "local" and is up. */
	PLAT(&r, g.plat_admin, "hosts");
	expect_ok(&r);
	assert_true(strncmp(r.out, "ID ", 3) == 0);
	assert_non_null(strstr(r.out, "\nlocal "));
	assert_non_null(strstr(r.out, " up "));
	run_free(&r);
	PLAT(&r, g.plat_admin, "tenant", "create", "acme");
	take_key(&r, g.plat_key, sizeof(g.plat_key));
	run_free(&r);
}

/* Waits until the record of id is finished and returns it. */
static json_t *wait_record(const char *id)
{
	long long deadline = now_ns() + RECORD_DEADLINE_NS;
	for (;;) {
		struct run r;
		PLAT(&r, g.plat_key, "invocation", id, "--json");
		expect_ok(&r);
		json_t *o = out_json(&r);
		run_free(&r);
		const char *st = json_string_value(json_object_get(o, "status"));
		if (st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
			return o;
		json_decref(o);
		assert_true(now_ns() < deadline);
		/* Each look is a process start and an HTTP call; a short
		 * pause between them keeps the poll cheap. */
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void test_invoke(void **state)
{
	char echo[300], input[128];
	snprintf(echo, sizeof(echo), "%s/functions/echo", g.build);
	struct run r;
	PLAT(&r, g.plat_key, "deploy", "echo", echo);
	expect_ok(&r);
	run_free(&r);

	/* The first call boots the tenant's VM. The result is printed as the
	 * function wrote it, ending a line. */
	PLAT(&r, g.plat_key, "invoke", "echo", "--data", "{\"x\":42}");
	expect_ok(&r);
	assert_string_equal(r.out, "{\"x\":42}\n");
	run_free(&r);

	PLAT(&r, g.plat_key, "invoke", "echo", "--data", "{\"x\":43}", "--json");
	expect_ok(&r);
	json_t *o = out_json(&r);
	char id[128];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
	assert_true(strlen(id) > 0);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_true(json_is_boolean(json_object_get(o, "cold_start")));
	assert_true(json_integer_value(json_object_get(json_object_get(o, "timing"), "total_us")) > 0);
	assert_string_equal(json_string_value(json_object_get(o, "result")), "{\"x\":43}");
	json_decref(o);
	run_free(&r);

	/* Input from a file and from standard input; no --data sends {}. */
	snprintf(input, sizeof(input), "%s/input.json", g.dir);
	write_text(input, "{\"from\":\"file\"}", 0644);
	char at[140];
	snprintf(at, sizeof(at), "@%s", input);
	PLAT(&r, g.plat_key, "invoke", "echo", "--data", at);
	expect_ok(&r);
	assert_string_equal(r.out, "{\"from\":\"file\"}\n");
	run_free(&r);
	plat(&r, g.plat_key, "{\"from\":\"stdin\"}", (const char *const[]){ "invoke", "echo", "--data", "@-", NULL });
	expect_ok(&r);
	assert_string_equal(r.out, "{\"from\":\"stdin\"}\n");
	run_free(&r);
	PLAT(&r, g.plat_key, "invoke", "echo");
	expect_ok(&r);
	assert_string_equal(r.out, "{}\n");
	run_free(&r);

	/* The synchronous call left a record. */
	PLAT(&r, g.plat_key, "invocation", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "Status:"));
	assert_non_null(strstr(r.out, "echo (version 1)"));
	assert_non_null(strstr(r.out, "{\"x\":43}"));
	run_free(&r);

	/* Asynchronous: the id at once, the outcome in the record. */
	PLAT(&r, g.plat_key, "invoke", "echo", "--async", "--data", "{\"later\":true}");
	expect_ok(&r);
	char async_id[128];
	snprintf(async_id, sizeof(async_id), "%.*s", (int)strcspn(r.out, "\n"), r.out);
	assert_string_equal(r.out + strlen(async_id), "\n");
	run_free(&r);
	o = wait_record(async_id);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_true(json_is_true(json_object_get(o, "async")));
	assert_string_equal(json_string_value(json_object_get(o, "result")), "{\"later\":true}");
	json_decref(o);

	PLAT(&r, g.plat_key, "invoke", "nothing");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);
}

static void test_invocations(void **state)
{
	struct run r;
	PLAT(&r, g.plat_key, "invocations");
	expect_ok(&r);
	assert_true(strncmp(r.out, "ID ", 3) == 0);
	assert_non_null(strstr(r.out, " echo "));
	assert_non_null(strstr(r.out, " ok "));
	run_free(&r);

	/* Paging: one record per page, the next page through the cursor. */
	PLAT(&r, g.plat_key, "invocations", "echo", "--status", "ok", "--limit", "1", "--json");
	expect_ok(&r);
	json_t *o = out_json(&r);
	assert_int_equal(json_array_size(json_object_get(o, "invocations")), 1);
	const char *first =
		json_string_value(json_object_get(json_array_get(json_object_get(o, "invocations"), 0), "id"));
	const char *cursor = json_string_value(json_object_get(o, "next_cursor"));
	assert_true(cursor && *cursor);
	char first_id[128], cur[256];
	snprintf(first_id, sizeof(first_id), "%s", first);
	snprintf(cur, sizeof(cur), "%s", cursor);
	json_decref(o);
	run_free(&r);
	PLAT(&r, g.plat_key, "invocations", "echo", "--limit", "1", "--cursor", cur, "--json");
	expect_ok(&r);
	o = out_json(&r);
	const char *second =
		json_string_value(json_object_get(json_array_get(json_object_get(o, "invocations"), 0), "id"));
	assert_non_null(second);
	assert_string_not_equal(second, first_id);
	json_decref(o);
	run_free(&r);

	PLAT(&r, g.plat_key, "invocations", "--status", "bogus");
	expect_error(&r, 1, "(bad_parameter, HTTP 400)");
	run_free(&r);
	PLAT(&r, g.plat_key, "invocation", "0000");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);
}

/* A failing function exits 4, names its invocation, and its log is there. */
static void test_function_failure(void **state)
{
	char art[128];
	snprintf(art, sizeof(art), "%s/fail.sh", g.dir);
	write_text(art, "#!/bin/sh\necho 'something broke' >&2\nexit 3\n", 0755);
	struct run r;
	PLAT(&r, g.plat_key, "deploy", "fail", art);
	expect_ok(&r);
	run_free(&r);
	PLAT(&r, g.plat_key, "invoke", "fail");
	expect_error(&r, 4, "(function_error, HTTP 502, invocation ");
	const char *at = strstr(r.err, ", invocation ") + 13;
	char id[128];
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(at, ")"), at);
	run_free(&r);

	PLAT(&r, g.plat_key, "logs", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "something broke\n"));
	run_free(&r);
	PLAT(&r, g.plat_key, "invocation", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "error"));
	run_free(&r);

	/* With --json the error object still reaches stdout for scripts. */
	PLAT(&r, g.plat_key, "invoke", "fail", "--json");
	assert_int_equal(r.status, 4);
	assert_true(one_line(r.err));
	json_t *o = out_json(&r);
	json_t *e = json_object_get(o, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "function_error");
	assert_true(json_is_string(json_object_get(e, "invocation")) ||
		    json_is_string(json_object_get(o, "invocation")));
	json_decref(o);
	run_free(&r);

	snprintf(art, sizeof(art), "%s/slow.sh", g.dir);
	write_text(art, "#!/bin/sh\nsleep 30\necho '{}'\n", 0755);
	PLAT(&r, g.plat_key, "deploy", "slow", art, "--timeout", "500");
	expect_ok(&r);
	run_free(&r);
	PLAT(&r, g.plat_key, "invoke", "slow");
	expect_error(&r, 4, "(function_timeout, HTTP 504, invocation ");
	run_free(&r);
}

static void test_hosts_drain(void **state)
{
	struct run r;
	PLAT(&r, g.plat_admin, "hosts", "drain", "local");
	expect_ok(&r);
	assert_string_equal(r.out, "host local: draining\n");
	run_free(&r);
	PLAT(&r, g.plat_admin, "hosts", "--json");
	expect_ok(&r);
	json_t *o = out_json(&r);
	json_t *h = json_array_get(json_object_get(o, "hosts"), 0);
	assert_string_equal(json_string_value(json_object_get(h, "id")), "local");
	assert_string_equal(json_string_value(json_object_get(h, "state")), "draining");
	json_decref(o);
	run_free(&r);
	PLAT(&r, g.plat_admin, "hosts", "undrain", "local");
	expect_ok(&r);
	assert_string_equal(r.out, "host local: up\n");
	run_free(&r);
	PLAT(&r, g.plat_admin, "hosts", "drain", "nowhere");
	expect_error(&r, 1, "(not_found, HTTP 404)");
	run_free(&r);
	PLAT(&r, g.plat_key, "hosts");
	expect_error(&r, 1, "(forbidden, HTTP 403)");
	run_free(&r);
}

static void test_down(void **state)
{
	char pidfile[256];
	snprintf(pidfile, sizeof(pidfile), "%s/controller.pid", g.plat_dir);
	char text[32];
	assert_true(file_read_text(pidfile, text, sizeof(text)) > 0);
	pid_t ctl = (pid_t)atoi(text);

	struct run r;
	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", g.plat_dir, NULL });
	expect_ok(&r);
	assert_true(strncmp(r.out, "stopped the platform from ", 26) == 0);
	run_free(&r);
	assert_int_equal(access(pidfile, F_OK), -1);
	/* The controller is gone (or a zombie its new parent has not reaped). */
	char stat[64], line[256] = "";
	snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)ctl);
	if (file_read_text(stat, line, sizeof(line)) > 0)
		assert_non_null(strstr(line, ") Z"));
	PLAT(&r, g.plat_admin, "hosts");
	expect_error(&r, 3, "cannot reach the controller");
	run_free(&r);

	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", g.plat_dir, NULL });
	expect_error(&r, 1, "no platform is running");
	run_free(&r);
}

/* A start that cannot succeed stops what it started and shows the logs. */
static void test_up_failure(void **state)
{
	struct run r;
	up_json(&r, (const char *const[]){ "--cores", "4096", NULL });
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_true(strncmp(r.err, "ditto: ", 7) == 0);
	assert_non_null(strstr(r.err, "last lines of"));
	run_free(&r);
	char pidfile[256];
	snprintf(pidfile, sizeof(pidfile), "%s/controller.pid", g.plat_dir);
	assert_int_equal(access(pidfile, F_OK), -1);
	run_as(&r, NULL, NULL, (const char *const[]){ "down", "--data-dir", g.plat_dir, NULL });
	expect_error(&r, 1, "no platform is running");
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest controller[] = {
		cmocka_unit_test(test_help),	    cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_unreachable), cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tenants),	    cmocka_unit_test(test_keys),
		cmocka_unit_test(test_scale),	    cmocka_unit_test(test_functions),
		cmocka_unit_test(test_env_file),
	};
	const struct CMUnitTest platform[] = {
		cmocka_unit_test(test_up),	    cmocka_unit_test(test_invoke),
		cmocka_unit_test(test_invocations), cmocka_unit_test(test_function_failure),
		cmocka_unit_test(test_hosts_drain), cmocka_unit_test(test_down),
		cmocka_unit_test(test_up_failure),
	};
	/* One controller serves both groups; the platform has its own. */
	if (setup(NULL) < 0)
		return 1;
	int failed = cmocka_run_group_tests_name("cli against a controller", controller, NULL, NULL);
	failed += cmocka_run_group_tests_name("cli with a platform", platform, platform_setup, platform_teardown);
	if (teardown(NULL) < 0)
		failed++;
	return failed;
}
