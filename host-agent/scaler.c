#include "scaler.h"

#include <errno.h>
#include <stdio.h>

#include "agent.h"
#include "cores.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

static uint64_t now_ms(struct vm *vm)
{
	uv_update_time(vm->agent->loop);
	return uv_now(vm->agent->loop);
}

static void on_timer(uv_timer_t *t);

static void arm_timer(struct vm *vm, uint64_t now)
{
	struct scaler *sc = &vm->scaler;
	uint64_t next = policy_next_change_ms(&sc->policy, &sc->history, sc->min_workers,
					      sc->max_workers, now);
	if (next == POLICY_NEVER)
		uv_timer_stop(&sc->timer);
	else
		uv_timer_start(&sc->timer, on_timer, next - now, 0);
}

/* vCPUs QEMU can still create in this VM's life (hotplug). */
static int hotplug_left(const struct vm *vm)
{
	return vm->spec.hotplug_slots - 1 - vm->hotplug_created;
}

/* How far a grow from cur toward want can go now: each new worker needs a
 * free host core, and under hotplug a vCPU QEMU can still create. Logs each
 * limit when it starts to bite, not on every look. */
static int limit_grow(struct vm *vm, int cur, int want)
{
	struct scaler *sc = &vm->scaler;
	int free_cores = cores_free_count(&vm->agent->cores);
	if (want - cur > free_cores) {
		if (!sc->cores_short)
			log_warn("vm_scale_limited tenant=%s wanted=%d workers=%d free_cores=%d "
				 "reason=no_capacity",
				 vm->spec.tenant, want, cur, free_cores);
		sc->cores_short = true;
		want = cur + free_cores;
	} else {
		sc->cores_short = false;
	}
	if (vm->spec.mech == VCPU_HOTPLUG && want > cur) {
		int left = hotplug_left(vm);
		if (left <= 0 && !sc->hotplug_full) {
			log_warn("vm_scale_limited tenant=%s wanted=%d workers=%d reason=hotplug_exhausted",
				 vm->spec.tenant, want, cur);
			sc->hotplug_full = true;
		}
		if (sc->hotplug_full)
			want = cur;
		else if (want - cur > left)
			want = cur + left;
	}
	return want;
}

static void on_scaled(struct vm *vm, int status, json_t *report, void *data)
{
	struct scaler *sc = &vm->scaler;
	int to = sc->resize_to;
	sc->resize_to = -1;
	int workers = vm_active_workers(vm);
	if (status == 0 && workers == to) {
		sc->pending = true; /* the target may have moved meanwhile */
		return;
	}
	if (status == -ECANCELED || status == -EPIPE)
		return; /* the VM went down; its next start begins afresh */
	/* Not looked at again until the next event, so a resize that keeps
	 * failing is retried at the pace of events, never in a loop. */
	const char *why = json_string_value(json_object_get(report, "error"));
	log_warn("vm_scale_failed tenant=%s to=%d workers=%d status=%d error=\"%s\"", vm->spec.tenant,
		 to, workers, status, why ? why : vcpu_strerror(status));
	if (status == -EMLINK && !sc->hotplug_full) {
		sc->hotplug_full = true;
		log_warn("vm_scale_limited tenant=%s workers=%d reason=hotplug_exhausted", vm->spec.tenant,
			 workers);
	}
}

/* Looks at the target and starts a resize toward it when the VM can take
 * one now; otherwise remembers to look again when it can. */
static void evaluate(struct vm *vm, const char *reason)
{
	struct scaler *sc = &vm->scaler;
	if (vm->state != VM_READY)
		return; /* scaler_on_ready or scaler_on_responsive look again */
	if (sc->resize_to >= 0 || vm->ops_head) {
		sc->pending = true;
		return;
	}
	sc->pending = false;
	uint64_t now = now_ms(vm);
	int cur = vm_active_workers(vm);
	int want;
	if (policy_is_manual(&sc->policy)) {
		want = cur < sc->min_workers ? sc->min_workers : cur;
		want = want > sc->max_workers ? sc->max_workers : want;
		uv_timer_stop(&sc->timer);
	} else {
		want = policy_target(&sc->policy, &sc->history, sc->min_workers, sc->max_workers, now);
		arm_timer(vm, now);
	}
	int wanted = want;
	if (want > cur)
		want = limit_grow(vm, cur, want);
	if (want < cur && sc->policy.kind == POLICY_ELASTIC && cur <= sc->max_workers &&
	    vm->spec.mech == VCPU_HOTPLUG && hotplug_left(vm) <= 0) {
		/* Idle workers of a VM that can create no more vCPUs would never
		 * come back, and invocations would wait for ever: keep them until
		 * the VM is restarted. Limits that shrink it still apply. */
		if (!sc->hotplug_full)
			log_warn("vm_scale_limited tenant=%s wanted=%d workers=%d "
				 "reason=hotplug_exhausted keep=%d",
				 vm->spec.tenant, want, cur, cur);
		sc->hotplug_full = true;
		want = cur;
	}
	if (want == cur)
		return;
	int r = vcpu_set(vm, want, on_scaled, NULL);
	if (r < 0) {
		log_warn("vm_scale_failed tenant=%s to=%d workers=%d status=%d error=\"%s\"",
			 vm->spec.tenant, want, cur, r, vcpu_strerror(r));
		return;
	}
	sc->resize_to = want;
	char spec[POLICY_SPEC_MAX];
	policy_format(&sc->policy, spec, sizeof(spec));
	log_info("vm_scale tenant=%s from=%d to=%d reason=%s policy=%s demand=%u wanted=%d "
		 "min_workers=%d max_workers=%d",
		 vm->spec.tenant, cur, want, reason, spec, sc->history.demand, wanted, sc->min_workers,
		 sc->max_workers);
}

static void on_timer(uv_timer_t *t)
{
	evaluate(t->data, "keep_alive");
}

/* Runs on every turn of the loop, just before it waits for I/O, so it sees
 * every change of the VM's in-flight count (an invocation sent to the guest
 * or answered, whichever module made it) before the loop sleeps, without the
 * invocation path knowing about scaling. Changes within one turn are seen
 * together: the demand is sampled once per turn, not per invocation. */
static void on_watch(uv_prepare_t *h)
{
	struct vm *vm = h->data;
	struct scaler *sc = &vm->scaler;
	if (vm->inflight == sc->seen_inflight)
		return;
	const char *reason = vm->inflight > sc->seen_inflight ? "arrival" : "completion";
	sc->seen_inflight = vm->inflight;
	policy_observe(&sc->history, now_ms(vm), vm->inflight);
	if (!policy_is_manual(&sc->policy))
		evaluate(vm, reason);
}

void scaler_init(struct vm *vm, const struct policy *p, int min_workers, int max_workers)
{
	struct scaler *sc = &vm->scaler;
	sc->policy = *p;
	sc->min_workers = min_workers;
	sc->max_workers = max_workers;
	sc->resize_to = -1;
	uv_timer_init(vm->agent->loop, &sc->timer);
	uv_prepare_init(vm->agent->loop, &sc->watch);
	sc->timer.data = sc->watch.data = vm;
	policy_state_init(&sc->history, uv_now(vm->agent->loop));
	uv_prepare_start(&sc->watch, on_watch);
}

void scaler_close(struct vm *vm, uv_close_cb cb)
{
	uv_close((uv_handle_t *)&vm->scaler.timer, cb);
	uv_close((uv_handle_t *)&vm->scaler.watch, cb);
}

int scaler_set(struct vm *vm, const struct policy *p, int min_workers, int max_workers)
{
	struct scaler *sc = &vm->scaler;
	if (max_workers > vm->spec.max_workers)
		return -ERANGE;
	if (min_workers < 0 || min_workers > max_workers)
		return -EINVAL;
	sc->policy = *p;
	sc->min_workers = min_workers;
	sc->max_workers = max_workers;
	char spec[POLICY_SPEC_MAX];
	policy_format(p, spec, sizeof(spec));
	log_info("vm_scaling tenant=%s min_workers=%d max_workers=%d policy=%s", vm->spec.tenant,
		 min_workers, max_workers, spec);
	evaluate(vm, "scaling");
	return 0;
}

void scaler_on_ready(struct vm *vm)
{
	struct scaler *sc = &vm->scaler;
	uint64_t now = now_ms(vm);
	policy_state_init(&sc->history, now);
	policy_observe(&sc->history, now, vm->inflight);
	sc->seen_inflight = vm->inflight;
	sc->resize_to = -1;
	sc->pending = false;
	sc->cores_short = false;
	sc->hotplug_full = false;
	evaluate(vm, "ready");
}

void scaler_on_responsive(struct vm *vm)
{
	evaluate(vm, "responsive");
}

void scaler_on_resized(struct vm *vm)
{
	if (vm->scaler.pending && !vm->ops_head)
		evaluate(vm, "resized");
}

void scaler_to_json(const struct vm *vm, json_t *o)
{
	const struct scaler *sc = &vm->scaler;
	char spec[POLICY_SPEC_MAX];
	policy_format(&sc->policy, spec, sizeof(spec));
	json_object_set_new(o, "min_workers", json_integer(sc->min_workers));
	json_object_set_new(o, "max_workers", json_integer(sc->max_workers));
	json_object_set_new(o, "policy", json_string(spec));
}
