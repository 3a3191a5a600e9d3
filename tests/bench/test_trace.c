/* The trace parsers on real rows of the Azure Functions Trace 2019 (both
 * minute layouts, both memory layouts; tests/data/trace/README) and on
 * hand-written 2021 rows. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/files.h"
#include "trace.h"
#include "util.h"

static const char *data_dir(void)
{
	const char *d = getenv("DITTO_TESTDATA");
	return d ? d : "tests/data";
}

static void load(const char *rel, int day, struct trace *t)
{
	char path[512], err[512] = "";
	snprintf(path, sizeof(path), "%s/%s", data_dir(), rel);
	int r = trace_load(path, day, t, err, sizeof(err));
	if (r != 0)
		fail_msg("%s: %s", path, err);
}

static bool near(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

static uint64_t window_sum(const struct trace_function *f, int from, int n)
{
	uint64_t s = 0;
	for (int i = 0; i < n; i++)
		s += f->per_minute[from + i];
	return s;
}

/* The published sample's layout: minutes 480..959, memory per function. */
static void test_sample_layout(void **state)
{
	struct trace t;
	load("trace/sample", 0, &t);
	assert_int_equal(t.format, TRACE_AZURE2019);
	assert_int_equal(t.first_minute, 480);
	assert_int_equal(t.n_minutes, 480);
	assert_int_equal(t.n_fns, 4);
	static const uint64_t totals[] = { 1, 24, 120, 3828 };
	static const char *const triggers[] = { "queue", "http", "timer", "orchestration" };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(t.fns[i].total, totals[i]);
		assert_int_equal(window_sum(&t.fns[i], 0, 480), totals[i]);
		assert_string_equal(t.fns[i].trigger, triggers[i]);
		assert_true(t.fns[i].has_duration);
		assert_true(t.fns[i].has_memory);
		assert_null(t.fns[i].calls);
	}
	assert_string_equal(t.fns[1].func,
			    "15fcc9f267a07593c381008efc422e13b7d3959ca4b9c5173149d1b6d21d9ca8");
	assert_int_equal(t.fns[3].per_minute[0], 4);
	assert_int_equal(t.fns[3].per_minute[1], 8);
	assert_int_equal(window_sum(&t.fns[3], 0, 10), 76);
	/* durations: Average 94, percentiles 12,12,17,19,35,1548,1548 */
	static const double dur[] = { 12, 12, 17, 19, 35, 1548, 1548 };
	assert_true(near(t.fns[1].dur_avg_ms, 94));
	for (int i = 0; i < TRACE_DUR_PCTS; i++)
		assert_true(near(t.fns[1].dur_pct_ms[i], dur[i]));
	/* memory, per function: 58.0 on average, pct1 54.0 ... pct100 80.5 */
	assert_true(near(t.fns[0].mem_avg_mb, 58.0));
	assert_true(near(t.fns[0].mem_pct_mb[0], 54.0));
	assert_true(near(t.fns[0].mem_pct_mb[7], 80.5));
	assert_true(near(t.fns[2].mem_pct_mb[0], 46.333333333333336));
	trace_free(&t);
}

/* The original dataset's names and layout: minutes 1..1440, memory per
 * application, split evenly over the application's functions. */
static void test_original_layout(void **state)
{
	struct trace s, t;
	load("trace/sample", 0, &s);
	load("trace/original", 0, &t);
	assert_int_equal(t.first_minute, 1);
	assert_int_equal(t.n_minutes, 1440);
	assert_int_equal(t.n_fns, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(t.fns[i].total, 3 * s.fns[i].total);
		/* minute m holds the sample's minute 480 + (m - 1) % 480 */
		for (int m = 0; m < 1440; m++)
			assert_int_equal(t.fns[i].per_minute[m], s.fns[i].per_minute[m % 480]);
		assert_true(t.fns[i].has_duration);
		for (int k = 0; k < TRACE_DUR_PCTS; k++)
			assert_true(near(t.fns[i].dur_pct_ms[k], s.fns[i].dur_pct_ms[k]));
		assert_true(t.fns[i].has_memory);
	}
	/* Applications with one function keep their memory... */
	for (int k = 0; k < TRACE_MEM_PCTS; k++) {
		assert_true(near(t.fns[0].mem_pct_mb[k], s.fns[0].mem_pct_mb[k]));
		assert_true(near(t.fns[1].mem_pct_mb[k], s.fns[1].mem_pct_mb[k]));
	}
	/* ...the one with two splits it in halves. */
	assert_string_equal(t.fns[2].app, t.fns[3].app);
	for (int k = 0; k < TRACE_MEM_PCTS; k++) {
		assert_true(near(t.fns[2].mem_pct_mb[k], s.fns[2].mem_pct_mb[k] / 2));
		assert_true(near(t.fns[3].mem_pct_mb[k], s.fns[2].mem_pct_mb[k] / 2));
	}
	assert_true(near(t.fns[3].mem_avg_mb, s.fns[2].mem_avg_mb / 2));
	trace_free(&s);
	trace_free(&t);

	load("trace/original", 1, &t);
	assert_int_equal(t.n_fns, 4);
	trace_free(&t);
	char path[512], err[512] = "";
	snprintf(path, sizeof(path), "%s/trace/original", data_dir());
	assert_int_equal(trace_load(path, 2, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "d02"));
	/* The sample's names have no days. */
	snprintf(path, sizeof(path), "%s/trace/sample", data_dir());
	assert_int_equal(trace_load(path, 3, &t, err, sizeof(err)), -ENOENT);
}

/* 2021: one row per call; minutes and percentiles derived, calls kept. */
static void test_2021(void **state)
{
	struct trace t;
	load("trace/azure2021.csv", 0, &t);
	assert_int_equal(t.format, TRACE_AZURE2021);
	assert_int_equal(t.first_minute, 1);
	assert_int_equal(t.n_minutes, 3);
	assert_int_equal(t.n_fns, 3);
	struct trace_function *f = &t.fns[0];
	assert_string_equal(f->app, "a7c2");
	assert_string_equal(f->func, "f01");
	assert_string_equal(f->owner, "");
	assert_int_equal(f->n_calls, 3);
	assert_int_equal(f->total, 3);
	/* starts 12.0, 28.0, 74.0 s; the trace starts at 12 s */
	assert_true(near(f->calls[0].start_s, 0));
	assert_true(near(f->calls[1].start_s, 16));
	assert_true(near(f->calls[2].start_s, 62));
	assert_true(near(f->calls[1].duration_ms, 2000));
	assert_int_equal(f->per_minute[0], 2);
	assert_int_equal(f->per_minute[1], 1);
	assert_int_equal(f->per_minute[2], 0);
	/* durations 500, 1000, 2000 ms */
	assert_true(near(f->dur_pct_ms[0], 500));
	assert_true(near(f->dur_pct_ms[1], 510));
	assert_true(near(f->dur_pct_ms[2], 750));
	assert_true(near(f->dur_pct_ms[3], 1000));
	assert_true(near(f->dur_pct_ms[6], 2000));
	assert_true(near(f->dur_avg_ms, 3500.0 / 3));
	assert_false(f->has_memory);
	assert_string_equal(t.fns[1].func, "f02");
	assert_int_equal(t.fns[1].per_minute[0], 1);
	assert_string_equal(t.fns[2].app, "b913");
	assert_int_equal(t.fns[2].per_minute[2], 1);
	assert_true(near(t.fns[2].dur_pct_ms[3], 30000));
	trace_free(&t);
}

static void test_interpolate(void **state)
{
	static const double v[] = { 0, 10, 20, 30, 40, 50, 60 };
	const double *p = trace_dur_pct_points;
	assert_true(near(trace_interpolate(p, v, 7, 0), 0));
	assert_true(near(trace_interpolate(p, v, 7, 0.5), 5));
	assert_true(near(trace_interpolate(p, v, 7, 13), 15));
	assert_true(near(trace_interpolate(p, v, 7, 50), 30));
	assert_true(near(trace_interpolate(p, v, 7, 100), 60));
	assert_true(near(trace_interpolate(p, v, 7, 150), 60));
	/* below the memory table's first point (1) takes its value */
	static const double m[] = { 8, 9, 10, 11, 12, 13, 14, 15 };
	assert_true(near(trace_interpolate(trace_mem_pct_points, m, 8, 0.2), 8));
	assert_true(near(trace_interpolate(trace_mem_pct_points, m, 8, 97), 13.5));
}

/* Writes name in dir with text. */
static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(file_replace_text(path, text, 0644, false), 0);
}

#define INV_HEAD "HashOwner,HashApp,HashFunction,Trigger,"
#define DUR_FILE                                                                                  \
	"HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,"      \
	"percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75," \
	"percentile_Average_99,percentile_Average_100\n"                                          \
	"o,a,f,10,3,1,20,1,2,5,10,15,19,20\n"

/* A folder with invocations inv and durations dur; loads it and expects
 * -EINVAL or -ENOENT with want in the error. */
static void refused(const char *inv, const char *dur, const char *want)
{
	char dir[256], err[512] = "";
	assert_int_equal(scratch_dir(dir, sizeof(dir), "trace"), 0);
	if (inv)
		put(dir, "invocations.csv", inv);
	if (dur)
		put(dir, "durations.csv", dur);
	struct trace t;
	int r = trace_load(dir, 0, &t, err, sizeof(err));
	remove_tree(dir);
	if (r >= 0 || !strstr(err, want))
		fail_msg("loaded (%d) or said \"%s\", not \"%s\"", r, err, want);
	assert_null(t.fns);
}

static void test_refused(void **state)
{
	char dir[256], err[512];
	struct trace t;
	/* the good folder above loads; each change below breaks it */
	assert_int_equal(scratch_dir(dir, sizeof(dir), "trace"), 0);
	put(dir, "invocations.csv", INV_HEAD "5,6,7\no,a,f,http,1,2,3\n");
	put(dir, "durations.csv", DUR_FILE);
	assert_int_equal(trace_load(dir, 0, &t, err, sizeof(err)), 0);
	assert_int_equal(t.first_minute, 5);
	assert_false(t.fns[0].has_memory);
	trace_free(&t);
	remove_tree(dir);

	refused(NULL, DUR_FILE, "invocations.csv");
	refused(INV_HEAD "5,6,7\no,a,f,http,1,2,3\n", NULL, "durations.csv");
	refused(INV_HEAD "5,7,8\no,a,f,http,1,2,3\n", DUR_FILE, "contiguous");
	refused(INV_HEAD "5,6,x\no,a,f,http,1,2,3\n", DUR_FILE, "contiguous");
	refused("HashOwner,HashApp,HashFunction,Trigger\no,a,f,http\n", DUR_FILE,
		"no minute columns");
	refused(INV_HEAD "5,6,7\no,a,f,http,1,x,3\n", DUR_FILE, "invocations.csv:2: minute 6");
	refused(INV_HEAD "5,6,7\no,a,f,http,1,-2,3\n", DUR_FILE, "minute 6");
	refused(INV_HEAD "5,6,7\no,a,f,http,1,2\n", DUR_FILE, "invocations.csv:2: 6 fields");
	refused(INV_HEAD "5,6,7\n", DUR_FILE, "no functions");
	refused("HashOwner,HashApp,Trigger,5\no,a,http,1\n", DUR_FILE, "no column HashFunction");
	refused(INV_HEAD "5\no,a,f,http,1\n", "HashOwner,HashApp,HashFunction,Average\no,a,f,1\n",
		"no column percentile_Average_0");
	refused(INV_HEAD "5\no,a,f,http,1\n",
		"HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,"
		"percentile_Average_1,percentile_Average_25,percentile_Average_50,"
		"percentile_Average_75,percentile_Average_99,percentile_Average_100\n"
		"o,a,f,10,3,1,20,1,2,5,4,15,19,20\n",
		"durations.csv:2: percentiles decrease");
	refused(INV_HEAD "5\no,a,f,http,1\n",
		"HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,"
		"percentile_Average_1,percentile_Average_25,percentile_Average_50,"
		"percentile_Average_75,percentile_Average_99,percentile_Average_100\n"
		"o,a,f,ten,3,1,20,1,2,5,10,15,19,20\n",
		"Average is \"ten\"");

	/* 2021 */
	char path[300];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "trace"), 0);
	snprintf(path, sizeof(path), "%s/t.csv", dir);
	static const char *const bad[][2] = {
		{ "app,func,end_timestamp\na,f,1\n", "no column duration" },
		{ "app,func,end_timestamp,duration\n", "no invocations" },
		{ "app,func,end_timestamp,duration\na,f,1,x\n", "t.csv:2: duration is \"x\"" },
		{ "app,func,end_timestamp,duration\n,f,1,1\n", "t.csv:2: app and func" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(file_replace_text(path, bad[i][0], 0644, false), 0);
		assert_int_equal(trace_load(path, 0, &t, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i][1]))
			fail_msg("said \"%s\", not \"%s\"", err, bad[i][1]);
	}
	assert_int_equal(trace_load(path, 2, &t, err, sizeof(err)), -EINVAL);
	remove_tree(dir);
	assert_int_equal(trace_load("/nonexistent/trace", 0, &t, err, sizeof(err)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_layout), cmocka_unit_test(test_original_layout),
		cmocka_unit_test(test_2021),          cmocka_unit_test(test_interpolate),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
