/* The worker-vCPU accounting arithmetic (usage.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "usage.h"

#define MS 1000000ull

static void read_ms(const struct usage *u, uint64_t now, uint64_t alloc, uint64_t busy)
{
	uint64_t a, b;
	usage_read(u, now, &a, &b);
	assert_int_equal(a, alloc);
	assert_int_equal(b, busy);
}

static void test_integrates_levels(void **state)
{
	struct usage u;
	usage_init(&u, 5 * MS);
	read_ms(&u, 100 * MS, 0, 0);
	usage_set(&u, 10 * MS, 2, 0);  /* two cores granted at 10 ms */
	usage_set(&u, 20 * MS, 2, 1);  /* one runs an invocation */
	usage_set(&u, 30 * MS, 2, 2);  /* both */
	usage_set(&u, 40 * MS, 1, 1);  /* one released */
	/* Exact at read time, between changes: 2*30 + 1*5 allocated, 1*10 +
	 * 2*10 + 1*5 busy. */
	read_ms(&u, 45 * MS, 65, 35);
	usage_set(&u, 50 * MS, 0, 0);
	read_ms(&u, 50 * MS, 70, 40);
	read_ms(&u, 1000 * MS, 70, 40); /* nothing held: nothing grows */
	json_t *o = usage_to_json(&u, 60 * MS);
	assert_int_equal(json_integer_value(json_object_get(o, "allocated")), 70);
	assert_int_equal(json_integer_value(json_object_get(o, "busy")), 40);
	json_decref(o);
}

static void test_sub_millisecond_and_odd_input(void **state)
{
	struct usage u;
	usage_init(&u, 0);
	/* Many short spans add up in nanoseconds, not rounded one by one. */
	for (uint64_t t = 0; t < 1000; t++) {
		usage_set(&u, t * 400000, 1, 1);
		usage_set(&u, t * 400000 + 300000, 1, 0);
	}
	read_ms(&u, 400 * MS, 400, 300);
	/* A time before the last change counts as that change; negative levels
	 * count as none. */
	usage_set(&u, 100 * MS, -3, -1);
	assert_int_equal(u.t_ns, 399900000);
	read_ms(&u, 500 * MS, 399, 300); /* 399.9 ms, rounded down */
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_integrates_levels),
					    cmocka_unit_test(test_sub_millisecond_and_odd_input) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
