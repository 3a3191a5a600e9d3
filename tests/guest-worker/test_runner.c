/* The guest daemon running real functions: shell scripts uploaded as
 * artifacts, invoked in process and persistent mode on CPU 1 of the host. */
#include <sys/resource.h>

#include "harness.h"

static const char echo_script[] = "#!/bin/sh\n"
				  "cat\n"
				  "echo \"mode=$DITTO_MODE cpu=$DITTO_CPU\" >&2\n";

static const char line_script[] = "#!/bin/sh\n"
				  "while IFS= read -r line; do\n"
				  "  echo \"log:$line\" >&2\n"
				  "  echo \"$$:$DITTO_MODE:$DITTO_CPU:$line\"\n"
				  "done\n";

static int setup(void **state)
{
	if (!host_has_cpu(1)) {
		print_message("this host cannot run on CPU 1: skipping\n");
		return -1;
	}
	struct peer *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	peer_start(p);
	peer_activate(p, 1);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct peer *p = *state;
	peer_stop(p);
	free(p);
	return 0;
}

static void test_hello(void **state)
{
	struct peer *p = *state;
	const struct msg *h = &p->hello;
	assert_int_equal(h->hdr.type, WIRE_HELLO);
	assert_int_equal(h->hdr.id, 0);
	assert_int_equal(meta_int(h, "version"), 1);
	assert_int_equal(meta_int(h, "cpus_possible"), 4);
	assert_true(meta_int(h, "uptime_ms") > 0);
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

	struct msg m;
	peer_call(p, WIRE_STATUS, "{}", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(meta_int(&m, "artifacts"), 1);
	msg_free(&m);
}

static void test_process_echo(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, echo_script, digest);
	struct msg m;
	peer_invoke(p, digest, "\"mode\":\"process\"", "{\"hello\":1}", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_int_equal(meta_int(&m, "cpu"), 1);
	assert_int_equal(meta_int(&m, "ran_on"), 1);
	assert_int_equal(meta_int(&m, "exit_code"), 0);
	assert_false(meta_bool(&m, "cold_start"));
	assert_false(meta_bool(&m, "result_truncated"));
	assert_false(meta_bool(&m, "log_truncated"));
	assert_true(meta_int(&m, "wall_us") > 0);
	assert_true(meta_int(&m, "cpu_us") >= 0);
	assert_true(meta_int(&m, "queued_us") >= 0);
	assert_true(meta_int(&m, "init_us") > 0);
	assert_null(json_object_get(m.meta, "error"));
	char *result = reply_result(&m);
	assert_string_equal(result, "{\"hello\":1}");
	free(result);
	assert_string_equal(reply_log(&m), "mode=process cpu=1\n");
	msg_free(&m);

	/* Empty input: stdin is closed at once. */
	peer_invoke(p, digest, "", "", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_int_equal(meta_int(&m, "result_len"), 0);
	msg_free(&m);
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
	struct msg m;
	peer_invoke(p, digest, "", input, &m);
	free(input);
	assert_string_equal(meta_str(&m, "status"), "ok");
	char *result = reply_result(&m);
	assert_int_equal(strtol(result, NULL, 10), (long)n);
	free(result);
	msg_free(&m);
}

static void test_persistent_cold_then_warm(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, line_script, digest);
	struct msg m1, m2;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "one", &m1);
	assert_string_equal(meta_str(&m1, "status"), "ok");
	assert_true(meta_bool(&m1, "cold_start"));
	assert_true(meta_int(&m1, "init_us") > 0);
	assert_int_equal(meta_int(&m1, "ran_on"), 1);
	assert_int_equal(meta_int(&m1, "cpu"), 1);
	assert_null(json_object_get(m1.meta, "exit_code"));
	char *r1 = reply_result(&m1);
	assert_string_equal(reply_log(&m1), "log:one\n");

	peer_invoke(p, digest, "\"mode\":\"persistent\"", "two", &m2);
	assert_string_equal(meta_str(&m2, "status"), "ok");
	assert_false(meta_bool(&m2, "cold_start"));
	assert_int_equal(meta_int(&m2, "init_us"), 0);
	assert_int_equal(meta_int(&m2, "ran_on"), 1);
	char *r2 = reply_result(&m2);
	assert_string_equal(reply_log(&m2), "log:two\n");

	/* Same process both times: "<pid>:persistent:1:<input>". */
	long pid1 = strtol(r1, NULL, 10), pid2 = strtol(r2, NULL, 10);
	assert_true(pid1 > 0);
	assert_int_equal(pid1, pid2);
	assert_string_equal(strchr(r1, ':'), ":persistent:1:one");
	assert_string_equal(strchr(r2, ':'), ":persistent:1:two");
	free(r1);
	free(r2);
	msg_free(&m1);
	msg_free(&m2);
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
	struct msg m1, m2;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", big, &m1);
	assert_string_equal(meta_str(&m1, "status"), "ok");
	assert_true(meta_bool(&m1, "cold_start"));
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "small", &m2);
	assert_string_equal(meta_str(&m2, "status"), "ok");
	assert_true(meta_bool(&m2, "cold_start"));
	char *r1 = reply_result(&m1), *r2 = reply_result(&m2);
	assert_true(strtol(r1, NULL, 10) > 0);
	assert_string_not_equal(r1, r2);
	free(r1);
	free(r2);
	free(big);
	msg_free(&m1);
	msg_free(&m2);
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
		snprintf(script, sizeof(script), "#!/bin/sh\n# function %d\nwhile read -r l; do echo $$; done\n", i);
		peer_put_script(p, script, digests[i]);
		struct msg m;
		peer_invoke(p, digests[i], "\"mode\":\"persistent\"", "x", &m);
		assert_string_equal(meta_str(&m, "status"), "ok");
		assert_true(meta_bool(&m, "cold_start"));
		char *r = reply_result(&m);
		pids[i] = strtol(r, NULL, 10);
		free(r);
		msg_free(&m);
	}
	assert_true(pid_wait_gone((pid_t)pids[0], DEADLINE_MS));
	assert_int_equal(kill((pid_t)pids[N - 1], 0), 0);
	struct msg m;
	peer_invoke(p, digests[N - 1], "\"mode\":\"persistent\"", "y", &m);
	assert_false(meta_bool(&m, "cold_start"));
	msg_free(&m);
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
	struct msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "fine", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	msg_free(&m);
}

static void test_persistent_no_result_line(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nread -r line\necho dying >&2\nexit 4\n", digest);
	struct msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "x", &m);
	assert_string_equal(meta_str(&m, "status"), "error");
	assert_int_equal(meta_int(&m, "exit_code"), 4);
	assert_string_equal(meta_str(&m, "error"), "no result line (exit code 4)");
	assert_string_equal(reply_log(&m), "dying\n");
	msg_free(&m);
	/* The next use starts it again. */
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "y", &m);
	assert_true(meta_bool(&m, "cold_start"));
	msg_free(&m);
}

/* Both pids of "<child> <parent>" printed by a script are gone. */
static void assert_pids_gone(const char *result)
{
	char *end;
	long child = strtol(result, &end, 10);
	long parent = strtol(end, NULL, 10);
	assert_true(child > 0);
	assert_true(parent > 0);
	assert_true(pid_wait_gone((pid_t)child, DEADLINE_MS));
	assert_true(pid_wait_gone((pid_t)parent, DEADLINE_MS));
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
	struct msg m;
	peer_invoke(p, digest, "\"timeout_ms\":300", "", &m);
	assert_string_equal(meta_str(&m, "status"), "timeout");
	assert_int_equal(meta_int(&m, "signal"), SIGKILL);
	assert_non_null(strstr(meta_str(&m, "error"), "timed out"));
	char *result = reply_result(&m);
	assert_pids_gone(result);
	free(result);
	msg_free(&m);

	/* The CPU is free again. */
	peer_invoke(p, digest, "\"timeout_ms\":300", "", &m);
	assert_string_equal(meta_str(&m, "status"), "timeout");
	msg_free(&m);
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
	struct msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "a", &m);
	assert_true(meta_bool(&m, "cold_start"));
	msg_free(&m);
	peer_invoke(p, digest, "\"mode\":\"persistent\",\"timeout_ms\":300", "hang", &m);
	assert_string_equal(meta_str(&m, "status"), "timeout");
	assert_pids_gone(reply_log(&m));
	msg_free(&m);
	peer_invoke(p, digest, "\"mode\":\"persistent\"", "b", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_true(meta_bool(&m, "cold_start"));
	char *result = reply_result(&m);
	assert_string_equal(result, "ok:b");
	free(result);
	msg_free(&m);
}

static void test_nonzero_exit(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\necho out\necho err >&2\nexit 3\n", digest);
	struct msg m;
	peer_invoke(p, digest, "", "", &m);
	assert_string_equal(meta_str(&m, "status"), "error");
	assert_int_equal(meta_int(&m, "exit_code"), 3);
	assert_string_equal(meta_str(&m, "error"), "exit code 3");
	char *result = reply_result(&m);
	assert_string_equal(result, "out\n");
	free(result);
	assert_string_equal(reply_log(&m), "err\n");
	msg_free(&m);

	peer_put_script(p, "#!/bin/sh\nkill -TERM $$\n", digest);
	peer_invoke(p, digest, "", "", &m);
	assert_string_equal(meta_str(&m, "status"), "error");
	assert_int_equal(meta_int(&m, "signal"), SIGTERM);
	assert_null(json_object_get(m.meta, "exit_code"));
	msg_free(&m);
}

static void test_exec_failure(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "this is not an executable\n", digest);
	struct msg m;
	peer_invoke(p, digest, "", "", &m);
	assert_string_equal(meta_str(&m, "status"), "error");
	assert_non_null(strstr(meta_str(&m, "error"), "execve failed"));
	msg_free(&m);
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
	struct msg m;
	peer_invoke(p, digest, "\"max_output\":1000", "", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_int_equal(meta_int(&m, "result_len"), 1000);
	assert_true(meta_bool(&m, "result_truncated"));
	assert_true(meta_bool(&m, "log_truncated"));
	assert_int_equal(m.body_len, 2000);
	msg_free(&m);

	/* Under the cap nothing is flagged. */
	peer_invoke(p, digest, "\"max_output\":4000000", "", &m);
	assert_int_equal(meta_int(&m, "result_len"), 3000000);
	assert_false(meta_bool(&m, "result_truncated"));
	assert_false(meta_bool(&m, "log_truncated"));
	assert_int_equal(m.body_len, 3005000);
	msg_free(&m);
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

static void test_queueing(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	/* Long enough that the second certainly arrives while the first runs. */
	peer_put_script(p, "#!/bin/sh\nsleep 0.3\ncat\n", digest);
	uint32_t a = peer_invoke_send(p, digest, "", "first");
	uint32_t b = peer_invoke_send(p, digest, "", "second");
	struct msg ma, mb;
	peer_wait(p, a, 0, &ma);
	peer_wait(p, b, 0, &mb);
	assert_int_equal(ma.hdr.type, WIRE_REPLY);
	assert_int_equal(mb.hdr.type, WIRE_REPLY);
	assert_string_equal(meta_str(&ma, "status"), "ok");
	assert_string_equal(meta_str(&mb, "status"), "ok");
	assert_int_equal(meta_int(&ma, "cpu"), 1);
	assert_int_equal(meta_int(&mb, "cpu"), 1);
	assert_true(meta_int(&mb, "queued_us") > 0);
	char *ra = reply_result(&ma), *rb = reply_result(&mb);
	assert_string_equal(ra, "first");
	assert_string_equal(rb, "second");
	free(ra);
	free(rb);
	msg_free(&ma);
	msg_free(&mb);
}

static void test_orphans_reaped(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	/* The background child escapes the process group, outlives the
	 * invocation and ends on its own: the daemon, as subreaper, reaps it. */
	peer_put_script(p, "#!/bin/sh\nsetsid sh -c 'sleep 0.2' </dev/null >/dev/null 2>&1 &\necho $!\n",
			digest);
	struct msg m;
	peer_invoke(p, digest, "", "", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	char *result = reply_result(&m);
	pid_t orphan = (pid_t)strtol(result, NULL, 10);
	free(result);
	msg_free(&m);
	assert_true(orphan > 0);
	/* Gone entirely (reaped), not a zombie: its /proc entry disappears. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)orphan);
	uint64_t deadline = now_ms() + DEADLINE_MS;
	while (access(path, F_OK) == 0 && now_ms() < deadline)
		peer_ping(p); /* each round trip gives the daemon's loop a turn */
	assert_int_not_equal(access(path, F_OK), 0);
}

/* guest_us spans the whole stay in the guest, so on the guest's one clock it
 * covers the wait for a CPU and the run; also when the start fails. */
static void test_guest_share(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE], bad[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nsleep 0.2\ncat\n", digest);
	uint32_t a = peer_invoke_send(p, digest, "", "first");
	uint32_t b = peer_invoke_send(p, digest, "", "second");
	struct msg ma, mb;
	peer_wait(p, a, 0, &ma);
	peer_wait(p, b, 0, &mb);
	const struct msg *ms[] = { &ma, &mb };
	for (int i = 0; i < 2; i++) {
		assert_string_equal(meta_str(ms[i], "status"), "ok");
		assert_true(meta_int(ms[i], "guest_us") >=
			    meta_int(ms[i], "queued_us") + meta_int(ms[i], "wall_us"));
	}
	/* The second waited for the first's CPU, and that wait is the guest's. */
	assert_true(meta_int(&mb, "queued_us") > 0);
	msg_free(&ma);
	msg_free(&mb);

	peer_put_script(p, "not an executable either\n", bad);
	struct msg m;
	peer_invoke(p, bad, "", "", &m);
	assert_string_equal(meta_str(&m, "status"), "error");
	assert_true(meta_int(&m, "guest_us") >= meta_int(&m, "queued_us"));
	msg_free(&m);
}

/* The process's address-space limit as its shell reports it (KiB), or
 * "unlimited". */
static const char ulimit_script[] = "#!/bin/sh\nulimit -v\n";

/* Reads 24 MB into a shell variable: needs more than 16 MiB of address
 * space, far less than 128. */
static const char alloc_script[] = "#!/bin/sh\n"
				   "x=$(head -c 24000000 /dev/zero | tr '\\0' a)\n"
				   "echo ${#x}\n";

static void test_memory_limit(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, ulimit_script, digest);
	struct msg m;
	peer_invoke(p, digest, "\"memory_mib\":64", "", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	char *result = reply_result(&m);
	assert_string_equal(result, "65536\n");
	free(result);
	msg_free(&m);

	/* Without memory_mib the function gets the daemon's own limit. */
	struct rlimit own;
	assert_int_equal(getrlimit(RLIMIT_AS, &own), 0);
	char want[64];
	if (own.rlim_cur == RLIM_INFINITY)
		snprintf(want, sizeof(want), "unlimited\n");
	else
		snprintf(want, sizeof(want), "%llu\n", (unsigned long long)own.rlim_cur / 1024);
	peer_invoke(p, digest, "", "", &m);
	result = reply_result(&m);
	assert_string_equal(result, want);
	free(result);
	msg_free(&m);

	/* Allocating past the limit fails the function, not the daemon. */
	peer_put_script(p, alloc_script, digest);
	peer_invoke(p, digest, "\"memory_mib\":16", "", &m);
	assert_string_equal(meta_str(&m, "status"), "error");
	assert_true(json_object_get(m.meta, "signal") ? meta_int(&m, "signal") > 0
						      : meta_int(&m, "exit_code") != 0);
	assert_true(strlen(meta_str(&m, "error")) > 0);
	msg_free(&m);
	peer_invoke(p, digest, "\"memory_mib\":128", "", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	result = reply_result(&m);
	assert_string_equal(result, "24000000\n");
	free(result);
	msg_free(&m);
	peer_ping(p);

	/* Out of range or not an integer. */
	const char *bad[] = { "0", "65537", "-1", "\"64\"", "1.5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char meta[160];
		snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"memory_mib\":%s}", digest, bad[i]);
		peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
	}
}

/* A long-lived process keeps the limit of the invocation that started it. */
static void test_memory_limit_persistent(void **state)
{
	struct peer *p = *state;
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nwhile IFS= read -r line; do echo \"$(ulimit -v)\"; done\n",
			digest);
	struct msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\",\"memory_mib\":64", "a", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_true(meta_bool(&m, "cold_start"));
	char *result = reply_result(&m);
	assert_string_equal(result, "65536");
	free(result);
	msg_free(&m);

	peer_invoke(p, digest, "\"mode\":\"persistent\",\"memory_mib\":128", "b", &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_false(meta_bool(&m, "cold_start"));
	result = reply_result(&m);
	assert_string_equal(result, "65536");
	free(result);
	msg_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_artifact_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_cold_then_warm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_early_answer_retired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_lru_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_no_result_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_timeout_restarts_cold, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nonzero_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_artifact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queueing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphans_reaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit_persistent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
