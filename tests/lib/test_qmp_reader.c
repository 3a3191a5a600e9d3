/* The QMP line reader: lines at any split, over-long lines dropped in their
 * place without ever being held whole, lines right at the limit, and a
 * buffer that cannot grow past SIZE_MAX. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qmp.h"

/* Takes the next line out and compares it. */
static void expect_line(struct qmp_reader *r, const char *want)
{
	char *line = NULL;
	assert_int_equal(qmp_reader_next_line(r, &line), 1);
	assert_string_equal(line, want);
	free(line);
}

static void test_reader_lines(void **state)
{
	struct qmp_reader r;
	qmp_reader_init(&r);
	char *line = NULL;
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	const char *in = "\r\n\n{\"return\": {}}\r\nabc\ndef\r\n\r\npartial";
	assert_int_equal(qmp_reader_feed(&r, in, strlen(in)), 0);
	expect_line(&r, "");
	expect_line(&r, "");
	expect_line(&r, "{\"return\": {}}");
	expect_line(&r, "abc");
	expect_line(&r, "def");
	expect_line(&r, "");
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	assert_null(line);
	/* The unterminated tail waits for its end; a lone "\r" stays in it. */
	assert_int_equal(qmp_reader_feed(&r, "\r", 1), 0);
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	assert_int_equal(qmp_reader_feed(&r, "x\r\n", 3), 0);
	expect_line(&r, "partial\rx");
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	qmp_reader_free(&r);
	/* Freeing twice, or a zeroed reader, is fine. */
	qmp_reader_free(&r);
}

/* Feeds a stream that holds an over-long line of huge bytes and a last byte
 * ("\r" or not) between two good ones. A "\r" is put at cr_at inside it
 * unless cr_at is SIZE_MAX. */
static void check_overflow(size_t huge, size_t chunk, bool cr, size_t cr_at)
{
	const char *head = "{\"event\": \"A\"}\r\n";
	const char *tail = "{\"return\": {}, \"id\": 7}\r\n";
	size_t len = strlen(head) + huge + 2 + strlen(tail);
	char *s = malloc(len);
	assert_non_null(s);
	size_t o = 0;
	memcpy(s, head, strlen(head));
	o += strlen(head);
	memset(s + o, 'x', huge);
	if (cr_at < huge)
		s[o + cr_at] = '\r';
	o += huge;
	if (cr)
		s[o++] = '\r';
	else
		s[o++] = 'y';
	s[o++] = '\n';
	memcpy(s + o, tail, strlen(tail));

	if (chunk > len)
		chunk = len;
	struct qmp_reader r;
	qmp_reader_init(&r);
	int got_big = 0, got_lines = 0;
	size_t max_cap = 0;
	for (size_t off = 0; off < len; off += chunk) {
		size_t k = len - off < chunk ? len - off : chunk;
		assert_int_equal(qmp_reader_feed(&r, s + off, k), 0);
		if (r.buf.cap > max_cap)
			max_cap = r.buf.cap;
		char *line;
		int rc;
		while ((rc = qmp_reader_next_line(&r, &line)) != 0) {
			if (rc == -EMSGSIZE) {
				assert_int_equal(got_lines, 1);
				got_big++;
				continue;
			}
			assert_int_equal(rc, 1);
			struct qmp_msg m;
			assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
			assert_int_equal(m.kind, got_lines == 0 ? QMP_MSG_EVENT : QMP_MSG_RETURN);
			if (got_lines == 1)
				assert_int_equal(got_big, 1);
			got_lines++;
			qmp_msg_clear(&m);
			free(line);
		}
	}
	assert_int_equal(got_big, 1);
	assert_int_equal(got_lines, 2);
	/* The discarded line was never held whole. */
	assert_true(max_cap <= 4 * (size_t)QMP_MAX_LINE);
	qmp_reader_free(&r);
	free(s);
}

static void test_reader_overflow(void **state)
{
	check_overflow(QMP_MAX_LINE + 10, 65536, true, SIZE_MAX);
	check_overflow(QMP_MAX_LINE * 3, 65536, true, SIZE_MAX);
	check_overflow(QMP_MAX_LINE * 3, SIZE_MAX, false, SIZE_MAX);
	check_overflow(QMP_MAX_LINE + 1, 1, true, SIZE_MAX);
	/* Content of exactly QMP_MAX_LINE + 1 bytes, the last one not "\r". */
	check_overflow(QMP_MAX_LINE, 4093, false, SIZE_MAX);
	/* A "\r" just past the limit inside a longer line is not its end. */
	check_overflow(QMP_MAX_LINE + 100, 65536, true, QMP_MAX_LINE);
	check_overflow(QMP_MAX_LINE + 100, 7, false, QMP_MAX_LINE + 1);
}

/* Lines right at the limit pass, with or without "\r". */
static void test_reader_limit(void **state)
{
	size_t len = QMP_MAX_LINE + 2;
	char *s = malloc(len);
	assert_non_null(s);
	memset(s, ' ', len);
	s[0] = '{';
	memcpy(s + QMP_MAX_LINE - 13, "\"return\":0}", 11);
	s[QMP_MAX_LINE - 2] = ' ';
	s[QMP_MAX_LINE - 1] = ' ';
	s[QMP_MAX_LINE] = '\r';
	s[QMP_MAX_LINE + 1] = '\n';
	for (int pass = 0; pass < 2; pass++) {
		struct qmp_reader r;
		qmp_reader_init(&r);
		/* The second pass drops the "\r" so the line ends in "\n" only. */
		if (pass == 0) {
			assert_int_equal(qmp_reader_feed(&r, s, len), 0);
		} else {
			assert_int_equal(qmp_reader_feed(&r, s, QMP_MAX_LINE), 0);
			assert_int_equal(qmp_reader_feed(&r, "\n", 1), 0);
		}
		char *line;
		assert_int_equal(qmp_reader_next_line(&r, &line), 1);
		assert_int_equal(strlen(line), QMP_MAX_LINE);
		struct qmp_msg m;
		assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
		assert_int_equal(m.kind, QMP_MSG_RETURN);
		qmp_msg_clear(&m);
		free(line);
		assert_int_equal(qmp_reader_next_line(&r, &line), 0);
		qmp_reader_free(&r);
	}
	free(s);
}

/* A reader holding nearly SIZE_MAX bytes must refuse more rather than let
 * len + n wrap and write past its buffer (it used to double its capacity
 * and add lengths unchecked). The buffer is never touched: no real one is
 * behind it. */
static void test_reader_size_guard(void **state)
{
	struct qmp_reader r;
	qmp_reader_init(&r);
	r.buf = (struct buf){ .data = NULL, .len = SIZE_MAX - 4, .cap = SIZE_MAX - 4 };
	r.partial = r.buf.len;
	assert_int_equal(qmp_reader_feed(&r, "{\"return\": {}}\n", 15), -ENOMEM);
	assert_int_equal(r.buf.len, SIZE_MAX - 4);
	assert_int_equal(r.buf.cap, SIZE_MAX - 4);
	assert_null(r.buf.data);
	/* A partial line near the top: the same refusal. */
	r.partial = r.buf.len - 8;
	assert_int_equal(qmp_reader_feed(&r, "abcdefgh", 8), -ENOMEM);
	assert_int_equal(r.buf.len, SIZE_MAX - 4);
	qmp_reader_init(&r);
	qmp_reader_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_reader_lines),
					    cmocka_unit_test(test_reader_overflow),
					    cmocka_unit_test(test_reader_limit),
					    cmocka_unit_test(test_reader_size_guard) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
