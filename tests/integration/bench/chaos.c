/* ditto-bench chaos end to end: one fault of each kind under a short load,
 * on real VMs; counts that hold together, nothing lost or completed twice,
 * every failed call with a code, and the exit status that says so. */
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

void test_chaos_refused(void **state)
{
	refused(ARGS("chaos", "--faults", "0"), "--faults must be");
	refused(ARGS("chaos", "--rate", "x"), "--rate 0.1..1000");
	refused(ARGS("chaos", "--async-share", "1.5"), "--async-share 0..1");
	refused(ARGS("chaos", "--kinds", "qemu,disk"), "--kinds takes");
	refused(ARGS("chaos", "--kinds", "agent,agent"), "each at most once");
	refused(ARGS("chaos", "extra"), "unexpected argument");
	refused(ARGS("chaos", "--kinds", "postgres"), "--kinds postgres needs --store postgres");
	refused(ARGS("chaos", "--store", "mysql"), "--store sqlite or postgres");
	refused(ARGS("chaos", "--kinds", "controller2"),
		"--kinds controller2 needs --store postgres --controllers 2");
	refused(ARGS("chaos", "--store", "postgres", "--kinds", "controller2"),
		"--kinds controller2 needs --store postgres --controllers 2");
	refused(ARGS("chaos", "--controllers", "2"), "--controllers 2 needs --store postgres");
	refused(ARGS("chaos", "--controllers", "5"), "--controllers 1..4");
}

/* One kind's counts: each call counted once, as ok or by its code. */
static void check_kind(json_t *k, const char *name)
{
	assert_string_equal(json_string_value(json_object_get(k, "kind")), name);
	assert_true(num(k, "faults", NULL) == 1);
	json_t *sync = json_object_get(k, "sync"), *async = json_object_get(k, "async");
	double sent = num(sync, "sent", NULL), ok = num(sync, "ok", NULL);
	double failed = num(sync, "failed", NULL), by_code = 0;
	if (sent != ok + failed || num(sync, "unclear", NULL) != 0)
		fail_msg("%s: sync sent %g, ok %g, failed %g, unclear %g", name, sent, ok, failed,
			 num(sync, "unclear", NULL));
	const char *code;
	json_t *n;
	json_object_foreach(json_object_get(sync, "codes"), code, n)
	{
		assert_true(json_is_integer(n) && *code);
		by_code += (double)json_integer_value(n);
	}
	assert_true(by_code == failed);
	double acc = num(async, "accepted", NULL), done = num(async, "completed", NULL);
	double lost = num(async, "lost", NULL), twice = num(async, "twice", NULL);
	if (lost != 0 || twice != 0 || acc != done || num(async, "failed", NULL) != 0)
		fail_msg("%s: async accepted %g, completed %g, lost %g, twice %g", name, acc, done,
			 lost, twice);
	/* Calls of both kinds were sent under the fault, and it recovered. */
	assert_true(sent > 0 && num(async, "sent", NULL) > 0);
	double p50 = num(k, "recover_ms", "p50"), max = num(k, "recover_ms", "max");
	assert_true(p50 > 0 && p50 <= num(k, "recover_ms", "p90") && p50 <= max);
}

void test_chaos(void **state)
{
	char data[300];
	snprintf(data, sizeof(data), "%s/chaos", suite_scratch());
	struct bench_run r;
	json_t *s = bench_json(&r, ARGS("chaos", "--build", test_build_dir(), "--data", data,
					"--faults", "1", "--rate", "10", "--settle-s", "1",
					"--freeze-s", "2", "--json"));
	assert_non_null(json_string_value(json_object_get(s, "accel")));
	assert_true(num(s, "faults_per_kind", NULL) == 1 && num(s, "rate", NULL) == 10);
	json_t *kinds = json_object_get(s, "kinds");
	static const char *const names[] = { "qemu", "agent", "controller", "freeze" };
	assert_int_equal(json_array_size(kinds), 4);
	for (size_t i = 0; i < 4; i++)
		check_kind(json_array_get(kinds, i), names[i]);
	json_decref(s);
	bench_free(&r);
}

/* The store's PostgreSQL server restarted once under the load: nothing
 * lost or completed twice, every failed call with its code (503
 * store_unavailable while it is down). Skipped where PostgreSQL's server is
 * not installed. */
void test_chaos_postgres(void **state)
{
	char bin[256];
	if (pg_local_bindir(bin, sizeof(bin)) < 0) {
		printf("postgres: skipped: PostgreSQL's server binaries are not installed\n");
		return;
	}
	char data[300];
	snprintf(data, sizeof(data), "%s/chaos-postgres", suite_scratch());
	struct bench_run r;
	json_t *s = bench_json(&r, ARGS("chaos", "--build", test_build_dir(), "--data", data,
					"--store", "postgres", "--kinds", "postgres", "--faults",
					"1", "--rate", "10", "--settle-s", "1", "--json"));
	json_t *kinds = json_object_get(s, "kinds");
	assert_int_equal(json_array_size(kinds), 1);
	check_kind(json_array_get(kinds, 0), "postgres");
	json_decref(s);
	bench_free(&r);
}

/* One of two controllers on one PostgreSQL store killed once under the load
 * spread over both: nothing lost or completed twice, every failed call
 * with its code, and the survivor named a leader other than the dead one.
 * Skipped where PostgreSQL's server is not installed. */
void test_chaos_controller2(void **state)
{
	char bin[256];
	if (pg_local_bindir(bin, sizeof(bin)) < 0) {
		printf("controller2: skipped: PostgreSQL's server binaries are not installed\n");
		return;
	}
	char data[300];
	snprintf(data, sizeof(data), "%s/chaos-controller2", suite_scratch());
	struct bench_run r;
	json_t *s = bench_json(&r,
			       ARGS("chaos", "--build", test_build_dir(), "--data", data, "--store",
				    "postgres", "--controllers", "2", "--kinds", "controller2",
				    "--faults", "1", "--rate", "10", "--settle-s", "1", "--json"));
	json_t *kinds = json_object_get(s, "kinds");
	assert_int_equal(json_array_size(kinds), 1);
	json_t *k = json_array_get(kinds, 0);
	check_kind(k, "controller2");
	double f50 = num(k, "failover_ms", "p50"), fmax = num(k, "failover_ms", "max");
	assert_true(f50 >= 0 && f50 <= fmax);
	json_decref(s);
	bench_free(&r);
}
