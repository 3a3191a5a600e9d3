/* A simulated VM: its worker vCPUs, its resizes one at a time, and the
 * agent's scaler (host-agent/scaler.c) driving them with lib/policy.
 *
 * A resize of k workers runs k steps one after the other (the guest onlines
 * or offlines one CPU at a time); a grow grants its k cores when it starts and
 * each worker runs calls from the end of its own step; a shrink takes idle
 * workers out of service at once and releases each core at the end of its
 * step. Under precreated, a standby of online vCPUs without a core makes a
 * grow step the fast one, and is rewarmed in the background. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"
#include "util.h"

/* Activation time of the workers a settled VM starts with: never cold. */
#define SETTLED_SINCE (-1e300)

static uint64_t now_ms(const struct sim *s)
{
	return (uint64_t)s->now;
}

/* The standby p keeps on a VM of max workers: what it says, else the agent's
 * default for a precreated VM (one); none under hotplug. */
static int vm_standby(const struct sim *s, const struct policy *p, int max)
{
	if (strcmp(s->c->lat->mechanism, "precreated") != 0)
		return 0;
	int n = policy_standby(p);
	if (n < 0)
		n = max > 0 ? 1 : 0;
	return n < max ? n : max;
}

struct sim_vm *sim_vm_new(struct sim *s, struct sim_tenant *t, int host, const struct policy *p,
			  int min, int max)
{
	if (array_reserve(&s->vms, &s->cap_vms, s->n_vms + 1, sizeof(*s->vms), 64) < 0 ||
	    array_reserve(&t->vms, &t->cap_vms, t->n_vms + 1, sizeof(*t->vms), 4) < 0)
		return NULL;
	struct sim_vm *vm = calloc(1, sizeof(*vm));
	if (vm && !(vm->workers = calloc((size_t)(max > 0 ? max : 1), sizeof(*vm->workers)))) {
		free(vm);
		vm = NULL;
	}
	if (!vm)
		return NULL;
	vm->id = (uint32_t)s->n_vms;
	vm->tenant = t->id;
	vm->k = t->next_k++;
	vm->host = host;
	vm->policy = *p;
	vm->min = min;
	vm->max = max;
	vm->timer_at = POLICY_NEVER;
	vm->standby_want = vm_standby(s, p, max);
	policy_state_init(&vm->st, now_ms(s));
	s->hosts[host].placed += max;
	s->vms[s->n_vms++] = vm;
	t->vms[t->n_vms++] = vm;
	return vm;
}

/* A new worker, active since `since`, joins the idle ones (a free one of
 * vm->workers: there is one, as active workers are at most max). */
static void worker_add(struct sim_vm *vm, double since)
{
	int i = 0;
	while (vm->workers[i].live)
		i++;
	vm->workers[i] = (struct sim_worker){ .live = true, .since = since };
	vm->idle[vm->n_idle++] = i;
}

/* Marks fn's process warm on w at now, the least recently used one going
 * when w has SIM_WARM_PER_WORKER already. */
static void worker_warm(struct sim_worker *w, uint32_t fn, double now)
{
	int lru = 0;
	for (int i = 0; i < w->n_warm; i++) {
		if (w->fn[i] == fn) {
			w->used[i] = now;
			return;
		}
		if (w->used[i] < w->used[lru])
			lru = i;
	}
	int at = w->n_warm < SIM_WARM_PER_WORKER ? w->n_warm++ : lru;
	w->fn[at] = fn;
	w->used[at] = now;
}

static bool worker_has(const struct sim_worker *w, uint32_t fn)
{
	for (int i = 0; i < w->n_warm; i++)
		if (w->fn[i] == fn)
			return true;
	return false;
}

int sim_vm_take_worker(struct sim *s, struct sim_vm *vm, uint32_t fn, bool *warm)
{
	int pick = vm->n_idle - 1;
	*warm = false;
	if (s->c->one_executable)
		fn = 0;
	if (s->c->persistent) {
		for (int i = vm->n_idle - 1; i >= 0 && !*warm; i--)
			if (worker_has(&vm->workers[vm->idle[i]], fn)) {
				pick = i;
				*warm = true;
			}
	}
	int w = vm->idle[pick];
	for (int i = pick; i + 1 < vm->n_idle; i++)
		vm->idle[i] = vm->idle[i + 1]; /* the others keep their order */
	vm->n_idle--;
	if (s->c->persistent)
		worker_warm(&vm->workers[w], fn, s->now);
	return w;
}

static int arm_timer(struct sim *s, struct sim_vm *vm, uint64_t now)
{
	uint64_t next = policy_next_change_ms(&vm->policy, &vm->st, vm->min, vm->max, now);
	if (next == vm->timer_at)
		return 0;
	vm->timer_gen++;
	vm->timer_at = next;
	if (next == POLICY_NEVER)
		return 0;
	return sim_push(s, (double)next, SIM_EV_VM_TIMER, vm->id, vm->timer_gen, 0);
}

/* Brings one standby vCPU online in the background (one at a time), when
 * the VM has fewer than its policy asks for. */
static int warm_more(struct sim *s, struct sim_vm *vm)
{
	if (vm->warming > 0 || vm->standby + vm->warming >= vm->standby_want || !vm->up ||
	    vm->granted + vm->standby + vm->warming >= vm->max)
		return 0;
	vm->warming++;
	return sim_push(s, s->now + sim_draw(s, SIM_GROW), SIM_EV_WARM, vm->id, 0, 0);
}

int sim_vm_warmed(struct sim *s, struct sim_vm *vm)
{
	vm->warming--;
	if (vm->stopped)
		return 0;
	vm->standby++;
	return warm_more(s, vm);
}

/* Schedules the next step of the resize under way. */
static int next_step(struct sim *s, struct sim_vm *vm)
{
	double d;
	if (vm->dir < 0) {
		d = sim_draw(s, SIM_SHRINK);
	} else if (vm->standby > 0) {
		vm->standby--;
		d = sim_draw(s, SIM_GROW_STANDBY);
	} else {
		d = sim_draw(s, SIM_GROW);
	}
	int r = sim_push(s, s->now + d, SIM_EV_STEP, vm->id, 0, 0);
	return r < 0 ? r : warm_more(s, vm);
}

static int start_resize(struct sim *s, struct sim_vm *vm, int delta)
{
	s->stats->resizes++;
	if (delta > 0) {
		int use = vm->reserved < delta ? vm->reserved : delta;
		vm->reserved -= use;
		s->hosts[vm->host].reserved -= use;
		int r = sim_cores_change(s, vm, delta);
		if (r < 0)
			return r;
		vm->dir = 1;
		vm->steps_left = delta;
	} else {
		/* Idle workers stop taking calls at once, their processes with
		 * them; their cores go as each step ends. */
		for (int i = 0; i < -delta; i++)
			vm->workers[vm->idle[vm->n_idle - 1 - i]].live = false;
		vm->n_idle += delta;
		vm->active += delta;
		vm->dir = -1;
		vm->steps_left = -delta;
	}
	return next_step(s, vm);
}

int sim_vm_evaluate(struct sim *s, struct sim_vm *vm)
{
	if (!vm->up || vm->stopped)
		return 0;
	if (vm->dir != 0) {
		vm->pending = true;
		return 0;
	}
	vm->pending = false;
	uint64_t now = now_ms(s);
	policy_advance(&vm->policy, &vm->st, vm->min, vm->max, now);
	int want = policy_target(&vm->policy, &vm->st, vm->min, vm->max, now);
	int r = arm_timer(s, vm, now);
	if (r < 0)
		return r;
	int cur = vm->active;
	int room = sim_host_free(s, vm->host) + vm->reserved;
	if (want - cur > room) {
		s->stats->grows_cut++;
		want = cur + room;
	}
	/* Only idle workers can go; the policies never ask for busy ones (the
	 * target is at least the demand), but a cut is kept safe. */
	if (want < cur - vm->n_idle)
		want = cur - vm->n_idle;
	return want == cur ? 0 : start_resize(s, vm, want - cur);
}

int sim_vm_demand(struct sim *s, struct sim_vm *vm)
{
	uint64_t now = now_ms(s);
	policy_advance(&vm->policy, &vm->st, vm->min, vm->max, now);
	policy_observe(&vm->st, now, vm->inflight);
	return sim_vm_evaluate(s, vm);
}

/* Starts queued calls (the VM's, or under scale-out the tenant's) on idle
 * workers. */
static int drain(struct sim *s, struct sim_vm *vm)
{
	struct sim_fifo *q = s->scale_out ? &s->tenants[vm->tenant].q : &vm->q;
	while (vm->n_idle > 0 && q->n > 0) {
		int r = sim_call_start(s, vm, sim_fifo_pop(q));
		if (r < 0)
			return r;
	}
	return 0;
}

int sim_vm_step(struct sim *s, struct sim_vm *vm)
{
	int r = 0;
	if (vm->dir > 0) {
		vm->active++;
		worker_add(vm, s->now);
		r = drain(s, vm);
	} else {
		r = sim_cores_change(s, vm, -1);
		if (vm->standby + vm->warming < vm->standby_want)
			vm->standby++; /* drained back to standby, not offline */
	}
	if (r < 0)
		return r;
	if (--vm->steps_left > 0)
		return next_step(s, vm);
	vm->dir = 0;
	/* The scaler looks again after every resize it made. */
	return sim_vm_evaluate(s, vm);
}

int sim_vm_settle(struct sim *s, struct sim_vm *vm)
{
	uint64_t now = now_ms(s);
	vm->up = true;
	policy_advance(&vm->policy, &vm->st, vm->min, vm->max, now);
	int want = policy_target(&vm->policy, &vm->st, vm->min, vm->max, now);
	int room = sim_host_free(s, vm->host);
	if (want > room)
		want = room;
	for (int i = 0; i < want; i++)
		worker_add(vm, SETTLED_SINCE);
	vm->active = want;
	vm->standby = vm->standby_want < vm->max - want ? vm->standby_want : vm->max - want;
	int r = want > 0 ? sim_cores_change(s, vm, want) : 0;
	return r < 0 ? r : arm_timer(s, vm, now);
}

int sim_vm_boot(struct sim *s, struct sim_vm *vm)
{
	s->stats->boots++;
	vm->booting = true;
	return sim_push(s, s->now + sim_draw(s, SIM_BOOT), SIM_EV_BOOT, vm->id, 0, 0);
}

int sim_vm_booted(struct sim *s, struct sim_vm *vm)
{
	vm->booting = false;
	if (vm->stopped)
		return 0;
	vm->up = true;
	uint64_t now = now_ms(s);
	policy_state_init(&vm->st, now);
	policy_observe(&vm->st, now, vm->inflight);
	int r = warm_more(s, vm);
	return r < 0 ? r : sim_vm_evaluate(s, vm);
}

int sim_vm_arrival(struct sim *s, struct sim_vm *vm, uint32_t call)
{
	vm->inflight++;
	int r = vm->n_idle > 0 ? sim_call_start(s, vm, call) : sim_fifo_push(&vm->q, call);
	if (r == 0 && !vm->up && !vm->booting)
		r = sim_vm_boot(s, vm);
	return r < 0 ? r : sim_vm_demand(s, vm);
}

int sim_vm_done(struct sim *s, struct sim_vm *vm)
{
	vm->inflight--;
	int r = drain(s, vm);
	return r < 0 ? r : sim_vm_demand(s, vm);
}

int sim_vm_stop(struct sim *s, struct sim_vm *vm)
{
	vm->stopped = true;
	vm->up = false;
	s->hosts[vm->host].reserved -= vm->reserved;
	s->hosts[vm->host].placed -= vm->max;
	vm->reserved = 0;
	vm->timer_gen++;
	return vm->granted > 0 ? sim_cores_change(s, vm, -vm->granted) : 0;
}
