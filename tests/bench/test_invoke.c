/* ditto-bench invoke's pure parts: its options (--store and --controllers
 * too), the open-loop schedule's arithmetic and the /proc/PID/stat line it
 * charges CPU time from. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench.h"
#include "open_loop.h"
#include "proc_cpu.h"

static struct bench_opts valid_opts(void)
{
	return (struct bench_opts){ .reps = 3,
				    .concurrency = 1,
				    .duration_s = 10,
				    .warmup_s = 2,
				    .runtime = "binary",
				    .cold = 5,
				    .controllers = 1 };
}

/* Refused, with a reason naming what; or accepted. */
static void check_opts(const struct bench_opts *o, const char *want)
{
	char err[160] = "";
	int r = bench_invoke_opts_check(o, err, sizeof(err));
	if (!want) {
		assert_int_equal(r, 0);
		return;
	}
	assert_int_equal(r, -EINVAL);
	if (!strstr(err, want) || strchr(err, '\n'))
		fail_msg("\"%s\" does not say \"%s\" on one line", err, want);
}

static void test_opts(void **state)
{
	struct bench_opts o = valid_opts();
	check_opts(&o, NULL);
	static const int conc[] = { 0, -1, 257, 1000 };
	for (size_t i = 0; i < sizeof(conc) / sizeof(conc[0]); i++) {
		o.concurrency = conc[i];
		check_opts(&o, "--concurrency must be 1..256");
	}
	o.concurrency = 256;
	check_opts(&o, NULL);
	o.rate = -1; /* what main makes of --rate 0 or of a word */
	check_opts(&o, "--rate must be 1..100000");
	o.rate = 100001;
	check_opts(&o, "--rate must be 1..100000");
	o.rate = 100000;
	check_opts(&o, NULL);
	o.rate = 500;
	o.concurrency = 16;
	check_opts(&o, NULL);
	o.duration_s = 0;
	check_opts(&o, "--duration must be 1..3600");
	o = valid_opts();
	o.runtime = "ruby";
	check_opts(&o, "--runtime must be");
	o = valid_opts();
	o.url = "http://127.0.0.1:1";
	check_opts(&o, "--url and --key go together");
}

/* --store and --controllers: several controllers only on PostgreSQL, and
 * only on a platform started here. */
static void test_store_opts(void **state)
{
	struct bench_opts o = valid_opts();
	assert_false(bench_store_is_postgres(&o));
	o.store = "sqlite";
	check_opts(&o, NULL);
	assert_false(bench_store_is_postgres(&o));
	o.store = "postgres";
	check_opts(&o, NULL);
	assert_true(bench_store_is_postgres(&o));
	for (int n = 1; n <= BENCH_CONTROLLERS_MAX; n++) {
		o.controllers = n;
		check_opts(&o, NULL);
	}
	static const int bad[] = { 0, -1, BENCH_CONTROLLERS_MAX + 1, 100 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.controllers = bad[i];
		check_opts(&o, "--controllers must be 1..4");
	}
	o.store = "mysql";
	o.controllers = 1;
	check_opts(&o, "--store must be sqlite or postgres");
	o.store = "Postgres";
	check_opts(&o, "--store must be sqlite or postgres");
	/* A SQLite store serves one controller, named or by default. */
	o.controllers = 2;
	o.store = "sqlite";
	check_opts(&o, "--controllers 2 needs --store postgres");
	o.store = NULL;
	check_opts(&o, "--controllers 2 needs --store postgres");
	/* A running controller's store is its own. */
	o = valid_opts();
	o.url = "http://127.0.0.1:1";
	o.key = "k";
	check_opts(&o, NULL);
	o.store = "postgres";
	check_opts(&o, "not with --url");
	o.store = NULL;
	o.controllers = 3;
	check_opts(&o, "needs --store postgres");
}

static void test_open_loop_due(void **state)
{
	/* 500/s: one every 2 ms, exactly. */
	assert_int_equal(open_loop_due_us(0, 500), 0);
	assert_int_equal(open_loop_due_us(1, 500), 2000);
	assert_int_equal(open_loop_due_us(500, 500), 1000000);
	/* 3/s does not divide a second: no drift over an hour. */
	assert_int_equal(open_loop_due_us(1, 3), 333333);
	assert_int_equal(open_loop_due_us(2, 3), 666666);
	assert_int_equal(open_loop_due_us(3 * 3600, 3), 3600LL * 1000000);
	/* The calls due before a time. */
	assert_int_equal(open_loop_calls(0, 500), 0);
	assert_int_equal(open_loop_calls(1, 500), 1);
	assert_int_equal(open_loop_calls(2000, 500), 1);
	assert_int_equal(open_loop_calls(2001, 500), 2);
	assert_int_equal(open_loop_calls(5000000, 500), 2500);
	assert_int_equal(open_loop_calls(1000000, 3), 3);
	assert_int_equal(open_loop_calls(1000001, 3), 4);
	assert_int_equal(open_loop_calls(3600LL * 1000000, 100000), 360000000LL);
	for (long long t = 1; t < 3000000; t += 777)
		assert_true(open_loop_due_us(open_loop_calls(t, 7) - 1, 7) < t &&
			    open_loop_due_us(open_loop_calls(t, 7), 7) >= t);
}

static void test_open_loop_take(void **state)
{
	long long dropped = -1;
	/* A free client takes the next call when it is not yet due... */
	assert_int_equal(open_loop_take(4, 500, 7000, &dropped), 4);
	assert_int_equal(dropped, 0);
	/* ...and also when it is due right now. */
	assert_int_equal(open_loop_take(4, 500, 8000, &dropped), 4);
	assert_int_equal(dropped, 0);
	/* Calls 4..6 came due while every client was busy: dropped, not sent late. */
	assert_int_equal(open_loop_take(4, 500, 13500, &dropped), 7);
	assert_int_equal(dropped, 3);
	assert_int_equal(open_loop_take(4, 500, 14000, &dropped), 7);
	assert_int_equal(dropped, 3);
	assert_int_equal(open_loop_take(4, 500, 14001, &dropped), 8);
	assert_int_equal(dropped, 4);
	/* A run of 1 s at 1000/s with clients always free loses nothing: each
	 * call taken when the previous one was sent. */
	long long next = 0, lost = 0;
	for (int sent = 0; sent < 1000; sent++) {
		long long i = open_loop_take(next, 1000, open_loop_due_us(next, 1000), &dropped);
		lost += dropped;
		next = i + 1;
	}
	assert_int_equal(next, 1000);
	assert_int_equal(lost, 0);
}

static void test_proc_stat(void **state)
{
	/* A name with spaces and parentheses; utime 250 and stime 50 ticks. */
	const char *line = "1234 (qemu (x) 2) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 "
			   "0 5 0 100 1000000 300 18446744073709551615\n";
	long long us = -1;
	assert_int_equal(proc_stat_cpu_us(line, 100, &us), 0);
	assert_int_equal(us, 3000000);
	assert_int_equal(proc_stat_cpu_us(line, 1000, &us), 0);
	assert_int_equal(us, 300000);
	static const char *const bad[] = {
		"", "1234 qemu S 1", "1234 (qemu) S 1 2 3", "1234 (qemu)", "1234 (qemu)S 1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proc_stat_cpu_us(bad[i], 100, &us), -EINVAL);
	assert_int_equal(proc_stat_cpu_us(line, 0, &us), -EINVAL);
	/* This process: some time, known; no process: unknown. */
	assert_true(proc_cpu_us(getpid()) >= 0);
	assert_true(proc_rss_kib(getpid()) > 0);
	assert_int_equal(proc_cpu_us(0), -1);
	assert_int_equal(proc_rss_kib(-1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),          cmocka_unit_test(test_store_opts),
		cmocka_unit_test(test_open_loop_due), cmocka_unit_test(test_open_loop_take),
		cmocka_unit_test(test_proc_stat),
	};
	return cmocka_run_group_tests_name("bench_invoke", tests, NULL, NULL);
}
