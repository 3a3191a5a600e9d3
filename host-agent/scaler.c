#include "scaler.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static uint64_t now_ms(struct scaler *sc)
{
	uv_update_time(sc->loop);
	return uv_now(sc->loop);
}

static void on_timer(uv_timer_t *t);

static void arm_timer(struct scaler *sc, uint64_t now)
{
	uint64_t next = policy_next_change_ms(&sc->policy, &sc->history, sc->min_workers,
					      sc->max_workers, now);
	if (next == POLICY_NEVER)
		uv_timer_stop(&sc->timer);
	else
		uv_timer_start(&sc->timer, on_timer, next - now, 0);
}

/* vCPUs QEMU can still create in this VM's life (INT_MAX: no such cap). */
static int hotplug_left(struct scaler *sc)
{
	return sc->ops->hotplug_left(sc->data);
}

/* How far a grow from cur toward want can go now: each new worker needs a
 * free host core, and under hotplug a vCPU QEMU can still create. Logs each
 * limit when it starts to bite, not on every look. */
static int limit_grow(struct scaler *sc, int cur, int want)
{
	int free_cores = sc->ops->free_cores(sc->data);
	if (want - cur > free_cores) {
		if (!sc->cores_short)
			log_warn("vm_scale_limited tenant=%s wanted=%d workers=%d free_cores=%d "
				 "reason=no_capacity",
				 sc->name, want, cur, free_cores);
		sc->cores_short = true;
		want = cur + free_cores;
	} else {
		sc->cores_short = false;
	}
	int left = hotplug_left(sc);
	if (left != INT_MAX && want > cur) {
		if (left <= 0 && !sc->hotplug_full) {
			log_warn(
				"vm_scale_limited tenant=%s wanted=%d workers=%d reason=hotplug_exhausted",
				sc->name, want, cur);
			sc->hotplug_full = true;
		}
		if (sc->hotplug_full)
			want = cur;
		else if (want - cur > left)
			want = cur + left;
	}
	return want;
}

static void on_scaled(int status, json_t *report, void *data)
{
	struct scaler *sc = data;
	int to = sc->resize_to;
	sc->resize_to = -1;
	int workers = sc->ops->active(sc->data);
	if (status == 0 && workers == to) {
		sc->pending = true; /* the target may have moved meanwhile */
		return;
	}
	if (status == -ECANCELED || status == -EPIPE)
		return; /* the VM went down; its next start begins afresh */
	/* Not looked at again until the next event, so a resize that keeps
	 * failing is retried at the pace of events, never in a loop. */
	const char *why = json_string_value(json_object_get(report, "error"));
	log_warn("vm_scale_failed tenant=%s to=%d workers=%d status=%d error=\"%s\"", sc->name, to,
		 workers, status, why ? why : vcpu_strerror(status));
	if (status == -EMLINK && !sc->hotplug_full) {
		sc->hotplug_full = true;
		log_warn("vm_scale_limited tenant=%s workers=%d reason=hotplug_exhausted", sc->name,
			 workers);
	}
}

/* The target now: the policy's (advanced to now, lib/policy.h's calling
 * sequence), or under manual the active count within the limits. Arms the
 * policy's timer. */
static int target(struct scaler *sc, int cur)
{
	if (policy_is_manual(&sc->policy)) {
		uv_timer_stop(&sc->timer);
		int want = cur < sc->min_workers ? sc->min_workers : cur;
		return want > sc->max_workers ? sc->max_workers : want;
	}
	uint64_t now = now_ms(sc);
	policy_advance(&sc->policy, &sc->history, sc->min_workers, sc->max_workers, now);
	arm_timer(sc, now);
	return policy_target(&sc->policy, &sc->history, sc->min_workers, sc->max_workers, now);
}

/* Forgets an arrival that no grow will answer: its invocations have workers,
 * the maximum is reached, or the policy never follows demand. */
static void settle_unserved(struct scaler *sc, int cur)
{
	enum policy_kind k = sc->policy.kind;
	if (sc->history.demand <= (uint32_t)cur || cur >= sc->max_workers || k == POLICY_FIXED ||
	    k == POLICY_MANUAL)
		sc->unserved_ns = 0;
}

/* A grow was requested: the arrival it answers is served. */
static void record_decision(struct scaler *sc)
{
	if (!sc->unserved_ns)
		return;
	uint64_t now = uv_hrtime();
	hist_add(&sc->decisions, now > sc->unserved_ns ? (now - sc->unserved_ns) / 1000 : 0);
	sc->unserved_ns = 0;
}

/* Whether a shrink from cur to want must wait: the idle workers of a VM
 * that can create no more vCPUs would never come back under a policy that
 * follows demand, and invocations would wait for ever, so they stay until
 * the VM is restarted. Limits that shrink it still apply. */
static bool keep_unrenewable(struct scaler *sc, int cur, int want)
{
	enum policy_kind k = sc->policy.kind;
	return want < cur && (k == POLICY_ELASTIC || k == POLICY_PERIODIC) &&
	       cur <= sc->max_workers && hotplug_left(sc) <= 0;
}

/* A resize is under way: look again when it ends. A grow past it that the
 * target asks for now is decided now (and requested as soon as the VM can
 * take it), so an arrival waiting for it is served as a decision now. */
static void defer(struct scaler *sc)
{
	sc->pending = true;
	if (!sc->unserved_ns || policy_is_manual(&sc->policy))
		return;
	int cur = sc->ops->active(sc->data);
	int base = sc->resize_to >= 0 ? sc->resize_to : cur;
	settle_unserved(sc, base);
	if (sc->unserved_ns && target(sc, cur) > base)
		record_decision(sc);
}

/* Looks at the target and starts a resize toward it when the VM can take
 * one now; otherwise remembers to look again when it can. */
static void evaluate(struct scaler *sc, const char *reason)
{
	if (!sc->ready)
		return; /* scaler_on_ready or scaler_on_responsive look again */
	if (sc->resize_to >= 0 || sc->ops->busy(sc->data)) {
		defer(sc);
		return;
	}
	sc->pending = false;
	int cur = sc->ops->active(sc->data);
	int want = target(sc, cur);
	settle_unserved(sc, cur);
	int wanted = want;
	if (want > cur)
		want = limit_grow(sc, cur, want);
	if (keep_unrenewable(sc, cur, want)) {
		if (!sc->hotplug_full)
			log_warn("vm_scale_limited tenant=%s wanted=%d workers=%d "
				 "reason=hotplug_exhausted keep=%d",
				 sc->name, want, cur, cur);
		sc->hotplug_full = true;
		want = cur;
	}
	if (want == cur)
		return;
	int r = sc->ops->resize(sc->data, want, on_scaled, sc);
	if (r < 0) {
		log_warn("vm_scale_failed tenant=%s to=%d workers=%d status=%d error=\"%s\"",
			 sc->name, want, cur, r, vcpu_strerror(r));
		return;
	}
	sc->resize_to = want;
	if (want > cur)
		record_decision(sc);
	char spec[POLICY_SPEC_MAX];
	policy_format(&sc->policy, spec, sizeof(spec));
	log_info("vm_scale tenant=%s from=%d to=%d reason=%s policy=%s demand=%u wanted=%d "
		 "min_workers=%d max_workers=%d",
		 sc->name, cur, want, reason, spec, sc->history.demand, wanted, sc->min_workers,
		 sc->max_workers);
}

static void on_timer(uv_timer_t *t)
{
	struct scaler *sc = t->data;
	evaluate(sc, sc->policy.kind == POLICY_PERIODIC ? "tick" : "keep_alive");
}

/* Runs on every turn of the loop, just before it waits for I/O, so it sees
 * every change of the VM's in-flight count (an invocation sent to the guest
 * or answered, whichever module made it) before the loop sleeps, without the
 * invocation path knowing about scaling. Changes within one turn are seen
 * together: the demand is sampled once per turn, not per invocation. */
static void on_watch(uv_prepare_t *h)
{
	struct scaler *sc = h->data;
	unsigned inflight = sc->ops->demand(sc->data);
	uint64_t arrived = sc->ops->take_arrival_ns ? sc->ops->take_arrival_ns(sc->data) : 0;
	if (inflight == sc->seen_inflight)
		return;
	bool rise = inflight > sc->seen_inflight;
	if (rise && !sc->unserved_ns)
		sc->unserved_ns = arrived ? arrived : uv_hrtime();
	sc->seen_inflight = inflight;
	/* Ticks that passed are taken with the demand they saw. */
	uint64_t now = now_ms(sc);
	policy_advance(&sc->policy, &sc->history, sc->min_workers, sc->max_workers, now);
	policy_observe(&sc->history, now, inflight);
	const char *reason = rise ? "arrival" : "completion";
	if (!policy_is_manual(&sc->policy))
		evaluate(sc, reason);
}

void scaler_init(struct scaler *sc, uv_loop_t *loop, const struct scaler_config *cfg,
		 const struct scaler_ops *ops, void *data)
{
	memset(sc, 0, sizeof(*sc));
	sc->loop = loop;
	sc->ops = ops;
	sc->data = data;
	sc->name = cfg->name;
	sc->vm_max_workers = cfg->vm_max_workers;
	sc->policy = cfg->policy;
	sc->min_workers = cfg->min_workers;
	sc->max_workers = cfg->max_workers;
	sc->resize_to = -1;
	uv_timer_init(loop, &sc->timer);
	uv_prepare_init(loop, &sc->watch);
	sc->timer.data = sc->watch.data = sc;
	policy_state_init(&sc->history, uv_now(loop));
	uv_prepare_start(&sc->watch, on_watch);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct scaler *sc = h->data;
	if (--sc->handles_open == 0 && sc->closed)
		sc->closed(sc->data);
}

void scaler_close(struct scaler *sc, void (*cb)(void *data))
{
	sc->closed = cb;
	sc->handles_open = 2;
	uv_close((uv_handle_t *)&sc->timer, on_handle_closed);
	uv_close((uv_handle_t *)&sc->watch, on_handle_closed);
}

int scaler_set(struct scaler *sc, const struct policy *p, int min_workers, int max_workers)
{
	if (max_workers > sc->vm_max_workers)
		return -ERANGE;
	if (min_workers < 0 || min_workers > max_workers)
		return -EINVAL;
	bool sampling = p->kind == POLICY_PERIODIC &&
			(sc->policy.kind != POLICY_PERIODIC || sc->policy.period_ms != p->period_ms);
	if (sampling) /* it steps from the workers there are */
		policy_state_set_target(&sc->history, sc->ops->active(sc->data));
	sc->policy = *p;
	sc->min_workers = min_workers;
	sc->max_workers = max_workers;
	char spec[POLICY_SPEC_MAX];
	policy_format(p, spec, sizeof(spec));
	log_info("vm_scaling tenant=%s min_workers=%d max_workers=%d policy=%s", sc->name,
		 min_workers, max_workers, spec);
	evaluate(sc, "scaling");
	return 0;
}

void scaler_on_ready(struct scaler *sc)
{
	uint64_t now = now_ms(sc);
	unsigned inflight = sc->ops->demand(sc->data);
	policy_state_init(&sc->history, now);
	policy_observe(&sc->history, now, inflight);
	sc->seen_inflight = inflight;
	sc->unserved_ns = 0;
	sc->ready = true;
	sc->resize_to = -1;
	sc->pending = false;
	sc->cores_short = false;
	sc->hotplug_full = false;
	evaluate(sc, "ready");
}

void scaler_on_responsive(struct scaler *sc)
{
	sc->ready = true;
	evaluate(sc, "responsive");
}

void scaler_on_unresponsive(struct scaler *sc)
{
	sc->ready = false;
}

void scaler_on_down(struct scaler *sc)
{
	sc->ready = false;
}

void scaler_on_resized(struct scaler *sc)
{
	if (sc->pending && !sc->ops->busy(sc->data))
		evaluate(sc, "resized");
}

void scaler_to_json(const struct scaler *sc, json_t *o)
{
	char spec[POLICY_SPEC_MAX];
	policy_format(&sc->policy, spec, sizeof(spec));
	json_object_set_new(o, "min_workers", json_integer(sc->min_workers));
	json_object_set_new(o, "max_workers", json_integer(sc->max_workers));
	json_object_set_new(o, "policy", json_string(spec));
	json_object_set_new(o, "decision_us", hist_to_json(&sc->decisions));
}
