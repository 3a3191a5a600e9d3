#include "fair_queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static struct fair_tenant *tenant_get(struct fair_queue *q, const char *name)
{
	for (size_t i = 0; i < q->n_tenants; i++)
		if (!strcmp(q->tenants[i].name, name))
			return &q->tenants[i];
	if (array_reserve(&q->tenants, &q->cap_tenants, q->n_tenants + 1, sizeof(*q->tenants), 8) <
	    0)
		return NULL;
	struct fair_tenant *t = &q->tenants[q->n_tenants++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

static struct fair_flow *flow_get(struct fair_tenant *t, const char *function)
{
	for (size_t i = 0; i < t->n_flows; i++)
		if (!strcmp(t->flows[i].function, function))
			return &t->flows[i];
	if (array_reserve(&t->flows, &t->cap_flows, t->n_flows + 1, sizeof(*t->flows), 4) < 0)
		return NULL;
	struct fair_flow *f = &t->flows[t->n_flows++];
	memset(f, 0, sizeof(*f));
	snprintf(f->function, sizeof(f->function), "%s", function);
	return f;
}

/* Drops tenant ti when it has no flows left, keeping the round robin's
 * place. */
static void tenant_drop_if_empty(struct fair_queue *q, size_t ti)
{
	struct fair_tenant *t = &q->tenants[ti];
	if (t->n_flows)
		return;
	free(t->flows);
	memmove(t, t + 1, (q->n_tenants - ti - 1) * sizeof(*t));
	q->n_tenants--;
	if (q->next > ti)
		q->next--;
	if (q->next >= q->n_tenants)
		q->next = 0;
}

int fair_queue_push(struct fair_queue *q, const char *tenant, const char *function,
		    unsigned max_concurrency, const char *id)
{
	size_t ti = SIZE_MAX;
	for (size_t i = 0; i < q->n_tenants; i++)
		if (!strcmp(q->tenants[i].name, tenant))
			ti = i;
	struct fair_tenant *t = tenant_get(q, tenant);
	if (!t)
		return -ENOMEM;
	struct fair_flow *f = flow_get(t, function);
	if (!f || id_queue_push(&f->ids, id) < 0) {
		/* Undo what this push added, so the queue is as it was. */
		if (f && id_queue_len(&f->ids) == 0) {
			id_queue_free(&f->ids);
			t->n_flows--;
		}
		if (ti == SIZE_MAX)
			tenant_drop_if_empty(q, (size_t)(t - q->tenants));
		return -ENOMEM;
	}
	f->max_concurrency = max_concurrency;
	q->len++;
	return 0;
}

/* Takes the first invocation that fits from tenant ti, its functions in
 * turn. */
static bool tenant_pop(struct fair_queue *q, size_t ti, fair_queue_fits_fn fits, void *data,
		       struct fair_item *ret)
{
	struct fair_tenant *t = &q->tenants[ti];
	for (size_t k = 0; k < t->n_flows; k++) {
		size_t fi = (t->next + k) % t->n_flows;
		struct fair_flow *f = &t->flows[fi];
		if (!fits(t->name, f->function, f->max_concurrency, data))
			continue;
		if (!id_queue_pop(&f->ids, &ret->id))
			continue;
		memcpy(ret->tenant, t->name, sizeof(ret->tenant));
		memcpy(ret->function, f->function, sizeof(ret->function));
		ret->max_concurrency = f->max_concurrency;
		t->next = fi + 1;
		if (id_queue_len(&f->ids) == 0) {
			id_queue_free(&f->ids);
			memmove(f, f + 1, (t->n_flows - fi - 1) * sizeof(*f));
			t->n_flows--;
			t->next = fi;
		}
		if (t->next >= t->n_flows)
			t->next = 0;
		return true;
	}
	return false;
}

bool fair_queue_pop(struct fair_queue *q, fair_queue_fits_fn fits, void *data,
		    struct fair_item *ret)
{
	for (size_t k = 0; k < q->n_tenants; k++) {
		size_t ti = (q->next + k) % q->n_tenants;
		if (!tenant_pop(q, ti, fits, data, ret))
			continue;
		q->len--;
		q->next = ti + 1;
		if (q->next >= q->n_tenants)
			q->next = 0;
		tenant_drop_if_empty(q, ti);
		return true;
	}
	return false;
}

size_t fair_queue_len(const struct fair_queue *q)
{
	return q->len;
}

void fair_queue_free(struct fair_queue *q)
{
	for (size_t i = 0; i < q->n_tenants; i++) {
		for (size_t j = 0; j < q->tenants[i].n_flows; j++)
			id_queue_free(&q->tenants[i].flows[j].ids);
		free(q->tenants[i].flows);
	}
	free(q->tenants);
	*q = (struct fair_queue){ 0 };
}
