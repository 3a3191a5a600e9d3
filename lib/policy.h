/* Scaling policies for a tenant's worker vCPUs, as pure functions of the
 * demand seen over time. No I/O and no clock: the caller passes the time
 * (milliseconds on any monotonic clock), so the agent, the controller and a
 * trace simulator run the very same decisions.
 *
 * Spec grammar (lowercase, decimal digits only, no spaces, fields in this
 * order, each at most once; anything else is refused):
 *
 *   manual                          no autoscaling: the operator sets the count
 *                                   (agent only).
 *   elastic[:KA][:hold=H][:standby=N]
 *                                   a worker vCPU for every invocation in
 *                                   flight, each kept KA ms (0..3600000, default
 *                                   2000) after the demand last needed it;
 *                                   releases paced H ms apart (0..3600000,
 *                                   default 250, see below); N (0..128) guest-
 *                                   online vCPUs holding no host core kept ready
 *                                   (precreated VMs only; without standby= the
 *                                   VM's own standby setting applies).
 *   periodic:MS                     the sampling controller (MS in 100..60000):
 *                                   every MS it moves the target one step
 *                                   toward the demand (see below).
 *   fixed:N                         always N worker vCPUs (0..128).
 *   fixed:max                       always the caller's max.
 *   scale-out[:KA]                  a number of one-worker VMs for the tenant
 *                                   (controller only), by the elastic arithmetic
 *                                   on the tenant's total demand, keep-alive KA
 *                                   (0..3600000, default 60000), no pacing.
 *
 * policy_format writes the canonical spec (defaults left out), which
 * policy_parse reads back to the same policy. Every target is clamped to the
 * caller's [min, max].
 *
 * Elastic, precisely: level k (the k-th worker) is held while the demand is
 * >= k, and after the demand last was >= k (at seen_k) until its release
 *   r_k = max(seen_k + KA, r_{k+1} + H)
 * so the top level goes first, one keep-alive after the demand left it, and
 * each lower one at least H after the one above. The target at t is the
 * largest k held at t. It grows as soon as an invocation arrives.
 *
 * Hysteresis (hold=H): without it a burst of k invocations that end together
 * releases k workers at once, and a burst that comes back soon after pays k
 * grows again. With it, between two grows the target drops one level at a
 * time, at least H apart, so a partial return of the load finds the lower
 * levels still there; and a level cycles (grow, release, grow) at most once
 * per KA. H = 0 is the plain keep-alive (every level on its own). The
 * default, 250 ms, is conservative: a burst of k that ends holds at most
 * (k - 1) * k / 2 * 250 worker-ms more than H = 0 would.
 *
 * Periodic, precisely: ticks fall on the grid start + j * MS (start: the
 * state's policy_state_init). At each tick, with `peak` the highest demand in
 * force during the period that ends there (the demand at its start included),
 * the target goes up by one if peak > target, down by one if peak < target,
 * then is clamped to [min, max]. It starts at 0 (clamped).
 *
 * Scale-out: policy_target is the number of VMs the tenant wants, from
 * `demand` = invocations in flight over all of its VMs and min/max = the
 * tenant's bounds on its VM count. Each of those VMs runs policy_per_vm's
 * policy (fixed:1) on its agent.
 *
 * The calling sequence, the same in the agent (host-agent/scaler.c), the
 * controller and a simulator, at every event time `now` (non-decreasing):
 *   1. policy_advance(p, s, min, max, now)   process the periodic ticks <= now
 *                                            with the demand known so far
 *   2. policy_observe(s, now, demand)        when the demand changed
 *   3. policy_target(p, s, min, max, now)    what to resize to
 *   4. policy_next_change_ms(p, s, min, max, now)
 *                                            when to run 1 and 3 again if no
 *                                            demand changes meanwhile (one
 *                                            timer), or POLICY_NEVER
 * Calling policy_advance late is fine: it processes every tick passed. */
#ifndef DITTO_POLICY_H
#define DITTO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_WORKERS 128
#define POLICY_KEEP_ALIVE_DEFAULT_MS 2000
#define POLICY_KEEP_ALIVE_MAX_MS 3600000
#define POLICY_HOLD_DEFAULT_MS 250
#define POLICY_HOLD_MAX_MS 3600000
#define POLICY_PERIOD_MIN_MS 100
#define POLICY_PERIOD_MAX_MS 60000
#define POLICY_SCALE_OUT_KEEP_ALIVE_DEFAULT_MS 60000
/* struct policy's workers under fixed:max. */
#define POLICY_WORKERS_MAX (-1)
/* Room for the longest spec policy_format writes, NUL included (at most 64,
 * the controller's column). */
#define POLICY_SPEC_MAX 48
/* policy_next_change_ms: no change without a new observation. */
#define POLICY_NEVER UINT64_MAX

enum policy_kind {
	POLICY_MANUAL = 0,
	POLICY_ELASTIC,
	POLICY_FIXED,
	POLICY_PERIODIC,
	POLICY_SCALE_OUT,
};

struct policy {
	enum policy_kind kind;
	uint32_t keep_alive_ms; /* elastic, scale-out */
	uint32_t hold_ms;       /* elastic: releases paced this far apart */
	uint32_t period_ms;     /* periodic */
	int standby;            /* elastic: 0..POLICY_MAX_WORKERS, or -1: not given */
	int workers;            /* fixed: 0..POLICY_MAX_WORKERS or POLICY_WORKERS_MAX */
};

/* What the policies need to remember of the demand. The demand history does
 * not depend on the policy, so a VM keeps it when its policy changes; the
 * periodic fields are advanced by policy_advance. Fixed size; a zeroed struct
 * is not valid, use policy_state_init. */
struct policy_state {
	uint32_t demand; /* invocations in flight at the last observation */
	uint64_t now_ms; /* time of the last observation */
	int levels;      /* levels 1..levels have been reached at least once */
	/* seen_ms[k - 1]: the last time the demand was >= k. Never increases
	 * with k, since a demand >= k + 1 is also >= k. */
	uint64_t seen_ms[POLICY_MAX_WORKERS];
	/* Periodic: the grid's origin, the last tick processed (start_ms before
	 * the first), the highest demand in force since then, and the target. */
	uint64_t start_ms;
	uint64_t tick_ms;
	uint32_t peak;
	int periodic_target;
};

/* Parses a spec (grammar above). Returns 0 and fills *ret (when ret is not
 * NULL, so callers can merely validate), or -EINVAL and leaves *ret as it
 * was. */
int policy_parse(const char *spec, struct policy *ret);

/* Writes the canonical spec of p into buf. Returns 0, -ENOSPC when buf is too
 * small (POLICY_SPEC_MAX always fits), or -EINVAL for a policy that
 * policy_parse could not have produced. */
int policy_format(const struct policy *p, char *buf, size_t len);

bool policy_is_manual(const struct policy *p);

/* Whether p is scale-out: its target counts one-worker VMs of a tenant, and
 * only a controller can act on it. A controller keeps one policy_state per
 * tenant fed with the tenant's total in-flight count, follows the calling
 * sequence above with min/max = the tenant's VM-count bounds, boots or
 * stops VMs toward policy_target, and starts each VM with policy_per_vm. */
bool policy_is_scale_out(const struct policy *p);

/* Whether p, with at most max worker vCPUs (scale-out: VMs), can never run
 * an invocation: max below 1, or fixed:0 (whose target stays 0 whatever the
 * demand). A controller refuses such a setting rather than let invocations
 * wait for workers that never come. Every other policy grows with demand. */
bool policy_never_runs(const struct policy *p, int max);

/* The policy each of the tenant's VMs runs on its agent: fixed:1 under
 * scale-out, p itself otherwise. */
void policy_per_vm(const struct policy *p, struct policy *ret);

/* The standby p asks for (online guest vCPUs holding no host core; only a
 * precreated VM has them), or -1 when p does not say (elastic without
 * standby=, and every other policy): the VM's own setting applies. */
int policy_standby(const struct policy *p);

/* An empty history: no demand ever, observed at time now_ms, which is also
 * the origin of the periodic grid. */
void policy_state_init(struct policy_state *s, uint64_t now_ms);

/* Sets the periodic policy's current target to `target` (>= 0), e.g. to the
 * worker vCPUs a VM has when it switches to a periodic policy, so that it
 * steps from there rather than from 0. The grid stays. */
void policy_state_set_target(struct policy_state *s, int target);

/* Records that the demand (invocations in flight: running plus queued) is
 * `demand` from now_ms on. Call it whenever the demand changes, after
 * policy_advance to the same now_ms; extra calls with an unchanged demand are
 * harmless. A now_ms earlier than the last observation is taken as the last
 * observation's time. */
void policy_observe(struct policy_state *s, uint64_t now_ms, uint32_t demand);

/* Processes every periodic tick of p in (last tick processed, now_ms], each
 * with the demand observed so far, clamping to [min, max] as policy_target
 * does. Does nothing for other policies. Cheap however late: once the demand
 * stays put the remaining ticks are skipped in one go. */
void policy_advance(const struct policy *p, struct policy_state *s, int min, int max,
		    uint64_t now_ms);

/* The number of worker vCPUs (scale-out: VMs) p wants at now_ms (not before
 * the last observation), clamped to [min, max] (max wins when min > max, and
 * both are taken within 0..POLICY_MAX_WORKERS); -1 under manual, which has no
 * target. Periodic returns the target as of the last policy_advance. */
int policy_target(const struct policy *p, const struct policy_state *s, int min, int max,
		  uint64_t now_ms);

/* The earliest time after now_ms at which the target would change if nothing
 * new is observed meanwhile (elastic, scale-out: when it next drops; periodic:
 * the next tick that moves it), or POLICY_NEVER. A caller arms one timer for
 * it rather than sampling, and runs policy_advance and policy_target when it
 * fires. */
uint64_t policy_next_change_ms(const struct policy *p, const struct policy_state *s, int min,
			       int max, uint64_t now_ms);

#endif
