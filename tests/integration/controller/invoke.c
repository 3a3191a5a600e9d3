/* Functions and invocations through the platform: versions, sync and async
 * calls and their records, tenants kept apart, metrics. */
#include "controller.h"

#include <stdio.h>
#include <string.h>

void test_host_registers(void **state)
{
	await_host("up");
	json_t *h = host_h1();
	assert_true(num(h, "cores") >= 1);
	assert_string_equal(str(h, "state"), "up");
	json_decref(h);
}

/* Deploy, invoke synchronously (cold, then warm), read the record; a new
 * version is invoked by default and the old one stays reachable. */
void test_deploy_invoke_versions(void **state)
{
	char key[128];
	tenant("acme", "{\"min\":0,\"max\":2}", key);
	assert_int_equal(deploy(key, "echo", "echo", "mode=persistent"), 1);
	struct http_reply r;
	assert_int_equal(invoke(key, "echo", "{\"hello\":1}", &r), 200);
	assert_int_equal(r.body.len, strlen("{\"hello\":1}"));
	assert_memory_equal(r.body.data, "{\"hello\":1}", r.body.len);
	assert_string_equal(r.cold, "true");
	assert_int_equal(strlen(r.id), 32);
	assert_non_null(strstr(r.timing, "function_us="));
	char id[64];
	snprintf(id, sizeof(id), "%s", r.id);
	http_reply_free(&r);
	assert_int_equal(invoke(key, "echo", "{\"hello\":2}", &r), 200);
	assert_string_equal(r.cold, "false");
	http_reply_free(&r);

	json_t *rec = await_record(key, id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_string_equal(str(rec, "host"), "h1");
	assert_string_equal(str(rec, "vm"), "acme");
	assert_true(num(rec, "cpu") >= 1);
	assert_string_equal(str(rec, "result"), "{\"hello\":1}");
	assert_true(num(json_object_get(rec, "timing"), "total_us") > 0);
	json_decref(rec);

	/* Version 2 is a script that answers differently. */
	deploy_script(key, "echo", "#!/bin/sh\necho '{\"v\":2}'\n", NULL);
	assert_int_equal(invoke(key, "echo", "{}", &r), 200);
	assert_non_null(strstr((const char *)r.body.data, "\"v\":2"));
	http_reply_free(&r);
	assert_int_equal(
		call_s(key, "POST", "/v1/functions/echo/invoke?version=1", "{\"old\":1}", &r), 200);
	assert_memory_equal(r.body.data, "{\"old\":1}", r.body.len);
	http_reply_free(&r);
	expect_call(key, "POST", "/v1/functions/echo/invoke?version=9", "{}", 404);

	/* The list shows them newest first, filtered by function. */
	assert_int_equal(call_s(key, "GET", "/v1/invocations?function=echo&limit=2", NULL, &r),
			 200);
	json_t *list = json_object_get(r.json, "invocations");
	assert_int_equal(json_array_size(list), 2);
	assert_true(strlen(str(r.json, "next_cursor")) > 0);
	http_reply_free(&r);
}

void test_async(void **state)
{
	char key[128];
	tenant("asyncco", "{\"max\":1}", key);
	deploy(key, "echo", "echo", NULL);
	struct http_reply r;
	assert_int_equal(
		call_s(key, "POST", "/v1/functions/echo/invoke?async=true", "{\"a\":1}", &r), 202);
	assert_string_equal(str(r.json, "status"), "queued");
	char id[64];
	snprintf(id, sizeof(id), "%s", str(r.json, "id"));
	assert_string_equal(r.id, id);
	http_reply_free(&r);
	json_t *rec = await_record(key, id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_true(json_is_true(json_object_get(rec, "async")));
	assert_string_equal(str(rec, "result"), "{\"a\":1}");
	json_decref(rec);
}

/* A tenant sees and invokes only its own functions and records. */
void test_isolation(void **state)
{
	char a[128], b[128];
	tenant("iso-a", NULL, a);
	tenant("iso-b", NULL, b);
	deploy_script(a, "secret", "#!/bin/sh\necho '{\"s\":1}'\n", NULL);
	char path[128];
	invoke_ok(a, "secret", path);
	struct http_reply r;
	assert_int_equal(invoke(b, "secret", "{}", &r), 404);
	http_reply_free(&r);
	expect_call(b, "GET", "/v1/functions/secret", NULL, 404);
	expect_call(b, "GET", path, NULL, 404);
	expect_call(b, "GET", "/v1/tenants/iso-a", NULL, 403);
	assert_int_equal(call_s(b, "GET", "/v1/invocations", NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "invocations")), 0);
	http_reply_free(&r);
}

/* Metrics count what happened. */
void test_metrics(void **state)
{
	struct http_reply r;
	char key[128];
	tenant("metered", NULL, key);
	expect_call(key, "GET", "/metrics", NULL, 403);
	deploy_script(key, "hi", "#!/bin/sh\necho '{}'\n", NULL);
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	http_reply_free(&r);
	assert_int_equal(call_s(P.admin, "GET", "/metrics", NULL, &r), 200);
	buf_append(&r.body, "", 1);
	const char *text = (const char *)r.body.data;
	assert_non_null(
		strstr(text, "ditto_invocations_total{tenant=\"metered\",status=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "ditto_invocation_duration_seconds_count "));
	assert_non_null(strstr(text, "ditto_worker_vcpus{tenant=\"metered\"}"));
	assert_non_null(strstr(text, "ditto_tenant_vms{tenant=\"metered\"} 1\n"));
	assert_non_null(
		strstr(text, "ditto_tenant_vcpu_seconds_total{tenant=\"metered\",kind=\"busy\"} "));
	assert_non_null(strstr(text, "# TYPE ditto_scale_decision_seconds histogram\n"));
	assert_non_null(strstr(text, "ditto_hosts{state=\"up\"} 1\n"));
	assert_null(strstr(text, "ditto_vm_boots_total 0\n"));
	http_reply_free(&r);
}
