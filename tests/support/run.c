#include "support/run.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static char *slurp(const char *path)
{
	void *data = NULL;
	size_t len;
	if (file_read_all(path, &data, &len) < 0)
		return strdup("");
	return data; /* file_read_all NUL-terminates */
}

/* The child's side: the environment, the files, exec. Never returns. */
static void run_child(const char *const *env, const char *out, const char *err,
		      const char *const *argv)
{
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - env[i] : 127), env[i]);
		if (eq)
			setenv(name, eq + 1, 1);
		else
			unsetenv(name);
	}
	int fi = open("/dev/null", O_RDONLY);
	int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
		_exit(126);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

void run_program(struct run_out *r, const char *dir, const char *const *env,
		 const char *const *argv)
{
	char out[512], err[512];
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_child(env, out, err, argv);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = slurp(out);
	r->err = slurp(err);
}

void run_out_free(struct run_out *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
