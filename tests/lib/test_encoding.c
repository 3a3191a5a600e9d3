#include <setjmp.h>
#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests_name("encoding", tests, NULL, NULL);
}
