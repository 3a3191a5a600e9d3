/* What the controller makes of an agent's answer to an invocation: canned
 * replies (and link failures) against the verdict, the caller's error, the
 * record's status and the metrics class; and what it asks the agent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "invoker.h"
#include "verdict.h"

struct row {
	const char *what;
	int status;        /* HTTP status or -errno */
	const char *reply; /* JSON, or NULL */
	bool stopping, artifact_retry;
	enum verdict_next next;
	unsigned http;
	const char *code;
	const char *message; /* NULL: not checked */
	enum store_status record;
	enum metrics_outcome metric;
	bool unreachable, vm_lost;
};

#define ERR(code, msg) "{\"error\":{\"code\":\"" code "\",\"message\":\"" msg "\"}}"

static const struct row rows[] = {
	{ "ok", 200, "{\"status\":\"ok\",\"result\":\"hi\"}", false, true, VERDICT_OK, 200, "",
	  NULL, STORE_OK, METRICS_OK, false, false },
	{ "function timeout", 200, "{\"status\":\"timeout\"}", false, true, VERDICT_FAILED, 504,
	  "function_timeout", "the function ran past its timeout of 1500 ms", STORE_TIMEOUT,
	  METRICS_TIMEOUT, false, false },
	{ "function error", 200, "{\"status\":\"error\",\"error\":\"exit 3\"}", false, true,
	  VERDICT_FAILED, 502, "function_error", "the function failed: exit 3", STORE_ERROR,
	  METRICS_ERROR, false, false },
	{ "function error, no reason", 200, "{\"status\":\"error\"}", false, true, VERDICT_FAILED,
	  502, "function_error", "the function failed: no reason given", STORE_ERROR, METRICS_ERROR,
	  false, false },
	{ "exception raised", 200,
	  "{\"status\":\"error\",\"error\":\"ValueEr\",\"exception\":{\"type\":"
	  "\"ValueError\",\"message\":\"boom\",\"traceback\":\"Traceback...\"}}",
	  false, true, VERDICT_FAILED, 502, "function_error",
	  "the function failed: ValueError: boom", STORE_ERROR, METRICS_ERROR, false, false },
	{ "exception without a type", 200,
	  "{\"status\":\"error\",\"error\":\"exit 1\",\"exception\":{\"message\":\"x\"}}", false,
	  true, VERDICT_FAILED, 502, "function_error", "the function failed: exit 1", STORE_ERROR,
	  METRICS_ERROR, false, false },
	{ "runtime not in the host's image", 409,
	  ERR("unsupported", "runtime python3 is not in this host's guest image"), false, true,
	  VERDICT_FAILED, 502, "function_error",
	  "host h1 cannot run the function: runtime python3 is not in this host's guest image",
	  STORE_ERROR, METRICS_ERROR, false, false },
	{ "unsupported under another status", 500, ERR("unsupported", "odd"), false, true,
	  VERDICT_FAILED, 502, "agent_error", "host h1 answered 500: odd", STORE_ERROR,
	  METRICS_FAILED, false, false },
	{ "malformed result", 200,
	  "{\"status\":\"ok\",\"result\":\"@@\",\"result_encoding\":\"base64\"}", false, true,
	  VERDICT_FAILED, 502, "agent_error", "host h1 sent a malformed result", STORE_ERROR,
	  METRICS_FAILED, false, false },
	{ "no artifact", 404, ERR("no_artifact", "push it"), false, true, VERDICT_RETRY_ARTIFACT,
	  404, "no_artifact", NULL, STORE_ERROR, METRICS_FAILED, false, false },
	{ "artifact missing in the guest", 404, ERR("artifact_missing", "gone"), false, true,
	  VERDICT_RETRY_ARTIFACT, 404, "artifact_missing", NULL, STORE_ERROR, METRICS_FAILED, false,
	  false },
	{ "no artifact after the retry", 404, ERR("no_artifact", "push it"), false, false,
	  VERDICT_FAILED, 502, "agent_error", "host h1 answered 404: push it", STORE_ERROR,
	  METRICS_FAILED, false, false },
	{ "no vm", 404, ERR("no_vm", "no VM for t"), false, true, VERDICT_REROUTE, 502, "vm_lost",
	  "the tenant's VM on h1 went away: no VM for t", STORE_ERROR, METRICS_FAILED, false,
	  true },
	{ "vm died", 502, ERR("vm_died", "qemu exited"), false, true, VERDICT_REROUTE, 502,
	  "vm_lost", "the tenant's VM on h1 went away: qemu exited", STORE_ERROR, METRICS_FAILED,
	  false, true },
	{ "cancelled, no message", 409, "{\"error\":{\"code\":\"cancelled\"}}", false, true,
	  VERDICT_REROUTE, 502, "vm_lost", "the tenant's VM on h1 went away: cancelled",
	  STORE_ERROR, METRICS_FAILED, false, true },
	{ "no_vm under another status", 500, ERR("no_vm", "odd"), false, true, VERDICT_FAILED, 502,
	  "agent_error", "host h1 answered 500: odd", STORE_ERROR, METRICS_FAILED, false, false },
	{ "too many requests", 429, ERR("too_many_requests", "busy"), false, true, VERDICT_REROUTE,
	  429, "too_many_requests", "host h1: busy", STORE_ERROR, METRICS_FAILED, false, false },
	{ "no capacity", 503, ERR("no_capacity", "full"), false, true, VERDICT_REROUTE, 503,
	  "no_capacity", "host h1: full", STORE_ERROR, METRICS_FAILED, false, false },
	{ "503 without a body", 503, NULL, false, true, VERDICT_REROUTE, 503, "unavailable",
	  "host h1: unavailable", STORE_ERROR, METRICS_FAILED, false, false },
	{ "too large", 413, NULL, false, true, VERDICT_FAILED, 413, "too_large",
	  "host h1: too large", STORE_ERROR, METRICS_FAILED, false, false },
	{ "other status", 500, ERR("internal", "boom"), false, true, VERDICT_FAILED, 502,
	  "agent_error", "host h1 answered 500: boom", STORE_ERROR, METRICS_FAILED, false, false },
	{ "refused", -ECONNREFUSED, NULL, false, true, VERDICT_REROUTE, 502, "host_lost", NULL,
	  STORE_ERROR, METRICS_FAILED, true, false },
	{ "reset", -ECONNRESET, NULL, false, true, VERDICT_REROUTE, 502, "host_lost", NULL,
	  STORE_ERROR, METRICS_FAILED, true, false },
	{ "timed out", -ETIMEDOUT, NULL, false, true, VERDICT_REROUTE, 502, "host_lost", NULL,
	  STORE_ERROR, METRICS_FAILED, false, false },
	{ "cannot resolve", -EHOSTUNREACH, NULL, false, true, VERDICT_REROUTE, 502, "host_lost",
	  NULL, STORE_ERROR, METRICS_FAILED, false, false },
	{ "host lost mid-call", -ECANCELED, NULL, false, true, VERDICT_REROUTE, 502, "host_lost",
	  NULL, STORE_ERROR, METRICS_FAILED, false, false },
	{ "controller stopping", -ECANCELED, NULL, true, true, VERDICT_REROUTE, 503, "unavailable",
	  "the controller stopped while the invocation ran", STORE_ERROR, METRICS_FAILED, false,
	  false },
	{ "other link error", -ENOMEM, NULL, false, true, VERDICT_FAILED, 502, "agent_error", NULL,
	  STORE_ERROR, METRICS_FAILED, false, false },
};

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		print_message("%s\n", w->what);
		json_t *reply = w->reply ? json_loads(w->reply, 0, NULL) : NULL;
		assert_true(!w->reply || reply);
		struct verdict_context ctx = { .host_id = "h1",
					       .timeout_ms = 1500,
					       .stopping = w->stopping,
					       .artifact_retry = w->artifact_retry };
		struct verdict v;
		verdict_classify(w->status, reply, &ctx, &v);
		assert_int_equal(v.next, w->next);
		assert_int_equal(v.http, w->http);
		assert_string_equal(v.code, w->code);
		if (w->message)
			assert_string_equal(v.message, w->message);
		assert_int_equal(v.status, w->record);
		assert_int_equal(v.metric, w->metric);
		assert_int_equal(v.host_unreachable, w->unreachable);
		assert_int_equal(v.vm_lost, w->vm_lost);
		assert_int_equal(v.ran, w->status == 200 && strcmp(w->code, "agent_error") != 0);
		verdict_clear(&v);
		json_decref(reply);
	}
}

static void test_ok_fields(void **state)
{
	json_t *reply = json_loads(
		"{\"status\":\"ok\",\"result\":\"aGk=\",\"result_encoding\":\"base64\","
		"\"log\":\"line\",\"cold_start\":true,\"cpu\":2,\"agent_us\":10,"
		"\"guest_us\":9,\"wall_us\":7,\"init_us\":5,\"queued_us\":1,\"workers\":3,"
		"\"vcpu_ms\":{\"allocated\":900,\"busy\":400}}",
		0, NULL);
	assert_non_null(reply);
	struct verdict_context ctx = { .host_id = "h1", .timeout_ms = 1000 };
	struct verdict v;
	verdict_classify(200, reply, &ctx, &v);
	assert_int_equal(v.next, VERDICT_OK);
	assert_int_equal(v.result_len, 2);
	assert_memory_equal(v.result, "hi", 2);
	assert_int_equal(v.log_len, 4);
	assert_memory_equal(v.log, "line", 4);
	assert_true(v.cold_start);
	assert_int_equal(v.cpu, 2);
	assert_int_equal(v.agent_us, 10);
	assert_int_equal(v.guest_us, 9);
	assert_int_equal(v.function_us, 7);
	assert_int_equal(v.init_us, 5);
	assert_int_equal(v.queued_us, 1);
	assert_int_equal(v.workers, 3);
	assert_int_equal(v.vcpu_alloc_ms, 900);
	assert_int_equal(v.vcpu_busy_ms, 400);
	verdict_clear(&v);
	assert_null(v.result);
	json_decref(reply);

	/* Fields the agent leaves out are -1, not 0. */
	reply = json_loads("{\"status\":\"ok\"}", 0, NULL);
	verdict_classify(200, reply, &ctx, &v);
	assert_int_equal(v.cpu, -1);
	assert_int_equal(v.function_us, -1);
	assert_int_equal(v.workers, -1);
	assert_int_equal(v.vcpu_alloc_ms, -1);
	assert_int_equal(v.result_len, 0);
	assert_false(v.cold_start);
	verdict_clear(&v);
	json_decref(reply);
}

static void test_why(void **state)
{
	struct verdict_context ctx = { .host_id = "h1",
				       .timeout_ms = 1000,
				       .artifact_retry = true };
	struct verdict v;
	verdict_classify(-ECONNREFUSED, NULL, &ctx, &v);
	assert_string_equal(v.why, strerror(ECONNREFUSED));
	json_t *reply = json_loads("{\"error\":{\"code\":\"no_vm\"}}", 0, NULL);
	verdict_classify(404, reply, &ctx, &v);
	assert_string_equal(v.why, "the VM is gone");
	assert_string_equal(v.message, "the tenant's VM on h1 went away: no_vm");
	json_decref(reply);
}

/* A raised exception is kept whole for the record; one the guest did not
 * shape as {type, message[, traceback]} strings is not kept. */
static void test_exception(void **state)
{
	struct verdict_context ctx = { .host_id = "h1", .timeout_ms = 1000 };
	struct verdict v;
	json_t *reply = json_loads(
		"{\"status\":\"error\",\"log\":\"printed\",\"exception\":"
		"{\"type\":\"TypeError\",\"message\":\"no\",\"traceback\":\"tb\"}}",
		0, NULL);
	verdict_classify(200, reply, &ctx, &v);
	json_decref(reply);
	assert_true(v.ran);
	assert_non_null(v.exception);
	assert_string_equal(json_string_value(json_object_get(v.exception, "type")), "TypeError");
	assert_string_equal(json_string_value(json_object_get(v.exception, "traceback")), "tb");
	assert_memory_equal(v.log, "printed", 7);
	verdict_clear(&v);
	assert_null(v.exception);
	static const char *const odd[] = {
		"{\"status\":\"error\",\"exception\":\"TypeError\"}",
		"{\"status\":\"error\",\"exception\":{\"type\":1,\"message\":\"m\"}}",
		"{\"status\":\"error\",\"exception\":{\"type\":\"T\",\"message\":\"m\","
		"\"traceback\":[]}}",
		"{\"status\":\"ok\",\"exception\":{\"type\":\"T\",\"message\":\"m\"}}",
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		reply = json_loads(odd[i], 0, NULL);
		assert_non_null(reply);
		verdict_classify(200, reply, &ctx, &v);
		assert_null(v.exception);
		verdict_clear(&v);
		json_decref(reply);
	}
}

/* The agent is told a python3 or nodejs version's runtime and handler,
 * escaped; binary and shell versions are called as before. */
static void test_agent_path(void **state)
{
	struct store_function fn = { .digest = "d1", .limits = { 500, 64, 2, "persistent" } };
	char path[1024];
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, sizeof(path)), 0);
	assert_string_equal(path, "/v1/vms/acme/invoke?artifact=d1&mode=persistent&timeout_ms=500"
				  "&memory_mib=64");
	fn.limits.runtime = FN_RUNTIME_NODEJS;
	snprintf(fn.limits.handler, sizeof(fn.limits.handler), "lib/app.$main");
	fn.limits.encrypted = true;
	assert_int_equal(invoker_agent_path(&fn, "ab12", "acme.1", path, sizeof(path)), 0);
	assert_string_equal(path, "/v1/vms/acme.1/invoke?artifact=d1&mode=persistent&timeout_ms=500"
				  "&memory_mib=64&invocation=ab12&e2e=1&runtime=nodejs"
				  "&handler=lib/app.%24main");
	fn.limits.runtime = FN_RUNTIME_PYTHON3;
	fn.limits.encrypted = false;
	snprintf(fn.limits.handler, sizeof(fn.limits.handler), "pkg.mod.main");
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, sizeof(path)), 0);
	assert_non_null(strstr(path, "&memory_mib=64&runtime=python3&handler=pkg.mod.main"));
	/* Too small a buffer is refused, never overrun: up to the handler's
	 * last byte, and within an escape. */
	size_t full = strlen(path);
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, full), -ENAMETOOLONG);
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, full + 1), 0);
	fn.limits.runtime = FN_RUNTIME_NODEJS;
	snprintf(fn.limits.handler, sizeof(fn.limits.handler), "$");
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, sizeof(path)), 0);
	full = strlen(path);
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, full - 1), -ENAMETOOLONG);
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, 20), -ENAMETOOLONG);
	fn.limits.runtime = FN_RUNTIME_SHELL;
	fn.limits.handler[0] = '\0';
	assert_int_equal(invoker_agent_path(&fn, NULL, "acme", path, sizeof(path)), 0);
	assert_null(strstr(path, "runtime"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),      cmocka_unit_test(test_ok_fields),
		cmocka_unit_test(test_why),        cmocka_unit_test(test_exception),
		cmocka_unit_test(test_agent_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
