/* The guest daemon running long-lived ("persistent") functions: one
 * process per function and CPU, kept warm between invocations, fed one line
 * of input per invocation, retired when it misbehaves. */
#include "support/guest_harness.h"

static const char line_script[] = "#!/bin/sh\n"
				  "while IFS= read -r line; do\n"
				  "  echo \"log:$line\" >&2\n"
				  "  echo \"$$:$DITTO_MODE:$DITTO_CPU:$line\"\n"
				  "done\n";

/* Invokes in persistent mode (extra: more meta fields or "") and checks the
 * reply is ok, cold or warm, and carries want_result. */
static void invoke_persistent(struct peer *p, const char *digest, const char *extra,
			      const char *input, bool want_cold, const char *want_result)
{
	char meta[256];
	snprintf(meta, sizeof(meta), "\"mode\":\"persistent\"%s%s", extra[0] ? "," : "", extra);
	struct guest_msg m;
	peer_invoke(p, digest, meta, input, "ok", &m);
	assert_int_equal(guest_msg_bool(&m, "cold_start"), want_cold);
	guest_msg_expect_result(&m, want_result);
	guest_msg_free(&m);
}

static void test_persistent_cold_then_warm(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, line_script, digest);
	struct guest_msg m1, m2;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "one", "ok", &m1);
	assert_true(guest_msg_bool(&m1, "cold_start"));
	assert_true(guest_msg_int(&m1, "init_us") > 0);
	assert_int_equal(guest_msg_int(&m1, "ran_on"), 1);
	assert_int_equal(guest_msg_int(&m1, "cpu"), 1);
	assert_null(json_object_get(m1.meta, "exit_code"));
	char *r1 = guest_msg_result(&m1);
	assert_string_equal(guest_msg_log(&m1), "log:one\n");

	peer_invoke(p, digest, "\"mode\":\"persistent\"", "two", "ok", &m2);
	assert_false(guest_msg_bool(&m2, "cold_start"));
	assert_int_equal(guest_msg_int(&m2, "init_us"), 0);
	assert_int_equal(guest_msg_int(&m2, "ran_on"), 1);
	char *r2 = guest_msg_result(&m2);
	assert_string_equal(guest_msg_log(&m2), "log:two\n");

	/* Same process both times: "<pid>:persistent:1:<input>". */
	long pid1 = strtol(r1, NULL, 10), pid2 = strtol(r2, NULL, 10);
	assert_true(pid1 > 0);
	assert_int_equal(pid1, pid2);
	assert_string_equal(strchr(r1, ':'), ":persistent:1:one");
	assert_string_equal(strchr(r2, ':'), ":persistent:1:two");
	free(r1);
	free(r2);
	guest_msg_free(&m1);
	guest_msg_free(&m2);
}

static void test_persistent_bad_input(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, line_script, digest);
	char meta[256];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"mode\":\"persistent\"}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, "two\nlines", 9, "bad_input");
	/* Still serving. */
	peer_invoke_expect(p, digest, "\"mode\":\"persistent\"", "fine", "ok", NULL);
}

/* A long-lived process that answers before it has read its whole input
 * line is not reused: the rest of that line would be read as the next
 * request. */
static void test_persistent_early_answer_retired(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nwhile :; do echo $$; read -r l; done\n", digest);
	size_t n = 256 * 1024; /* well over a pipe's buffer */
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	struct guest_msg m1, m2;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", big, "ok", &m1);
	assert_true(guest_msg_bool(&m1, "cold_start"));
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "small", "ok", &m2);
	assert_true(guest_msg_bool(&m2, "cold_start"));
	char *r1 = guest_msg_result(&m1), *r2 = guest_msg_result(&m2);
	assert_true(strtol(r1, NULL, 10) > 0);
	assert_string_not_equal(r1, r2);
	free(r1);
	free(r2);
	free(big);
	guest_msg_free(&m1);
	guest_msg_free(&m2);
}

/* A CPU keeps a bounded number of idle long-lived processes: the least
 * recently used one makes room for a new function. */
static void test_persistent_lru_eviction(void **state)
{
	struct peer *p = *state;
	enum { N = 9 }; /* one more than a CPU keeps */
	char digests[N][SHA256_HEX_SIZE];
	long pids[N];
	for (int i = 0; i < N; i++) {
		char script[96];
		snprintf(script, sizeof(script),
			 "#!/bin/sh\n# function %d\nwhile read -r l; do echo $$; done\n", i);
		peer_put_script(p, script, digests[i]);
		struct guest_msg m;
		peer_invoke(p, digests[i], "\"mode\":\"persistent\"", "x", "ok", &m);
		assert_true(guest_msg_bool(&m, "cold_start"));
		char *r = guest_msg_result(&m);
		pids[i] = strtol(r, NULL, 10);
		free(r);
		guest_msg_free(&m);
	}
	assert_true(guest_pid_gone((pid_t)pids[0], GUEST_DEADLINE_MS));
	assert_int_equal(kill((pid_t)pids[N - 1], 0), 0);
	struct guest_msg m;
	peer_invoke(p, digests[N - 1], "\"mode\":\"persistent\"", "y", NULL, &m);
	assert_false(guest_msg_bool(&m, "cold_start"));
	guest_msg_free(&m);
}

static void test_persistent_no_result_line(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nread -r line\necho dying >&2\nexit 4\n", digest);
	struct guest_msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "x", "error", &m);
	assert_int_equal(guest_msg_int(&m, "exit_code"), 4);
	assert_string_equal(guest_msg_str(&m, "error"), "no result line (exit code 4)");
	assert_string_equal(guest_msg_log(&m), "dying\n");
	guest_msg_free(&m);
	/* The next use starts it again. */
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "y", NULL, &m);
	assert_true(guest_msg_bool(&m, "cold_start"));
	guest_msg_free(&m);
}

static void test_persistent_timeout_restarts_cold(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p,
			"#!/bin/sh\n"
			"while IFS= read -r line; do\n"
			"  if [ \"$line\" = hang ]; then sleep 1000 & echo $! $$ >&2; wait; fi\n"
			"  echo \"ok:$line\"\n"
			"done\n",
			digest);
	invoke_persistent(p, digest, "", "a", true, "ok:a");
	struct guest_msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\",\"timeout_ms\":300", "hang", "timeout", &m);
	guest_assert_pids_gone(guest_msg_log(&m));
	guest_msg_free(&m);
	invoke_persistent(p, digest, "", "b", true, "ok:b");
}

/* A long-lived process serves only invocations with the memory limit it
 * was started with: one executable deployed with two limits runs in two
 * processes, each warm for its own limit. */
static void test_memory_limit_persistent(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nwhile IFS= read -r line; do echo \"$(ulimit -v)\"; done\n",
			digest);
	invoke_persistent(p, digest, "\"memory_mib\":64", "a", true, "65536");
	invoke_persistent(p, digest, "\"memory_mib\":128", "b", true, "131072");
	invoke_persistent(p, digest, "\"memory_mib\":64", "c", false, "65536");
	invoke_persistent(p, digest, "\"memory_mib\":128", "d", false, "131072");
}

/* Each test gets a daemon of its own. */
#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup_active, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { GUEST_TEST(test_persistent_cold_then_warm),
					    GUEST_TEST(test_persistent_bad_input),
					    GUEST_TEST(test_persistent_early_answer_retired),
					    GUEST_TEST(test_persistent_lru_eviction),
					    GUEST_TEST(test_persistent_no_result_line),
					    GUEST_TEST(test_persistent_timeout_restarts_cold),
					    GUEST_TEST(test_memory_limit_persistent) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
