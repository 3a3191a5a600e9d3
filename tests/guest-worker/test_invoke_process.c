/* The guest daemon running real functions in process mode: shell scripts
 * uploaded as artifacts, invoked on CPU 1 of the host, with their limits
 * (timeout, output, memory) and the invocation queue. */
#include <sys/resource.h>

#include "support/guest_harness.h"

static const char echo_script[] = "#!/bin/sh\n"
				  "cat\n"
				  "echo \"mode=$DITTO_MODE cpu=$DITTO_CPU\" >&2\n";

/* The process's address-space limit as its shell reports it (KiB), or
 * "unlimited". */
static const char ulimit_script[] = "#!/bin/sh\nulimit -v\n";

/* Reads 24 MB into a shell variable: needs more than 16 MiB of address
 * space, far less than 128. */
static const char alloc_script[] = "#!/bin/sh\n"
				   "x=$(head -c 24000000 /dev/zero | tr '\\0' a)\n"
				   "echo ${#x}\n";

static void test_hello(void **state)
{
	struct peer *p = *state;
	const struct guest_msg *h = &p->hello;
	assert_int_equal(h->hdr.type, WIRE_HELLO);
	assert_int_equal(h->hdr.id, 0);
	assert_int_equal(guest_msg_int(h, "version"), WIRE_VERSION);
	assert_int_equal(guest_msg_int(h, "cpus_possible"), 4);
	assert_true(guest_msg_int(h, "uptime_ms") > 0);
	json_t *online = json_object_get(h->meta, "cpus_online");
	assert_int_equal(json_array_size(online), 1);
	assert_int_equal(json_integer_value(json_array_get(online, 0)), 0);
	json_t *present = json_object_get(h->meta, "cpus_present");
	assert_int_equal(json_array_size(present), 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(json_integer_value(json_array_get(present, i)), (json_int_t)i);
}

static void test_artifact_put(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, echo_script, digest);
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/%s", p->art, digest);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_size, strlen(echo_script));
	/* Storing it again is fine. */
	peer_put_script(p, echo_script, digest);

	/* The body does not hash to the digest. */
	char meta[128];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	peer_expect_error(p, WIRE_ARTIFACT_PUT, meta, "tampered", 8, "digest_mismatch");
	peer_expect_error(p, WIRE_ARTIFACT_PUT, "{\"digest\":\"../../etc/passwd\"}", "x", 1,
			  "bad_request");
	peer_expect_error(p, WIRE_ARTIFACT_PUT, "{}", "x", 1, "bad_request");

	assert_int_equal(peer_status_int(p, "artifacts"), 1);
}

static void test_process_echo(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, echo_script, digest);
	struct guest_msg m;
	peer_invoke(p, digest, "\"mode\":\"process\"", "{\"hello\":1}", "ok", &m);
	assert_int_equal(guest_msg_int(&m, "cpu"), 1);
	assert_int_equal(guest_msg_int(&m, "ran_on"), 1);
	assert_int_equal(guest_msg_int(&m, "exit_code"), 0);
	assert_false(guest_msg_bool(&m, "cold_start"));
	assert_false(guest_msg_bool(&m, "result_truncated"));
	assert_false(guest_msg_bool(&m, "log_truncated"));
	assert_true(guest_msg_int(&m, "wall_us") > 0);
	assert_true(guest_msg_int(&m, "cpu_us") >= 0);
	assert_true(guest_msg_int(&m, "queued_us") >= 0);
	assert_true(guest_msg_int(&m, "init_us") > 0);
	assert_null(json_object_get(m.meta, "error"));
	guest_msg_expect_result(&m, "{\"hello\":1}");
	assert_string_equal(guest_msg_log(&m), "mode=process cpu=1\n");
	guest_msg_free(&m);

	/* Empty input: stdin is closed at once. */
	peer_invoke(p, digest, "", "", "ok", &m);
	assert_int_equal(guest_msg_int(&m, "result_len"), 0);
	guest_msg_free(&m);
}

static void test_large_input(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nwc -c\n", digest);
	/* Far more than a pipe holds, so it is written as stdin drains. */
	size_t n = 3 * 1024 * 1024;
	char *input = malloc(n + 1);
	assert_non_null(input);
	memset(input, 'x', n);
	input[n] = '\0';
	struct guest_msg m;
	peer_invoke(p, digest, "", input, NULL, &m);
	free(input);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	assert_int_equal(guest_msg_result_long(&m), (long)n);
	guest_msg_free(&m);
}

static void test_timeout_kills_group(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p,
			"#!/bin/sh\n"
			"sleep 1000 &\n"
			"echo $! $$\n"
			"wait\n",
			digest);
	struct guest_msg m;
	peer_invoke(p, digest, "\"timeout_ms\":300", "", "timeout", &m);
	assert_int_equal(guest_msg_int(&m, "signal"), SIGKILL);
	assert_non_null(strstr(guest_msg_str(&m, "error"), "timed out"));
	char *result = guest_msg_result(&m);
	guest_assert_pids_gone(result);
	free(result);
	guest_msg_free(&m);

	/* The CPU is free again. */
	peer_invoke_expect(p, digest, "\"timeout_ms\":300", "", "timeout", NULL);
}

static void test_nonzero_exit(void **state)
{
	struct peer *p = *state;
	struct guest_msg m;
	peer_run(p, "#!/bin/sh\necho out\necho err >&2\nexit 3\n", "", "error", &m);
	assert_int_equal(guest_msg_int(&m, "exit_code"), 3);
	assert_string_equal(guest_msg_str(&m, "error"), "exit code 3");
	guest_msg_expect_result(&m, "out\n");
	assert_string_equal(guest_msg_log(&m), "err\n");
	guest_msg_free(&m);

	peer_run(p, "#!/bin/sh\nkill -TERM $$\n", "", "error", &m);
	assert_int_equal(guest_msg_int(&m, "signal"), SIGTERM);
	assert_null(json_object_get(m.meta, "exit_code"));
	guest_msg_free(&m);
}

static void test_exec_failure(void **state)
{
	struct peer *p = *state;
	struct guest_msg m;
	peer_run(p, "this is not an executable\n", "", "error", &m);
	assert_non_null(strstr(guest_msg_str(&m, "error"), "execve failed"));
	guest_msg_free(&m);
	peer_ping(p);
}

static void test_output_cap(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p,
			"#!/bin/sh\n"
			"head -c 3000000 /dev/zero\n"
			"head -c 5000 /dev/zero >&2\n",
			digest);
	struct guest_msg m;
	peer_invoke(p, digest, "\"max_output\":1000", "", "ok", &m);
	assert_int_equal(guest_msg_int(&m, "result_len"), 1000);
	assert_true(guest_msg_bool(&m, "result_truncated"));
	assert_true(guest_msg_bool(&m, "log_truncated"));
	assert_int_equal(m.body_len, 2000);
	guest_msg_free(&m);

	/* Under the cap nothing is flagged. */
	peer_invoke(p, digest, "\"max_output\":4000000", "", NULL, &m);
	assert_int_equal(guest_msg_int(&m, "result_len"), 3000000);
	assert_false(guest_msg_bool(&m, "result_truncated"));
	assert_false(guest_msg_bool(&m, "log_truncated"));
	assert_int_equal(m.body_len, 3005000);
	guest_msg_free(&m);
}

static void test_missing_artifact(void **state)
{
	struct peer *p = *state;
	char meta[128];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%064d\"}", 0);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "artifact_missing");
	peer_expect_error(p, WIRE_INVOKE, "{\"digest\":\"abc\"}", NULL, 0, "bad_request");
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, echo_script, digest);
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"mode\":\"fast\"}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"timeout_ms\":-1}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"max_output\":\"big\"}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
}

/* Sends two invocations of script ("first", then "second") at once, so that
 * the second waits for the first's CPU, and waits for both replies. */
static void invoke_two(struct peer *p, const char *script, struct guest_msg *ma,
		       struct guest_msg *mb)
{
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, script, digest);
	uint32_t a = peer_invoke_send(p, digest, "", "first");
	uint32_t b = peer_invoke_send(p, digest, "", "second");
	peer_wait(p, a, 0, ma);
	peer_wait(p, b, 0, mb);
}

static void test_queueing(void **state)
{
	struct peer *p = *state;
	struct guest_msg ma, mb;
	/* Long enough that the second certainly arrives while the first runs. */
	invoke_two(p, "#!/bin/sh\nsleep 0.3\ncat\n", &ma, &mb);
	assert_int_equal(ma.hdr.type, WIRE_REPLY);
	assert_int_equal(mb.hdr.type, WIRE_REPLY);
	assert_string_equal(guest_msg_str(&ma, "status"), "ok");
	assert_string_equal(guest_msg_str(&mb, "status"), "ok");
	assert_int_equal(guest_msg_int(&ma, "cpu"), 1);
	assert_int_equal(guest_msg_int(&mb, "cpu"), 1);
	assert_true(guest_msg_int(&mb, "queued_us") > 0);
	guest_msg_expect_result(&ma, "first");
	guest_msg_expect_result(&mb, "second");
	guest_msg_free(&ma);
	guest_msg_free(&mb);
}

static void test_orphans_reaped(void **state)
{
	struct peer *p = *state;
	/* The background child escapes the process group, outlives the
	 * invocation and ends on its own: the daemon, as subreaper, reaps it. */
	struct guest_msg m;
	peer_run(p, "#!/bin/sh\nsetsid sh -c 'sleep 0.2' </dev/null >/dev/null 2>&1 &\necho $!\n",
		 "", "ok", &m);
	pid_t orphan = (pid_t)guest_msg_result_long(&m);
	guest_msg_free(&m);
	assert_true(orphan > 0);
	/* Gone entirely (reaped), not a zombie: its /proc entry disappears. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)orphan);
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (access(path, F_OK) == 0 && guest_now_ms() < deadline)
		peer_ping(p); /* each round trip gives the daemon's loop a turn */
	assert_int_not_equal(access(path, F_OK), 0);
}

/* guest_us spans the whole stay in the guest, so on the guest's one clock it
 * covers the wait for a CPU and the run; also when the start fails. */
static void test_guest_share(void **state)
{
	struct peer *p = *state;
	struct guest_msg ma, mb;
	invoke_two(p, "#!/bin/sh\nsleep 0.2\ncat\n", &ma, &mb);
	const struct guest_msg *ms[] = { &ma, &mb };
	for (int i = 0; i < 2; i++) {
		assert_string_equal(guest_msg_str(ms[i], "status"), "ok");
		assert_true(guest_msg_int(ms[i], "guest_us") >=
			    guest_msg_int(ms[i], "queued_us") + guest_msg_int(ms[i], "wall_us"));
	}
	/* The second waited for the first's CPU, and that wait is the guest's. */
	assert_true(guest_msg_int(&mb, "queued_us") > 0);
	guest_msg_free(&ma);
	guest_msg_free(&mb);

	struct guest_msg m;
	peer_run(p, "not an executable either\n", "", "error", &m);
	assert_true(guest_msg_int(&m, "guest_us") >= guest_msg_int(&m, "queued_us"));
	guest_msg_free(&m);
}

static void test_memory_limit(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, ulimit_script, digest);
	struct guest_msg m;
	peer_invoke_expect(p, digest, "\"memory_mib\":64", "", "ok", "65536\n");

	/* Without memory_mib the function gets the daemon's own limit. */
	struct rlimit own;
	assert_int_equal(getrlimit(RLIMIT_AS, &own), 0);
	char want[64];
	if (own.rlim_cur == RLIM_INFINITY)
		snprintf(want, sizeof(want), "unlimited\n");
	else
		snprintf(want, sizeof(want), "%llu\n", (unsigned long long)own.rlim_cur / 1024);
	peer_invoke_expect(p, digest, "", "", "ok", want);

	/* Allocating past the limit fails the function, not the daemon. */
	peer_put_script(p, alloc_script, digest);
	peer_invoke(p, digest, "\"memory_mib\":16", "", "error", &m);
	assert_true(json_object_get(m.meta, "signal") ? guest_msg_int(&m, "signal") > 0
						      : guest_msg_int(&m, "exit_code") != 0);
	assert_true(strlen(guest_msg_str(&m, "error")) > 0);
	guest_msg_free(&m);
	peer_invoke_expect(p, digest, "\"memory_mib\":128", "", "ok", "24000000\n");
	peer_ping(p);

	/* Out of range or not an integer. */
	const char *bad[] = { "0", "65537", "-1", "\"64\"", "1.5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char meta[160];
		snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"memory_mib\":%s}", digest,
			 bad[i]);
		peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
	}
}

/* Each test gets a daemon of its own. */
#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup_active, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { GUEST_TEST(test_hello),
					    GUEST_TEST(test_artifact_put),
					    GUEST_TEST(test_process_echo),
					    GUEST_TEST(test_large_input),
					    GUEST_TEST(test_timeout_kills_group),
					    GUEST_TEST(test_nonzero_exit),
					    GUEST_TEST(test_exec_failure),
					    GUEST_TEST(test_output_cap),
					    GUEST_TEST(test_missing_artifact),
					    GUEST_TEST(test_queueing),
					    GUEST_TEST(test_orphans_reaped),
					    GUEST_TEST(test_guest_share),
					    GUEST_TEST(test_memory_limit) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
