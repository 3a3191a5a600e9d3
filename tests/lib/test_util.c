/* The growable buffer: appends, formatted appends of any length, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_buf(void **state)
{
	struct buf b = { 0 };
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "ab-42-x", 7);

	/* Longer than any fixed scratch space a formatter might use. */
	char long_text[1000];
	memset(long_text, 'y', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "[%s]", long_text), 0);
	assert_int_equal(b.len, 7 + 2 + 999);
	assert_int_equal(b.data[7], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[8 + 500], 'y');

	size_t cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
