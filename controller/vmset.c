#include "vmset.h"

#include <string.h>

/* The ready VM with the fewest routes in flight (the first among equals),
 * or -1. */
static long least_loaded(const struct vmset_vm *vms, size_t n)
{
	long best = -1;
	for (size_t i = 0; i < n; i++)
		if (vms[i].ready && (best < 0 || vms[i].inflight < vms[best].inflight))
			best = (long)i;
	return best;
}

struct vmset_choice vmset_choose(const struct vmset_vm *vms, size_t n, int cap, int want)
{
	long best = least_loaded(vms, n);
	if (best >= 0 && (cap <= 0 || vms[best].inflight < cap))
		return (struct vmset_choice){ VMSET_ROUTE, (size_t)best };
	for (size_t i = 0; i < n; i++)
		if (!vms[i].ready && !vms[i].placing && !vms[i].backoff)
			return (struct vmset_choice){ VMSET_PLACE, i };
	if ((long)n < (want < 1 ? 1 : want))
		return (struct vmset_choice){ VMSET_ADD, n };
	for (size_t i = 0; i < n; i++)
		if (vms[i].placing)
			return (struct vmset_choice){ VMSET_WAIT, 0 };
	if (best >= 0)
		return (struct vmset_choice){ VMSET_ROUTE, (size_t)best };
	/* Nothing ready nor placing, and n >= 1: place the first again. */
	return (struct vmset_choice){ VMSET_PLACE, 0 };
}

int vmset_stop_pick(const struct vmset_vm *vms, size_t n, int want)
{
	if ((long)n <= (want < 0 ? 0 : want))
		return -1;
	for (size_t i = n; i-- > 0;)
		if (!vms[i].ready && !vms[i].placing)
			return (int)i;
	for (size_t i = n; i-- > 0;)
		if (vms[i].ready && !vms[i].placing && vms[i].inflight == 0)
			return (int)i;
	return -1;
}

/* What now adds over last, which becomes now when it is larger. */
static uint64_t grow(uint64_t *last, uint64_t now)
{
	if (now <= *last)
		return 0;
	uint64_t d = now - *last;
	*last = now;
	return d;
}

void vmset_meter_take(struct vmset_meter *m, const struct vmset_sample *s, struct vmset_delta *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (s->pid && s->pid == m->prev_pid)
		return;
	if (s->pid && m->pid && s->pid != m->pid) {
		int64_t pid = m->pid;
		memset(m, 0, sizeof(*m));
		m->prev_pid = pid;
	}
	if (s->pid)
		m->pid = s->pid;
	ret->alloc_ms = grow(&m->alloc_ms, s->alloc_ms);
	ret->busy_ms = grow(&m->busy_ms, s->busy_ms);
	size_t nb = s->n_buckets < VMSET_HIST_MAX ? s->n_buckets : VMSET_HIST_MAX;
	if (!nb)
		return;
	for (size_t i = 0; i < nb; i++)
		ret->buckets[i] = grow(&m->buckets[i], s->buckets[i]);
	ret->count = grow(&m->count, s->count);
	ret->sum_us = grow(&m->sum_us, s->sum_us);
}

void vmset_meter_restart(struct vmset_meter *m, int64_t pid)
{
	if (pid && pid == m->pid)
		return;
	int64_t prev = m->pid;
	memset(m, 0, sizeof(*m));
	m->prev_pid = prev;
	m->pid = pid;
}
