/* The simulator's persistent mode: a function's first call on a worker vCPU
 * starts its process (call_ms, a cold start), later ones there are warm
 * (warm_call_ms), until the worker is shrunk away. Constant latencies, so
 * every figure follows by hand. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

#define COLD_MS 20.0
#define WARM_MS 2.0
#define GROW_MS 50.0

static double grow_ms[] = { GROW_MS }, shrink_ms[] = { 30 }, boot_ms[] = { 2000 };
static double cold_ms[] = { COLD_MS }, warm_ms[] = { WARM_MS };

static struct sim_mech_lat lat_of(bool with_warm)
{
	struct sim_mech_lat l = { 0 };
	snprintf(l.mechanism, sizeof(l.mechanism), "hotplug");
	l.step[SIM_GROW] = (struct sim_dist){ grow_ms, 1 };
	l.step[SIM_SHRINK] = (struct sim_dist){ shrink_ms, 1 };
	l.step[SIM_BOOT] = (struct sim_dist){ boot_ms, 1 };
	l.step[SIM_CALL] = (struct sim_dist){ cold_ms, 1 };
	if (with_warm)
		l.step[SIM_WARM_CALL] = (struct sim_dist){ warm_ms, 1 };
	return l;
}

/* Calls of 100 ms each, of the functions fn[], at the times at[]. */
struct hand {
	struct workload w;
	struct workload_fn fns[SIM_WARM_PER_WORKER + 2];
	struct workload_call calls[16];
	uint32_t tenant_of[SIM_WARM_PER_WORKER + 2];
};

static void hand_init(struct hand *h, const double *at, const uint32_t *fn, size_t n,
		      double window_ms)
{
	memset(h, 0, sizeof(*h));
	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		h->calls[i] = (struct workload_call){ .at_ms = at[i], .duration_ms = 100,
						      .fn = fn[i] };
	h->w = (struct workload){ .calls = h->calls,
				  .n_calls = n,
				  .fns = h->fns,
				  .n_fns = SIM_WARM_PER_WORKER + 2,
				  .duration_ms = window_ms,
				  .time_scale = 1,
				  .rate_scale = 1 };
}

static struct sim_config config(struct hand *h, const struct sim_mech_lat *lat, int cores)
{
	return (struct sim_config){ .hosts = 1,
				    .host_cores = cores,
				    .tenant_max = cores,
				    .lat = lat,
				    .seed = 7,
				    .persistent = true,
				    .tenant_of = h->tenant_of,
				    .n_tenants = 1 };
}

static void run_it(const struct sim_config *c, struct hand *h, const char *spec, struct run *r)
{
	struct policy p;
	assert_int_equal(policy_parse(spec, &p), 0);
	assert_int_equal(run_init(r, &h->w, spec), 0);
	assert_int_equal(sim_run(c, &h->w, &p, r, NULL), 0);
}

/* One worker all along: each function's first call is cold, the next warm;
 * process mode pays call_ms every time and counts none cold. */
static void test_warm_after_first(void **state)
{
	struct sim_mech_lat lat = lat_of(true);
	double at[] = { 0, 1000, 2000, 3000 };
	uint32_t fn[] = { 0, 0, 1, 1 };
	struct hand h;
	hand_init(&h, at, fn, 4, 5000);
	struct sim_config c = config(&h, &lat, 1);
	struct run r;
	run_it(&c, &h, "fixed:max", &r);
	for (int i = 0; i < 4; i++) {
		bool first = i % 2 == 0;
		assert_int_equal(r.calls[i].cold_start, first);
		assert_float_equal(r.calls[i].latency_ms, (first ? COLD_MS : WARM_MS) + 100, 1e-9);
	}
	run_free(&r);
	c.persistent = false;
	run_it(&c, &h, "fixed:max", &r);
	for (int i = 0; i < 4; i++) {
		assert_false(r.calls[i].cold_start);
		assert_float_equal(r.calls[i].latency_ms, COLD_MS + 100, 1e-9);
	}
	run_free(&r);
	/* One executable for all: the process function 0 started serves 1. */
	c.persistent = true;
	c.one_executable = true;
	run_it(&c, &h, "fixed:max", &r);
	assert_true(r.calls[0].cold_start);
	for (int i = 1; i < 4; i++) {
		assert_false(r.calls[i].cold_start);
		assert_float_equal(r.calls[i].latency_ms, WARM_MS + 100, 1e-9);
	}
	run_free(&r);
	c.one_executable = false;
	/* No warm samples: a warm call takes call_ms, and is still warm. */
	lat = lat_of(false);
	c.persistent = true;
	run_it(&c, &h, "fixed:max", &r);
	assert_false(r.calls[1].cold_start);
	assert_float_equal(r.calls[1].latency_ms, COLD_MS + 100, 1e-9);
	run_free(&r);
}

/* Warm per worker: two workers, the call goes to the one warm for it. */
static void test_warm_per_worker(void **state)
{
	struct sim_mech_lat lat = lat_of(true);
	/* 0 and 1 at once take both workers; then 1 alone, then 0 alone: each
	 * finds the worker its function ran on, whichever is on top. */
	double at[] = { 0, 0, 1000, 2000, 3000 };
	uint32_t fn[] = { 0, 1, 1, 0, 2 };
	struct hand h;
	hand_init(&h, at, fn, 5, 5000);
	struct sim_config c = config(&h, &lat, 2);
	struct run r;
	run_it(&c, &h, "fixed:max", &r);
	bool cold[] = { true, true, false, false, true };
	for (int i = 0; i < 5; i++) {
		assert_int_equal(r.calls[i].cold_start, cold[i]);
		assert_float_equal(r.calls[i].latency_ms, (cold[i] ? COLD_MS : WARM_MS) + 100,
				   1e-9);
	}
	run_free(&r);
}

/* A worker keeps SIM_WARM_PER_WORKER processes, the least recently used
 * going first. */
static void test_warm_lru(void **state)
{
	struct sim_mech_lat lat = lat_of(true);
	double at[16];
	uint32_t fn[16];
	size_t n = 0;
	for (uint32_t f = 0; f <= SIM_WARM_PER_WORKER; f++, n++) {
		at[n] = 1000.0 * n;
		fn[n] = f; /* the last one evicts function 0 */
	}
	at[n] = 1000.0 * n;
	fn[n++] = 1; /* still warm */
	at[n] = 1000.0 * n;
	fn[n++] = 0; /* evicted: cold again */
	struct hand h;
	hand_init(&h, at, fn, n, 1000.0 * n);
	struct sim_config c = config(&h, &lat, 1);
	struct run r;
	run_it(&c, &h, "fixed:max", &r);
	assert_true(r.calls[SIM_WARM_PER_WORKER].cold_start);
	assert_false(r.calls[n - 2].cold_start);
	assert_true(r.calls[n - 1].cold_start);
	run_free(&r);
}

/* A worker shrunk away loses its processes: the grow after brings a new
 * worker, whose first call of the function is cold again. */
static void test_lost_on_shrink(void **state)
{
	struct sim_mech_lat lat = lat_of(true);
	double at[] = { 0, 200, 10000 };
	uint32_t fn[] = { 0, 0, 0 };
	struct hand h;
	hand_init(&h, at, fn, 3, 12000);
	struct sim_config c = config(&h, &lat, 1);
	struct run r;
	run_it(&c, &h, "elastic:1000", &r);
	assert_true(r.calls[0].cold_start);
	assert_float_equal(r.calls[0].latency_ms, GROW_MS + COLD_MS + 100, 1e-9);
	assert_false(r.calls[1].cold_start);
	assert_float_equal(r.calls[1].latency_ms, WARM_MS + 100, 1e-9);
	assert_true(r.calls[2].cold_start);
	assert_float_equal(r.calls[2].latency_ms, GROW_MS + COLD_MS + 100, 1e-9);
	run_free(&r);
}

/* The same inputs give the same run. */
static void test_deterministic(void **state)
{
	static double spread[] = { 1, 3, 7, 15, 31 };
	struct sim_mech_lat lat = lat_of(true);
	lat.step[SIM_CALL] = (struct sim_dist){ spread, 5 };
	lat.step[SIM_WARM_CALL] = (struct sim_dist){ spread, 3 };
	double at[16];
	uint32_t fn[16];
	for (int i = 0; i < 16; i++) {
		at[i] = 37.0 * i * (i % 3 + 1);
		fn[i] = (uint32_t)(i * 7 % 5);
	}
	struct hand h;
	hand_init(&h, at, fn, 16, 3000);
	struct sim_config c = config(&h, &lat, 3);
	struct run a, b;
	run_it(&c, &h, "elastic:100", &a);
	run_it(&c, &h, "elastic:100", &b);
	for (int i = 0; i < 16; i++) {
		assert_float_equal(a.calls[i].latency_ms, b.calls[i].latency_ms, 0);
		assert_int_equal(a.calls[i].cold_start, b.calls[i].cold_start);
	}
	assert_float_equal(a.vcpu_s_allocated, b.vcpu_s_allocated, 0);
	run_free(&a);
	run_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warm_after_first), cmocka_unit_test(test_warm_per_worker),
		cmocka_unit_test(test_warm_lru),         cmocka_unit_test(test_lost_on_shrink),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
