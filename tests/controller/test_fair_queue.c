/* The fair async queue: round robin across tenants and functions, FIFO
 * within a function, and functions without a free slot passed over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fair_queue.h"

/* Which functions have room: "tenant/function" names that do not. */
struct room {
	const char *full[4];
};

static bool fits(const char *tenant, const char *function, unsigned max_concurrency, void *data)
{
	const struct room *r = data;
	char name[2 * STORE_NAME_SIZE];
	snprintf(name, sizeof(name), "%s/%s", tenant, function);
	for (size_t i = 0; r && i < 4 && r->full[i]; i++)
		if (!strcmp(r->full[i], name))
			return false;
	return max_concurrency > 0;
}

static void push(struct fair_queue *q, const char *tenant, const char *function, const char *id)
{
	assert_int_equal(fair_queue_push(q, tenant, function, 1, id), 0);
}

static void pop_expect(struct fair_queue *q, const struct room *r, const char *id)
{
	struct fair_item it;
	assert_true(fair_queue_pop(q, fits, (void *)r, &it));
	assert_string_equal(it.id.id, id);
}

static void test_empty(void **state)
{
	struct fair_queue q = { 0 };
	struct fair_item it;
	assert_false(fair_queue_pop(&q, fits, NULL, &it));
	assert_int_equal(fair_queue_len(&q), 0);
	fair_queue_free(&q);
}

static void test_fifo_within_function(void **state)
{
	struct fair_queue q = { 0 };
	push(&q, "a", "f", "1");
	push(&q, "a", "f", "2");
	push(&q, "a", "f", "3");
	pop_expect(&q, NULL, "1");
	pop_expect(&q, NULL, "2");
	pop_expect(&q, NULL, "3");
	assert_int_equal(fair_queue_len(&q), 0);
	fair_queue_free(&q);
}

/* A tenant with many queued calls gets one turn for each of the others'. */
static void test_round_robin_tenants(void **state)
{
	struct fair_queue q = { 0 };
	push(&q, "a", "f", "a1");
	push(&q, "a", "f", "a2");
	push(&q, "a", "f", "a3");
	push(&q, "b", "g", "b1");
	push(&q, "c", "h", "c1");
	push(&q, "b", "g", "b2");
	pop_expect(&q, NULL, "a1");
	pop_expect(&q, NULL, "b1");
	pop_expect(&q, NULL, "c1");
	pop_expect(&q, NULL, "a2");
	pop_expect(&q, NULL, "b2");
	pop_expect(&q, NULL, "a3");
	assert_int_equal(fair_queue_len(&q), 0);
	fair_queue_free(&q);
}

/* Within a tenant, its functions take turns. */
static void test_round_robin_functions(void **state)
{
	struct fair_queue q = { 0 };
	push(&q, "a", "f", "f1");
	push(&q, "a", "f", "f2");
	push(&q, "a", "g", "g1");
	push(&q, "a", "g", "g2");
	pop_expect(&q, NULL, "f1");
	pop_expect(&q, NULL, "g1");
	pop_expect(&q, NULL, "f2");
	pop_expect(&q, NULL, "g2");
	fair_queue_free(&q);
}

/* A function with no free slot keeps its calls queued, in order, while the
 * others' go ahead: no head-of-line blocking. */
static void test_full_function_passed_over(void **state)
{
	struct fair_queue q = { 0 };
	char id[STORE_ID_SIZE];
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "slow%d", i);
		push(&q, "a", "slow", id);
	}
	push(&q, "b", "echo", "echo1");
	push(&q, "a", "fast", "fast1");
	struct room busy = { { "a/slow" } };
	pop_expect(&q, &busy, "fast1");
	pop_expect(&q, &busy, "echo1");
	struct fair_item it;
	assert_false(fair_queue_pop(&q, fits, &busy, &it));
	assert_int_equal(fair_queue_len(&q), 40);
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "slow%d", i);
		pop_expect(&q, NULL, id);
	}
	assert_int_equal(fair_queue_len(&q), 0);
	fair_queue_free(&q);
}

/* The item names its tenant, function and the limit pushed last. */
static void test_item_fields(void **state)
{
	struct fair_queue q = { 0 };
	assert_int_equal(fair_queue_push(&q, "t", "fn", 3, "x"), 0);
	assert_int_equal(fair_queue_push(&q, "t", "fn", 5, "y"), 0);
	struct fair_item it;
	assert_true(fair_queue_pop(&q, fits, NULL, &it));
	assert_string_equal(it.tenant, "t");
	assert_string_equal(it.function, "fn");
	assert_int_equal(it.max_concurrency, 5);
	assert_string_equal(it.id.id, "x");
	/* A limit of 0 never fits: the call stays. */
	assert_int_equal(fair_queue_push(&q, "t", "fn", 0, "z"), 0);
	assert_false(fair_queue_pop(&q, fits, NULL, &it));
	assert_int_equal(fair_queue_len(&q), 2);
	fair_queue_free(&q);
	assert_int_equal(fair_queue_len(&q), 0);
}

/* Tenants come and go (emptied queues are dropped) and the turns stay fair. */
static void test_tenants_come_and_go(void **state)
{
	struct fair_queue q = { 0 };
	push(&q, "a", "f", "a1");
	push(&q, "b", "f", "b1");
	push(&q, "c", "f", "c1");
	pop_expect(&q, NULL, "a1");
	pop_expect(&q, NULL, "b1");
	push(&q, "a", "f", "a2");
	push(&q, "b", "f", "b2");
	pop_expect(&q, NULL, "c1");
	pop_expect(&q, NULL, "a2");
	pop_expect(&q, NULL, "b2");
	fair_queue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_fifo_within_function),
		cmocka_unit_test(test_round_robin_tenants),
		cmocka_unit_test(test_round_robin_functions),
		cmocka_unit_test(test_full_function_passed_over),
		cmocka_unit_test(test_item_fields),
		cmocka_unit_test(test_tenants_come_and_go),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
