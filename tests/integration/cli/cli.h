/* The `ditto` command line's end-to-end suite: the real binary, run as a
 * subprocess against a real ditto-controller on a free loopback port (and,
 * for invocations and hosts, a real platform started by `ditto up` with a
 * real agent booting real VMs). They check what a user or a script sees:
 * stdout, the one stderr line of an error, and the exit code. One binary
 * built from this folder. */
#ifndef DITTO_TESTS_CLI_SUITE_H
#define DITTO_TESTS_CLI_SUITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon_proc.h"

/* The controller's limit on artifacts, in bytes. */
#define MAX_ARTIFACT "65536"

struct cli_suite {
	char dir[64];
	struct daemon_proc ctl; /* the controller the first group talks to */
	char admin[128];
	char tenant_key[128];
	/* The platform `ditto up` started, for the invocation tests. */
	char plat_dir[128], plat_url[128], plat_admin[128], plat_key[128];
	/* Where the platform's agent copies the bytes of its guest channels. */
	char wire_dir[160];
};

extern struct cli_suite S;

/* What one run of ditto left behind. */
struct run {
	int status; /* the exit code, or 128 + the signal */
	char *out, *err;
	char cmd[256]; /* the arguments, for failure messages */
};

void run_free(struct run *r);

/* A whole file as a string ("" when it cannot be read). */
char *slurp(const char *path);

/* Runs BUILD/ditto with argv (NULL-terminated, without the program name)
 * and env: "NAME=VALUE" sets, "NAME" unsets, on top of this process's
 * environment. input, when not NULL, is its standard input. */
void run_env(struct run *r, const char *const *env, const char *input, const char *const *argv);
/* Runs ditto against the test controller as key (NULL: no key at all). */
void run_as(struct run *r, const char *key, const char *input, const char *const *argv);
/* Runs ditto against the platform `ditto up` started, as key. */
void plat(struct run *r, const char *key, const char *input, const char *const *argv);

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define DITTO(r, key, ...) run_as((r), (key), NULL, ARGV(__VA_ARGS__))
#define PLAT(r, key, ...) plat((r), (key), NULL, ARGV(__VA_ARGS__))

/* The run printed exactly one line on stderr (ending in a newline). */
bool one_line(const char *s);
/* The run failed with status and one stderr line holding fragment. */
void expect_error(const struct run *r, int status, const char *fragment);
void expect_ok(const struct run *r);
/* Parses the run's stdout as one JSON object. */
json_t *out_json(const struct run *r);
/* A key printed alone on its line, copied to out. */
void take_key(const struct run *r, char *out, size_t size);
bool is_key(const char *s);
void write_text(const char *path, const char *text, mode_t mode);
/* The run succeeded, and its stdout starts with prefix and holds each of
 * has (NULL-terminated). */
void expect_out(const struct run *r, const char *prefix, const char *const *has);

/* Runs ditto on the controller (or the platform) as key, expects success
 * and returns its stdout as JSON. */
json_t *ditto_json(const char *key, const char *const *argv);
json_t *plat_json(const char *key, const char *const *argv);
/* Runs ditto on the controller (or the platform) as key and expects it to
 * fail with status and one stderr line holding fragment. */
void ditto_fails(const char *key, int status, const char *fragment, const char *const *argv);
void plat_fails(const char *key, int status, const char *fragment, const char *const *argv);

/* Waits until the record of invocation id on the platform is finished and
 * returns it. Each look is a process start and an HTTP call. */
json_t *wait_record(const char *id);

/* The tests, by file. */
void test_help(void **state);
void test_usage_errors(void **state);
void test_unreachable(void **state);
void test_wrong_key(void **state);
void test_tenants(void **state);
void test_keys(void **state);
void test_scale(void **state);
void test_confidential(void **state);
void test_functions(void **state);
void test_runtimes(void **state);
void test_env_file(void **state);
void test_up(void **state);
void test_invoke(void **state);
void test_invocations(void **state);
void test_function_failure(void **state);
void test_python_exception(void **state);
void test_e2e(void **state);
void test_scale_out(void **state);
void test_hosts_drain(void **state);
void test_down(void **state);
void test_up_failure(void **state);
/* The platform on PostgreSQL (store.c), a group of its own. */
int pg_platform_setup(void **state);
int pg_platform_teardown(void **state);
void test_up_postgres(void **state);

#endif
