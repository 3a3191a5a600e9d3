/* Scaling policies for a tenant VM's worker vCPUs, as pure functions of the
 * demand seen over time. No I/O and no clock: the caller passes the time
 * (milliseconds on any monotonic clock), so the agent and a trace simulator
 * run the very same decisions.
 *
 * Policies, by their spec string:
 *   manual       no autoscaling: the operator sets the count.
 *   elastic      keep a worker vCPU for every invocation in flight, and keep
 *   elastic:MS   each one for a keep-alive (2000 ms, or MS in 0..3600000)
 *                after the demand last needed it.
 *   fixed:N      always N worker vCPUs.
 * Every target is clamped to the caller's [min, max].
 *
 * Elastic, precisely: the target at time t is the largest k such that the
 * demand was >= k at some moment in (t - keep_alive, t]. So it grows as soon
 * as an invocation arrives, and it releases the k-th worker once the demand
 * has stayed below k for a whole keep-alive. */
#ifndef DITTO_POLICY_H
#define DITTO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_WORKERS 128
#define POLICY_KEEP_ALIVE_DEFAULT_MS 2000
#define POLICY_KEEP_ALIVE_MAX_MS 3600000
/* Room for the longest spec policy_format writes, NUL included. */
#define POLICY_SPEC_MAX 24
/* policy_next_change_ms: no change without a new observation. */
#define POLICY_NEVER UINT64_MAX

enum policy_kind {
	POLICY_MANUAL = 0,
	POLICY_ELASTIC,
	POLICY_FIXED,
};

struct policy {
	enum policy_kind kind;
	uint32_t keep_alive_ms; /* elastic */
	int workers;            /* fixed: 0..POLICY_MAX_WORKERS */
};

/* What the policies need to remember of the demand. It does not depend on
 * the policy, so a VM keeps it when its policy changes. Fixed size; a zeroed
 * struct is not valid, use policy_state_init. */
struct policy_state {
	uint32_t demand; /* invocations in flight at the last observation */
	uint64_t now_ms; /* time of the last observation */
	int levels;      /* levels 1..levels have been reached at least once */
	/* seen_ms[k - 1]: the last time the demand was >= k. Never increases
	 * with k, since a demand >= k + 1 is also >= k. */
	uint64_t seen_ms[POLICY_MAX_WORKERS];
};

/* Parses a spec ("manual", "elastic", "elastic:MS", "fixed:N"; lowercase,
 * decimal digits only, no spaces). Returns 0 and fills *ret (when ret is not
 * NULL, so callers can merely validate), or -EINVAL and leaves *ret as it
 * was. */
int policy_parse(const char *spec, struct policy *ret);

/* Writes the canonical spec of p into buf ("elastic" for the default
 * keep-alive, "elastic:MS" otherwise). Returns 0, -ENOSPC when buf is too
 * small (POLICY_SPEC_MAX always fits), or -EINVAL for a policy that
 * policy_parse could not have produced. */
int policy_format(const struct policy *p, char *buf, size_t len);

bool policy_is_manual(const struct policy *p);

/* An empty history: no demand ever, observed at time now_ms. */
void policy_state_init(struct policy_state *s, uint64_t now_ms);

/* Records that the demand (invocations in flight for the VM: running plus
 * queued) is `demand` from now_ms on. Call it whenever the demand changes;
 * extra calls with an unchanged demand are harmless. A now_ms earlier than
 * the last observation is taken as the last observation's time. */
void policy_observe(struct policy_state *s, uint64_t now_ms, uint32_t demand);

/* The number of worker vCPUs p wants at now_ms (not before the last
 * observation), clamped to [min, max] (max wins when min > max, and both are
 * taken within 0..POLICY_MAX_WORKERS); -1 under manual, which has no
 * target. */
int policy_target(const struct policy *p, const struct policy_state *s, int min, int max,
		  uint64_t now_ms);

/* The earliest time after now_ms at which policy_target would return less
 * than it does at now_ms if nothing new is observed meanwhile, or POLICY_NEVER.
 * A caller arms one timer for it rather than sampling. The target never rises
 * without an observation, so this is the only time to look again. */
uint64_t policy_next_change_ms(const struct policy *p, const struct policy_state *s, int min,
			       int max, uint64_t now_ms);

#endif
