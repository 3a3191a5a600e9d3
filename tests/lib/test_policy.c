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
	assert_int_equal(policy_parse(spec, &p), 0);
	return p;
}

static void test_parse(void **state)
{
	struct policy p = parsed("manual");
	assert_int_equal(p.kind, POLICY_MANUAL);
	assert_true(policy_is_manual(&p));

	p = parsed("elastic");
	assert_int_equal(p.kind, POLICY_ELASTIC);
	assert_int_equal(p.keep_alive_ms, 2000);
	assert_false(policy_is_manual(&p));

	p = parsed("elastic:300");
	assert_int_equal(p.kind, POLICY_ELASTIC);
	assert_int_equal(p.keep_alive_ms, 300);
	assert_int_equal(parsed("elastic:0").keep_alive_ms, 0);
	assert_int_equal(parsed("elastic:3600000").keep_alive_ms, 3600000);
	assert_int_equal(parsed("elastic:0002000").keep_alive_ms, 2000);

	p = parsed("fixed:3");
	assert_int_equal(p.kind, POLICY_FIXED);
	assert_int_equal(p.workers, 3);
	assert_int_equal(parsed("fixed:0").workers, 0);
	assert_int_equal(parsed("fixed:128").workers, 128);

	/* Validation only. */
	assert_int_equal(policy_parse("elastic:5", NULL), 0);
	assert_int_equal(policy_parse("bogus", NULL), -EINVAL);
}

static void test_parse_rejects(void **state)
{
	/* clang-format off */
	static const char *const bad[] = {
		"", "Manual", "ELASTIC", "elastic:", "elastic:-1", "elastic:+5", "elastic: 5",
		"elastic:5 ", " elastic", "elastic:3600001", "elastic:99999999", "elastic:1e3",
		"elastic:0x10", "elastic:1.5", "elastic5", "elasticx", "fixed", "fixed:",
		"fixed:-1", "fixed:129", "fixed:1:2", "fixed:two", "scale-up", "manual:1",
		"elastic:18446744073709551617",
	};
	/* clang-format on */
	struct policy p = { .kind = POLICY_FIXED, .workers = 7 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (policy_parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		/* Untouched on failure. */
		assert_int_equal(p.kind, POLICY_FIXED);
		assert_int_equal(p.workers, 7);
	}
	assert_int_equal(policy_parse(NULL, &p), -EINVAL);
}

static void roundtrip(const char *spec, const char *canonical)
{
	struct policy p = parsed(spec);
	char buf[POLICY_SPEC_MAX];
	assert_int_equal(policy_format(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
	struct policy q = parsed(buf);
	assert_int_equal(q.kind, p.kind);
	if (p.kind == POLICY_ELASTIC)
		assert_int_equal(q.keep_alive_ms, p.keep_alive_ms);
	if (p.kind == POLICY_FIXED)
		assert_int_equal(q.workers, p.workers);
}

static void test_format(void **state)
{
	roundtrip("manual", "manual");
	roundtrip("elastic", "elastic");
	roundtrip("elastic:2000", "elastic");
	roundtrip("elastic:0", "elastic:0");
	roundtrip("elastic:3600000", "elastic:3600000");
	roundtrip("fixed:0", "fixed:0");
	roundtrip("fixed:128", "fixed:128");

	struct policy p = parsed("elastic:3600000");
	char small[8];
	assert_int_equal(policy_format(&p, small, sizeof(small)), -ENOSPC);
	char exact[16];
	assert_int_equal(policy_format(&p, exact, sizeof(exact)), 0);
	assert_int_equal(policy_format(&p, exact, 15), -ENOSPC);

	struct policy odd = { .kind = POLICY_FIXED, .workers = 129 };
	assert_int_equal(policy_format(&odd, exact, sizeof(exact)), -EINVAL);
	odd = (struct policy){ .kind = POLICY_ELASTIC, .keep_alive_ms = 3600001 };
	assert_int_equal(policy_format(&odd, exact, sizeof(exact)), -EINVAL);
}

static void test_manual_has_no_target(void **state)
{
	struct policy p = parsed("manual");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 10, 5);
	assert_int_equal(policy_target(&p, &s, 0, 4, 10), -1);
	assert_true(policy_next_change_ms(&p, &s, 0, 4, 10) == POLICY_NEVER);
}

static void test_elastic_idle(void **state)
{
	struct policy p = parsed("elastic");
	struct policy_state s;
	policy_state_init(&s, 1000);
	/* A fresh history wants nothing, at any time. */
	assert_int_equal(policy_target(&p, &s, 0, 4, 1000), 0);
	assert_int_equal(policy_target(&p, &s, 0, 4, 0), 0);
	assert_true(policy_next_change_ms(&p, &s, 0, 4, 1000) == POLICY_NEVER);
}

static void test_elastic_grows_at_once(void **state)
{
	struct policy p = parsed("elastic:1000:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	for (uint32_t d = 1; d <= 3; d++) {
		policy_observe(&s, 100, d);
		assert_int_equal(policy_target(&p, &s, 0, 8, 100), (int)d);
		/* Held by the demand itself: no change is due. */
		assert_true(policy_next_change_ms(&p, &s, 0, 8, 100) == POLICY_NEVER);
	}
	/* A burst beyond the levels kept is capped, not wrapped. */
	policy_observe(&s, 100, 1000);
	assert_int_equal(policy_target(&p, &s, 0, POLICY_MAX_WORKERS, 100), POLICY_MAX_WORKERS);
	assert_int_equal(policy_target(&p, &s, 0, 200, 100), POLICY_MAX_WORKERS);
}

/* Demand 3 at t=0, steps down to 2, 1 and 0 at t=100, 200, 300: each worker
 * goes one keep-alive after the demand left its level. */
static void test_elastic_shrinks_step_by_step(void **state)
{
	struct policy p = parsed("elastic:1000:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 0, 3);
	policy_observe(&s, 100, 2);
	policy_observe(&s, 200, 1);
	policy_observe(&s, 300, 0);

	assert_int_equal(policy_target(&p, &s, 0, 8, 300), 3);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 300), 1100);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1099), 3);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1100), 2);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1100), 1200);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1199), 2);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1200), 1);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1200), 1300);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1299), 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1300), 0);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 1300) == POLICY_NEVER);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1000000), 0);
}

/* All at once: three invocations end together, so the three workers have
 * been idle equally long and go together. */
static void test_elastic_releases_together(void **state)
{
	struct policy p = parsed("elastic:500:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 10, 3);
	policy_observe(&s, 50, 0);
	assert_int_equal(policy_target(&p, &s, 0, 8, 549), 3);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 60), 550);
	assert_int_equal(policy_target(&p, &s, 0, 8, 550), 0);
}

/* A level reached again renews its keep-alive; levels above stay as they were. */
static void test_elastic_renewal(void **state)
{
	struct policy p = parsed("elastic:1000:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 0, 2);
	policy_observe(&s, 10, 0);
	policy_observe(&s, 800, 1);
	policy_observe(&s, 900, 0);
	/* Level 2 lapses at 1010, level 1 (seen until 900) at 1900. */
	assert_int_equal(policy_target(&p, &s, 0, 8, 1000), 2);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1000), 1010);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1010), 1);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1010), 1900);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1900), 0);

	/* A demand that stays up holds its level past any keep-alive. */
	policy_observe(&s, 2000, 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 100000), 1);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 100000) == POLICY_NEVER);
	/* Observing the same demand again changes nothing. */
	policy_observe(&s, 100000, 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 100000), 1);
	policy_observe(&s, 100001, 0);
	assert_int_equal(policy_target(&p, &s, 0, 8, 101000), 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 101001), 0);
}

static void test_elastic_zero_keep_alive(void **state)
{
	struct policy p = parsed("elastic:0:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 5, 2);
	assert_int_equal(policy_target(&p, &s, 0, 8, 5), 2);
	policy_observe(&s, 6, 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 6), 1);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 6) == POLICY_NEVER);
}

static void test_elastic_clamps(void **state)
{
	struct policy p = parsed("elastic:1000:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	/* The minimum holds with no demand at all, and forever. */
	assert_int_equal(policy_target(&p, &s, 2, 4, 0), 2);
	assert_true(policy_next_change_ms(&p, &s, 2, 4, 0) == POLICY_NEVER);

	policy_observe(&s, 0, 6);
	assert_int_equal(policy_target(&p, &s, 0, 4, 0), 4);
	assert_int_equal(policy_target(&p, &s, 1, 4, 0), 4);
	policy_observe(&s, 100, 3);
	/* Over the maximum: the target stays at 4 until level 4 lapses. */
	assert_int_equal(policy_target(&p, &s, 0, 4, 500), 4);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 4, 500), 1100);
	assert_int_equal(policy_target(&p, &s, 0, 4, 1100), 3);
	policy_observe(&s, 1200, 0);
	/* Down to the minimum, which then holds. */
	assert_int_equal(policy_next_change_ms(&p, &s, 2, 4, 1200), 2200);
	assert_int_equal(policy_target(&p, &s, 2, 4, 2200), 2);
	assert_true(policy_next_change_ms(&p, &s, 2, 4, 2200) == POLICY_NEVER);

	/* A maximum of 0 wants nothing; the maximum wins over a larger minimum. */
	policy_observe(&s, 3000, 5);
	assert_int_equal(policy_target(&p, &s, 0, 0, 3000), 0);
	assert_int_equal(policy_target(&p, &s, 3, 2, 3000), 2);
	policy_observe(&s, 3001, 0);
	assert_true(policy_next_change_ms(&p, &s, 3, 2, 3001) == POLICY_NEVER);
	/* Out-of-range bounds are taken within 0..POLICY_MAX_WORKERS. */
	assert_int_equal(policy_target(&p, &s, -5, 4, 10000), 0);
}

static void test_fixed(void **state)
{
	struct policy p = parsed("fixed:3");
	struct policy_state s;
	policy_state_init(&s, 0);
	assert_int_equal(policy_target(&p, &s, 0, 8, 0), 3);
	/* Demand does not move it. */
	policy_observe(&s, 10, 50);
	assert_int_equal(policy_target(&p, &s, 0, 8, 10), 3);
	policy_observe(&s, 20, 0);
	assert_int_equal(policy_target(&p, &s, 0, 8, 100000), 3);
	assert_true(policy_next_change_ms(&p, &s, 0, 8, 20) == POLICY_NEVER);
	/* Clamped to the bounds. */
	assert_int_equal(policy_target(&p, &s, 0, 2, 0), 2);
	assert_int_equal(policy_target(&p, &s, 4, 8, 0), 4);
	p = parsed("fixed:0");
	assert_int_equal(policy_target(&p, &s, 1, 8, 0), 1);
	assert_int_equal(policy_target(&p, &s, 0, 8, 0), 0);
}

/* The history does not depend on the policy: switching a VM's policy keeps
 * what was seen. */
static void test_policy_switch_keeps_history(void **state)
{
	struct policy_state s;
	policy_state_init(&s, 0);
	policy_observe(&s, 0, 2);
	policy_observe(&s, 100, 0);
	struct policy fixed = parsed("fixed:1"), elastic = parsed("elastic:1000:hold=0");
	assert_int_equal(policy_target(&fixed, &s, 0, 8, 200), 1);
	assert_int_equal(policy_target(&elastic, &s, 0, 8, 200), 2);
	assert_int_equal(policy_next_change_ms(&elastic, &s, 0, 8, 200), 1100);
	struct policy longer = parsed("elastic:5000:hold=0");
	assert_int_equal(policy_target(&longer, &s, 0, 8, 1100), 2);
	assert_int_equal(policy_next_change_ms(&longer, &s, 0, 8, 1100), 5100);
}

/* Time that goes backwards is taken as the last observation's time, so a
 * level is never dated before a later one. */
static void test_time_backwards(void **state)
{
	struct policy p = parsed("elastic:100:hold=0");
	struct policy_state s;
	policy_state_init(&s, 1000);
	policy_observe(&s, 500, 1);
	policy_observe(&s, 400, 0);
	assert_int_equal(s.now_ms, 1000);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1099), 1);
	assert_int_equal(policy_next_change_ms(&p, &s, 0, 8, 1000), 1100);
	assert_int_equal(policy_target(&p, &s, 0, 8, 1100), 0);
}

/* Replays a random demand trace and checks the target against the
 * definition, brute force: the largest k the demand reached within the
 * keep-alive, and that next_change is exactly when it first drops. */
static void test_against_definition(void **state)
{
	enum { STEPS = 400, KA = 50 };
	uint64_t t[STEPS];
	uint32_t d[STEPS];
	uint32_t x = 12345;
	uint64_t now = 0;
	for (int i = 0; i < STEPS; i++) {
		x = x * 1103515245u + 12345u;
		now += (x >> 16) % 40;
		t[i] = now;
		d[i] = (x >> 8) % 6;
	}
	struct policy p = parsed("elastic:50:hold=0");
	struct policy_state s;
	policy_state_init(&s, 0);
	int seen = 0;
	for (uint64_t q = 0; q < now + 2 * KA; q++) {
		while (seen < STEPS && t[seen] <= q) {
			policy_observe(&s, t[seen], d[seen]);
			seen++;
		}
		/* Definition: the largest demand in force at some moment of
		 * (q - KA, q]. Demand i is in force from t_i up to and including
		 * t_{i+1} (a level is seen until the moment it is left). */
		int want = 0;
		for (int i = 0; i < seen; i++) {
			bool overlaps = i + 1 == seen || t[i + 1] + KA > q;
			if (overlaps && (int)d[i] > want)
				want = (int)d[i];
		}
		int got = policy_target(&p, &s, 0, 8, q);
		if (got != want)
			fail_msg("t=%llu: target %d, definition %d", (unsigned long long)q, got,
				 want);
		uint64_t next = policy_next_change_ms(&p, &s, 0, 8, q);
		/* Without new observations, the target holds until next and drops there. */
		if (next != POLICY_NEVER) {
			assert_true(next > q);
			assert_int_equal(policy_target(&p, &s, 0, 8, next - 1), got);
			assert_true(policy_target(&p, &s, 0, 8, next) < got);
		} else {
			assert_int_equal(policy_target(&p, &s, 0, 8, q + 100000), got);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_parse),
					    cmocka_unit_test(test_parse_rejects),
					    cmocka_unit_test(test_format),
					    cmocka_unit_test(test_manual_has_no_target),
					    cmocka_unit_test(test_elastic_idle),
					    cmocka_unit_test(test_elastic_grows_at_once),
					    cmocka_unit_test(test_elastic_shrinks_step_by_step),
					    cmocka_unit_test(test_elastic_releases_together),
					    cmocka_unit_test(test_elastic_renewal),
					    cmocka_unit_test(test_elastic_zero_keep_alive),
					    cmocka_unit_test(test_elastic_clamps),
					    cmocka_unit_test(test_fixed),
					    cmocka_unit_test(test_policy_switch_keeps_history),
					    cmocka_unit_test(test_time_backwards),
					    cmocka_unit_test(test_against_definition) };
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
