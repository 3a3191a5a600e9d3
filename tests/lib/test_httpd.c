/* The pure HTTP-server pieces: route tables, bearer tokens, the
 * Content-Length policy, bodies with a limit and error bodies that always
 * build. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpd.h"

/* ---- routes ------------------------------------------------------------------------- */

/* A server's row: the shared head first, then what the server adds. */
struct row {
	struct httpd_route route;
	int handler;
};

static const struct row rows[] = {
	{ { "GET", "/v1/functions" }, 1 },      { { "GET", "/v1/functions/{}" }, 2 },
	{ { "PUT", "/v1/functions/{}" }, 3 },   { { "POST", "/v1/functions/{}/invoke" }, 4 },
	{ { "GET", "/v1/vms/{}/cpus/{}" }, 5 }, { { "GET", "/healthz" }, 6 },
};

static int find(const char *method, const char *path, struct httpd_args *args)
{
	return httpd_route_find(rows, ARRAY_SIZE(rows), sizeof(rows[0]), method, path, args);
}

static void test_route_find(void **state)
{
	struct httpd_args a;
	char s[16];
	assert_int_equal(find("GET", "/v1/functions", &a), 0);
	assert_int_equal(a.n, 0);
	assert_int_equal(find("GET", "/v1/functions/hello", &a), 1);
	assert_int_equal(a.n, 1);
	assert_int_equal(httpd_arg_copy(&a, 0, s, sizeof(s)), 0);
	assert_string_equal(s, "hello");
	assert_int_equal(find("PUT", "/v1/functions/hello", &a), 2);
	assert_int_equal(find("POST", "/v1/functions/f1/invoke", &a), 3);
	assert_int_equal(httpd_arg_copy(&a, 0, s, sizeof(s)), 0);
	assert_string_equal(s, "f1");

	assert_int_equal(find("GET", "/v1/vms/acme/cpus/3", &a), 4);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.v[0].len, 4);
	assert_memory_equal(a.v[0].p, "acme", 4);
	assert_int_equal(httpd_arg_copy(&a, 1, s, sizeof(s)), 0);
	assert_string_equal(s, "3");
	assert_int_equal(httpd_arg_copy(&a, 2, s, sizeof(s)), -EINVAL);
	assert_string_equal(s, "");

	/* No args wanted. */
	assert_int_equal(find("GET", "/healthz", NULL), 5);
}

static void test_route_not_found(void **state)
{
	assert_int_equal(find("GET", "/v1/nothing", NULL), -ENOENT);
	assert_int_equal(find("GET", "/", NULL), -ENOENT);
	assert_int_equal(find("GET", "", NULL), -ENOENT);
	/* "{}" matches one non-empty segment, no more, no less. */
	assert_int_equal(find("GET", "/v1/functions/", NULL), -ENOENT);
	assert_int_equal(find("GET", "/v1/functions/a/b", NULL), -ENOENT);
	assert_int_equal(find("POST", "/v1/functions//invoke", NULL), -ENOENT);
	assert_int_equal(find("GET", "/v1/functions/x/", NULL), -ENOENT);
	assert_int_equal(find("GET", "/healthzz", NULL), -ENOENT);
	assert_int_equal(find("GET", "/health", NULL), -ENOENT);
	assert_int_equal(find("GET", "/v1/vms/a/cpus/", NULL), -ENOENT);
}

static void test_route_method(void **state)
{
	/* The path is known, the method is not allowed on it: 405. */
	assert_int_equal(find("DELETE", "/v1/functions/hello", NULL), -EPERM);
	assert_int_equal(find("POST", "/healthz", NULL), -EPERM);
	/* Methods are case-sensitive. */
	assert_int_equal(find("get", "/healthz", NULL), -EPERM);
	/* An empty or missing method never matches, and "GET" does not
	 * contain it. */
	assert_int_equal(find("", "/healthz", NULL), -EPERM);
	assert_int_equal(find(NULL, "/healthz", NULL), -EPERM);
	assert_int_equal(find("GE", "/healthz", NULL), -EPERM);
	assert_int_equal(find("GETT", "/healthz", NULL), -EPERM);
	assert_int_equal(find("", "/nothing", NULL), -ENOENT);
	/* Nor does a row whose own method is empty. */
	static const struct row empty[] = { { { "", "/x" }, 1 }, { { NULL, "/y" }, 2 } };
	assert_int_equal(httpd_route_find(empty, 2, sizeof(empty[0]), "", "/x", NULL), -EPERM);
	assert_int_equal(httpd_route_find(empty, 2, sizeof(empty[0]), "", "/y", NULL), -EPERM);
	assert_int_equal(httpd_route_find(empty, 2, sizeof(empty[0]), "GET", "/x", NULL), -EPERM);
	/* The path's arguments come back with a 405 too. */
	struct httpd_args a = { .n = 0 };
	assert_int_equal(find("DELETE", "/v1/vms/acme/cpus/3", &a), -EPERM);
	assert_int_equal(a.n, 2);
	assert_memory_equal(a.v[0].p, "acme", 4);
}

static void test_path_match(void **state)
{
	struct httpd_args a = { .n = 9 };
	assert_true(httpd_path_match("/a/{}/b/{}/c/{}/d/{}", "/a/1/b/2/c/3/d/4", &a));
	assert_int_equal(a.n, 4);
	assert_memory_equal(a.v[3].p, "4", 1);
	/* More "{}" than args can hold never matches. */
	assert_false(httpd_path_match("/{}/{}/{}/{}/{}", "/1/2/3/4/5", NULL));
	/* args untouched on a miss. */
	a.n = 7;
	assert_false(httpd_path_match("/a/{}", "/b/1", &a));
	assert_int_equal(a.n, 7);
	assert_true(httpd_path_match("", "", NULL));
	assert_false(httpd_path_match("/a", "/a?x=1", NULL));
}

static void test_arg_copy(void **state)
{
	struct httpd_args a;
	char s[4];
	assert_true(httpd_path_match("/x/{}", "/x/abcd", &a));
	assert_int_equal(httpd_arg_copy(&a, 0, s, sizeof(s)), -ENAMETOOLONG);
	assert_string_equal(s, "");
	assert_true(httpd_path_match("/x/{}", "/x/abc", &a));
	assert_int_equal(httpd_arg_copy(&a, 0, s, sizeof(s)), 0);
	assert_string_equal(s, "abc");
	assert_int_equal(httpd_arg_copy(&a, -1, s, sizeof(s)), -EINVAL);
}

/* ---- authentication ---------------------------------------------------------------- */

static void test_bearer(void **state)
{
	assert_string_equal(httpd_bearer("Bearer x", 64), "x");
	assert_string_equal(httpd_bearer("bearer x", 64), "x");
	assert_string_equal(httpd_bearer("BEARER  x", 64), "x");
	assert_string_equal(httpd_bearer("Bearer abc def", 64), "abc def");
	assert_null(httpd_bearer("Basic x", 64));
	assert_null(httpd_bearer("Bearer ", 64));
	assert_null(httpd_bearer("Bearer    ", 64));
	assert_null(httpd_bearer("Bearer", 64));
	assert_null(httpd_bearer("Bearerx", 64));
	assert_null(httpd_bearer("", 64));
	assert_null(httpd_bearer(NULL, 64));
	/* At most max bytes. */
	assert_string_equal(httpd_bearer("Bearer 1234", 4), "1234");
	assert_null(httpd_bearer("Bearer 12345", 4));
}

static void test_token_equal(void **state)
{
	assert_true(httpd_token_equal("secret", "secret"));
	assert_true(httpd_token_equal("", ""));
	assert_false(httpd_token_equal("secret", "secreT"));
	assert_false(httpd_token_equal("secret", "Secret"));
	assert_false(httpd_token_equal("secret", "secret2"));
	assert_false(httpd_token_equal("secret2", "secret"));
	assert_false(httpd_token_equal("secret", ""));
	assert_false(httpd_token_equal("", "x"));
}

/* ---- bodies ------------------------------------------------------------------------------ */

static void test_content_length(void **state)
{
	uint64_t len = 77;
	assert_int_equal(httpd_content_length(NULL, 100, &len), HTTPD_LENGTH_OK);
	assert_int_equal(len, 0);
	assert_int_equal(httpd_content_length("0", 100, &len), HTTPD_LENGTH_OK);
	assert_int_equal(httpd_content_length("100", 100, &len), HTTPD_LENGTH_OK);
	assert_int_equal(len, 100);
	assert_int_equal(httpd_content_length("101", 100, &len), HTTPD_LENGTH_DRAIN);
	assert_int_equal(len, 101);
	assert_int_equal(httpd_content_length("16777316", 100, &len), HTTPD_LENGTH_DRAIN);
	assert_int_equal(httpd_content_length("16777317", 100, &len), HTTPD_LENGTH_TOO_LARGE);
	assert_int_equal(len, 16777317);
	assert_int_equal(httpd_content_length("18446744073709551615", 100, &len),
			 HTTPD_LENGTH_TOO_LARGE);
	assert_int_equal(httpd_content_length("99999999999999999999999", 100, &len),
			 HTTPD_LENGTH_TOO_LARGE);
	assert_true(len == UINT64_MAX);
	/* No overflow of limit + HTTPD_DRAIN_MAX near the top. */
	assert_int_equal(httpd_content_length("18446744073709551615", UINT64_MAX - 5, &len),
			 HTTPD_LENGTH_DRAIN);

	const char *bad[] = { "12abc", "-1", "", " 12", "12 ", "+12", "0x10", "1e3" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		len = 77;
		assert_int_equal(httpd_content_length(bad[i], 100, &len), HTTPD_LENGTH_BAD);
		assert_int_equal(len, 0);
	}
	assert_int_equal(httpd_content_length("5", 100, NULL), HTTPD_LENGTH_OK);
}

static void test_expects_continue(void **state)
{
	assert_true(httpd_expects_continue("100-continue"));
	assert_true(httpd_expects_continue("100-Continue"));
	assert_false(httpd_expects_continue(NULL));
	assert_false(httpd_expects_continue(""));
	assert_false(httpd_expects_continue("100-continuex"));
	assert_false(httpd_expects_continue("200-ok"));
}

static void test_body(void **state)
{
	struct httpd_body b = { .limit = 10 };
	assert_int_equal(httpd_body_take(&b, "hello", 5, true), 0);
	assert_int_equal(httpd_body_take(&b, "", 0, true), 0);
	assert_int_equal(httpd_body_take(&b, "world", 5, true), 0);
	assert_int_equal(b.received, 10);
	assert_int_equal(b.data.len, 10);
	assert_memory_equal(b.data.data, "helloworld", 10);
	assert_false(b.too_big);
	/* One byte over. */
	assert_int_equal(httpd_body_take(&b, "!", 1, true), -EFBIG);
	assert_true(b.too_big);
	assert_int_equal(b.data.len, 10);
	/* And it stays refused, keeping nothing. */
	assert_int_equal(httpd_body_take(&b, "", 0, true), -EFBIG);
	assert_int_equal(b.data.len, 10);
	httpd_body_free(&b);
	assert_null(b.data.data);
	assert_int_equal(b.received, 0);
	assert_false(b.too_big);
	assert_int_equal(b.limit, 10);

	/* Counted but not kept (a body streamed to a file, say). */
	assert_int_equal(httpd_body_take(&b, "12345678", 8, false), 0);
	assert_int_equal(b.received, 8);
	assert_int_equal(b.data.len, 0);
	assert_int_equal(httpd_body_take(&b, "123", 3, false), -EFBIG);
	assert_true(b.too_big);
	httpd_body_free(&b);

	/* A zero limit takes nothing at all. */
	struct httpd_body z = { 0 };
	assert_int_equal(httpd_body_take(&z, "", 0, true), 0);
	assert_int_equal(httpd_body_take(&z, "x", 1, true), -EFBIG);
	httpd_body_free(&z);
}

/* ---- replies ------------------------------------------------------------------------------ */

/* The error's message, after checking the object's shape and that it dumps. */
static const char *error_message(json_t *o, const char *code)
{
	assert_non_null(o);
	json_t *e = json_object_get(o, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	char *text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	free(text);
	const char *msg = json_string_value(json_object_get(e, "message"));
	assert_non_null(msg);
	return msg;
}

static void test_error_json(void **state)
{
	json_t *o = httpd_error_json("not_found", "no such endpoint %s", "/v1/x");
	assert_string_equal(error_message(o, "not_found"), "no such endpoint /v1/x");
	json_decref(o);

	/* A stray byte from the request becomes U+FFFD. */
	o = httpd_error_json("not_found", "no such endpoint %s", "/\xff");
	assert_string_equal(error_message(o, "not_found"), "no such endpoint /\xef\xbf\xbd");
	json_decref(o);

	/* A 3-byte character cut after two bytes: one U+FFFD. */
	o = httpd_error_json("bad_method", "%s is not allowed", "\xe2\x82");
	assert_string_equal(error_message(o, "bad_method"), "\xef\xbf\xbd is not allowed");
	json_decref(o);

	/* Whole characters pass through. */
	o = httpd_error_json("x", "caf\xc3\xa9 \xe2\x82\xac");
	assert_string_equal(error_message(o, "x"), "caf\xc3\xa9 \xe2\x82\xac");
	json_decref(o);

	/* A long message is cut at a character boundary, never inside one. */
	char big[3000];
	for (size_t i = 0; i + 3 <= sizeof(big) - 1; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	big[sizeof(big) - 1] = '\0';
	o = httpd_error_json("too_large", "a%s", big);
	const char *msg = error_message(o, "too_large");
	size_t n = strlen(msg);
	assert_true(n > 100 && n < sizeof(big));
	assert_int_equal((n - 1) % 3, 0);
	json_decref(o);
}

static void test_error_text(void **state)
{
	size_t len = 0;
	char *t = httpd_error_text("bad_request", "path /\xc3", &len);
	assert_non_null(t);
	assert_int_equal(len, strlen(t));
	json_error_t err;
	json_t *o = json_loads(t, 0, &err);
	assert_string_equal(error_message(o, "bad_request"), "path /\xef\xbf\xbd");
	json_decref(o);
	free(t);
}

/* The Content-Type of a request: the type matters, its parameters do not. */
static void test_media_type(void **state)
{
	assert_int_equal(httpd_media_type(NULL), HTTPD_MEDIA_NONE);
	const char *json[] = { "application/json", "Application/JSON", " application/json ",
			       "application/json;charset=utf-8", "application/json ; charset=UTF-8",
			       "\tapplication/json\t;x=y" };
	for (size_t i = 0; i < ARRAY_SIZE(json); i++)
		assert_int_equal(httpd_media_type(json[i]), HTTPD_MEDIA_JSON);
	assert_int_equal(httpd_media_type("application/octet-stream"), HTTPD_MEDIA_OCTET);
	assert_int_equal(httpd_media_type("APPLICATION/Octet-Stream; q=1"), HTTPD_MEDIA_OCTET);
	const char *other[] = { "",
				" ",
				";charset=utf-8",
				"text/plain",
				"application/jsonx",
				"application/json x",
				"application/json,text/plain",
				"application/vnd.api+json",
				"application/octet-stream/x",
				"application" };
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		assert_int_equal(httpd_media_type(other[i]), HTTPD_MEDIA_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_find),   cmocka_unit_test(test_route_not_found),
		cmocka_unit_test(test_route_method), cmocka_unit_test(test_path_match),
		cmocka_unit_test(test_arg_copy),     cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_token_equal),  cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_body),         cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_error_text),   cmocka_unit_test(test_media_type),
		cmocka_unit_test(test_expects_continue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
