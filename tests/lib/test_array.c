/* The growable array: the first capacity, doubling, elements kept, room
 * already there, and the overflow guard leaving the array as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "util.h"

static void test_initial(void **state)
{
	(void)state;
	int *v = NULL;
	size_t cap = 0;
	assert_int_equal(array_reserve(&v, &cap, 1, sizeof(*v), 16), 0);
	assert_non_null(v);
	assert_int_equal(cap, 16);
	/* An initial capacity smaller than n doubles until n fits. */
	long *w = NULL;
	size_t wcap = 0;
	assert_int_equal(array_reserve(&w, &wcap, 100, sizeof(*w), 16), 0);
	assert_int_equal(wcap, 128);
	w[99] = 7;
	free(w);
	/* No initial capacity still gives room. */
	char *c = NULL;
	size_t ccap = 0;
	assert_int_equal(array_reserve(&c, &ccap, 1, 1, 0), 0);
	assert_int_equal(ccap, 1);
	free(c);
	free(v);
}

static void test_growth(void **state)
{
	(void)state;
	int *v = NULL;
	size_t cap = 0, n = 0;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(array_reserve(&v, &cap, n + 1, sizeof(*v), 4), 0);
		assert_true(cap >= n + 1);
		v[n++] = i;
	}
	assert_int_equal(cap, 1024);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(v[i], i);
	/* Room already there: nothing moves. */
	int *before = v;
	assert_int_equal(array_reserve(&v, &cap, 1024, sizeof(*v), 4), 0);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 1024);
	assert_int_equal(array_reserve(&v, &cap, 0, sizeof(*v), 4), 0);
	assert_int_equal(cap, 1024);
	free(v);
}

static void test_overflow(void **state)
{
	(void)state;
	uint64_t *v = NULL;
	size_t cap = 0;
	assert_int_equal(array_reserve(&v, &cap, 3, sizeof(*v), 2), 0);
	v[0] = 1;
	v[1] = 2;
	v[2] = 3;
	uint64_t *before = v;
	/* n * size does not fit in a size_t: refused, the array as it was. */
	assert_int_equal(array_reserve(&v, &cap, SIZE_MAX / sizeof(*v) + 1, sizeof(*v), 2),
			 -ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 4);
	assert_int_equal(v[0] + v[1] + v[2], 6);
	assert_int_equal(array_reserve(&v, &cap, SIZE_MAX, sizeof(*v), 2), -ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 4);
	/* A capacity near the top that cannot double jumps to n, still guarded. */
	char *c = NULL;
	size_t ccap = SIZE_MAX / 2 + 2;
	assert_int_equal(array_reserve(&c, &ccap, SIZE_MAX, 2, 1), -ENOMEM);
	assert_null(c);
	assert_int_equal(ccap, SIZE_MAX / 2 + 2);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_initial),
					    cmocka_unit_test(test_growth),
					    cmocka_unit_test(test_overflow) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
