/* ditto-bench soak's figures: the warm sample, the last and the most seen
 * per process, the growth, unknown processes, and the reading of this very
 * process from /proc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "soak_proc.h"

/* Samples every 10 s; the controller grows until 20 s, then stays; QEMU is
 * never known. */
static void fill(struct soak_sample *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		v[i].t_s = 10.0 * (double)i;
		v[i].u[SOAK_CONTROLLER].rss_kb = i < 2 ? 1000 + 500 * (long)i : 2000 + (i == 3);
		v[i].u[SOAK_CONTROLLER].fds = i == 2 ? 30 : 20;
		v[i].u[SOAK_AGENT].rss_kb = 5000;
		v[i].u[SOAK_AGENT].fds = 12;
		v[i].u[SOAK_QEMU].rss_kb = v[i].u[SOAK_QEMU].fds = -1;
	}
}

static void test_summarize(void **state)
{
	struct soak_sample v[6];
	struct soak_summary s[SOAK_PROCS];
	fill(v, 6);
	/* A warm-up of 15 s ends at the sample of 20 s. */
	soak_summarize(v, 6, 15, s);
	assert_int_equal(s[SOAK_CONTROLLER].rss_kb.warm, 2000);
	assert_int_equal(s[SOAK_CONTROLLER].rss_kb.last, 2000);
	assert_int_equal(s[SOAK_CONTROLLER].rss_kb.max, 2001);
	assert_true(s[SOAK_CONTROLLER].growth_pct == 0);
	assert_int_equal(s[SOAK_CONTROLLER].fds.warm, 30);
	assert_int_equal(s[SOAK_CONTROLLER].fds.last, 20);
	assert_int_equal(s[SOAK_CONTROLLER].fds.max, 30);
	assert_int_equal(s[SOAK_AGENT].rss_kb.max, 5000);
	assert_int_equal(s[SOAK_QEMU].rss_kb.warm, -1);
	assert_int_equal(s[SOAK_QEMU].fds.last, -1);
	json_t *j = soak_summary_json(&s[SOAK_QEMU], SOAK_QEMU);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "qemu");
	assert_true(json_is_null(json_object_get(json_object_get(j, "rss_kb"), "growth_pct")));
	json_decref(j);

	/* From the first sample: 1000 kB then, 2000 kB at the end. */
	soak_summarize(v, 6, 0, s);
	assert_int_equal(s[SOAK_CONTROLLER].rss_kb.warm, 1000);
	assert_true(s[SOAK_CONTROLLER].growth_pct == 100);
	/* A warm-up past the last sample: the last one. */
	soak_summarize(v, 6, 500, s);
	assert_int_equal(s[SOAK_CONTROLLER].rss_kb.warm, 2000);
}

static void test_read_self(void **state)
{
	const pid_t pids[SOAK_PROCS] = { getpid(), 0, 0 };
	struct soak_sample v;
	soak_sample_read(&v, 1.5, pids);
	assert_true(v.t_s == 1.5);
	assert_true(v.u[SOAK_CONTROLLER].rss_kb > 0);
	/* At least the descriptor of /proc/PID/fd itself while it is read. */
	assert_true(v.u[SOAK_CONTROLLER].fds >= 1);
	assert_int_equal(v.u[SOAK_AGENT].rss_kb, -1);
	assert_int_equal(v.u[SOAK_QEMU].fds, -1);
	json_t *j = soak_sample_json(&v);
	assert_true(json_is_null(json_object_get(json_object_get(j, "agent"), "rss_kb")));
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(j, "controller"), "fds")),
		v.u[SOAK_CONTROLLER].fds);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summarize),
		cmocka_unit_test(test_read_self),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
