/* Running the ditto binary and checking what it printed. */
#include "cli.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/procs.h"
#include "support/wait.h"
#include "util.h"

/* How long one run of ditto may take. */
#define RUN_DEADLINE_MS 300000LL

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

char *slurp(const char *path)
{
	void *data;
	size_t len;
	if (file_read_all(path, &data, &len) < 0)
		return strdup("");
	return data; /* file_read_all NUL-terminates */
}

/* Waits for the run's process and reads what it wrote. */
static void run_wait(struct run *r, pid_t pid, const char *out, const char *err)
{
	long long deadline = clock_ms() + RUN_DEADLINE_MS;
	int st;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		assert_true(w == 0);
		if (clock_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("ditto%s did not finish", r->cmd);
		}
		/* A short step: the command usually ends within milliseconds. */
		pause_ms(2);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = slurp(out);
	r->err = slurp(err);
}

/* The child's side: the environment, the files, exec. */
static void run_child(const char *const *env, const char *in, const char *out, const char *err,
		      const char *const *args)
{
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
	int fi = open(in, O_RDONLY);
	int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
		_exit(126);
	execv(args[0], (char *const *)args);
	_exit(127);
}

void run_env(struct run *r, const char *const *env, const char *input, const char *const *argv)
{
	char bin[512], out[128], err[128], in[128];
	snprintf(bin, sizeof(bin), "%s/ditto", test_build_dir());
	snprintf(out, sizeof(out), "%s/run.out", S.dir);
	snprintf(err, sizeof(err), "%s/run.err", S.dir);
	snprintf(in, sizeof(in), "%s/run.in", S.dir);
	if (input)
		write_text(in, input, 0600);
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
	if (pid == 0)
		run_child(env, input ? in : "/dev/null", out, err, args);
	run_wait(r, pid, out, err);
}

/* Runs ditto against the test controller as key (NULL: no key at all). */
void run_as(struct run *r, const char *key, const char *input, const char *const *argv)
{
	char url[160], k[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", S.ctl.url);
	snprintf(k, sizeof(k), "DITTO_KEY=%s", key ? key : "");
	/* DITTO_ENV points nowhere, so a ./data/ditto.env of a local
	 * platform cannot leak into the tests. */
	const char *env[] = { url, key ? k : "DITTO_KEY", "DITTO_ENV=/nonexistent/ditto.env",
			      "DITTO_TENANT", NULL };
	run_env(r, env, input, argv);
}

void plat(struct run *r, const char *key, const char *input, const char *const *argv)
{
	char url[160], k[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", S.plat_url);
	snprintf(k, sizeof(k), "DITTO_KEY=%s", key);
	const char *env[] = { url, k, "DITTO_ENV=/nonexistent/ditto.env", NULL };
	run_env(r, env, input, argv);
}

/* The run printed exactly one line on stderr (ending in a newline). */
bool one_line(const char *s)
{
	size_t n = strlen(s);
	return n > 1 && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1;
}

void expect_error(const struct run *r, int status, const char *fragment)
{
	if (r->status != status || !one_line(r->err) || !strstr(r->err, fragment) ||
	    strncmp(r->err, "ditto", 5))
		fail_msg(
			"ditto%s: expected exit %d and one stderr line with \"%s\"; got exit %d, stderr \"%s\", "
			"stdout \"%s\"",
			r->cmd, status, fragment, r->status, r->err, r->out);
	assert_string_equal(r->out, "");
}

void expect_ok(const struct run *r)
{
	if (r->status != 0)
		fail_msg("ditto%s: expected success; got exit %d, stderr \"%s\"", r->cmd, r->status,
			 r->err);
}

/* Parses the run's stdout as one JSON object. */
json_t *out_json(const struct run *r)
{
	json_error_t e;
	json_t *o = json_loads(r->out, 0, &e);
	if (!json_is_object(o))
		fail_msg("stdout is not a JSON object (%s): %s", e.text, r->out);
	return o;
}

bool is_key(const char *s)
{
	if (strncmp(s, "dk_", 3) != 0 || strlen(s) != 43)
		return false;
	for (const char *p = s + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* A key printed alone on its line. */
void take_key(const struct run *r, char *out, size_t size)
{
	expect_ok(r);
	size_t n = strlen(r->out);
	assert_true(n > 1 && r->out[n - 1] == '\n');
	snprintf(out, size, "%.*s", (int)(n - 1), r->out);
	assert_true(is_key(out));
}

void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

/* Expects success; returns stdout as JSON. */
static json_t *json_of(struct run *r)
{
	expect_ok(r);
	json_t *o = out_json(r);
	run_free(r);
	return o;
}

json_t *ditto_json(const char *key, const char *const *argv)
{
	struct run r;
	run_as(&r, key, NULL, argv);
	return json_of(&r);
}

json_t *plat_json(const char *key, const char *const *argv)
{
	struct run r;
	plat(&r, key, NULL, argv);
	return json_of(&r);
}

void ditto_fails(const char *key, int status, const char *fragment, const char *const *argv)
{
	struct run r;
	run_as(&r, key, NULL, argv);
	expect_error(&r, status, fragment);
	run_free(&r);
}

void plat_fails(const char *key, int status, const char *fragment, const char *const *argv)
{
	struct run r;
	plat(&r, key, NULL, argv);
	expect_error(&r, status, fragment);
	run_free(&r);
}

void expect_out(const struct run *r, const char *prefix, const char *const *has)
{
	expect_ok(r);
	assert_true(strncmp(r->out, prefix, strlen(prefix)) == 0);
	for (size_t i = 0; has[i]; i++)
		assert_non_null(strstr(r->out, has[i]));
}
