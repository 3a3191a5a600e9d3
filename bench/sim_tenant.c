/* Simulated tenants: where their VMs go, and the controller's scale-out (a
 * set of one-worker VMs per tenant, booted toward the policy's target on the
 * tenant's total in-flight count and stopped, the longest idle first, when
 * it drops). Calls of a scale-out tenant wait in one queue for the first VM
 * with an idle worker: the best any routing can do. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

int sim_tenancy_parse(const char *s, enum sim_tenancy *ret)
{
	static const char *const names[] = { "one", "app", "owner" };
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum sim_tenancy)i;
			return 0;
		}
	return -EINVAL;
}

int sim_tenants(const struct trace *t, const struct workload *w, enum sim_tenancy how,
		uint32_t *tenant_of, uint32_t *n_tenants)
{
	uint32_t n = 0;
	for (size_t i = 0; i < w->n_fns; i++) {
		const struct trace_function *f = &t->fns[w->fns[i].trace_index];
		tenant_of[i] = how == SIM_TENANTS_ONE ? 0 : n;
		for (size_t j = 0; how != SIM_TENANTS_ONE && j < i; j++) {
			const struct trace_function *g = &t->fns[w->fns[j].trace_index];
			bool same = how == SIM_TENANTS_APP
					    ? strcmp(f->owner, g->owner) == 0 && strcmp(f->app, g->app) == 0
					    : strcmp(f->owner, g->owner) == 0;
			if (same) {
				tenant_of[i] = tenant_of[j];
				break;
			}
		}
		if (tenant_of[i] == n)
			n++;
	}
	*n_tenants = n > 0 ? n : 1;
	return 0;
}

struct edge {
	double t;
	int delta; /* +1 a call starts, -1 one ends */
	uint32_t tenant;
};

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->delta - y->delta; /* an end before a start at the same time */
}

int sim_tenant_peaks(const struct workload *w, const uint32_t *tenant_of, uint32_t n_tenants,
		     int cap, int *ret)
{
	struct edge *e = malloc((2 * w->n_calls + 1) * sizeof(*e));
	int *now = calloc(n_tenants, sizeof(*now));
	if (!e || !now) {
		free(e);
		free(now);
		return -ENOMEM;
	}
	for (size_t i = 0; i < w->n_calls; i++) {
		const struct workload_call *c = &w->calls[i];
		uint32_t t = tenant_of[c->fn];
		e[2 * i] = (struct edge){ c->at_ms, 1, t };
		e[2 * i + 1] = (struct edge){ c->at_ms + c->duration_ms, -1, t };
	}
	qsort(e, 2 * w->n_calls, sizeof(*e), edge_cmp);
	for (uint32_t t = 0; t < n_tenants; t++)
		ret[t] = 1;
	for (size_t i = 0; i < 2 * w->n_calls; i++) {
		int n = now[e[i].tenant] += e[i].delta;
		if (n > ret[e[i].tenant])
			ret[e[i].tenant] = n < cap ? n : cap;
	}
	free(e);
	free(now);
	return 0;
}

/* The host with the most free cores (1 at least), or -1. */
static int roomiest_host(const struct sim *s)
{
	int best = -1, best_free = 0;
	for (int h = 0; h < s->c->hosts; h++) {
		int f = sim_host_free(s, h);
		if (f > best_free) {
			best = h;
			best_free = f;
		}
	}
	return best;
}

/* The host with the fewest worker slots placed on it. */
static int least_placed_host(const struct sim *s)
{
	int best = 0;
	for (int h = 1; h < s->c->hosts; h++)
		if (s->hosts[h].placed < s->hosts[best].placed)
			best = h;
	return best;
}

/* Where a VM of max workers goes: the least placed host where it fits
 * whole, else the least placed. */
static int place_host(const struct sim *s, int max)
{
	int best = -1;
	for (int h = 0; h < s->c->hosts; h++)
		if (s->hosts[h].placed + max <= s->c->host_cores &&
		    (best < 0 || s->hosts[h].placed < s->hosts[best].placed))
			best = h;
	return best >= 0 ? best : least_placed_host(s);
}

/* Boots one more one-worker VM for t, with a core reserved for its worker;
 * false when no host has a free core. */
static int so_boot(struct sim *s, struct sim_tenant *t, bool settled)
{
	int host = roomiest_host(s);
	if (host < 0)
		return 0;
	struct policy one;
	policy_per_vm(s->p, &one);
	struct sim_vm *vm = sim_vm_new(s, t, host, &one, 0, 1);
	if (!vm)
		return -ENOMEM;
	if (settled)
		return sim_vm_settle(s, vm) < 0 ? -ENOMEM : 1;
	vm->reserved = 1;
	s->hosts[host].reserved++;
	int r = sim_vm_boot(s, vm);
	return r < 0 ? r : 1;
}

/* Whether vm may be stopped now: up, no call, no resize. */
static bool so_idle(const struct sim_vm *vm)
{
	return vm->up && vm->running == 0 && vm->dir == 0;
}

/* Stops up to n idle VMs of t, the longest idle first. */
static int so_stop(struct sim *s, struct sim_tenant *t, int n)
{
	for (; n > 0; n--) {
		size_t pick = t->n_vms;
		for (size_t i = 0; i < t->n_vms; i++)
			if (so_idle(t->vms[i]) &&
			    (pick == t->n_vms || t->vms[i]->idle_since < t->vms[pick]->idle_since))
				pick = i;
		if (pick == t->n_vms)
			return 0;
		int r = sim_vm_stop(s, t->vms[pick]);
		if (r < 0)
			return r;
		t->vms[pick] = t->vms[--t->n_vms];
	}
	return 0;
}

static int arm_timer(struct sim *s, struct sim_tenant *t, uint64_t now)
{
	const struct sim_config *c = s->c;
	uint64_t next = policy_next_change_ms(s->p, &t->st, c->tenant_min, t->max, now);
	if (next == t->timer_at)
		return 0;
	t->timer_gen++;
	t->timer_at = next;
	if (next == POLICY_NEVER)
		return 0;
	return sim_push(s, (double)next, SIM_EV_TENANT_TIMER, t->id, t->timer_gen, 0);
}

int sim_so_evaluate(struct sim *s, struct sim_tenant *t)
{
	const struct sim_config *c = s->c;
	uint64_t now = (uint64_t)s->now;
	policy_advance(s->p, &t->st, c->tenant_min, t->max, now);
	int target = policy_target(s->p, &t->st, c->tenant_min, t->max, now);
	int r = arm_timer(s, t, now);
	int n = (int)t->n_vms;
	for (; r >= 0 && n < target; n++) {
		if ((r = so_boot(s, t, false)) == 0) {
			s->stats->grows_cut++;
			break;
		}
	}
	if (r >= 0 && n > target)
		r = so_stop(s, t, n - target);
	return r < 0 ? r : 0;
}

static int so_demand(struct sim *s, struct sim_tenant *t)
{
	const struct sim_config *c = s->c;
	uint64_t now = (uint64_t)s->now;
	policy_advance(s->p, &t->st, c->tenant_min, t->max, now);
	policy_observe(&t->st, now, t->inflight);
	return sim_so_evaluate(s, t);
}

int sim_so_arrival(struct sim *s, struct sim_tenant *t, uint32_t call)
{
	t->inflight++;
	struct sim_vm *idle = NULL;
	for (size_t i = 0; i < t->n_vms && !idle; i++)
		if (t->vms[i]->n_idle > 0)
			idle = t->vms[i];
	int r = idle ? sim_call_start(s, idle, call) : sim_fifo_push(&t->q, call);
	return r < 0 ? r : so_demand(s, t);
}

int sim_so_done(struct sim *s, struct sim_vm *vm)
{
	struct sim_tenant *t = &s->tenants[vm->tenant];
	t->inflight--;
	vm->idle_since = s->now;
	int r = t->q.n > 0 ? sim_call_start(s, vm, sim_fifo_pop(&t->q)) : 0;
	return r < 0 ? r : so_demand(s, t);
}

/* A tenant at the window's start: its VM up and settled at its target (or,
 * with cold_vms, not booted until its first call); under scale-out its
 * minimum of VMs up. */
static int tenant_start(struct sim *s, struct sim_tenant *t)
{
	const struct sim_config *c = s->c;
	t->max = c->tenant_maxes ? c->tenant_maxes[t->id] : c->tenant_max;
	t->timer_at = POLICY_NEVER;
	if (s->scale_out) {
		policy_state_init(&t->st, 0);
		for (int i = 0; i < c->tenant_min && i < t->max; i++) {
			int r = so_boot(s, t, true);
			if (r <= 0)
				return r < 0 ? r : 0;
		}
		return 0;
	}
	int min = c->tenant_min < t->max ? c->tenant_min : t->max;
	struct sim_vm *vm = sim_vm_new(s, t, place_host(s, t->max), s->p, min, t->max);
	if (!vm)
		return -ENOMEM;
	return c->cold_vms ? 0 : sim_vm_settle(s, vm);
}

/* A tenant and its max, to place the largest first. */
struct by_size {
	int max;
	uint32_t id;
};

static int by_size_cmp(const void *a, const void *b)
{
	const struct by_size *x = a, *y = b;
	return x->max != y->max ? y->max - x->max : (x->id > y->id) - (x->id < y->id);
}

int sim_tenants_start(struct sim *s)
{
	const struct sim_config *c = s->c;
	struct by_size *order = malloc(c->n_tenants * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_tenants; i++) {
		s->tenants[i].id = i;
		order[i] = (struct by_size){ c->tenant_maxes ? c->tenant_maxes[i] : c->tenant_max, i };
	}
	/* The largest first, so that each fits whole on a host if any can. */
	qsort(order, c->n_tenants, sizeof(*order), by_size_cmp);
	int r = 0;
	for (uint32_t i = 0; r >= 0 && i < c->n_tenants; i++)
		r = tenant_start(s, &s->tenants[order[i].id]);
	free(order);
	return r < 0 ? r : 0;
}
