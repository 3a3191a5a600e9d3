/* The placement decision: capacity, draining and down hosts, exclusion and
 * the tie-breaks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "placement.h"

static void test_most_free_cores_wins(void **state)
{
	struct placement_host h[] = {
		{ "a", true, false, 4, 3, 1 },
		{ "b", true, false, 8, 2, 3 },
		{ "c", true, false, 8, 4, 0 },
	};
	assert_int_equal(placement_choose(h, 3, 0, NULL), 1);
	/* Only b has 6 unreserved cores. */
	assert_int_equal(placement_choose(h, 3, 6, NULL), 1);
	assert_int_equal(placement_choose(h, 3, 7, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 3, 0, "b"), 2);
}

static void test_down_and_draining_take_nothing(void **state)
{
	struct placement_host h[] = {
		{ "a", false, false, 16, 0, 0 },
		{ "b", true, true, 16, 0, 0 },
		{ "c", true, false, 2, 0, 5 },
	};
	assert_int_equal(placement_choose(h, 3, 0, NULL), 2);
	assert_int_equal(placement_choose(h, 3, 3, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 2, 0, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 0, 0, NULL), -ENOSPC);
}

static void test_ties_break_on_vms_then_id(void **state)
{
	struct placement_host h[] = {
		{ "z", true, false, 4, 0, 2 },
		{ "y", true, false, 4, 0, 1 },
		{ "x", true, false, 4, 0, 1 },
	};
	assert_int_equal(placement_choose(h, 3, 0, NULL), 2);
	h[2].vms = 2;
	assert_int_equal(placement_choose(h, 3, 0, NULL), 1);
}

/* A host whose reservations exceed its cores (its budget shrank) still
 * takes a VM that needs no core of its own, but never one that does. */
static void test_overcommitted_host(void **state)
{
	struct placement_host h[] = { { "a", true, false, 2, 3, 2 } };
	assert_int_equal(placement_choose(h, 1, 0, NULL), -ENOSPC);
	h[0].reserved = 2;
	assert_int_equal(placement_choose(h, 1, 0, NULL), 0);
	assert_int_equal(placement_choose(h, 1, 1, NULL), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_most_free_cores_wins),
					    cmocka_unit_test(test_down_and_draining_take_nothing),
					    cmocka_unit_test(test_ties_break_on_vms_then_id),
					    cmocka_unit_test(test_overcommitted_host) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
