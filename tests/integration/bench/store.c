/* ditto-bench invoke with two controllers on its private PostgreSQL server,
 * on real VMs: the report names its store and controllers, every call
 * answered, and the controllers' CPU times listed one by one add up to the
 * summed figure. Skipped where PostgreSQL's server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bench_suite.h"
#include "pg_local.h"
#include "support/procs.h"

void test_store_refused(void **state)
{
	refused(ARGS("invoke", "--controllers", "2"), "--controllers 2 needs --store postgres");
	refused(ARGS("invoke", "--store", "sqlite", "--controllers", "3"),
		"needs --store postgres");
	refused(ARGS("invoke", "--store", "mysql"), "--store must be sqlite or postgres");
	refused(ARGS("invoke", "--store", "postgres", "--controllers", "5"),
		"--controllers must be 1..4");
	refused(ARGS("invoke", "--store", "postgres", "--url", "http://127.0.0.1:1", "--key", "k"),
		"not with --url");
}

/* One run: every call ok, the controllers' CPU listed one by one, each
 * with some (the calls go round robin over them), and their sum per call
 * is the summed figure. */
static void check_run(json_t *run, int controllers)
{
	double calls = num(run, "calls", NULL);
	assert_true(calls > 0 && num(run, "errors", NULL) == 0);
	json_t *ctl = json_object_get(run, "controllers_cpu_us");
	assert_int_equal(json_array_size(ctl), controllers);
	double sum = 0;
	for (int k = 0; k < controllers; k++) {
		json_t *v = json_array_get(ctl, (size_t)k);
		assert_true(json_is_integer(v) && json_integer_value(v) > 0);
		sum += (double)json_integer_value(v);
	}
	double per_call = num(run, "cpu_us_per_call", "controller");
	if (!(per_call > 0 && per_call * calls > sum * 0.99 && per_call * calls < sum * 1.01))
		fail_msg("controller %g us per call over %g calls, the controllers %g us", per_call,
			 calls, sum);
}

void test_invoke_postgres(void **state)
{
	char bin[256];
	if (pg_local_bindir(bin, sizeof(bin)) < 0) {
		printf("postgres: skipped: PostgreSQL's server binaries are not installed\n");
		return;
	}
	char data[300];
	snprintf(data, sizeof(data), "%s/postgres", suite_scratch());
	struct bench_run r;
	json_t *s = bench_json(&r, ARGS("invoke", "--build", test_build_dir(), "--data", data,
					"--json", "--store", "postgres", "--controllers", "2",
					"--concurrency", "2", "--duration", "2", "--warmup", "1",
					"--reps", "1", "--cold", "0"));
	assert_string_equal(json_string_value(json_object_get(s, "store")), "postgres");
	assert_true(num(s, "controllers", NULL) == 2);
	check_run(json_array_get(json_object_get(s, "runs"), 0), 2);
	check_run(json_object_get(s, "overall"), 2);
	json_decref(s);
	bench_free(&r);
}
