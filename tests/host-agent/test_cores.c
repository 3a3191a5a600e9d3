#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cores.h"

static void test_parse(void **state)
{
	struct cores c;
	assert_int_equal(cores_init(&c, "0"), 0);
	assert_int_equal(c.n_owned, 1);
	assert_true(c.owned[0]);
	assert_int_equal(cores_init(&c, "all"), 0);
	cpu_set_t mine;
	sched_getaffinity(0, sizeof(mine), &mine);
	assert_int_equal(c.n_owned, CPU_COUNT(&mine));
	if (CPU_ISSET(1, &mine)) {
		assert_int_equal(cores_init(&c, "1"), 0); /* a list: core 1 */
		assert_int_equal(c.n_owned, 1);
		assert_true(c.owned[1]);
		assert_false(c.owned[0]);
	}

	assert_int_equal(cores_init(&c, "0-"), -EINVAL);
	assert_int_equal(cores_init(&c, "a"), -EINVAL);
	assert_int_equal(cores_init(&c, "3-1"), -EINVAL);
	assert_int_equal(cores_init(&c, "0,,1"), -EINVAL);
	assert_int_equal(cores_init(&c, "200"), -ERANGE); /* more than this machine has */
	assert_int_equal(cores_init(&c, "250-255"), -ERANGE);

	char buf[64];
	bool set[CORES_MAX] = { false };
	set[0] = set[1] = set[2] = set[5] = set[7] = set[8] = true;
	cores_format(set, buf, sizeof(buf));
	assert_string_equal(buf, "0-2,5,7-8");
}

static void test_grant_release(void **state)
{
	struct cores c;
	assert_int_equal(cores_init(&c, "0"), 0);
	assert_int_equal(cores_free_count(&c), 1);
	int core = cores_grant(&c);
	assert_int_equal(core, 0);
	assert_int_equal(cores_free_count(&c), 0);
	/* Never more grants than cores. */
	assert_int_equal(cores_grant(&c), -ENOSPC);
	cores_release(&c, core);
	assert_int_equal(cores_free_count(&c), 1);
	cores_release(&c, 999); /* ignored */
}

static void test_pin(void **state)
{
	struct cores c;
	assert_int_equal(cores_init(&c, "0"), 0);
	pid_t tid = gettid();
	cpu_set_t before;
	sched_getaffinity(0, sizeof(before), &before);
	assert_int_equal(cores_pin_thread(&c, tid, 0), 0);
	cpu_set_t now;
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(CPU_COUNT(&now), 1);
	assert_true(CPU_ISSET(0, &now));
	/* Back to the shared set. */
	assert_int_equal(cores_pin_thread(&c, tid, -1), 0);
	sched_getaffinity(0, sizeof(now), &now);
	assert_true(CPU_EQUAL(&now, &c.shared));
	sched_setaffinity(0, sizeof(before), &before);
	assert_int_equal(cores_pin_thread(&c, 0x7ffffff0, 0), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_parse),
					    cmocka_unit_test(test_grant_release),
					    cmocka_unit_test(test_pin) };
	return cmocka_run_group_tests_name("cores", tests, NULL, NULL);
}
