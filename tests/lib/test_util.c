/* The growable buffer (appends, formatted appends of any length, reset, its
 * overflow guard), strict integer parsing and whole-file reads. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void test_buf_reserve(void **state)
{
	struct buf b = { 0 };
	assert_int_equal(buf_reserve(&b, 0), 0);
	assert_int_equal(buf_reserve(&b, 1000), 0);
	assert_true(b.cap >= 1000);
	assert_int_equal(b.len, 0);
	uint8_t *data = b.data;
	size_t cap = b.cap;
	/* Room already there: nothing moves. */
	assert_int_equal(buf_reserve(&b, cap), 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(buf_append(&b, "abc", 3), 0);

	/* len + n would wrap: refused, b unchanged. */
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -ENOMEM);
	assert_int_equal(buf_reserve(&b, SIZE_MAX - 2), -ENOMEM);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), -ENOMEM);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, 3);

	/* A length near SIZE_MAX: doubling the capacity would overflow. */
	struct buf huge = { .data = NULL, .len = SIZE_MAX - 10, .cap = SIZE_MAX - 10 };
	assert_int_equal(buf_reserve(&huge, 11), -ENOMEM);
	assert_int_equal(buf_reserve(&huge, 20), -ENOMEM);
	assert_null(huge.data);
	assert_int_equal(huge.cap, SIZE_MAX - 10);
	buf_free(&b);
}

static void test_buf_drop_front(void **state)
{
	struct buf b = { 0 };
	buf_drop_front(&b, 5);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "abcdef", 6), 0);
	buf_drop_front(&b, 0);
	assert_int_equal(b.len, 6);
	buf_drop_front(&b, 2);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "cdef", 4);
	/* More than there is empties it. */
	buf_drop_front(&b, 99);
	assert_int_equal(b.len, 0);
	assert_true(b.cap >= 6);
	buf_free(&b);
}

static void test_parse_u64(void **state)
{
	uint64_t v = 99;
	assert_int_equal(parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u64("007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 99;
	const char *bad[] = { "", "-", "+1", " 1", "1 ", "-1", "1x", "0x1", "1.0", "1e3", "\t1" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_u64(bad[i], 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_u64(NULL, 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	/* Not a number beats out of range, wherever the junk is. */
	assert_int_equal(parse_u64("99999999999999999999999x", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_u64("4", 5, 10, &v), -ERANGE);
	assert_int_equal(parse_u64("11", 5, 10, &v), -ERANGE);
	assert_int_equal(v, 99);
	assert_int_equal(parse_u64("5", 5, 10, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(parse_u64("10", 5, 10, &v), 0);
	assert_int_equal(v, 10);
}

static void test_parse_i64(void **state)
{
	int64_t v = 99;
	assert_int_equal(parse_i64("-0", -5, 5, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_i64("-5", -5, 5, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(parse_i64("007", -5, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MIN);
	v = 99;
	const char *bad[] = { "", "-", "+1", " 1", "1 ", "--1", "- 1", "1-", "-x", "1.5" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_i64(bad[i], INT64_MIN, INT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_i64(NULL, INT64_MIN, INT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_i64("-99999999999999999999", INT64_MIN, INT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_i64("-6", -5, 5, &v), -ERANGE);
	assert_int_equal(parse_i64("6", -5, 5, &v), -ERANGE);
	assert_int_equal(parse_i64("-1", 0, 5, &v), -ERANGE);
	assert_int_equal(v, 99);
}

static void test_file_read_all(void **state)
{
	char path[] = "/tmp/ditto-test-util-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	void *data = (void *)1;
	size_t len = 77;
	assert_int_equal(file_read_all(path, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);

	/* Larger than any first guess, with a NUL inside. */
	size_t n = 100000;
	char *text = malloc(n);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	text[5] = '\0';
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	assert_int_equal(file_read_all(path, &data, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, text, n);
	assert_int_equal(((char *)data)[n], '\0');
	free(data);
	free(text);
	unlink(path);

	/* A file whose size stat does not know. */
	assert_int_equal(file_read_all("/proc/self/status", &data, &len), 0);
	assert_true(len > 0);
	assert_non_null(strstr(data, "Name:"));
	free(data);

	data = (void *)1;
	len = 77;
	assert_int_equal(file_read_all(path, &data, &len), -ENOENT);
	assert_ptr_equal(data, (void *)1);
	assert_int_equal(len, 77);
	assert_int_equal(file_read_all("/", &data, &len), -EISDIR);
}

static void test_file_replace_text(void **state)
{
	char dir[] = "/tmp/ditto-test-util-XXXXXX", path[64], tmp[64], text[16];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s/f.tmp", dir);
	/* A stale path.tmp with another mode does not lend it its mode. */
	int fd = open(tmp, O_WRONLY | O_CREAT, 0666);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0666), 0);
	close(fd);
	assert_int_equal(file_replace_text(path, "one\n", 0600, true), 0);
	assert_int_equal(file_replace_text(path, "two\n", 0600, false), 0);
	assert_int_equal(file_read_text(path, text, sizeof(text)), 3);
	assert_string_equal(text, "two");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(access(tmp, F_OK), -1);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(file_replace_text("/nonexistent/dir/f", "x", 0600, false), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_buf),
					    cmocka_unit_test(test_buf_reserve),
					    cmocka_unit_test(test_buf_drop_front),
					    cmocka_unit_test(test_parse_u64),
					    cmocka_unit_test(test_parse_i64),
					    cmocka_unit_test(test_file_read_all),
					    cmocka_unit_test(test_file_replace_text) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
