/* Every error status of the platform, from real requests. */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A call that must answer status, with code when not NULL. */
static void expect_error(const char *key, const char *method, const char *path, const char *body,
			 long status, const char *code)
{
	struct http_reply r;
	assert_int_equal(call_s(key, method, path, body, &r), status);
	if (code)
		assert_string_equal(http_error_code(&r), code);
	http_reply_free(&r);
}

/* 401, 403, 404, 405, 400 and 413 before anything runs. */
static void expect_refusals(const char *key)
{
	expect_error(NULL, "GET", "/v1/functions", NULL, 401, "unauthorized");
	expect_error("dk_0000000000000000000000000000000000000000", "GET", "/v1/functions", NULL,
		     401, NULL);
	expect_error(P.admin, "POST", "/v1/functions/x/invoke", "{}", 403, NULL);
	expect_error(key, "POST", "/v1/functions/nothing/invoke", "{}", 404, "not_found");
	expect_error(key, "GET", "/v1/functions/x/invoke", NULL, 405, NULL);
	expect_error(key, "POST", "/v1/functions/x/invoke?async=maybe", "{}", 400, NULL);
	expect_error(key, "GET", "/v1/invocations?status=lost", NULL, 400, NULL);
	expect_error(key, "GET", "/v1/invocations/zz", NULL, 404, NULL);

	deploy_script(key, "fails", "#!/bin/sh\necho oops >&2\nexit 3\n", NULL);
	deploy(key, "busy", "busy", "timeout=1000&max_concurrency=1");
	/* 413: inputs over 6 MiB (sync) and 256 KiB (async). */
	size_t big = (6u << 20) + 1;
	char *blob = malloc(big);
	memset(blob, 'x', big);
	struct http_reply r;
	assert_int_equal(call(key, "POST", "/v1/functions/fails/invoke", blob, big, &r), 413);
	assert_string_equal(http_error_code(&r), "too_large");
	http_reply_free(&r);
	assert_int_equal(call(key, "POST", "/v1/functions/fails/invoke?async=true", blob,
			      (256u << 10) + 1, &r),
			 413);
	http_reply_free(&r);
	free(blob);
}

/* 502 and 504 from functions that fail, time out or run out of memory. */
static void expect_function_errors(const char *key)
{
	/* 502 function_error, with the log in the record. */
	struct http_reply r;
	assert_int_equal(invoke(key, "fails", "{}", &r), 502);
	assert_string_equal(http_error_code(&r), "function_error");
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", r.id);
	assert_string_equal(str(json_object_get(r.json, "error"), "invocation"), r.id);
	http_reply_free(&r);
	assert_int_equal(call_s(key, "GET", path, NULL, &r), 200);
	assert_string_equal(str(r.json, "status"), "error");
	assert_string_equal(str(r.json, "log"), "oops\n");
	http_reply_free(&r);

	/* 504: busy for 5 s against a 1 s timeout. */
	expect_error(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":5000}", 504,
		     "function_timeout");

	/* The function's memory limit holds: 64 MiB does not fit in 32. */
	deploy(key, "hungry", "busy", "memory=32");
	expect_error(key, "POST", "/v1/functions/hungry/invoke", "{\"mb\":8}", 200, NULL);
	expect_error(key, "POST", "/v1/functions/hungry/invoke", "{\"mb\":64}", 502,
		     "function_error");
	expect_error(key, "PUT", "/v1/functions/x?memory=4096", "#!/bin/sh\n", 400,
		     "bad_parameter");
	expect_error(key, "PUT", "/v1/functions/x?timeout=300001", "#!/bin/sh\n", 400, NULL);
}

/* 429: busy allows one at a time; a second call while one runs is refused. */
static void expect_too_many(const char *key)
{
	struct bg_call c = { key, "busy", "{\"ms\":900}", 0, "" };
	pthread_t t;
	pthread_create(&t, NULL, bg_invoke, &c);
	await_listed(key, "function=busy&status=running", 1);
	expect_error(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 429,
		     "too_many_requests");
	pthread_join(t, NULL);
	assert_int_equal(c.status, 200);
}

/* 503: the only host drained, a tenant without a VM has nowhere to go. */
static void expect_no_capacity(void)
{
	char other[128];
	tenant("homeless", NULL, other);
	deploy_script(other, "hi", "#!/bin/sh\necho '{}'\n", NULL);
	struct http_reply r;
	assert_int_equal(call_s(P.admin, "POST", "/v1/hosts/h1/drain", NULL, &r), 200);
	assert_string_equal(str(r.json, "state"), "draining");
	http_reply_free(&r);
	expect_error(other, "POST", "/v1/functions/hi/invoke", "{}", 503, "no_capacity");
	expect_call(P.admin, "DELETE", "/v1/hosts/h1/drain", NULL, 200);
	expect_call(other, "POST", "/v1/functions/hi/invoke", "{}", 200);
}

void test_errors(void **state)
{
	char key[128];
	tenant("errs", "{\"max\":2}", key);
	expect_refusals(key);
	expect_function_errors(key);
	expect_too_many(key);
	expect_no_capacity();
}
