/* What strict parsing does beyond refusing (test_api_malformed.c has the
 * table of refusals): what a refused request leaves behind, what still
 * passes, and the messages that name the problem. Real requests to a real
 * controller on loopback, written byte for byte. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_fixture.h"
#include "raw_http.h"

static const char ECHO[] = "#!/bin/sh\ncat\n";

/* Sends a request and checks its status and error code (NULL: a success,
 * no error). Returns the reply's error message, copied into msg. */
static void expect(struct fixture *f, const char *method, const char *target, const char *key,
		   const char *headers, const char *body, int status, const char *code,
		   char msg[512])
{
	struct raw_reply r;
	raw_call(daemon_proc_port(&f->proc), method, target, key, headers, body, 0, &r);
	if (r.status != status)
		fprintf(stderr, "%s %s: %d %s\n", method, target, r.status, raw_error_message(&r));
	assert_int_equal(r.status, status);
	if (code)
		assert_string_equal(raw_error_code(&r), code);
	if (msg)
		snprintf(msg, 512, "%s", raw_error_message(&r));
	raw_reply_free(&r);
}

static void deploy_echo(struct fixture *f, const char *key)
{
	assert_int_equal(call(f, key, "PUT", "/v1/functions/echo?runtime=shell", ECHO, 0, NULL),
			 201);
}

static size_t invocations(struct fixture *f, const char *key)
{
	json_t *o;
	assert_int_equal(call(f, key, "GET", "/v1/invocations", NULL, 0, &o), 200);
	size_t n = json_array_size(json_object_get(o, "invocations"));
	json_decref(o);
	return n;
}

/* A NUL no longer ends a name early: echo%00x is not echo. */
static void test_nul_in_names(void **state)
{
	struct fixture *f = *state;
	char key[128], msg[512];
	make_tenant(f, "acme", key);
	deploy_echo(f, key);
	expect(f, "GET", "/v1/functions/echo", key, NULL, NULL, 200, NULL, NULL);
	expect(f, "GET", "/v1/functions/echo%00x", key, NULL, NULL, 400, "bad_request", msg);
	assert_non_null(strstr(msg, "NUL"));
	expect(f, "DELETE", "/v1/functions/echo%00", key, NULL, NULL, 400, "bad_request", NULL);
	expect(f, "GET", "/v1/invocations?function=echo%00x", key, NULL, NULL, 400, "bad_request",
	       msg);
	assert_non_null(strstr(msg, "function"));
	assert_non_null(strstr(msg, "NUL"));
	/* The function is still there. */
	expect(f, "GET", "/v1/functions/echo", key, NULL, NULL, 200, NULL, NULL);
}

/* An input declared JSON must be JSON, and a refused one is never run
 * (no record); opaque bytes and an input of no declared type pass the
 * check and go on to placement (no host here: 503). */
static void test_invoke_content_type(void **state)
{
	struct fixture *f = *state;
	char key[128], msg[512];
	make_tenant(f, "acme", key);
	deploy_echo(f, key);
	const char *inv = "/v1/functions/echo/invoke";
	expect(f, "POST", inv, key, "Content-Type: application/json\r\n", "{\"a\":\n}", 400,
	       "bad_json", msg);
	assert_non_null(strstr(msg, "line 2, column 1"));
	assert_non_null(strstr(msg, "(byte 7)"));
	expect(f, "POST", "/v1/functions/echo/invoke?async=true", key,
	       "Content-Type: application/json\r\n", "nope", 400, "bad_json", NULL);
	expect(f, "POST", inv, key, "Content-Type: text/plain\r\n", "{}", 415,
	       "unsupported_media_type", msg);
	assert_non_null(strstr(msg, "text/plain"));
	assert_int_equal(invocations(f, key), 0);

	expect(f, "POST", inv, key, "Content-Type: application/octet-stream\r\n", "not json", 503,
	       "no_capacity", NULL);
	expect(f, "POST", inv, key, NULL, "not json", 503, "no_capacity", NULL);
	expect(f, "POST", inv, key, "Content-Type: Application/JSON; charset=utf-8\r\n",
	       "{\"a\":[1,\"\xc3\xa9\"]}", 503, "no_capacity", NULL);
	expect(f, "POST", inv, key, "Content-Type: application/json\r\n", "42", 503, "no_capacity",
	       NULL);
	/* No input at all is no input, whatever type it is declared. */
	expect(f, "POST", inv, key, "Content-Type: application/json\r\n", "", 503, "no_capacity",
	       NULL);
	assert_int_equal(invocations(f, key), 5);
}

/* Query keys: each at most once, each with a value; the message names it. */
static void test_query_keys(void **state)
{
	struct fixture *f = *state;
	char key[128], msg[512];
	make_tenant(f, "acme", key);
	deploy_echo(f, key);
	expect(f, "GET", "/v1/functions/echo?version=1", key, NULL, NULL, 200, NULL, NULL);
	expect(f, "GET", "/v1/functions/echo?version=1&version=1", key, NULL, NULL, 400,
	       "bad_request", msg);
	assert_string_equal(msg, "query parameter version is given twice");
	expect(f, "POST", "/v1/functions/echo/invoke?async", key, NULL, "{}", 400, "bad_request",
	       msg);
	assert_string_equal(msg, "query parameter async needs a value (async=...)");
	expect(f, "GET", "/v1/functions/echo?version=%2B1", key, NULL, NULL, 400, "bad_parameter",
	       msg);
	assert_non_null(strstr(msg, "version must be an integer"));
	assert_int_equal(invocations(f, key), 0);
}

/* Text from the request that is not UTF-8 reaches the message with each
 * bad sequence as U+FFFD, and a cut never splits a character. */
static void test_messages_are_utf8(void **state)
{
	struct fixture *f = *state;
	char key[128], msg[512];
	make_tenant(f, "acme", key);
	expect(f, "GET", "/v1/functions/echo?a%FFb=1", key, NULL, NULL, 400, "bad_parameter", msg);
	assert_string_equal(msg, "unknown query parameter a\xef\xbf\xbd"
				 "b");
	/* 63 bytes then a two-byte character: the message keeps 64 bytes of
	 * the key, which end inside it. */
	char target[256] = "/v1/functions/echo?";
	for (int i = 0; i < 63; i++)
		strcat(target, "k");
	strcat(target, "%C3%A9=1");
	expect(f, "GET", target, key, NULL, NULL, 400, "bad_parameter", msg);
	size_t n = strlen(msg);
	assert_true(n > 3);
	assert_string_equal(msg + n - 4, "k\xef\xbf\xbd");
	expect(f, "\xc3\xa9", "/v1/functions", key, NULL, NULL, 405, "bad_method", msg);
	assert_string_equal(msg, "\xc3\xa9 is not allowed on /v1/functions");
	expect(f, "GET", "/v1/invocations/%C3%28", key, NULL, NULL, 404, "not_found", msg);
	assert_string_equal(msg, "no invocation \xef\xbf\xbd(");
}

/* Two Content-Length headers: the same value twice is one length (RFC
 * 9110); two different ones are refused, and nothing is made. */
static void test_content_length_twice(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	const char *body = "{\"name\":\"t1\"}";
	expect(f, "POST", "/v1/tenants", f->admin, "Content-Length: 13\r\nContent-Length: 12\r\n",
	       body, 400, "bad_request", msg);
	assert_string_equal(msg, "two different Content-Length headers (13 and 12)");
	expect(f, "GET", "/v1/tenants/t1", f->admin, NULL, NULL, 404, "not_found", NULL);
	expect(f, "POST", "/v1/tenants", f->admin, "Content-Length: 13\r\nContent-Length: 13\r\n",
	       body, 201, NULL, NULL);
}

/* A scaling setting under which nothing could ever run is refused where a
 * tenant is made and where its scaling is set, saying why; a refused
 * change leaves the tenant as it was. */
static void test_scaling_never_runs(void **state)
{
	struct fixture *f = *state;
	char key[128], msg[512];
	make_tenant(f, "acme", key);
	const char *sc = "/v1/tenants/acme/scaling";
	expect(f, "PUT", sc, f->admin, NULL, "{\"policy\":\"fixed:0\"}", 400, "bad_field", msg);
	assert_non_null(strstr(msg, "policy fixed:0 keeps no worker vCPU"));
	expect(f, "PUT", sc, f->admin, NULL, "{\"max\":0,\"policy\":\"scale-out\"}", 400,
	       "bad_field", msg);
	assert_non_null(strstr(msg, "max 0 allows no worker vCPU"));
	expect(f, "POST", "/v1/tenants", f->admin, NULL, "{\"name\":\"z\",\"policy\":\"fixed:0\"}",
	       400, "bad_field", msg);
	assert_non_null(strstr(msg, "fixed:0"));
	expect(f, "GET", "/v1/tenants/z", f->admin, NULL, NULL, 404, "not_found", NULL);
	json_t *o;
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants/acme", NULL, 0, &o), 200);
	json_t *s = json_object_get(o, "scaling");
	assert_string_equal(json_string_value(json_object_get(s, "policy")), "elastic");
	assert_int_equal(json_integer_value(json_object_get(s, "max")), 4);
	json_decref(o);

	expect(f, "PUT", sc, f->admin, NULL, "{\"policy\":\"fixed:1\",\"max\":1}", 200, NULL, NULL);
	const char *body = "{\"name\":\"z\",\"policy\":\"fixed:2\",\"max\":3,\"min\":1}";
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants", body, 0, &o), 201);
	s = json_object_get(o, "scaling");
	assert_string_equal(json_string_value(json_object_get(s, "policy")), "fixed:2");
	assert_int_equal(json_integer_value(json_object_get(s, "max")), 3);
	assert_int_equal(json_integer_value(json_object_get(s, "min")), 1);
	assert_non_null(json_string_value(json_object_get(o, "key")));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_nul_in_names),         FIXTURE_TEST(test_invoke_content_type),
		FIXTURE_TEST(test_query_keys),           FIXTURE_TEST(test_messages_are_utf8),
		FIXTURE_TEST(test_content_length_twice), FIXTURE_TEST(test_scaling_never_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
