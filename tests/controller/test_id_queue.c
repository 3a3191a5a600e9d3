/* The async queue's ring: FIFO order through wraps and growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "id_queue.h"

static void id_of(unsigned n, char out[STORE_ID_SIZE])
{
	snprintf(out, STORE_ID_SIZE, "%032x", n);
}

static void push_n(struct id_queue *q, unsigned from, unsigned n)
{
	char id[STORE_ID_SIZE];
	for (unsigned i = from; i < from + n; i++) {
		id_of(i, id);
		assert_int_equal(id_queue_push(q, id), 0);
	}
}

static void pop_expect(struct id_queue *q, unsigned from, unsigned n)
{
	char want[STORE_ID_SIZE];
	struct store_id got;
	for (unsigned i = from; i < from + n; i++) {
		id_of(i, want);
		assert_true(id_queue_pop(q, &got));
		assert_string_equal(got.id, want);
	}
}

static void test_empty(void **state)
{
	struct id_queue q = { 0 };
	struct store_id id;
	assert_false(id_queue_pop(&q, &id));
	assert_int_equal(id_queue_len(&q), 0);
	id_queue_free(&q);
	id_queue_free(&q);
}

static void test_fifo(void **state)
{
	struct id_queue q = { 0 };
	push_n(&q, 0, 10);
	assert_int_equal(id_queue_len(&q), 10);
	pop_expect(&q, 0, 10);
	struct store_id id;
	assert_false(id_queue_pop(&q, &id));
	id_queue_free(&q);
}

/* A full ring whose oldest entry is not at index 0 grows: the order must
 * survive the move of its front part, at every offset of the head. */
static void test_grow_while_wrapped(void **state)
{
	for (unsigned offset = 0; offset < 64; offset += 7) {
		struct id_queue q = { 0 };
		push_n(&q, 0, 64); /* fills the first ring exactly */
		size_t cap = q.cap;
		pop_expect(&q, 0, offset);
		push_n(&q, 64, offset); /* full again, wrapped at offset */
		assert_int_equal(q.cap, cap);
		assert_int_equal(q.head, offset);
		push_n(&q, 64 + offset, 1 + offset); /* grows while wrapped */
		assert_true(q.cap > cap);
		assert_int_equal(id_queue_len(&q), 64 + 1 + offset);
		pop_expect(&q, offset, 64 + 1 + offset);
		assert_int_equal(id_queue_len(&q), 0);
		id_queue_free(&q);
	}
}

static void test_many_wraps(void **state)
{
	struct id_queue q = { 0 };
	unsigned next_in = 0, next_out = 0;
	for (unsigned round = 0; round < 200; round++) {
		unsigned in = 1 + round % 37, out = round % 29;
		push_n(&q, next_in, in);
		next_in += in;
		if (out > next_in - next_out)
			out = next_in - next_out;
		pop_expect(&q, next_out, out);
		next_out += out;
		assert_int_equal(id_queue_len(&q), next_in - next_out);
	}
	pop_expect(&q, next_out, next_in - next_out);
	id_queue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_empty),
					    cmocka_unit_test(test_fifo),
					    cmocka_unit_test(test_grow_while_wrapped),
					    cmocka_unit_test(test_many_wraps) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
