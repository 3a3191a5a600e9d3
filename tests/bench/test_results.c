/* Results: the summary JSON's shape and figures, the table, the CSV and the
 * plots, on a workload and runs made by hand. */
#include <setjmp.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "results.h"
#include "support/files.h"
#include "util.h"

#define N_CALLS 100

struct fixture {
	struct workload w;
	struct workload_call calls[N_CALLS];
	struct workload_fn fns[2];
	struct run runs[3];
};

/* 100 calls of 100 ms, one every 10 ms; run 0 ("elastic") answers call i
 * in 100 + i ms with call 0 a cold start; run 1 ("fixed:max") in 100 ms,
 * with two calls failed and one not sent; run 2 is "elastic" again. */
static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	struct workload *w = &x->w;
	w->calls = x->calls;
	w->n_calls = N_CALLS;
	w->fns = x->fns;
	w->n_fns = 2;
	snprintf(x->fns[0].name, sizeof(x->fns[0].name), "tfirst");
	snprintf(x->fns[1].name, sizeof(x->fns[1].name), "tsecond");
	for (int i = 0; i < N_CALLS; i++)
		x->calls[i] = (struct workload_call){ .at_ms = i * 10.0,
						      .fn = (uint32_t)(i % 2),
						      .duration_ms = 100,
						      .memory_mb = 16 };
	w->start_minute = 480;
	w->minutes = 1;
	w->duration_ms = 1000;
	w->time_scale = 60;
	w->rate_scale = 0.5;
	w->offered_cores = 10;
	w->offered_cores_trace = 20;
	snprintf(w->scaling, sizeof(w->scaling), "time x60, rate x0.5");
	static const char *const names[] = { "elastic", "fixed:max", "elastic" };
	for (int k = 0; k < 3; k++) {
		struct run *r = &x->runs[k];
		assert_int_equal(run_init(r, w, names[k]), 0);
		for (int i = 0; i < N_CALLS; i++) {
			r->calls[i].status = CALL_OK;
			r->calls[i].latency_ms = k == 1 ? 100 : 100 + i;
			r->calls[i].vcpu = i % 2 + 1;
			snprintf(r->calls[i].vm, sizeof(r->calls[i].vm), "bench-%d", k);
		}
		r->vcpu_s_allocated = 4;
		r->vcpu_s_busy = 1;
		assert_int_equal(run_alloc_add(r, 0, 0), 0);
		assert_int_equal(run_alloc_add(r, 250, 2), 0);
		assert_int_equal(run_alloc_add(r, 500, 1), 0);
	}
	x->runs[0].calls[0].cold_start = true;
	x->runs[1].calls[5].status = CALL_FAILED;
	x->runs[1].calls[6].status = CALL_TIMEOUT;
	x->runs[1].calls[7].status = CALL_NOT_SENT;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;
	for (int k = 0; k < 3; k++)
		run_free(&x->runs[k]);
	free(x);
	return 0;
}

static double num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (!json_is_number(v))
		fail_msg("%s.%s is not a number", a, b ? b : "");
	return json_number_value(v);
}

static void test_summary(void **state)
{
	struct fixture *x = *state;
	json_t *extra = json_pack("{s:s}", "accel", "tcg");
	json_t *s = results_summary(&x->w, x->runs, 3, extra);
	json_decref(extra);
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "accel")), "tcg");
	assert_true(num(s, "offered_cores", NULL) == 10);
	assert_true(num(s, "window", "start_minute") == 480);
	assert_true(num(s, "window", "minutes") == 1);
	assert_true(num(s, "window", "invocations") == N_CALLS);
	assert_true(num(s, "scaling", "time_scale") == 60);
	assert_true(num(s, "scaling", "rate_scale") == 0.5);
	assert_true(num(s, "scaling", "trace_offered_cores") == 20);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(s, "scaling"), "summary")),
		"time x60, rate x0.5");
	json_t *p = json_object_get(s, "policies");
	assert_int_equal(json_object_size(p), 3);
	json_t *e = json_object_get(p, "elastic");
	/* latencies 100..199: median 149.5, nearest-rank p99 198, p99.9 199 */
	assert_true(num(e, "latency_ms", "p50") == 149.5);
	assert_true(num(e, "latency_ms", "p99") == 198);
	assert_true(num(e, "latency_ms", "p999") == 199);
	assert_true(fabs(num(e, "slowdown", "p50") - 1.495) < 1e-9);
	assert_true(fabs(num(e, "slowdown", "p99") - 1.98) < 1e-9);
	assert_true(num(e, "vcpu_s", "allocated") == 4);
	assert_true(num(e, "vcpu_s", "busy") == 1);
	assert_true(num(e, "utilisation", NULL) == 0.25);
	assert_true(num(e, "cold_starts", NULL) == 1);
	assert_true(num(e, "failures", NULL) == 0);
	assert_true(num(e, "invocations", NULL) == N_CALLS);
	json_t *f = json_object_get(p, "fixed:max");
	assert_true(num(f, "failures", NULL) == 3);
	assert_true(num(f, "latency_ms", "p999") == 100);
	assert_non_null(json_object_get(p, "elastic#2"));
	json_decref(s);
}

static void test_summary_no_answers(void **state)
{
	struct fixture *x = *state;
	for (int i = 0; i < N_CALLS; i++)
		x->runs[1].calls[i].status = CALL_TIMEOUT;
	x->runs[1].vcpu_s_allocated = 0;
	json_t *s = results_summary(&x->w, &x->runs[1], 1, NULL);
	json_t *f = json_object_get(json_object_get(s, "policies"), "fixed:max");
	assert_true(json_is_null(json_object_get(json_object_get(f, "latency_ms"), "p50")));
	assert_true(json_is_null(json_object_get(json_object_get(f, "slowdown"), "p99")));
	assert_true(num(f, "utilisation", NULL) == 0);
	assert_true(num(f, "failures", NULL) == N_CALLS);
	json_decref(s);
}

static void test_table(void **state)
{
	struct fixture *x = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	results_print_table(f, &x->w, x->runs, 2);
	fclose(f);
	assert_non_null(strstr(text, "minutes 480..480 (1 min), 2 functions, 100 calls"));
	assert_non_null(strstr(text, "offered load: 10.00 cores (time x60, rate x0.5)"));
	assert_non_null(strstr(text, "elastic"));
	assert_non_null(strstr(text, "fixed:max"));
	/* the p50 row: 149.5 ms, shown as 150 */
	char *row = strstr(text, "latency p50 (ms)");
	assert_non_null(row);
	assert_non_null(strstr(row, "150"));
	row = strstr(text, "utilisation");
	assert_non_null(strstr(row, "25 %"));
	row = strstr(text, "failures");
	assert_non_null(row);
	assert_true(strstr(row, " 3\n") != NULL);
	free(text);
}

static void test_csv(void **state)
{
	struct fixture *x = *state;
	char dir[256], path[300];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "results"), 0);
	snprintf(path, sizeof(path), "%s/calls.csv", dir);
	assert_int_equal(results_write_csv(path, &x->w, x->runs, 2), 0);
	char *text;
	size_t len;
	assert_int_equal(file_read_all(path, (void **)&text, &len), 0);
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, 1 + 2 * N_CALLS);
	assert_true(strncmp(text,
			    "policy,function,arrival_ms,duration_ms,latency_ms,status,cold_start,"
			    "vcpu,vm\n",
			    76) == 0);
	assert_non_null(strstr(text, "\nelastic,tfirst,0.000,100.000,100.000,ok,1,1,bench-0\n"));
	assert_non_null(strstr(text, "\nelastic,tsecond,10.000,100.000,101.000,ok,0,2,bench-0\n"));
	assert_non_null(strstr(text, "\nfixed:max,tsecond,50.000,100.000,100.000,failed,0,2,"));
	assert_non_null(strstr(text, "\nfixed:max,tfirst,60.000,100.000,100.000,timeout,0,1,"));
	assert_non_null(strstr(text, "\nfixed:max,tsecond,70.000,100.000,,not_sent,0,2,"));
	free(text);
	assert_int_equal(results_write_csv("/nonexistent/x.csv", &x->w, x->runs, 2), -ENOENT);
	remove_tree(dir);
}

static void test_plots(void **state)
{
	struct fixture *x = *state;
	char dir[256], sub[300], err[512] = "";
	assert_int_equal(scratch_dir(dir, sizeof(dir), "plots"), 0);
	snprintf(sub, sizeof(sub), "%s/it's/plots", dir);
	int r = results_plots(sub, &x->w, x->runs, 2, err, sizeof(err));
	if (r < 0 && strstr(err, "cannot run gnuplot")) {
		remove_tree(dir);
		skip();
	}
	if (r != 0)
		fail_msg("results_plots: %s", err);
	static const char *const files[] = { "alloc.png",        "alloc.svg",
					     "latency-cdf.png",  "latency-cdf.svg",
					     "slowdown-cdf.png", "slowdown-cdf.svg",
					     "alloc.dat",        "load.dat",
					     "latency.dat" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[400];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
		if (stat(path, &st) != 0 || st.st_size == 0)
			fail_msg("%s missing or empty", path);
	}
	char path[400], *text;
	size_t len;
	snprintf(path, sizeof(path), "%s/alloc.dat", sub);
	assert_int_equal(file_read_all(path, (void **)&text, &len), 0);
	assert_non_null(strstr(text, "0.25 2\n"));
	free(text);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_no_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plots, setup, teardown),
	};
	return cmocka_run_group_tests_name("results", tests, NULL, NULL);
}
