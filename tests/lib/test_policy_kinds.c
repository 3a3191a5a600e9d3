/* lib/policy beyond the plain keep-alive: the spec grammar's newer fields,
 * release pacing (hold), the periodic sampler, fixed:max and scale-out. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

static struct policy parsed(const char *spec)
{
	struct policy p;
	if (policy_parse(spec, &p) != 0)
		fail_msg("refused \"%s\"", spec);
	return p;
}

static void roundtrip(const char *spec, const char *canonical)
{
	struct policy p = parsed(spec);
	char buf[POLICY_SPEC_MAX];
	assert_int_equal(policy_format(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
	struct policy q = parsed(buf);
	assert_int_equal(q.kind, p.kind);
	assert_int_equal(q.keep_alive_ms, p.keep_alive_ms);
	assert_int_equal(q.hold_ms, p.hold_ms);
	assert_int_equal(q.period_ms, p.period_ms);
	assert_int_equal(q.standby, p.standby);
	assert_int_equal(q.workers, p.workers);
}

static void test_grammar(void **state)
{
	struct policy p = parsed("elastic");
	assert_int_equal(p.keep_alive_ms, POLICY_KEEP_ALIVE_DEFAULT_MS);
	assert_int_equal(p.hold_ms, POLICY_HOLD_DEFAULT_MS);
	assert_int_equal(p.standby, -1);
	assert_int_equal(policy_standby(&p), -1);
	assert_int_equal(parsed("elastic:standby=0").standby, 0);
	p = parsed("elastic:300:hold=50:standby=2");
	assert_int_equal(p.keep_alive_ms, 300);
	assert_int_equal(p.hold_ms, 50);
	assert_int_equal(p.standby, 2);
	assert_int_equal(policy_standby(&p), 2);
	p = parsed("elastic:standby=3");
	assert_int_equal(p.keep_alive_ms, POLICY_KEEP_ALIVE_DEFAULT_MS);
	assert_int_equal(p.standby, 3);
	p = parsed("periodic:1000");
	assert_int_equal(p.kind, POLICY_PERIODIC);
	assert_int_equal(p.period_ms, 1000);
	assert_int_equal(policy_standby(&p), -1);
	p = parsed("fixed:max");
	assert_int_equal(p.kind, POLICY_FIXED);
	assert_int_equal(p.workers, POLICY_WORKERS_MAX);
	p = parsed("scale-out");
	assert_true(policy_is_scale_out(&p));
	assert_int_equal(p.keep_alive_ms, POLICY_SCALE_OUT_KEEP_ALIVE_DEFAULT_MS);
	assert_int_equal(parsed("scale-out:500").keep_alive_ms, 500);
	assert_false(policy_is_scale_out(&(struct policy){ .kind = POLICY_ELASTIC }));

	roundtrip("elastic:2000:hold=250", "elastic");
	roundtrip("elastic:2000:hold=250:standby=0", "elastic:standby=0");
	roundtrip("elastic:hold=0", "elastic:hold=0");
	roundtrip("elastic:300:standby=1", "elastic:300:standby=1");
	roundtrip("elastic:3600000:hold=3600000:standby=128",
		  "elastic:3600000:hold=3600000:standby=128");
	roundtrip("periodic:100", "periodic:100");
	roundtrip("periodic:60000", "periodic:60000");
	roundtrip("fixed:max", "fixed:max");
	roundtrip("scale-out:60000", "scale-out");
	roundtrip("scale-out:0", "scale-out:0");
	/* The longest spec fits the controller's column. */
	assert_true(POLICY_SPEC_MAX <= 64);
	assert_true(strlen("elastic:3600000:hold=3600000:standby=128") < POLICY_SPEC_MAX);
}

static void test_grammar_refusals(void **state)
{
	/* clang-format off */
	static const char *const bad[] = {
		"elastic:standby=1:hold=5", "elastic:hold=5:300", "elastic:5:5", "elastic::5",
		"elastic:hold=", "elastic:hold=-1", "elastic:standby=129", "elastic:Hold=5",
		"elastic:hold=5:hold=6", "elastic:standby=1:standby=1", "elastic:5:", "elastic:hold",
		"elastic:keep=5", "elastic:hold=3600001", "periodic", "periodic:", "periodic:99",
		"periodic:60001", "periodic:1000:hold=5", "PERIODIC:1000", "fixed:MAX", "fixed:max:1",
		"fixed:maximum", "scale-out:", "scale-out:standby=1", "scale-out:3600001",
		"scaleout", "Scale-out", "scale-out:1:2", "manual:", "periodic:1000 ",
		"elastic:1000:hold=100:standby=1:and-a-spec-too-long-for-any-column",
	};
	/* clang-format on */
	struct policy p = { .kind = POLICY_FIXED, .workers = 7 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (policy_parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(p.kind, POLICY_FIXED);
		assert_int_equal(p.workers, 7);
	}
	char buf[POLICY_SPEC_MAX];
	struct policy odd = { .kind = POLICY_PERIODIC, .period_ms = 99 };
	assert_int_equal(policy_format(&odd, buf, sizeof(buf)), -EINVAL);
	odd = (struct policy){ .kind = POLICY_ELASTIC, .standby = 129 };
	assert_int_equal(policy_format(&odd, buf, sizeof(buf)), -EINVAL);
	odd = (struct policy){ .kind = POLICY_FIXED, .workers = -2 };
	assert_int_equal(policy_format(&odd, buf, sizeof(buf)), -EINVAL);
	struct policy ok = parsed("elastic:300:standby=1");
	assert_int_equal(policy_format(&ok, buf, 12), -ENOSPC);
}

/* A burst of 4 that ends together, keep-alive 1000, hold 250: the levels go
 * one at a time, 250 ms apart, from one keep-alive after the burst. */
static void test_hold_paces_releases(void **state)
{
	struct policy p = parsed("elastic:1000:hold=250");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 0, 4);
	policy_observe(&s, 100, 0);
	static const struct {
		uint64_t at;
		int target;
	} steps[] = { { 1099, 4 }, { 1100, 3 }, { 1349, 3 }, { 1350, 2 },
		      { 1599, 2 }, { 1600, 1 }, { 1849, 1 }, { 1850, 0 } };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		assert_int_equal(policy_target(&p, &s, 0, 8, steps[i].at), steps[i].target);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 100), 1100);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1100), 1350);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1600), 1850);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 1850) == POLICY_NEVER);

	/* Without pacing they go together. */
	struct policy plain = parsed("elastic:1000:hold=0");
	assert_int_equal(policy_target(&plain, &s, 0, 8, 1099), 4);
	assert_int_equal(policy_target(&plain, &s, 0, 8, 1100), 0);

	/* The load coming back half-way finds the lower levels still held:
	 * two arrivals at 1400 need no grow. */
	policy_observe(&s, 1400, 2);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1400), 2);
	policy_observe(&s, 1450, 0);
	/* Level 2 from 1450 + 1000, level 1 one hold later. */
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1450), 2450);
	assert_int_equal(policy_target(&p, &s, 0, 8, 2450), 1);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 2450), 2700);
	/* Clamped by max, the drop waits for the clamped level's release. */
	assert_int_equal(policy_target(&p, &s, 0, 1, 2000), 1);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 1, 2000), 2700);
}

/* On a random demand trace with pacing: the target drops one level at a
 * time, drops without a rise between them are at least the hold apart, and
 * policy_next_change_ms is exactly the next drop. */
static void test_hold_random_trace(void **state)
{
	enum { HOLD = 30, STEPS = 300 };
	struct policy p = parsed("elastic:50:hold=30");
	struct policy_state s;
	policy_state_init(&s, 0);
	uint32_t x = 777;
	uint64_t next_event = 0, last_drop = 0;
	bool dropped = false;
	int prev = 0, events = 0;
	for (uint64_t q = 0; events < STEPS || q < next_event + 1000; q++) {
		if (events < STEPS && q == next_event) {
			x = x * 1103515245u + 12345u;
			/* The last event ends the demand. */
			policy_observe(&s, q, events == STEPS - 1 ? 0 : (x >> 8) % 6);
			next_event = q + 1 + (x >> 16) % 60;
			events++;
		}
		int t = policy_target(&p, &s, 0, 8, q);
		if (t < prev) {
			assert_int_equal(t, prev - 1);
			if (dropped && q - last_drop < HOLD)
				fail_msg("t=%llu: drops %llu ms apart", (unsigned long long)q,
					 (unsigned long long)(q - last_drop));
			dropped = true;
			last_drop = q;
		} else if (t > prev) {
			dropped = false;
		}
		uint64_t next = policy_next_change_ms(&p, &s, 0, 8, q);
		if (next != POLICY_NEVER) {
			assert_int_equal(policy_target(&p, &s, 0, 8, next - 1), t);
			assert_int_equal(policy_target(&p, &s, 0, 8, next), t - 1);
		}
		prev = t;
	}
	assert_int_equal(prev, 0);
}

/* Advances, observes, reads the target: the calling sequence. */
static int step(const struct policy *p, struct policy_state *s, uint64_t now, int demand,
		int max)
{
	policy_advance(p, s, 0, max, now);
	if (demand >= 0)
		policy_observe(s, now, (uint32_t)demand);
	return policy_target(p, s, 0, max, now);
}

/* The prototype's microbenchmark: 4 tasks at once on periodic:1000. */
static void test_periodic_burst(void **state)
{
	struct policy p = parsed("periodic:1000");
	struct policy_state s;
	policy_state_init(&s, 10000);
	assert_int_equal(step(&p, &s, 10050, 4, 8), 0);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 10050), 11000);
	for (int k = 1; k <= 4; k++) {
		uint64_t tick = 10000 + 1000 * (uint64_t)k;
		assert_int_equal(step(&p, &s, tick - 1, -1, 8), k - 1);
		assert_int_equal(step(&p, &s, tick, -1, 8), k);
		uint64_t next = policy_next_change_ms(&p, &s, 0, 8, tick);
		assert_true(k < 4 ? next == tick + 1000 : next == POLICY_NEVER);
	}
	/* Steady at the demand. */
	assert_int_equal(step(&p, &s, 30000, -1, 8), 4);
	/* The tasks end at 30500; the period they end in saw 4, so the
	 * first step down is the tick after: one step per idle period. */
	assert_int_equal(step(&p, &s, 30500, 0, 8), 4);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 30500), 32000);
	assert_int_equal(step(&p, &s, 31000, -1, 8), 4);
	for (int k = 3; k >= 0; k--)
		assert_int_equal(step(&p, &s, 32000 + 1000 * (uint64_t)(3 - k), -1, 8), k);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 35000) == POLICY_NEVER);
}

/* A caller that advances late gets every tick it missed, in order. */
static void test_periodic_late_advance(void **state)
{
	struct policy p = parsed("periodic:500");
	struct policy_state s;
	policy_state_init(&s, 0);
	step(&p, &s, 10, 3, 8);
	/* Ticks at 500, 1000 and 1500 passed unprocessed. */
	assert_int_equal(step(&p, &s, 1700, -1, 8), 3);
	/* A short spike inside one period counts for that period only. */
	policy_state_init(&s, 0);
	step(&p, &s, 10, 2, 8);
	step(&p, &s, 20, 0, 8);
	assert_int_equal(step(&p, &s, 5000, -1, 8), 0); /* 500: up, 1000: down, then idle */
	policy_state_init(&s, 0);
	step(&p, &s, 10, 2, 8);
	step(&p, &s, 20, 0, 8);
	assert_int_equal(step(&p, &s, 500, -1, 8), 1);
	assert_int_equal(step(&p, &s, 1000, -1, 8), 0);
	/* An hour late costs no more than the steps it takes. */
	step(&p, &s, 1100, 6, 8);
	assert_int_equal(step(&p, &s, 3600000, -1, 8), 6);
	assert_int_equal(s.tick_ms, 3600000);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 3600000) == POLICY_NEVER);
}

static void test_periodic_clamps(void **state)
{
	struct policy p = parsed("periodic:100");
	struct policy_state s;
	policy_state_init(&s, 0);
	/* The minimum holds from the start; the maximum caps the climb. */
	assert_int_equal(policy_target(&p, &s, 2, 3, 0), 2);
	policy_advance(&p, &s, 2, 3, 50);
	policy_observe(&s, 50, 9);
	policy_advance(&p, &s, 2, 3, 100);
	assert_int_equal(policy_target(&p, &s, 2, 3, 100), 3);
	assert_true(policy_next_change_ms(&p, &s, 2, 3, 100) == POLICY_NEVER);
	/* Idle: down one step to the minimum. */
	policy_observe(&s, 150, 0);
	policy_advance(&p, &s, 2, 3, 1000);
	assert_int_equal(policy_target(&p, &s, 2, 3, 1000), 2);
	/* Seeded, it steps from there. */
	policy_state_set_target(&s, 3);
	policy_advance(&p, &s, 0, 8, 1100);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1100), 2);
	/* Other policies ignore policy_advance. */
	struct policy e = parsed("elastic:hold=0");
	struct policy_state t;
	policy_state_init(&t, 0);
	policy_advance(&e, &t, 0, 8, 100000);
	assert_int_equal(t.tick_ms, 0);
}

static void test_fixed_max(void **state)
{
	struct policy p = parsed("fixed:max");
	struct policy_state s;
	policy_state_init(&s, 0);
	assert_int_equal(policy_target(&p, &s, 0, 6, 0), 6);
	assert_int_equal(policy_target(&p, &s, 2, 0, 0), 0);
	assert_int_equal(policy_target(&p, &s, 0, 1000, 0), POLICY_MAX_WORKERS);
	assert_true(policy_next_change_ms(&p, &s, 0, 6, 0) == POLICY_NEVER);
}

/* Scale-out: VMs by the keep-alive arithmetic on the tenant's total demand,
 * each VM a fixed:1. */
static void test_scale_out(void **state)
{
	struct policy p = parsed("scale-out:1000");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 0, 3);
	assert_int_equal(policy_target(&p, &s, 0, 8, 0), 3);
	policy_observe(&s, 100, 1);
	policy_observe(&s, 200, 0);
	/* No pacing: each VM goes a keep-alive after it was last needed. */
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 200), 1100);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1100), 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1199), 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1200), 0);
	/* The tenant's VM bounds clamp it. */
	policy_observe(&s, 2000, 20);
	assert_int_equal(policy_target(&p, &s, 1, 4, 2000), 4);
	struct policy vm;
	policy_per_vm(&p, &vm);
	assert_int_equal(vm.kind, POLICY_FIXED);
	assert_int_equal(vm.workers, 1);
	struct policy e = parsed("elastic:standby=1");
	policy_per_vm(&e, &vm);
	assert_int_equal(vm.kind, POLICY_ELASTIC);
	assert_int_equal(vm.standby, 1);
}

/* A policy that can never run an invocation, whatever the demand. */
static void test_never_runs(void **state)
{
	struct policy p;
	const char *never[] = { "fixed:0" };
	const char *runs[] = { "fixed:1", "fixed:max", "elastic", "elastic:0:hold=0",
			       "periodic:100", "scale-out", "scale-out:0" };
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		assert_int_equal(policy_parse(never[i], &p), 0);
		assert_true(policy_never_runs(&p, 4));
	}
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		assert_int_equal(policy_parse(runs[i], &p), 0);
		assert_false(policy_never_runs(&p, 1));
		/* No worker allowed: none of them can run anything. */
		assert_true(policy_never_runs(&p, 0));
		assert_true(policy_never_runs(&p, -1));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grammar),		    cmocka_unit_test(test_grammar_refusals),
		cmocka_unit_test(test_hold_paces_releases), cmocka_unit_test(test_hold_random_trace),
		cmocka_unit_test(test_periodic_burst),
		cmocka_unit_test(test_periodic_late_advance), cmocka_unit_test(test_periodic_clamps),
		cmocka_unit_test(test_fixed_max),	    cmocka_unit_test(test_scale_out),
		cmocka_unit_test(test_never_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
