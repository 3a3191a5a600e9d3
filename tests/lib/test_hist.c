#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hist.h"

static void test_buckets(void **state)
{
	struct hist h = { 0 };
	assert_int_equal(hist_quantile(&h, 0.5), 0);
	/* Bounds are inclusive: 10 lands in le=10, 11 in le=25. */
	hist_add(&h, 0);
	hist_add(&h, 10);
	hist_add(&h, 11);
	hist_add(&h, 10000);
	hist_add(&h, 10001);
	assert_int_equal(h.counts[0], 2);
	assert_int_equal(h.counts[1], 1);
	assert_int_equal(h.counts[HIST_BUCKETS - 2], 1);
	assert_int_equal(h.counts[HIST_BUCKETS - 1], 1);
	assert_int_equal(h.count, 5);
	assert_int_equal(h.sum, 20022);
	assert_int_equal(hist_quantile(&h, 0.4), 10);
	assert_int_equal(hist_quantile(&h, 0.5), 25);
	assert_int_equal(hist_quantile(&h, 0.8), 10000);
	assert_true(hist_quantile(&h, 1.0) == UINT64_MAX);
	assert_int_equal(hist_bound(0), 10);
	assert_int_equal(hist_bound(HIST_BUCKETS - 2), 10000);
}

static void test_json_round_trip_and_merge(void **state)
{
	struct hist h = { 0 };
	for (uint64_t v = 1; v <= 3000; v += 7)
		hist_add(&h, v);
	json_t *o = hist_to_json(&h);
	json_t *counts = json_object_get(o, "counts");
	assert_int_equal(json_array_size(json_object_get(o, "le")), HIST_BUCKETS - 1);
	assert_int_equal(json_array_size(counts), HIST_BUCKETS);
	/* Cumulative, ending at the count. */
	assert_int_equal(json_integer_value(json_array_get(counts, HIST_BUCKETS - 1)), h.count);
	assert_int_equal(json_integer_value(json_array_get(counts, 0)), 2); /* 1 and 8 */
	struct hist back;
	assert_int_equal(hist_from_json(o, &back), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	hist_merge(&back, &h);
	assert_int_equal(back.count, 2 * h.count);
	assert_int_equal(back.sum, 2 * h.sum);
	assert_int_equal(back.counts[3], 2 * h.counts[3]);
	json_decref(o);
}

static void test_json_refusals(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"le\":[10,25,50,100,250,500,1000,2500,5000,10000],\"counts\":[0,0,0,0,0,0,0,0,0,"
		"0,0],\"count\":1,\"sum\":0}",
		"{\"le\":[10,25,50,100,250,500,1000,2500,5000,9999],\"counts\":[0,0,0,0,0,0,0,0,0,"
		"0,0],\"count\":0,\"sum\":0}",
		"{\"le\":[10,25,50,100,250,500,1000,2500,5000,10000],\"counts\":[2,1,1,1,1,1,1,1,1,"
		"1,1],\"count\":1,\"sum\":0}",
		"{\"le\":[10,25,50,100,250,500,1000,2500,5000,10000],\"counts\":[0,0,0,0,0,0,0,0,0,"
		"0],\"count\":0,\"sum\":0}",
	};
	struct hist h = { .count = 42 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(bad[i], 0, NULL);
		assert_non_null(o);
		if (hist_from_json(o, &h) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(h.count, 42);
		json_decref(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_buckets),
					    cmocka_unit_test(test_json_round_trip_and_merge),
					    cmocka_unit_test(test_json_refusals) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
