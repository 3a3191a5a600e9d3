/* The simulator's engine on hand-built workloads with constant latencies,
 * so every figure below follows from the model by hand. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

#define GROW_MS 50.0
#define SHRINK_MS 30.0
#define BOOT_MS 2000.0

static double grow_ms[] = { GROW_MS }, shrink_ms[] = { SHRINK_MS }, boot_ms[] = { BOOT_MS };

/* Constant latencies; precreated (with a standby) or hotplug (none). */
static struct sim_mech_lat constant_lat(const char *mechanism)
{
	struct sim_mech_lat l = { 0 };
	snprintf(l.mechanism, sizeof(l.mechanism), "%s", mechanism);
	l.step[SIM_GROW] = (struct sim_dist){ grow_ms, 1 };
	l.step[SIM_SHRINK] = (struct sim_dist){ shrink_ms, 1 };
	l.step[SIM_BOOT] = (struct sim_dist){ boot_ms, 1 };
	return l;
}

static struct policy parsed(const char *spec)
{
	struct policy p;
	assert_int_equal(policy_parse(spec, &p), 0);
	return p;
}

/* A workload of one function, calls at the given times and durations. */
struct hand {
	struct workload w;
	struct workload_fn fn;
	struct workload_call calls[64];
	uint32_t tenant_of;
};

static void hand_init(struct hand *h, const double *at, const double *dur, size_t n,
		      double window_ms)
{
	memset(h, 0, sizeof(*h));
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		h->calls[i] = (struct workload_call){ .at_ms = at[i], .duration_ms = dur[i] };
	h->w = (struct workload){ .calls = h->calls,
				  .n_calls = n,
				  .fns = &h->fn,
				  .n_fns = 1,
				  .duration_ms = window_ms,
				  .time_scale = 1,
				  .rate_scale = 1 };
}

static struct sim_config one_tenant(struct hand *h, const struct sim_mech_lat *lat, int cores)
{
	return (struct sim_config){ .hosts = 1,
				    .host_cores = cores,
				    .tenant_max = cores,
				    .lat = lat,
				    .seed = 7,
				    .tenant_of = &h->tenant_of,
				    .n_tenants = 1 };
}

static void test_burst_elastic_near_ideal(void **state)
{
	struct sim_mech_lat lat = constant_lat("precreated");
	struct sim_config base = { .lat = &lat, .seed = 1 };
	struct policy p = parsed("elastic");
	double done;
	assert_int_equal(sim_burst(&base, 4, 20000, &p, &done), 0);
	/* Four grows one after the other: the last task starts 4 steps late. */
	assert_true(done >= 20000 && done <= 20000 + 4 * GROW_MS + 1);
	assert_true(done <= 20000 * 1.05);
}

static void test_burst_periodic_ticks_late(void **state)
{
	struct sim_mech_lat lat = constant_lat("precreated");
	struct sim_config base = { .lat = &lat, .seed = 1 };
	struct policy p = parsed("periodic:1000");
	double done;
	assert_int_equal(sim_burst(&base, 4, 20000, &p, &done), 0);
	/* One step per tick: the 4th worker comes at the 4th tick. */
	assert_true(done >= 24000 && done <= 24000 + GROW_MS + 1);
	p = parsed("periodic:500");
	assert_int_equal(sim_burst(&base, 4, 20000, &p, &done), 0);
	assert_true(done >= 22000 && done <= 22000 + GROW_MS + 1);
}

/* A call at 0 for 1000 ms under elastic:1000 on hotplug (no standby): the
 * core is held from the grow's start (0) to the shrink's end. */
static void test_vcpu_seconds_elastic(void **state)
{
	struct sim_mech_lat lat = constant_lat("hotplug");
	double at[] = { 0 }, dur[] = { 1000 };
	struct hand h;
	hand_init(&h, at, dur, 1, 10000);
	struct sim_config c = one_tenant(&h, &lat, 4);
	struct policy p = parsed("elastic:1000");
	struct run r;
	struct sim_stats st;
	assert_int_equal(run_init(&r, &h.w, "elastic:1000"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, &r, &st), 0);
	assert_int_equal(r.calls[0].status, CALL_OK);
	assert_true(r.calls[0].cold_start);
	assert_float_equal(r.calls[0].latency_ms, GROW_MS + 1000, 1e-9);
	/* Idle from 1050, released one keep-alive later, after its shrink. */
	double held = GROW_MS + 1000 + 1000 + SHRINK_MS;
	assert_float_equal(r.vcpu_s_allocated, held / 1000, 1e-9);
	assert_float_equal(r.vcpu_s_busy, 1.0, 1e-9);
	assert_float_equal(st.end_ms, 10000, 1e-9);
	/* The timeline: 1 from 0, 0 from the release, to the end. */
	assert_true(r.n_alloc >= 3);
	assert_float_equal(r.alloc[0].t_ms, 0, 1e-9);
	assert_float_equal(r.alloc[0].workers, 1, 1e-9);
	assert_float_equal(r.alloc[r.n_alloc - 2].t_ms, held, 1e-9);
	assert_float_equal(r.alloc[r.n_alloc - 2].workers, 0, 1e-9);
	assert_float_equal(r.alloc[r.n_alloc - 1].t_ms, 10000, 1e-9);
	run_free(&r);
}

/* fixed:2 holds both workers for the whole window; a third concurrent call
 * waits for one, warm. */
static void test_vcpu_seconds_fixed(void **state)
{
	struct sim_mech_lat lat = constant_lat("hotplug");
	double at[] = { 0, 0, 0 }, dur[] = { 1000, 1000, 500 };
	struct hand h;
	hand_init(&h, at, dur, 3, 10000);
	struct sim_config c = one_tenant(&h, &lat, 4);
	struct policy p = parsed("fixed:2");
	struct run r;
	assert_int_equal(run_init(&r, &h.w, "fixed:2"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, &r, NULL), 0);
	assert_float_equal(r.vcpu_s_allocated, 20.0, 1e-9);
	assert_float_equal(r.vcpu_s_busy, 2.5, 1e-9);
	assert_float_equal(r.calls[2].latency_ms, 1500, 1e-9);
	assert_false(r.calls[0].cold_start || r.calls[1].cold_start || r.calls[2].cold_start);
	run_free(&r);
}

/* Grows are cut to the host's free cores. */
static void test_host_cores_limit(void **state)
{
	struct sim_mech_lat lat = constant_lat("hotplug");
	double at[] = { 0, 0, 0, 0 }, dur[] = { 1000, 1000, 1000, 1000 };
	struct hand h;
	hand_init(&h, at, dur, 4, 1000);
	struct sim_config c = one_tenant(&h, &lat, 2);
	c.tenant_max = 4;
	struct policy p = parsed("elastic");
	struct run r;
	struct sim_stats st;
	assert_int_equal(run_init(&r, &h.w, "elastic"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, &r, &st), 0);
	for (size_t i = 0; i < r.n_alloc; i++)
		assert_true(r.alloc[i].workers <= 2);
	assert_true(st.grows_cut > 0);
	/* Two run at once, two after them. */
	double last = 0;
	for (int i = 0; i < 4; i++)
		last = r.calls[i].latency_ms > last ? r.calls[i].latency_ms : last;
	assert_true(last >= 2000);
	run_free(&r);
}

/* Scale-out: a VM boots (then grows its worker) for the first call, serves
 * the second warm within the keep-alive, is stopped after it, and the third
 * call boots another. */
static void test_scale_out_keep_alive(void **state)
{
	struct sim_mech_lat lat = constant_lat("hotplug");
	double at[] = { 0, 3000, 10000 }, dur[] = { 500, 500, 500 };
	struct hand h;
	hand_init(&h, at, dur, 3, 20000);
	struct sim_config c = one_tenant(&h, &lat, 4);
	struct policy p = parsed("scale-out:1000");
	struct run r;
	struct sim_stats st;
	assert_int_equal(run_init(&r, &h.w, "scale-out:1000"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, &r, &st), 0);
	assert_int_equal(st.boots, 2);
	assert_true(r.calls[0].cold_start);
	assert_false(r.calls[1].cold_start);
	assert_true(r.calls[2].cold_start);
	assert_float_equal(r.calls[0].latency_ms, BOOT_MS + GROW_MS + 500, 1e-9);
	assert_float_equal(r.calls[1].latency_ms, 500, 1e-9);
	/* Held from each grow's start to the stop, one keep-alive after the
	 * last call ended: 2000..4500 and 12000..13550. */
	double held = (3500 + 1000 - BOOT_MS) + (500 + GROW_MS + 1000);
	assert_float_equal(r.vcpu_s_allocated, held / 1000, 1e-9);
	run_free(&r);
}

/* A call's worker time: the platform's fixed share, then its duration or,
 * when longer, the time to touch its memory (cut to max_memory_mb). */
static void test_call_service(void **state)
{
	static double call_ms[] = { 5 }, touch_ms[] = { 1 };
	struct sim_mech_lat lat = constant_lat("hotplug");
	lat.step[SIM_CALL] = (struct sim_dist){ call_ms, 1 };
	lat.step[SIM_TOUCH] = (struct sim_dist){ touch_ms, 1 };
	double at[] = { 0, 1000, 2000 }, dur[] = { 10, 300, 10 };
	struct hand h;
	hand_init(&h, at, dur, 3, 5000);
	for (int i = 0; i < 3; i++)
		h.calls[i].memory_mb = 100;
	struct sim_config c = one_tenant(&h, &lat, 4);
	c.tenant_min = 1; /* a warm worker: no grow in the way */
	c.max_memory_mb = 128;
	struct policy p = parsed("fixed:1");
	struct run r;
	assert_int_equal(run_init(&r, &h.w, "fixed:1"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, &r, NULL), 0);
	assert_float_equal(r.calls[0].latency_ms, 5 + 100, 1e-9); /* touching is longer */
	assert_float_equal(r.calls[1].latency_ms, 5 + 300, 1e-9); /* the duration is */
	assert_float_equal(r.vcpu_s_busy, (105 + 305 + 105) / 1000.0, 1e-9);
	c.max_memory_mb = 50;
	assert_int_equal(sim_run(&c, &h.w, &p, &r, NULL), 0);
	assert_float_equal(r.calls[2].latency_ms, 5 + 50, 1e-9);
	c.max_memory_mb = 0; /* no memory touched */
	assert_int_equal(sim_run(&c, &h.w, &p, &r, NULL), 0);
	assert_float_equal(r.calls[0].latency_ms, 5 + 10, 1e-9);
	run_free(&r);
}

/* What a keep-alive holds after the last answer (and the window) is not the
 * run's: the timeline and the vCPU-seconds stop there. */
static void test_horizon(void **state)
{
	struct sim_mech_lat lat = constant_lat("hotplug");
	double at[] = { 0 }, dur[] = { 500 };
	struct hand h;
	hand_init(&h, at, dur, 1, 1000);
	struct sim_config c = one_tenant(&h, &lat, 4);
	struct policy p = parsed("scale-out:60000");
	struct run r;
	struct sim_stats st;
	assert_int_equal(run_init(&r, &h.w, "scale-out:60000"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, &r, &st), 0);
	double end = BOOT_MS + GROW_MS + 500;
	assert_float_equal(st.end_ms, end, 1e-9);
	assert_float_equal(r.vcpu_s_allocated, (end - BOOT_MS) / 1000, 1e-9);
	assert_float_equal(r.alloc[r.n_alloc - 1].t_ms, end, 1e-9);
	assert_float_equal(r.alloc[r.n_alloc - 1].workers, 1, 1e-9);
	run_free(&r);
}

static double spread_ms[] = { 10, 40, 90, 160, 250 };

/* The same workload, latencies and seed give the same run. */
static void run_spread(uint64_t seed, struct run *r)
{
	struct sim_mech_lat lat = constant_lat("precreated");
	lat.step[SIM_GROW] = (struct sim_dist){ spread_ms, 5 };
	lat.step[SIM_CALL] = (struct sim_dist){ spread_ms, 5 };
	double at[64], dur[64];
	uint64_t x = 12345;
	for (int i = 0; i < 64; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		at[i] = i * 150.0 + (double)(x >> 54);
		dur[i] = 100 + (double)((x >> 20) % 900);
	}
	static struct hand h;
	hand_init(&h, at, dur, 64, 10000);
	struct sim_config c = one_tenant(&h, &lat, 8);
	c.seed = seed;
	struct policy p = parsed("elastic:500");
	assert_int_equal(run_init(r, &h.w, "elastic:500"), 0);
	assert_int_equal(sim_run(&c, &h.w, &p, r, NULL), 0);
}

static void test_deterministic(void **state)
{
	struct run a, b, d;
	run_spread(1, &a);
	run_spread(1, &b);
	run_spread(2, &d);
	bool differs = false;
	for (int i = 0; i < 64; i++) {
		assert_float_equal(a.calls[i].latency_ms, b.calls[i].latency_ms, 0);
		assert_int_equal(a.calls[i].cold_start, b.calls[i].cold_start);
		differs |= a.calls[i].latency_ms != d.calls[i].latency_ms;
	}
	assert_float_equal(a.vcpu_s_allocated, b.vcpu_s_allocated, 0);
	assert_int_equal(a.n_alloc, b.n_alloc);
	assert_true(differs); /* the draws follow the seed */
	run_free(&a);
	run_free(&b);
	run_free(&d);
}

static void test_bad_config(void **state)
{
	struct sim_mech_lat lat = constant_lat("hotplug");
	double at[] = { 0 }, dur[] = { 1 };
	struct hand h;
	hand_init(&h, at, dur, 1, 10);
	struct sim_config c = one_tenant(&h, &lat, 4);
	struct run r;
	assert_int_equal(run_init(&r, &h.w, "x"), 0);
	struct policy manual = parsed("manual"), el = parsed("elastic");
	assert_int_equal(sim_run(&c, &h.w, &manual, &r, NULL), -EINVAL);
	c.host_cores = 0;
	assert_int_equal(sim_run(&c, &h.w, &el, &r, NULL), -EINVAL);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_elastic_near_ideal),
		cmocka_unit_test(test_burst_periodic_ticks_late),
		cmocka_unit_test(test_vcpu_seconds_elastic),
		cmocka_unit_test(test_vcpu_seconds_fixed),
		cmocka_unit_test(test_host_cores_limit),
		cmocka_unit_test(test_scale_out_keep_alive),
		cmocka_unit_test(test_call_service),
		cmocka_unit_test(test_horizon),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
