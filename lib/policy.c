#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parses a decimal number of 1 to 7 digits (all the ranges here fit) in
 * [min, max]. Signs, spaces and empty strings are refused. */
static int parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	size_t n = strlen(s);
	if (n == 0 || n > 7 || strspn(s, "0123456789") != n)
		return -EINVAL;
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint32_t)(s[i] - '0');
	if (v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parses "NAME=N" when field starts with "NAME=". Returns 1 when it did, 0
 * when the field is another one, -EINVAL for a bad value. */
static int parse_named(const char *field, const char *name, uint32_t max, uint32_t *ret)
{
	size_t n = strlen(name);
	if (strncmp(field, name, n) != 0 || field[n] != '=')
		return 0;
	return parse_uint(field + n + 1, 0, max, ret) < 0 ? -EINVAL : 1;
}

/* The fields after "elastic": [KA][:hold=H][:standby=N], in this order. f is
 * NULL or the text after "elastic:". */
static int parse_elastic(char *f, struct policy *p)
{
	uint32_t v;
	int stage = 0; /* the next field allowed: 0 keep-alive, 1 hold, 2 standby */
	while (f) {
		char *next = strchr(f, ':');
		if (next)
			*next++ = '\0';
		int r;
		if (stage == 0 && f[0] >= '0' && f[0] <= '9') {
			if (parse_uint(f, 0, POLICY_KEEP_ALIVE_MAX_MS, &v) < 0)
				return -EINVAL;
			p->keep_alive_ms = v;
			stage = 1;
		} else if (stage <= 1 && (r = parse_named(f, "hold", POLICY_HOLD_MAX_MS, &v)) != 0) {
			if (r < 0)
				return r;
			p->hold_ms = v;
			stage = 2;
		} else if (stage <= 2 &&
			   (r = parse_named(f, "standby", POLICY_MAX_WORKERS, &v)) != 0) {
			if (r < 0)
				return r;
			p->standby = (int)v;
			stage = 3;
		} else {
			return -EINVAL;
		}
		f = next;
	}
	return 0;
}

/* Splits "head:rest" in buf: returns rest (NULL when there is no colon). */
static char *split_head(char *buf)
{
	char *colon = strchr(buf, ':');
	if (!colon)
		return NULL;
	*colon = '\0';
	return colon + 1;
}

static int parse_kind(char *head, char *rest, struct policy *p)
{
	uint32_t v;
	if (strcmp(head, "manual") == 0 && !rest) {
		p->kind = POLICY_MANUAL;
	} else if (strcmp(head, "elastic") == 0) {
		p->kind = POLICY_ELASTIC;
		return parse_elastic(rest, p);
	} else if (strcmp(head, "periodic") == 0 && rest) {
		if (parse_uint(rest, POLICY_PERIOD_MIN_MS, POLICY_PERIOD_MAX_MS, &v) < 0)
			return -EINVAL;
		p->kind = POLICY_PERIODIC;
		p->period_ms = v;
	} else if (strcmp(head, "fixed") == 0 && rest) {
		p->kind = POLICY_FIXED;
		if (strcmp(rest, "max") == 0)
			p->workers = POLICY_WORKERS_MAX;
		else if (parse_uint(rest, 0, POLICY_MAX_WORKERS, &v) == 0)
			p->workers = (int)v;
		else
			return -EINVAL;
	} else if (strcmp(head, "scale-out") == 0) {
		p->kind = POLICY_SCALE_OUT;
		p->keep_alive_ms = POLICY_SCALE_OUT_KEEP_ALIVE_DEFAULT_MS;
		p->hold_ms = 0;
		if (rest && parse_uint(rest, 0, POLICY_KEEP_ALIVE_MAX_MS, &p->keep_alive_ms) < 0)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

int policy_parse(const char *spec, struct policy *ret)
{
	char buf[POLICY_SPEC_MAX];
	if (!spec || strlen(spec) >= sizeof(buf))
		return -EINVAL;
	/* Empty fields ("elastic:", "elastic::5") never parse. */
	strcpy(buf, spec);
	struct policy p = { .kind = POLICY_MANUAL,
			    .keep_alive_ms = POLICY_KEEP_ALIVE_DEFAULT_MS,
			    .hold_ms = POLICY_HOLD_DEFAULT_MS,
			    .standby = -1 };
	char *rest = split_head(buf);
	if (parse_kind(buf, rest, &p) < 0)
		return -EINVAL;
	if (ret)
		*ret = p;
	return 0;
}

/* Appends to buf at *off, as snprintf; false when it does not fit. */
static bool append(char *buf, size_t len, size_t *off, const char *fmt, unsigned v)
{
	int n = snprintf(buf + *off, len - *off, fmt, v);
	if (n < 0 || (size_t)n >= len - *off)
		return false;
	*off += (size_t)n;
	return true;
}

static int format_elastic(const struct policy *p, char *buf, size_t len)
{
	if (p->keep_alive_ms > POLICY_KEEP_ALIVE_MAX_MS || p->hold_ms > POLICY_HOLD_MAX_MS ||
	    p->standby < -1 || p->standby > POLICY_MAX_WORKERS)
		return -EINVAL;
	size_t off = 0;
	bool ok = append(buf, len, &off, "elastic", 0);
	if (ok && p->keep_alive_ms != POLICY_KEEP_ALIVE_DEFAULT_MS)
		ok = append(buf, len, &off, ":%u", p->keep_alive_ms);
	if (ok && p->hold_ms != POLICY_HOLD_DEFAULT_MS)
		ok = append(buf, len, &off, ":hold=%u", p->hold_ms);
	if (ok && p->standby >= 0)
		ok = append(buf, len, &off, ":standby=%u", (unsigned)p->standby);
	return ok ? 0 : -ENOSPC;
}

int policy_format(const struct policy *p, char *buf, size_t len)
{
	size_t off = 0;
	bool ok;
	switch (p->kind) {
	case POLICY_MANUAL: ok = append(buf, len, &off, "manual", 0); break;
	case POLICY_ELASTIC: return format_elastic(p, buf, len);
	case POLICY_PERIODIC:
		if (p->period_ms < POLICY_PERIOD_MIN_MS || p->period_ms > POLICY_PERIOD_MAX_MS)
			return -EINVAL;
		ok = append(buf, len, &off, "periodic:%u", p->period_ms);
		break;
	case POLICY_FIXED:
		if (p->workers == POLICY_WORKERS_MAX)
			ok = append(buf, len, &off, "fixed:max", 0);
		else if (p->workers >= 0 && p->workers <= POLICY_MAX_WORKERS)
			ok = append(buf, len, &off, "fixed:%u", (unsigned)p->workers);
		else
			return -EINVAL;
		break;
	case POLICY_SCALE_OUT:
		if (p->keep_alive_ms > POLICY_KEEP_ALIVE_MAX_MS)
			return -EINVAL;
		ok = p->keep_alive_ms == POLICY_SCALE_OUT_KEEP_ALIVE_DEFAULT_MS
			     ? append(buf, len, &off, "scale-out", 0)
			     : append(buf, len, &off, "scale-out:%u", p->keep_alive_ms);
		break;
	default: return -EINVAL;
	}
	return ok ? 0 : -ENOSPC;
}

bool policy_is_manual(const struct policy *p)
{
	return p->kind == POLICY_MANUAL;
}

bool policy_is_scale_out(const struct policy *p)
{
	return p->kind == POLICY_SCALE_OUT;
}

bool policy_never_runs(const struct policy *p, int max)
{
	return max < 1 || (p->kind == POLICY_FIXED && p->workers == 0);
}

void policy_per_vm(const struct policy *p, struct policy *ret)
{
	if (p->kind == POLICY_SCALE_OUT)
		*ret = (struct policy){ .kind = POLICY_FIXED, .workers = 1 };
	else
		*ret = *p;
}

int policy_standby(const struct policy *p)
{
	return p->kind == POLICY_ELASTIC ? p->standby : -1;
}

void policy_state_init(struct policy_state *s, uint64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	s->now_ms = now_ms;
	s->start_ms = s->tick_ms = now_ms;
}

void policy_state_set_target(struct policy_state *s, int target)
{
	s->periodic_target = target < 0 ? 0 : target;
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
	if (demand > s->peak)
		s->peak = demand;
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

/* ---- periodic ------------------------------------------------------------- */

/* One tick: a step toward the period's peak, within [min, max]. */
static int periodic_step(int target, uint32_t peak, int min, int max)
{
	target = clamp(target, min, max);
	if (peak > (uint32_t)target)
		target++;
	else if (peak < (uint32_t)target)
		target--;
	return clamp(target, min, max);
}

/* The first tick of p's grid after t. */
static uint64_t next_tick(const struct policy *p, const struct policy_state *s, uint64_t t)
{
	uint64_t past = t < s->start_ms ? 0 : (t - s->start_ms) / p->period_ms + 1;
	return s->start_ms + past * p->period_ms;
}

void policy_advance(const struct policy *p, struct policy_state *s, int min, int max,
		    uint64_t now_ms)
{
	if (p->kind != POLICY_PERIODIC)
		return;
	for (uint64_t t = next_tick(p, s, s->tick_ms); t <= now_ms; t = next_tick(p, s, t)) {
		int was = s->periodic_target;
		s->periodic_target = periodic_step(was, s->peak, min, max);
		s->tick_ms = t;
		bool steady = s->peak == s->demand && s->periodic_target == was;
		s->peak = s->demand; /* the next period starts with the demand in force */
		if (steady) {
			/* Every later tick up to now sees the same peak and
			 * target: skip them. */
			s->tick_ms = next_tick(p, s, now_ms) - p->period_ms;
			return;
		}
	}
}

/* ---- elastic -------------------------------------------------------------- */

/* Release times of the levels above the demand, paced hold_ms apart from the
 * top down (policy.h); release[k - 1] for level k, for k in demand+1..levels.
 * Returns the highest level held at now_ms. */
static int elastic_level(const struct policy *p, const struct policy_state *s, uint64_t now_ms,
			 uint64_t release[POLICY_MAX_WORKERS])
{
	uint64_t above = 0; /* r_{k+1}, or 0 for the level above the top */
	bool have_above = false;
	int level = s->demand > POLICY_MAX_WORKERS ? POLICY_MAX_WORKERS : (int)s->demand;
	for (int k = s->levels; k > (int)s->demand; k--) {
		uint64_t r = s->seen_ms[k - 1] + p->keep_alive_ms;
		if (have_above && above + p->hold_ms > r)
			r = above + p->hold_ms;
		release[k - 1] = r;
		above = r;
		have_above = true;
		if (now_ms < r && k > level)
			level = k;
	}
	return level;
}

int policy_target(const struct policy *p, const struct policy_state *s, int min, int max,
		  uint64_t now_ms)
{
	uint64_t release[POLICY_MAX_WORKERS];
	switch (p->kind) {
	case POLICY_ELASTIC:
	case POLICY_SCALE_OUT: return clamp(elastic_level(p, s, now_ms, release), min, max);
	case POLICY_PERIODIC: return clamp(s->periodic_target, min, max);
	case POLICY_FIXED:
		return clamp(p->workers == POLICY_WORKERS_MAX ? max : p->workers, min, max);
	default: return -1;
	}
}

/* The first of the next two ticks that moves the target; after two ticks the
 * peak is the demand in force, so nothing moves later either. */
static uint64_t periodic_next_change(const struct policy *p, const struct policy_state *s,
				     int min, int max, uint64_t now_ms)
{
	int target = clamp(s->periodic_target, min, max);
	uint32_t peak = s->peak;
	uint64_t t = next_tick(p, s, now_ms > s->tick_ms ? now_ms : s->tick_ms);
	for (int i = 0; i < 2; i++, t += p->period_ms) {
		int next = periodic_step(target, peak, min, max);
		if (next != target)
			return t;
		peak = s->demand;
	}
	return POLICY_NEVER;
}

uint64_t policy_next_change_ms(const struct policy *p, const struct policy_state *s, int min,
			       int max, uint64_t now_ms)
{
	if (p->kind == POLICY_PERIODIC)
		return periodic_next_change(p, s, min, max, now_ms);
	if (p->kind != POLICY_ELASTIC && p->kind != POLICY_SCALE_OUT)
		return POLICY_NEVER;
	uint64_t release[POLICY_MAX_WORKERS];
	int level = elastic_level(p, s, now_ms, release);
	int t = clamp(level, min, max);
	/* The target drops only when level t lapses, and it cannot while the
	 * minimum or the present demand holds it. Otherwise level t is held by
	 * its release time alone (t <= the unclamped level), which is after now. */
	if (t <= 0 || t <= clamp(min, 0, max) || (uint32_t)t <= s->demand)
		return POLICY_NEVER;
	return release[t - 1];
}
