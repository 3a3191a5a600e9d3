/* Workloads: seeded, deterministic arrivals; Poisson and uniform; the
 * scaling arithmetic; windows and selections refused. */
#include <setjmp.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"
#include "workload.h"

static void load_sample(struct trace *t)
{
	const char *d = getenv("DITTO_TESTDATA");
	char path[512], err[512] = "";
	snprintf(path, sizeof(path), "%s/trace/sample", d ? d : "tests/data");
	if (trace_load(path, 0, t, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
}

static void build(const struct trace *t, const struct workload_opts *o, struct workload *w)
{
	char err[512] = "";
	if (workload_build(t, o, w, err, sizeof(err)) != 0)
		fail_msg("workload_build: %s", err);
}

/* Builds, expecting -EINVAL with want in the reason. */
static void refused(const struct trace *t, const struct workload_opts *o, const char *want)
{
	struct workload w;
	char err[512] = "";
	assert_int_equal(workload_build(t, o, &w, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("said \"%s\", not \"%s\"", err, want);
	assert_null(w.calls);
}

/* A trace of n functions, each with `per_minute` calls in each of `minutes`
 * minutes from minute 1, every duration `ms` (all percentiles equal). */
static void flat_trace(struct trace *t, size_t n, int minutes, uint32_t per_minute, double ms)
{
	memset(t, 0, sizeof(*t));
	t->format = TRACE_AZURE2019;
	t->first_minute = 1;
	t->n_minutes = minutes;
	t->n_fns = n;
	t->fns = calloc(n, sizeof(*t->fns));
	assert_non_null(t->fns);
	for (size_t i = 0; i < n; i++) {
		struct trace_function *f = &t->fns[i];
		snprintf(f->func, sizeof(f->func), "f%zu", i);
		f->per_minute = malloc((size_t)minutes * sizeof(uint32_t));
		assert_non_null(f->per_minute);
		for (int m = 0; m < minutes; m++)
			f->per_minute[m] = per_minute;
		f->total = (uint64_t)per_minute * (uint64_t)minutes;
		f->has_duration = 1;
		f->dur_avg_ms = ms;
		for (int k = 0; k < TRACE_DUR_PCTS; k++)
			f->dur_pct_ms[k] = ms;
	}
}

static bool same_calls(const struct workload *a, const struct workload *b)
{
	if (a->n_calls != b->n_calls)
		return false;
	for (size_t i = 0; i < a->n_calls; i++) {
		const struct workload_call *x = &a->calls[i], *y = &b->calls[i];
		if (x->at_ms != y->at_ms || x->fn != y->fn || x->duration_ms != y->duration_ms ||
		    x->memory_mb != y->memory_mb)
			return false;
	}
	return true;
}

static void test_deterministic(void **state)
{
	struct trace t;
	load_sample(&t);
	struct workload_opts o = { .sample = 3, .seed = 7 };
	struct workload a, b, c;
	build(&t, &o, &a);
	build(&t, &o, &b);
	assert_true(same_calls(&a, &b));
	assert_int_equal(a.n_fns, 3);
	for (size_t i = 0; i < a.n_fns; i++) {
		assert_string_equal(a.fns[i].name, b.fns[i].name);
		assert_int_equal(a.fns[i].trace_index, b.fns[i].trace_index);
	}
	o.seed = 8;
	build(&t, &o, &c);
	assert_false(same_calls(&a, &c));
	workload_free(&c);
	/* Sorted by arrival; names are platform names. */
	for (size_t i = 1; i < a.n_calls; i++)
		assert_true(a.calls[i - 1].at_ms <= a.calls[i].at_ms);
	for (size_t i = 0; i < a.n_fns; i++) {
		assert_int_equal(a.fns[i].name[0], 't');
		assert_int_equal(strlen(a.fns[i].name), 17);
	}
	/* Every draw lies within its function's percentiles. */
	for (size_t i = 0; i < a.n_calls; i++) {
		const struct trace_function *f = &t.fns[a.fns[a.calls[i].fn].trace_index];
		assert_true(a.calls[i].duration_ms >= f->dur_pct_ms[0]);
		assert_true(a.calls[i].duration_ms <= f->dur_pct_ms[TRACE_DUR_PCTS - 1]);
		assert_true(a.calls[i].memory_mb >= f->mem_pct_mb[0]);
		assert_true(a.calls[i].memory_mb <= f->mem_pct_mb[TRACE_MEM_PCTS - 1]);
		assert_true(a.calls[i].at_ms >= 0 && a.calls[i].at_ms < a.duration_ms);
	}
	workload_free(&a);
	workload_free(&b);

	/* --functions N: the first N, in the trace's order. */
	struct workload_opts first = { .functions = 2, .seed = 1 };
	build(&t, &first, &a);
	assert_int_equal(a.n_fns, 2);
	assert_int_equal(a.fns[0].trace_index, 0);
	assert_int_equal(a.fns[1].trace_index, 1);
	assert_int_equal(a.n_calls, 1 + 24);
	workload_free(&a);
	trace_free(&t);
}

/* At rate 1 every recorded call is sent once, in its minute; uniform
 * spaces a minute's calls evenly, Poisson does not. */
static void test_poisson_and_uniform(void **state)
{
	struct trace t;
	load_sample(&t);
	struct workload_opts o = { .functions = 4, .seed = 3, .start_minute = 480, .minutes = 10 };
	struct workload p, u;
	build(&t, &o, &p);
	o.uniform = true;
	build(&t, &o, &u);
	/* minutes 480..489 of the real rows: 0 + 1 + 3 + 76 calls */
	assert_int_equal(p.n_calls, 80);
	assert_int_equal(u.n_calls, 80);
	assert_int_equal(p.fns[3].calls, 76);
	assert_int_equal(p.duration_ms, 600000);
	/* The 4 calls of the busiest function in minute 480 and its 8 in 481. */
	double at[16];
	size_t n = 0, np = 0;
	for (size_t i = 0; i < u.n_calls; i++)
		if (u.calls[i].fn == 3 && u.calls[i].at_ms < 120000)
			at[n++] = u.calls[i].at_ms;
	assert_int_equal(n, 12);
	static const double want[] = { 7500, 22500, 37500, 52500 };
	for (int i = 0; i < 4; i++)
		assert_true(fabs(at[i] - want[i]) < 1e-6);
	for (int i = 0; i < 8; i++)
		assert_true(fabs(at[4 + i] - (60000 + (i + 0.5) * 7500)) < 1e-6);
	bool even = true;
	for (size_t i = 0; i < p.n_calls; i++)
		if (p.calls[i].fn == 3 && p.calls[i].at_ms < 60000) {
			np++;
			even = even && fabs(fmod(p.calls[i].at_ms, 15000) - 7500) < 1e-6;
		}
	assert_int_equal(np, 4);
	assert_false(even);
	workload_free(&p);
	workload_free(&u);
	trace_free(&t);
}

/* Offered load in cores, time and rate scaling, --target-cores and fitting. */
static void test_scaling(void **state)
{
	struct trace t;
	/* 2 functions x 60 calls a minute x 10 minutes, 500 ms each: 1 core */
	flat_trace(&t, 2, 10, 60, 500);
	struct workload_opts o = { .seed = 1 };
	struct workload a, b;
	build(&t, &o, &a);
	assert_int_equal(a.n_calls, 1200);
	assert_true(fabs(a.offered_cores_trace - 1.0) < 1e-9);
	assert_true(fabs(a.offered_cores - 1.0) < 1e-9);
	assert_true(a.time_scale == 1 && a.rate_scale == 1);
	assert_non_null(strstr(a.scaling, "rate x1"));

	/* time x4: the same calls 4 times closer and 4 times shorter */
	o.time_scale = 4;
	build(&t, &o, &b);
	assert_int_equal(b.n_calls, a.n_calls);
	assert_true(fabs(b.duration_ms - 150000) < 1e-6);
	for (size_t i = 0; i < a.n_calls; i++) {
		assert_true(fabs(b.calls[i].at_ms * 4 - a.calls[i].at_ms) < 1e-6);
		assert_true(fabs(b.calls[i].duration_ms - 125) < 1e-9);
	}
	assert_true(fabs(b.offered_cores - 1.0) < 1e-9);
	assert_non_null(strstr(b.scaling, "time x4"));
	workload_free(&b);

	/* rate x3: exactly three times the calls and the load */
	o = (struct workload_opts){ .seed = 1, .rate_scale = 3 };
	build(&t, &o, &b);
	assert_int_equal(b.n_calls, 3600);
	assert_true(fabs(b.offered_cores - 3.0) < 1e-9);
	workload_free(&b);

	/* rate x0.25: each call kept with probability 1/4 */
	o.rate_scale = 0.25;
	build(&t, &o, &b);
	assert_in_range(b.n_calls, 240, 360);
	assert_true(fabs(b.offered_cores - b.n_calls * 500.0 / 600000) < 1e-9);
	workload_free(&b);

	/* --target-cores 0.5: rate 0.5 */
	o = (struct workload_opts){ .seed = 1, .target_cores = 0.5 };
	build(&t, &o, &b);
	assert_true(fabs(b.rate_scale - 0.5) < 1e-12);
	assert_in_range(b.n_calls, 500, 700);
	workload_free(&b);

	/* No flag: a load above fit_cores is fitted to it, one below is kept. */
	o = (struct workload_opts){ .seed = 1, .fit_cores = 0.2 };
	build(&t, &o, &b);
	assert_true(fabs(b.rate_scale - 0.2) < 1e-12);
	assert_non_null(strstr(b.scaling, "fitted to 0.2 free worker cores"));
	workload_free(&b);
	o.fit_cores = 1.5;
	build(&t, &o, &b);
	assert_true(b.rate_scale == 1);
	assert_true(same_calls(&a, &b));
	workload_free(&b);

	/* --max-duration-ms: draws cut, counted, and the load computed cut */
	o = (struct workload_opts){ .seed = 1, .max_duration_ms = 100 };
	build(&t, &o, &b);
	assert_int_equal(b.cut_durations, 1200);
	assert_true(fabs(b.offered_cores - 0.2) < 1e-9);
	assert_true(fabs(b.offered_cores_trace - 0.2) < 1e-9);
	workload_free(&b);

	/* The load curve holds all the work: 1 core in each 10 s bin. */
	double *curve;
	size_t n;
	assert_int_equal(workload_load_curve(&a, 10000, &curve, &n), 0);
	assert_int_equal(n, 60);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += curve[i];
	/* Calls that run past the window's end lose that part. */
	assert_true(sum * 10000 <= 600000 + 1e-6 && sum * 10000 > 600000 - 500 * 10);
	free(curve);
	workload_free(&a);
	trace_free(&t);
}

/* Percentile interpolation sets the mean: the expected load of a function
 * with a 0..1000 ms uniform distribution is 500 ms per call. */
static void test_expected_load(void **state)
{
	struct trace t;
	flat_trace(&t, 1, 2, 120, 0);
	static const double pct[] = { 0, 10, 250, 500, 750, 990, 1000 };
	memcpy(t.fns[0].dur_pct_ms, pct, sizeof(pct));
	struct workload_opts o = { .seed = 1 };
	struct workload w;
	build(&t, &o, &w);
	assert_true(fabs(w.offered_cores_trace - 1.0) < 1e-9);
	/* a draw's mean comes close to it */
	assert_true(fabs(w.offered_cores - 1.0) < 0.15);
	workload_free(&w);
	/* cut at 500: the mean is 375 */
	o.max_duration_ms = 500;
	build(&t, &o, &w);
	assert_true(fabs(w.offered_cores_trace - 0.75) < 1e-9);
	workload_free(&w);
	trace_free(&t);
}

static void test_exact_calls(void **state)
{
	const char *d = getenv("DITTO_TESTDATA");
	char path[512], err[512] = "";
	snprintf(path, sizeof(path), "%s/trace/azure2021.csv", d ? d : "tests/data");
	struct trace t;
	assert_int_equal(trace_load(path, 0, &t, err, sizeof(err)), 0);
	struct workload_opts o = { .seed = 1, .minutes = 2 };
	struct workload w;
	build(&t, &o, &w);
	/* f01 at 0, 16, 62 s; f02 at 58 s; f03 at 148 s is outside */
	assert_int_equal(w.n_calls, 4);
	assert_true(w.calls[0].at_ms == 0 && w.calls[0].duration_ms == 500);
	assert_true(w.calls[1].at_ms == 16000 && w.calls[1].duration_ms == 2000);
	assert_true(w.calls[2].at_ms == 58000 && w.calls[2].fn == 1);
	assert_true(w.calls[3].at_ms == 62000 && w.calls[3].duration_ms == 1000);
	assert_true(fabs(w.offered_cores_trace - 3750.0 / 120000) < 1e-12);
	workload_free(&w);
	trace_free(&t);
}

static void test_refused(void **state)
{
	struct trace t;
	load_sample(&t);
	refused(&t, &(struct workload_opts){ .start_minute = 479, .minutes = 1 },
		"outside the trace's minutes 480..959");
	refused(&t, &(struct workload_opts){ .start_minute = 960, .minutes = 1 }, "outside");
	refused(&t, &(struct workload_opts){ .start_minute = 950, .minutes = 11 },
		"go past the trace's last minute 959");
	refused(&t, &(struct workload_opts){ .sample = 5 }, "4 functions with durations, 5");
	refused(&t, &(struct workload_opts){ .functions = 5 }, "5 asked for");
	/* the first function has no calls in its first minutes */
	refused(&t, &(struct workload_opts){ .functions = 1, .minutes = 3 }, "no calls");
	refused(&t, &(struct workload_opts){ .time_scale = -1 }, "positive");
	refused(&t, &(struct workload_opts){ .rate_scale = 1000000 }, "more than");
	trace_free(&t);
	/* nothing to scale */
	flat_trace(&t, 1, 1, 10, 0);
	refused(&t, &(struct workload_opts){ .target_cores = 2 }, "no CPU time");
	trace_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic), cmocka_unit_test(test_poisson_and_uniform),
		cmocka_unit_test(test_scaling),       cmocka_unit_test(test_expected_load),
		cmocka_unit_test(test_exact_calls),   cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests_name("workload", tests, NULL, NULL);
}
