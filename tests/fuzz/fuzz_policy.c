/* The scaling policies (lib/policy): the spec parser on arbitrary text, the
 * formatter's round trip, and the decisions over an arbitrary demand.
 *
 * Input: a spec up to the first NUL; after it, min and max (a byte each)
 * and then events of a time step (2 bytes, ms) and a demand (1 byte).
 * Checked: a refused spec leaves the output alone; an accepted one formats
 * to a canonical spec that parses to the same policy and formats the same;
 * along the events, in the documented calling sequence, every target is
 * within the clamped bounds (-1 only for manual), elastic covers the
 * demand, fixed stays put, and the time policy_next_change_ms names is the
 * first at which the target moves. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "policy.h"

#define MAX_EVENTS 64

static bool same(const struct policy *a, const struct policy *b)
{
	return a->kind == b->kind && a->keep_alive_ms == b->keep_alive_ms &&
	       a->hold_ms == b->hold_ms && a->period_ms == b->period_ms &&
	       a->standby == b->standby && a->workers == b->workers;
}

static void check_format(const struct policy *p)
{
	char buf[POLICY_SPEC_MAX], again[POLICY_SPEC_MAX];
	FUZZ_CHECK(policy_format(p, buf, sizeof(buf)) == 0);
	size_t len = strlen(buf);
	FUZZ_CHECK(len > 0 && len < POLICY_SPEC_MAX);
	struct policy q;
	FUZZ_CHECK(policy_parse(buf, &q) == 0 && same(p, &q));
	FUZZ_CHECK(policy_format(&q, again, sizeof(again)) == 0 && strcmp(buf, again) == 0);
	/* One byte short of room for the NUL. */
	FUZZ_CHECK(policy_format(p, again, len) == -ENOSPC);
	FUZZ_CHECK(policy_parse(buf, NULL) == 0);
	FUZZ_CHECK(policy_is_scale_out(p) == (p->kind == POLICY_SCALE_OUT));
	FUZZ_CHECK(policy_is_manual(p) == (p->kind == POLICY_MANUAL));
	int sb = policy_standby(p);
	FUZZ_CHECK(sb >= -1 && sb <= POLICY_MAX_WORKERS);
	struct policy per;
	policy_per_vm(p, &per);
	FUZZ_CHECK(!policy_is_scale_out(&per));
}

static int bound(int v)
{
	return v < 0 ? 0 : v > POLICY_MAX_WORKERS ? POLICY_MAX_WORKERS : v;
}

/* The target at t with nothing observed after s: a copy advanced to t. */
static int target_at(const struct policy *p, const struct policy_state *s, int min, int max,
		     uint64_t t)
{
	struct policy_state c = *s;
	policy_advance(p, &c, min, max, t);
	return policy_target(p, &c, min, max, t);
}

static void check_decisions(const struct policy *p, struct fuzz_in *in)
{
	int min = fuzz_byte(in) % (POLICY_MAX_WORKERS + 8);
	int max = fuzz_byte(in) % (POLICY_MAX_WORKERS + 8);
	int lo = bound(min), hi = bound(max);
	if (lo > hi)
		lo = hi;
	struct policy_state s;
	uint64_t now = 1000;
	policy_state_init(&s, now);
	for (int i = 0; i < MAX_EVENTS && in->n >= 3; i++) {
		now += fuzz_u16(in);
		uint32_t demand = fuzz_byte(in);
		policy_advance(p, &s, min, max, now);
		policy_observe(&s, now, demand);
		int t = policy_target(p, &s, min, max, now);
		if (p->kind == POLICY_MANUAL) {
			FUZZ_CHECK(t == -1);
			continue;
		}
		FUZZ_CHECK(t >= lo && t <= hi);
		int d = bound((int)demand);
		int want = d < lo ? lo : d > hi ? hi : d;
		if (p->kind == POLICY_ELASTIC || p->kind == POLICY_SCALE_OUT)
			FUZZ_CHECK(t >= want);
		if (p->kind == POLICY_FIXED) {
			int w = p->workers == POLICY_WORKERS_MAX ? hi : bound(p->workers);
			FUZZ_CHECK(t == (w < lo ? lo : w > hi ? hi : w));
		}
		uint64_t next = policy_next_change_ms(p, &s, min, max, now);
		if (next == POLICY_NEVER)
			continue;
		FUZZ_CHECK(next > now);
		/* Nothing moves before the time named, and the target does then. */
		if (next - 1 > now)
			FUZZ_CHECK(target_at(p, &s, min, max, next - 1) == t);
		FUZZ_CHECK(target_at(p, &s, min, max, next) != t);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul ? (size_t)(nul - data) : size;
	if (n > 256)
		return 0;
	char spec[257];
	memcpy(spec, data, n);
	spec[n] = '\0';

	struct policy p, untouched;
	memset(&p, 0xa5, sizeof(p));
	untouched = p;
	int r = policy_parse(spec, &p);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK((policy_parse(spec, NULL) == 0) == (r == 0));
	if (r < 0) {
		FUZZ_CHECK(memcmp(&p, &untouched, sizeof(p)) == 0);
		return 0;
	}
	check_format(&p);
	struct fuzz_in in = { data + n, size - n };
	fuzz_byte(&in); /* the NUL */
	check_decisions(&p, &in);
	return 0;
}
