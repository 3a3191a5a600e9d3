/* The placement decision: capacity, draining and down hosts, exclusion and
 * the tie-breaks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "placement.h"

static void test_most_free_cores_wins(void **state)
{
	struct placement_host h[] = {
		{ "a", true, false, 4, 3, 1, false, NULL },
		{ "b", true, false, 8, 2, 3, false, NULL },
		{ "c", true, false, 8, 4, 0, false, NULL },
	};
	assert_int_equal(placement_choose(h, 3, 0, false, NULL), 1);
	/* Only b has 6 unreserved cores. */
	assert_int_equal(placement_choose(h, 3, 6, false, NULL), 1);
	assert_int_equal(placement_choose(h, 3, 7, false, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 3, 0, false, "b"), 2);
}

static void test_down_and_draining_take_nothing(void **state)
{
	struct placement_host h[] = {
		{ "a", false, false, 16, 0, 0, false, NULL },
		{ "b", true, true, 16, 0, 0, false, NULL },
		{ "c", true, false, 2, 0, 5, false, NULL },
	};
	assert_int_equal(placement_choose(h, 3, 0, false, NULL), 2);
	assert_int_equal(placement_choose(h, 3, 3, false, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 2, 0, false, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 0, 0, false, NULL), -ENOSPC);
}

static void test_ties_break_on_vms_then_id(void **state)
{
	struct placement_host h[] = {
		{ "z", true, false, 4, 0, 2, false, NULL },
		{ "y", true, false, 4, 0, 1, false, NULL },
		{ "x", true, false, 4, 0, 1, false, NULL },
	};
	assert_int_equal(placement_choose(h, 3, 0, false, NULL), 2);
	h[2].vms = 2;
	assert_int_equal(placement_choose(h, 3, 0, false, NULL), 1);
}

/* A host whose reservations exceed its cores (its budget shrank) still
 * takes a VM that needs no core of its own, but never one that does. */
static void test_overcommitted_host(void **state)
{
	struct placement_host h[] = { { "a", true, false, 2, 3, 2, false, NULL } };
	assert_int_equal(placement_choose(h, 1, 0, false, NULL), -ENOSPC);
	h[0].reserved = 2;
	assert_int_equal(placement_choose(h, 1, 0, false, NULL), 0);
	assert_int_equal(placement_choose(h, 1, 1, false, NULL), -ENOSPC);
}

/* An SEV-SNP VM goes only where the host says it can launch one; a host
 * that does not say (an older agent) cannot. */
static void test_sev_snp_needs_a_capable_host(void **state)
{
	struct placement_host h[] = {
		{ "h1", true, false, 16, 0, 0, false, "/dev/sev missing" },
		{ "h2", true, false, 4, 0, 0, true, NULL },
		{ "h3", true, false, 8, 0, 0, false, NULL },
	};
	assert_int_equal(placement_choose(h, 3, 0, false, NULL), 0);
	assert_int_equal(placement_choose(h, 3, 0, true, NULL), 1);
	/* A capable host without room is no room, not no capability. */
	assert_int_equal(placement_choose(h, 3, 5, true, NULL), -ENOSPC);
	assert_int_equal(placement_choose(h, 3, 0, true, "h2"), -ENODEV);
	h[1].up = false;
	assert_int_equal(placement_choose(h, 3, 0, true, NULL), -ENODEV);
	char why[256];
	placement_snp_why(h, 3, NULL, why, sizeof(why));
	assert_string_equal(why, "no host can launch an SEV-SNP VM: h1: /dev/sev missing; "
				 "h3: it does not report SEV-SNP support");
	placement_snp_why(h, 3, "h1", why, sizeof(why));
	assert_string_equal(why, "no host can launch an SEV-SNP VM: h3: it does not report "
				 "SEV-SNP support");
	placement_snp_why(h, 0, NULL, why, sizeof(why));
	assert_string_equal(why, "no host can launch an SEV-SNP VM: no host is up");
	/* A reason longer than the buffer is cut, never overrun. */
	char small[40];
	placement_snp_why(h, 3, NULL, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_most_free_cores_wins),
					    cmocka_unit_test(test_down_and_draining_take_nothing),
					    cmocka_unit_test(test_ties_break_on_vms_then_id),
					    cmocka_unit_test(test_overcommitted_host),
					    cmocka_unit_test(test_sev_snp_needs_a_capable_host) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
