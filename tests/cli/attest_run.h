/* The `ditto attest` tests' shared part: the real SEV-SNP samples of
 * tests/data/snp, a scratch folder, and running the built binary as a
 * subprocess with what it printed collected. Included by test_attest.c and
 * test_attest_online.c (each a program of its own). */
#ifndef DITTO_TESTS_CLI_ATTEST_RUN_H
#define DITTO_TESTS_CLI_ATTEST_RUN_H

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
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>

#include "encoding.h"
#include "snp_verify.h"
#include "support/files.h"
#include "support/procs.h"
#include "util.h"

#define AT "1735000000"
#define V01 "v01_virtee_milan_v2/"
#define V01_MEASUREMENT                                                                       \
	"7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b" \
	"9c480cd81841f"

struct run {
	int status;
	char *out, *err;
};

static char scratch[256];

static int setup(void **state)
{
	return scratch_dir(scratch, sizeof(scratch), "attest");
}

static int teardown(void **state)
{
	return remove_tree(scratch);
}

/* The path of a sample (static storage, one of a few at a time). */
static const char *data(const char *name)
{
	static char paths[4][4096];
	static int next;
	const char *dir = getenv("DITTO_TESTDATA");
	char *p = paths[next++ % 4];
	snprintf(p, 4096, "%s/snp/%s", dir ? dir : "tests/data", name);
	return p;
}

static char *slurp(const char *path)
{
	void *d;
	size_t n;
	return file_read_all(path, &d, &n) == 0 ? d : strdup("");
}

/* Runs `ditto attest ARGS...` (NULL-terminated) and collects what it printed. */
static struct run attest(const char *first, ...)
{
	const char *args[32] = { NULL, "attest" };
	char bin[4096], out[512], err[512];
	snprintf(bin, sizeof(bin), "%s/ditto", test_build_dir());
	args[0] = bin;
	size_t n = 2;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
		args[n++] = a;
	va_end(ap);
	snprintf(out, sizeof(out), "%s/out", scratch);
	snprintf(err, sizeof(err), "%s/err", scratch);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(126);
		/* No controller is involved: make sure none is configured; no
		 * tenant secret but the test's is found. */
		unsetenv("DITTO_URL");
		unsetenv("DITTO_E2E_KEY");
		setenv("HOME", scratch, 1);
		execv(bin, (char *const *)args);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 127);
	return (struct run){ WEXITSTATUS(st), slurp(out), slurp(err) };
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* stderr is exactly one line, holding want. */
static void one_error_line(const struct run *r, const char *want)
{
	if (!strstr(r->err, want))
		fail_msg("stderr lacks \"%s\": %s", want, r->err);
	char *nl = strchr(r->err, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
}

#endif
