#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parses a decimal number of 1 to 7 digits (all the ranges here fit) in
 * [0, max]. Signs, spaces and empty strings are refused. */
static int parse_uint(const char *s, uint32_t max, uint32_t *ret)
{
	size_t n = strlen(s);
	if (n == 0 || n > 7 || strspn(s, "0123456789") != n)
		return -EINVAL;
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint32_t)(s[i] - '0');
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int policy_parse(const char *spec, struct policy *ret)
{
	if (!spec)
		return -EINVAL;
	struct policy p = { .kind = POLICY_MANUAL, .keep_alive_ms = POLICY_KEEP_ALIVE_DEFAULT_MS };
	uint32_t v;
	if (strcmp(spec, "manual") == 0) {
		p.kind = POLICY_MANUAL;
	} else if (strcmp(spec, "elastic") == 0) {
		p.kind = POLICY_ELASTIC;
	} else if (strncmp(spec, "elastic:", 8) == 0) {
		if (parse_uint(spec + 8, POLICY_KEEP_ALIVE_MAX_MS, &v) < 0)
			return -EINVAL;
		p.kind = POLICY_ELASTIC;
		p.keep_alive_ms = v;
	} else if (strncmp(spec, "fixed:", 6) == 0) {
		if (parse_uint(spec + 6, POLICY_MAX_WORKERS, &v) < 0)
			return -EINVAL;
		p.kind = POLICY_FIXED;
		p.workers = (int)v;
	} else {
		return -EINVAL;
	}
	if (ret)
		*ret = p;
	return 0;
}

int policy_format(const struct policy *p, char *buf, size_t len)
{
	int n;
	switch (p->kind) {
	case POLICY_MANUAL: n = snprintf(buf, len, "manual"); break;
	case POLICY_ELASTIC:
		if (p->keep_alive_ms > POLICY_KEEP_ALIVE_MAX_MS)
			return -EINVAL;
		n = p->keep_alive_ms == POLICY_KEEP_ALIVE_DEFAULT_MS
			    ? snprintf(buf, len, "elastic")
			    : snprintf(buf, len, "elastic:%u", (unsigned)p->keep_alive_ms);
		break;
	case POLICY_FIXED:
		if (p->workers < 0 || p->workers > POLICY_MAX_WORKERS)
			return -EINVAL;
		n = snprintf(buf, len, "fixed:%d", p->workers);
		break;
	default: return -EINVAL;
	}
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

bool policy_is_manual(const struct policy *p)
{
	return p->kind == POLICY_MANUAL;
}

void policy_state_init(struct policy_state *s, uint64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	s->now_ms = now_ms;
}

void policy_observe(struct policy_state *s, uint64_t now_ms, uint32_t demand)
{
	if (now_ms < s->now_ms)
		now_ms = s->now_ms;
	/* Every level the demand held until now, or holds from now, was last
	 * seen now. */
	uint32_t top = demand > s->demand ? demand : s->demand;
	int levels = top > POLICY_MAX_WORKERS ? POLICY_MAX_WORKERS : (int)top;
	for (int k = 1; k <= levels; k++)
		s->seen_ms[k - 1] = now_ms;
	if (levels > s->levels)
		s->levels = levels;
	s->demand = demand;
	s->now_ms = now_ms;
}

static int clamp(int v, int min, int max)
{
	if (min < 0)
		min = 0;
	if (max > POLICY_MAX_WORKERS)
		max = POLICY_MAX_WORKERS;
	if (v < min)
		v = min;
	if (v > max)
		v = max;
	return v < 0 ? 0 : v;
}

/* Whether level k (1-based) is still wanted at now_ms: the demand holds it,
 * or reached it less than a keep-alive ago. */
static bool level_held(const struct policy_state *s, uint32_t keep_alive_ms, int k, uint64_t now_ms)
{
	if ((uint32_t)k <= s->demand)
		return true;
	if (k > s->levels)
		return false;
	return now_ms < s->seen_ms[k - 1] + keep_alive_ms;
}

/* The elastic target before clamping. Held levels form a prefix 1..k (the
 * seen times never increase with k), so the first level not held ends it. */
static int elastic_level(const struct policy_state *s, uint32_t keep_alive_ms, uint64_t now_ms)
{
	int k = 0;
	while (k < POLICY_MAX_WORKERS && level_held(s, keep_alive_ms, k + 1, now_ms))
		k++;
	return k;
}

int policy_target(const struct policy *p, const struct policy_state *s, int min, int max,
		  uint64_t now_ms)
{
	switch (p->kind) {
	case POLICY_ELASTIC: return clamp(elastic_level(s, p->keep_alive_ms, now_ms), min, max);
	case POLICY_FIXED: return clamp(p->workers, min, max);
	default: return -1;
	}
}

uint64_t policy_next_change_ms(const struct policy *p, const struct policy_state *s, int min,
			       int max, uint64_t now_ms)
{
	if (p->kind != POLICY_ELASTIC)
		return POLICY_NEVER;
	int t = policy_target(p, s, min, max, now_ms);
	/* The target drops only when level t lapses, and it cannot while the
	 * minimum or the present demand holds it. Otherwise level t is held by
	 * its keep-alive alone (t <= the unclamped level), which ends after now. */
	if (t <= 0 || t <= clamp(min, 0, max) || (uint32_t)t <= s->demand)
		return POLICY_NEVER;
	return s->seen_ms[t - 1] + p->keep_alive_ms;
}
