/* The guest daemon running Python and Node.js functions through their
 * launchers (the source tree's runtimes/, on this machine's python3 and
 * node): the result unwrapped from the reply line, the exception in the
 * meta, prints in the log, persistent and process modes, one process per
 * (artifact, runtime, handler, memory limit), the reasons a function
 * cannot run, and memory limits. */
#include <time.h>

#include "support/guest_harness.h"

#include "e2e.h"
#include "encoding.h"

static const char echo_py[] = "import os\n"
			      "def main(args):\n"
			      "    print('to the log', args)\n"
			      "    return {'echo': args}\n"
			      "def pid(args):\n"
			      "    return os.getpid()\n"
			      "def other(args):\n"
			      "    return os.getpid()\n";

static const char echo_js[] = "exports.main = async (args) => {\n"
			      "  console.log('to the log', JSON.stringify(args));\n"
			      "  return { echo: args };\n"
			      "};\n"
			      "exports.pid = () => process.pid;\n";

static bool have(const char *interp)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", interp);
	return system(cmd) == 0;
}

/* A daemon whose launchers are the source tree's, CPU 1 active. */
static int setup(void **state)
{
	static char launchers[PATH_MAX];
	if (!realpath("runtimes", launchers)) {
		print_message("run from the source root (runtimes/ not found): skipping\n");
		return -1;
	}
	if (!guest_host_has_cpu(1) || !have("python3")) {
		print_message("no CPU 1 or no python3 here: skipping\n");
		return -1;
	}
	struct peer *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	peer_start_opts(p, &(struct peer_opts){ .launchers = launchers });
	peer_activate(p, 1);
	*state = p;
	return 0;
}

/* Invokes digest with runtime rt and more meta (or ""); waits for status. */
static void call(struct peer *p, const char *digest, const char *rt, const char *extra,
		 const char *input, const char *want_status, struct guest_msg *ret)
{
	char meta[256];
	snprintf(meta, sizeof(meta), "\"runtime\":\"%s\"%s%s", rt, extra[0] ? "," : "", extra);
	peer_invoke(p, digest, meta, input, want_status, ret);
}

/* Invokes and checks the status and the result. */
static void call_expect(struct peer *p, const char *digest, const char *rt, const char *extra,
			const char *input, const char *want_status, const char *want_result)
{
	struct guest_msg m;
	call(p, digest, rt, extra, input, want_status, &m);
	guest_msg_expect_result(&m, want_result);
	guest_msg_free(&m);
}

/* The "exception" meta's field key. */
static const char *exception_field(const struct guest_msg *m, const char *key)
{
	json_t *e = json_object_get(m->meta, "exception");
	return json_string_value(json_object_get(e, key));
}

static void put(struct peer *p, const char *text, char digest[SHA256_HEX_SIZE])
{
	peer_put_script(p, text, digest);
}

/* Uploads source and calls it cold: the result is want, the log has
 * want_log. */
static void first_call(struct peer *p, const char *rt, const char *source, const char *input,
		       const char *want, const char *want_log, char d[SHA256_HEX_SIZE])
{
	put(p, source, d);
	struct guest_msg m;
	call(p, d, rt, "", input, "ok", &m);
	assert_true(guest_msg_bool(&m, "cold_start"));
	/* The VALUE's bytes as the launcher wrote them, without the wrapper. */
	guest_msg_expect_result(&m, want);
	assert_non_null(strstr(guest_msg_log(&m), want_log));
	assert_null(json_object_get(m.meta, "exception"));
	guest_msg_free(&m);
}

/* Calls d again: warm, the result is want. */
static void warm_call(struct peer *p, const char *d, const char *rt, const char *input,
		      const char *want)
{
	struct guest_msg m;
	call(p, d, rt, "", input, "ok", &m);
	assert_false(guest_msg_bool(&m, "cold_start"));
	guest_msg_expect_result(&m, want);
	guest_msg_free(&m);
}

static void test_python_result_log_and_warm(void **state)
{
	struct peer *p = *state;
	char d[SHA256_HEX_SIZE];
	first_call(p, "python3", echo_py, "{\"a\": [1, 2]}", "{\"echo\":{\"a\":[1,2]}}",
		   "to the log {'a': [1, 2]}", d);
	/* Warm: the same process, raw newlines in the input made spaces. */
	warm_call(p, d, "python3", "{\"b\":\r\n3}", "{\"echo\":{\"b\":3}}");
	call_expect(p, d, "python3", "", "", "ok", "{\"echo\":{}}"); /* no input: {} */
}

static void test_python_exception(void **state)
{
	struct peer *p = *state;
	char d[SHA256_HEX_SIZE];
	put(p, "def main(args):\n    raise ValueError('bad input: ' + args['x'])\n", d);
	struct guest_msg m;
	call(p, d, "python3", "", "{\"x\":\"q\"}", "error", &m);
	assert_string_equal(guest_msg_str(&m, "error"), "ValueError: bad input: q");
	assert_string_equal(exception_field(&m, "type"), "ValueError");
	assert_string_equal(exception_field(&m, "message"), "bad input: q");
	assert_non_null(strstr(exception_field(&m, "traceback"), "line 2, in main"));
	assert_int_equal(guest_msg_int(&m, "result_len"), 0);
	guest_msg_free(&m);
	/* The process that raised serves the next call. */
	call(p, d, "python3", "", "{\"x\":\"r\"}", "error", &m);
	assert_false(guest_msg_bool(&m, "cold_start"));
	guest_msg_free(&m);
}

/* Each handler of one artifact has its own process; each stays warm. */
static void test_handlers_and_modes(void **state)
{
	struct peer *p = *state;
	char d[SHA256_HEX_SIZE];
	put(p, echo_py, d);
	struct guest_msg m;
	call(p, d, "python3", "\"handler\":\"pid\"", "{}", "ok", &m);
	long pid1 = guest_msg_result_long(&m);
	guest_msg_free(&m);
	call(p, d, "python3", "\"handler\":\"other\"", "{}", "ok", &m);
	assert_true(guest_msg_bool(&m, "cold_start"));
	long pid2 = guest_msg_result_long(&m);
	guest_msg_free(&m);
	call(p, d, "python3", "\"handler\":\"pid\"", "{}", "ok", &m);
	assert_false(guest_msg_bool(&m, "cold_start"));
	assert_true(pid1 > 0 && pid2 > 0 && pid1 != pid2);
	assert_int_equal(guest_msg_result_long(&m), pid1);
	guest_msg_free(&m);
	/* Process mode: a launcher per invocation, the reply unwrapped alike. */
	call(p, d, "python3", "\"handler\":\"pid\",\"mode\":\"process\"", "", "ok", &m);
	long pid3 = guest_msg_result_long(&m);
	assert_true(pid3 > 0 && pid3 != pid1);
	assert_int_equal(guest_msg_int(&m, "exit_code"), 0);
	guest_msg_free(&m);
	call_expect(p, d, "python3", "\"mode\":\"process\"", "[1]", "ok", "{\"echo\":[1]}");
}

/* Loading failures fail each invocation with the reason. */
static void test_load_failures(void **state)
{
	struct peer *p = *state;
	char d[SHA256_HEX_SIZE];
	put(p, "def main(:\n", d);
	struct guest_msg m;
	call(p, d, "python3", "", "{}", "error", &m);
	assert_non_null(strstr(guest_msg_str(&m, "error"), "SyntaxError"));
	assert_string_equal(exception_field(&m, "type"), "SyntaxError");
	guest_msg_free(&m);
	put(p, echo_py, d);
	call(p, d, "python3", "\"handler\":\"absent_fn\"", "{}", "error", &m);
	assert_non_null(strstr(guest_msg_str(&m, "error"), "absent_fn"));
	guest_msg_free(&m);
	call(p, d, "python3", "\"handler\":\"absent_fn\",\"mode\":\"process\"", "{}", "error", &m);
	assert_non_null(strstr(guest_msg_str(&m, "error"), "AttributeError"));
	guest_msg_free(&m);
}

static void test_bad_meta(void **state)
{
	struct peer *p = *state;
	char d[SHA256_HEX_SIZE], meta[256];
	put(p, echo_py, d);
	static const char *const bad[] = {
		"\"runtime\":\"ruby\"",
		"\"runtime\":\"python3\",\"handler\":\"1abc\"",
		"\"runtime\":\"python3\",\"handler\":\"\"",
		"\"runtime\":\"nodejs\",\"handler\":\"../x.main\"",
		"\"handler\":\"main\"", /* a binary takes none */
		"\"runtime\":7",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",%s}", d, bad[i]);
		peer_expect_error(p, WIRE_INVOKE, meta, "{}", 2, "bad_request");
	}
}

static void test_python_memory_limit(void **state)
{
	struct peer *p = *state;
	char d[SHA256_HEX_SIZE];
	put(p, "def main(args):\n    return len(bytearray(args['mib'] << 20))\n", d);
	call_expect(p, d, "python3", "\"memory_mib\":256", "{\"mib\":1}", "ok", "1048576");
	struct guest_msg m;
	call(p, d, "python3", "\"memory_mib\":256", "{\"mib\":512}", "error", &m);
	assert_string_equal(exception_field(&m, "type"), "MemoryError");
	assert_non_null(strstr(guest_msg_str(&m, "error"), "MemoryError"));
	guest_msg_free(&m);
}

static void test_node(void **state)
{
	struct peer *p = *state;
	if (!have("node"))
		skip();
	char d[SHA256_HEX_SIZE];
	first_call(p, "nodejs", echo_js, "{\"a\":\"b\"}", "{\"echo\":{\"a\":\"b\"}}",
		   "to the log {\"a\":\"b\"}", d);
	warm_call(p, d, "nodejs", "", "{\"echo\":{}}");
	call_expect(p, d, "nodejs", "\"mode\":\"process\"", "[2]", "ok", "{\"echo\":[2]}");
	struct guest_msg m;
	/* A memory limit: a heap limit, not an address-space limit V8 cannot
	 * start under. */
	call(p, d, "nodejs", "\"memory_mib\":128,\"handler\":\"pid\"", "{}", "ok", &m);
	assert_true(guest_msg_bool(&m, "cold_start"));
	assert_true(guest_msg_result_long(&m) > 0);
	guest_msg_free(&m);
	put(p, "export function main(a) { throw new RangeError('too far: ' + a.n); }\n", d);
	call(p, d, "nodejs", "", "{\"n\":3}", "error", &m);
	assert_string_equal(guest_msg_str(&m, "error"), "RangeError: too far: 3");
	assert_string_equal(exception_field(&m, "message"), "too far: 3");
	assert_non_null(strstr(exception_field(&m, "traceback"), "RangeError"));
	guest_msg_free(&m);
}

/* An encrypted function's exception stays in its sealed result. */
static void test_sealed_exception(void **state)
{
	struct peer *p = *state;
	static const uint8_t secret[E2E_KEY_SIZE] = { 0x11, 0x22 };
	struct guest_msg m;
	peer_call(p, WIRE_ATTEST, "{\"nonce\":\"a5\"}", NULL, 0, WIRE_REPLY, &m);
	uint8_t vm[E2E_KEY_SIZE];
	assert_int_equal(hex_to_bytes(guest_msg_str(&m, "public_key"), vm, E2E_KEY_SIZE), 0);
	guest_msg_free(&m);
	char d[SHA256_HEX_SIZE];
	peer_put_sealed(p, secret, "def main(args):\n    raise KeyError('secret-canary')\n", d);
	peer_invoke_sealed(p, vm, secret, d, "inv-1", "\"runtime\":\"python3\"", "{}", WIRE_REPLY,
			   &m);
	assert_string_equal(guest_msg_str(&m, "status"), "error");
	assert_string_equal(guest_msg_str(&m, "error"),
			    "the function raised an exception (sealed)");
	assert_null(json_object_get(m.meta, "exception"));
	assert_true(guest_msg_int(&m, "result_len") > 0);
	assert_null(memmem(m.body, m.body_len, "secret-canary", 13));
	guest_msg_free(&m);
}

/* A runtime the image lacks: a failed invocation saying so. */
static void test_not_installed(void **state)
{
	char empty[PATH_MAX];
	snprintf(empty, sizeof(empty), "/tmp/ditto-no-launchers-%d", (int)getpid());
	assert_int_equal(mkdir(empty, 0700), 0);
	struct peer pe;
	peer_start_opts(&pe, &(struct peer_opts){ .launchers = empty });
	peer_activate(&pe, 1);
	char d[SHA256_HEX_SIZE];
	put(&pe, echo_py, d);
	struct guest_msg m;
	call(&pe, d, "python3", "", "{}", "error", &m);
	assert_string_equal(guest_msg_str(&m, "error"),
			    "runtime python3 is not installed in this guest image");
	assert_null(json_object_get(m.meta, "exit_code"));
	guest_msg_free(&m);
	call(&pe, d, "nodejs", "\"mode\":\"process\"", "{}", "error", &m);
	assert_string_equal(guest_msg_str(&m, "error"),
			    "runtime nodejs is not installed in this guest image");
	guest_msg_free(&m);
	peer_stop(&pe);
	rmdir(empty);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Cold and warm echo latency inside the guest daemon (printed, not
 * asserted), beside a persistent shell echo's. */
static void test_warm_latency(void **state)
{
	struct peer *p = *state;
	static const struct {
		const char *rt, *extra, *source;
	} echo[] = {
		{ "shell", "\"mode\":\"persistent\"",
		  "#!/bin/sh\nwhile IFS= read -r l; do echo \"$l\"; done\n" },
		{ "python3", "", "def main(a):\n    return a\n" },
		{ "nodejs", "", "exports.main = (a) => a;\n" },
	};
	for (size_t r = 0; r < sizeof(echo) / sizeof(echo[0]); r++) {
		if (r == 2 && !have("node"))
			break;
		char d[SHA256_HEX_SIZE];
		put(p, echo[r].source, d);
		enum { N = 40 };
		uint64_t us[N];
		for (int i = 0; i <= N; i++) {
			struct guest_msg m;
			call(p, d, echo[r].rt, echo[r].extra, "{\"k\":1}", "ok", &m);
			guest_msg_expect_result(&m, "{\"k\":1}");
			if (i > 0)
				us[i - 1] = (uint64_t)guest_msg_int(&m, "guest_us");
			else
				print_message("%s cold echo: wall_us %lld\n", echo[r].rt,
					      (long long)guest_msg_int(&m, "wall_us"));
			guest_msg_free(&m);
		}
		qsort(us, N, sizeof(us[0]), cmp_u64);
		print_message("%s warm echo: guest_us p50 %llu, p90 %llu\n", echo[r].rt,
			      (unsigned long long)us[N / 2], (unsigned long long)us[N * 9 / 10]);
	}
}

#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, setup, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		GUEST_TEST(test_python_result_log_and_warm),
		GUEST_TEST(test_python_exception),
		GUEST_TEST(test_handlers_and_modes),
		GUEST_TEST(test_load_failures),
		GUEST_TEST(test_bad_meta),
		GUEST_TEST(test_python_memory_limit),
		GUEST_TEST(test_node),
		GUEST_TEST(test_sealed_exception),
		cmocka_unit_test(test_not_installed),
		GUEST_TEST(test_warm_latency),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
