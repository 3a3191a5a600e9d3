#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "encoding.h"

static bool valid(const char *s)
{
	return utf8_is_valid((const uint8_t *)s, strlen(s));
}

static void test_utf8(void **state)
{
	assert_true(valid(""));
	assert_true(valid("{\"a\":1}"));
	assert_true(valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
	assert_false(valid("\xc3"));             /* truncated */
	assert_false(valid("\xc0\xaf"));         /* overlong '/' */
	assert_false(valid("\xed\xa0\x80"));     /* surrogate */
	assert_false(valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
	assert_false(valid("\xff"));
	assert_false(valid("\x80"));
	const uint8_t nul[] = { 'a', 0, 'b' };
	assert_false(utf8_is_valid(nul, sizeof(nul)));
}

static void roundtrip(const uint8_t *p, size_t n, const char *expect)
{
	char *e = base64_encode(p, n);
	assert_string_equal(e, expect);
	uint8_t *d;
	size_t dn;
	assert_int_equal(base64_decode(e, strlen(e), &d, &dn), 0);
	assert_int_equal(dn, n);
	assert_memory_equal(d, p, n);
	free(d);
	free(e);
}

static void test_base64(void **state)
{
	/* RFC 4648 section 10 vectors. */
	roundtrip((const uint8_t *)"", 0, "");
	roundtrip((const uint8_t *)"f", 1, "Zg==");
	roundtrip((const uint8_t *)"fo", 2, "Zm8=");
	roundtrip((const uint8_t *)"foo", 3, "Zm9v");
	roundtrip((const uint8_t *)"foob", 4, "Zm9vYg==");
	roundtrip((const uint8_t *)"fooba", 5, "Zm9vYmE=");
	roundtrip((const uint8_t *)"foobar", 6, "Zm9vYmFy");
	const uint8_t bin[] = { 0, 0xff, 0xfe, 0x80 };
	roundtrip(bin, sizeof(bin), "AP/+gA==");
	uint8_t *d;
	size_t dn;
	assert_int_equal(base64_decode("Zm9v!", 5, &d, &dn), -EINVAL);
	assert_int_equal(base64_decode("Z", 1, &d, &dn), -EINVAL);
}

/* Payloads go into JSON as text when they can and as base64 when not, and
 * come back out byte for byte. */
static void test_payload_json(void **state)
{
	static const uint8_t text[] = "{\"x\":1}";
	static const uint8_t bin[] = { 0, 0xff, 'a', 0x80 };
	json_t *o = json_object();
	payload_to_json(o, "r", "r_enc", text, sizeof(text) - 1);
	payload_to_json(o, "b", "b_enc", bin, sizeof(bin));
	payload_to_json(o, "e", "e_enc", NULL, 0);
	assert_string_equal(json_string_value(json_object_get(o, "r")), "{\"x\":1}");
	assert_string_equal(json_string_value(json_object_get(o, "r_enc")), "utf-8");
	assert_string_equal(json_string_value(json_object_get(o, "b")), "AP9hgA==");
	assert_string_equal(json_string_value(json_object_get(o, "b_enc")), "base64");
	assert_string_equal(json_string_value(json_object_get(o, "e")), "");
	uint8_t *p;
	size_t n;
	assert_int_equal(payload_from_json(o, "r", "r_enc", &p, &n), 0);
	assert_int_equal(n, sizeof(text) - 1);
	assert_memory_equal(p, text, n);
	free(p);
	assert_int_equal(payload_from_json(o, "b", "b_enc", &p, &n), 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(p, bin, n);
	free(p);
	assert_int_equal(payload_from_json(o, "missing", "x", &p, &n), 0);
	assert_null(p);
	assert_int_equal(n, 0);
	json_object_set_new(o, "bad", json_string("!!!"));
	json_object_set_new(o, "bad_enc", json_string("base64"));
	assert_int_equal(payload_from_json(o, "bad", "bad_enc", &p, &n), -EINVAL);
	json_decref(o);
}

/* utf8_sanitize into a buffer of size bytes, compared with want. */
static void sanitized(const char *in, size_t n, size_t size, const char *want)
{
	char out[64];
	memset(out, 'Z', sizeof(out));
	size_t len = utf8_sanitize(in, n, out, size);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	assert_true(utf8_is_valid((const uint8_t *)out, len));
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8_sanitize(void **state)
{
	sanitized("", 0, 64, "");
	sanitized("plain", 5, 64, "plain");
	sanitized("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12, 64,
		  "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	sanitized("/\xff", 2, 64, "/" FFFD);
	sanitized("\x80\x80", 2, 64, FFFD FFFD);
	/* A cut 3-byte character is one ill-formed sequence. */
	sanitized("a\xe2\x82", 3, 64, "a" FFFD);
	sanitized("a\xe2\x82z", 4, 64, "a" FFFD "z");
	/* Overlong, surrogate, past U+10FFFF: each byte that cannot start or
	 * continue a character is replaced on its own. */
	sanitized("\xc0\xaf", 2, 64, FFFD FFFD);
	sanitized("\xed\xa0\x80", 3, 64, FFFD FFFD FFFD);
	sanitized("\xf4\x90\x80\x80", 4, 64, FFFD FFFD FFFD FFFD);
	sanitized("\xf0\x9f\x98", 3, 64, FFFD);
	/* A NUL inside becomes U+FFFD too. */
	sanitized("a\0b", 3, 64, "a" FFFD "b");

	/* Cut to the buffer: whole characters only. */
	sanitized("abcd", 4, 3, "ab");
	sanitized("a\xe2\x82\xac", 4, 4, "a");
	sanitized("a\xe2\x82\xac", 4, 5, "a\xe2\x82\xac");
	sanitized("a\xff", 2, 4, "a");
	sanitized("abc", 3, 1, "");
	char untouched = 'Z';
	assert_int_equal(utf8_sanitize("abc", 3, &untouched, 0), 0);
	assert_int_equal(untouched, 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_utf8),
					    cmocka_unit_test(test_utf8_sanitize),
					    cmocka_unit_test(test_base64),
					    cmocka_unit_test(test_payload_json) };
	return cmocka_run_group_tests_name("encoding", tests, NULL, NULL);
}
