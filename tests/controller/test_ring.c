/* Rendezvous hashing of tenants over controllers: one owner everywhere,
 * stable, moving only what a membership change must move, spread evenly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ring.h"

#define TENANTS 3000

static void tenant_name(int i, char *out, size_t size)
{
	snprintf(out, size, "tenant-%d", i);
}

static void test_empty_and_one(void **state)
{
	(void)state;
	assert_int_equal(ring_owner("t", NULL, 0), -1);
	const char *one[] = { "ctl-a" };
	assert_int_equal(ring_owner("t", one, 1), 0);
}

/* The owner depends on the set, not on the order it is listed in. */
static void test_order_free_and_stable(void **state)
{
	(void)state;
	const char *a[] = { "ctl-a", "ctl-b", "ctl-c" };
	const char *b[] = { "ctl-c", "ctl-a", "ctl-b" };
	char t[32];
	for (int i = 0; i < TENANTS; i++) {
		tenant_name(i, t, sizeof(t));
		long x = ring_owner(t, a, 3), y = ring_owner(t, b, 3);
		assert_true(x >= 0 && y >= 0);
		assert_string_equal(a[x], b[y]);
		assert_int_equal(ring_owner(t, a, 3), x);
	}
	assert_int_not_equal(ring_weight("ab", "c"), ring_weight("a", "bc"));
}

/* A controller leaving moves only its own tenants; one joining takes some
 * tenants from each, and moves nothing between the others. */
static void test_membership_change(void **state)
{
	(void)state;
	const char *three[] = { "ctl-a", "ctl-b", "ctl-c" };
	const char *two[] = { "ctl-a", "ctl-c" };
	const char *four[] = { "ctl-a", "ctl-b", "ctl-c", "ctl-d" };
	char t[32];
	int moved_leave = 0, moved_join = 0;
	for (int i = 0; i < TENANTS; i++) {
		tenant_name(i, t, sizeof(t));
		const char *before = three[ring_owner(t, three, 3)];
		const char *after = two[ring_owner(t, two, 2)];
		if (strcmp(before, "ctl-b") != 0)
			assert_string_equal(before, after);
		else
			moved_leave++;
		const char *joined = four[ring_owner(t, four, 4)];
		if (strcmp(joined, "ctl-d") != 0)
			assert_string_equal(before, joined);
		else
			moved_join++;
	}
	assert_true(moved_leave > 0);
	assert_true(moved_join > 0);
}

/* Each of 4 controllers owns about a quarter (within 20 % of it). */
static void test_spread(void **state)
{
	(void)state;
	const char *ids[] = { "ctl-0a1b2c3d", "ctl-9f8e7d6c", "east-1", "west-2" };
	int count[4] = { 0 };
	char t[32];
	for (int i = 0; i < TENANTS; i++) {
		tenant_name(i, t, sizeof(t));
		count[ring_owner(t, ids, 4)]++;
	}
	for (int k = 0; k < 4; k++) {
		assert_true(count[k] > TENANTS / 4 * 8 / 10);
		assert_true(count[k] < TENANTS / 4 * 12 / 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_one),
		cmocka_unit_test(test_order_free_and_stable),
		cmocka_unit_test(test_membership_change),
		cmocka_unit_test(test_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
