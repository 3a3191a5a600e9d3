/* The simulator's engine: one event loop over a heap of timed events, the
 * workload's calls merged in as they come (sim.h states the model). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "sim_int.h"
#include "util.h"

/* ---- the event heap ------------------------------------------------------- */

static bool ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

int sim_push(struct sim *s, double t, enum sim_ev_kind kind, uint32_t a, uint64_t b, double x)
{
	struct sim_heap *h = &s->heap;
	if (array_reserve(&h->v, &h->cap, h->n + 1, sizeof(*h->v), 1024) < 0)
		return -ENOMEM;
	struct sim_ev e = { .t = t, .seq = s->seq++, .kind = kind, .a = a, .b = b, .x = x };
	size_t i = h->n++;
	while (i > 0 && ev_before(&e, &h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = e;
	return 0;
}

static struct sim_ev heap_pop(struct sim_heap *h)
{
	struct sim_ev top = h->v[0], last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && ev_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!ev_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = last;
	return top;
}

/* ---- seeded draws ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double sim_draw(struct sim *s, enum sim_step step)
{
	const struct sim_dist *d = &s->c->lat->step[step];
	if (d->n == 0 && step == SIM_GROW_STANDBY)
		d = &s->c->lat->step[SIM_GROW];
	if (d->n == 0 && step == SIM_WARM_CALL)
		d = &s->c->lat->step[SIM_CALL];
	if (d->n == 0)
		return 0;
	return d->ms[splitmix64(&s->rng) % d->n];
}

/* ---- FIFO of call indices ------------------------------------------------- */

int sim_fifo_push(struct sim_fifo *q, uint32_t call)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		uint32_t *v = malloc(cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->n++) % q->cap] = call;
	return 0;
}

uint32_t sim_fifo_pop(struct sim_fifo *q)
{
	uint32_t c = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	return c;
}

/* ---- accounting ------------------------------------------------------------- */

int sim_cores_change(struct sim *s, struct sim_vm *vm, int delta)
{
	vm->granted += delta;
	s->hosts[vm->host].granted += delta;
	s->granted += delta;
	struct run *r = s->run;
	if (r->n_alloc > 0 && r->alloc[r->n_alloc - 1].t_ms == s->now) {
		r->alloc[r->n_alloc - 1].workers = s->granted;
		return 0;
	}
	return run_alloc_add(r, s->now, s->granted);
}

int sim_host_free(const struct sim *s, int host)
{
	const struct sim_host *h = &s->hosts[host];
	return s->c->host_cores - h->granted - h->reserved;
}

/* ---- calls ---------------------------------------------------------------- */

/* Starts call on one of vm's idle workers (there is one). */
int sim_call_start(struct sim *s, struct sim_vm *vm, uint32_t call)
{
	const struct workload_call *wc = &s->w->calls[call];
	bool warm;
	int worker = sim_vm_take_worker(s, vm, wc->fn, &warm);
	/* The function runs its duration, or touches its memory if that takes
	 * longer (busy counts the touching in its CPU time), after the
	 * platform's fixed share of a call: a process start, unless a warm
	 * persistent process takes it. */
	double mb = wc->memory_mb, cap = s->c->max_memory_mb;
	double touch = cap > 0 ? (mb > cap ? cap : mb) * sim_draw(s, SIM_TOUCH) : 0;
	double share = sim_draw(s, warm ? SIM_WARM_CALL : SIM_CALL);
	double service = share + (touch > wc->duration_ms ? touch : wc->duration_ms);
	vm->running++;
	struct call_result *cr = &s->run->calls[call];
	/* Cold: its worker came after it, or (persistent) its process started
	 * for it, as the guest flags it. */
	cr->cold_start = vm->workers[worker].since > wc->at_ms || (s->c->persistent && !warm);
	cr->vcpu = -1; /* workers are counted, not named */
	if (vm->k == 0)
		snprintf(cr->vm, sizeof(cr->vm), "t%u", vm->tenant);
	else
		snprintf(cr->vm, sizeof(cr->vm), "t%u.%d", vm->tenant, vm->k);
	s->busy_ms += service;
	return sim_push(s, s->now + service, SIM_EV_DONE, vm->id, call, worker);
}

/* The call's answer. */
static void call_answered(struct sim *s, uint32_t call)
{
	const struct workload_call *wc = &s->w->calls[call];
	struct call_result *cr = &s->run->calls[call];
	cr->latency_ms = s->now - wc->at_ms;
	cr->status = CALL_OK;
	if (s->now > s->last_done)
		s->last_done = s->now;
}

static int on_arrival(struct sim *s, uint32_t call)
{
	uint32_t t = s->c->tenant_of[s->w->calls[call].fn];
	return s->scale_out ? sim_so_arrival(s, &s->tenants[t], call)
			    : sim_vm_arrival(s, s->tenants[t].vms[0], call);
}

static int on_done(struct sim *s, const struct sim_ev *e)
{
	struct sim_vm *vm = s->vms[e->a];
	call_answered(s, (uint32_t)e->b);
	vm->running--;
	vm->idle[vm->n_idle++] = (int)e->x;
	return s->scale_out ? sim_so_done(s, vm) : sim_vm_done(s, vm);
}

static int dispatch(struct sim *s, const struct sim_ev *e)
{
	switch (e->kind) {
	case SIM_EV_DONE: return on_done(s, e);
	case SIM_EV_STEP: return sim_vm_step(s, s->vms[e->a]);
	case SIM_EV_WARM: return sim_vm_warmed(s, s->vms[e->a]);
	case SIM_EV_BOOT: return sim_vm_booted(s, s->vms[e->a]);
	case SIM_EV_VM_TIMER:
		if (s->vms[e->a]->timer_gen != e->b)
			return 0; /* re-armed since */
		s->vms[e->a]->timer_at = POLICY_NEVER;
		return sim_vm_evaluate(s, s->vms[e->a]);
	case SIM_EV_TENANT_TIMER:
		if (s->tenants[e->a].timer_gen != e->b)
			return 0;
		s->tenants[e->a].timer_at = POLICY_NEVER;
		return sim_so_evaluate(s, &s->tenants[e->a]);
	}
	return -EINVAL;
}

/* Runs the events and arrivals in time order: at equal times events first,
 * so a worker freed at t serves a call arriving at t. */
static int loop(struct sim *s)
{
	size_t next = 0;
	const struct workload *w = s->w;
	for (;;) {
		bool arrival = next < w->n_calls &&
			       (s->heap.n == 0 || w->calls[next].at_ms < s->heap.v[0].t);
		if (!arrival && s->heap.n == 0)
			return 0;
		int r;
		s->stats->events++;
		if (arrival) {
			s->now = w->calls[next].at_ms;
			r = on_arrival(s, (uint32_t)next++);
		} else {
			struct sim_ev e = heap_pop(&s->heap);
			s->now = e.t;
			r = dispatch(s, &e);
		}
		if (r < 0)
			return r;
	}
}

/* Cuts the allocation timeline at end_ms (what keep-alives hold after it is
 * not the run's) and integrates it into vcpu_s_allocated. */
static int alloc_close(struct run *r, double end_ms)
{
	double area = 0;
	size_t n = 1; /* the first sample is (0, 0) */
	for (; n < r->n_alloc && r->alloc[n].t_ms <= end_ms; n++)
		area += r->alloc[n - 1].workers * (r->alloc[n].t_ms - r->alloc[n - 1].t_ms);
	const struct alloc_sample last = r->alloc[n - 1];
	area += last.workers * (end_ms - last.t_ms);
	r->n_alloc = n;
	r->vcpu_s_allocated = area / 1000.0;
	return last.t_ms < end_ms ? run_alloc_add(r, end_ms, last.workers) : 0;
}

static bool config_valid(const struct sim_config *c, const struct policy *p)
{
	for (uint32_t t = 0; c->tenant_maxes && t < c->n_tenants; t++)
		if (c->tenant_maxes[t] < 1 || c->tenant_maxes[t] > POLICY_MAX_WORKERS)
			return false;
	return c->hosts >= 1 && c->host_cores >= 1 && c->host_cores <= POLICY_MAX_WORKERS &&
	       c->tenant_max >= 1 && c->tenant_max <= POLICY_MAX_WORKERS && c->tenant_min >= 0 &&
	       c->tenant_min <= c->tenant_max && c->lat && c->tenant_of && c->n_tenants >= 1 &&
	       !policy_is_manual(p);
}

static void sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		free(s->vms[i]->q.v);
		free(s->vms[i]->workers);
		free(s->vms[i]);
	}
	free(s->vms);
	for (uint32_t i = 0; s->tenants && i < s->c->n_tenants; i++) {
		free(s->tenants[i].vms);
		free(s->tenants[i].q.v);
	}
	free(s->tenants);
	free(s->hosts);
	free(s->heap.v);
}

int sim_run(const struct sim_config *c, const struct workload *w, const struct policy *p,
	    struct run *r, struct sim_stats *stats)
{
	if (!config_valid(c, p))
		return -EINVAL;
	struct sim_stats unused;
	struct sim s = { .c = c, .w = w, .p = p, .run = r, .stats = stats ? stats : &unused };
	memset(s.stats, 0, sizeof(*s.stats));
	s.rng = c->seed;
	s.scale_out = policy_is_scale_out(p);
	int ret = -ENOMEM;
	s.hosts = calloc((size_t)c->hosts, sizeof(*s.hosts));
	s.tenants = calloc(c->n_tenants, sizeof(*s.tenants));
	r->n_alloc = 0; /* the timeline is this run's */
	if (!s.hosts || !s.tenants || run_alloc_add(r, 0, 0) < 0)
		goto out;
	if ((ret = sim_tenants_start(&s)) < 0 || (ret = loop(&s)) < 0)
		goto out;
	s.stats->end_ms = s.last_done > w->duration_ms ? s.last_done : w->duration_ms;
	if ((ret = alloc_close(r, s.stats->end_ms)) < 0)
		goto out;
	r->vcpu_s_busy = s.busy_ms / 1000.0;
	for (size_t i = 0; i < w->n_calls; i++)
		if (r->calls[i].status == CALL_NOT_SENT)
			r->calls[i].status = CALL_TIMEOUT; /* never got a worker */
	ret = 0;
out:
	sim_free(&s);
	return ret;
}
