/* The async queue, fair across tenants and functions: one FIFO of
 * invocation ids per (tenant, function), served round robin across
 * tenants and, within a tenant, across its functions. An invocation is
 * only taken when the caller says its function (and tenant) has room, so
 * a function at its concurrency limit never holds up the others. Pure and
 * not locked: the invoker holds its own lock around every call. */
#ifndef DITTO_FAIR_QUEUE_H
#define DITTO_FAIR_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "id_queue.h"
#include "store.h"

/* One queued invocation as pop hands it out. */
struct fair_item {
	char tenant[STORE_NAME_SIZE];
	char function[STORE_NAME_SIZE];
	unsigned max_concurrency; /* the function's, as last pushed */
	struct store_id id;
};

struct fair_flow {
	char function[STORE_NAME_SIZE];
	unsigned max_concurrency;
	struct id_queue ids;
};

struct fair_tenant {
	char name[STORE_NAME_SIZE];
	struct fair_flow *flows;
	size_t n_flows, cap_flows, next; /* next: the flow served first next time */
};

struct fair_queue {
	struct fair_tenant *tenants;
	size_t n_tenants, cap_tenants, next; /* next: the tenant served first next time */
	size_t len;
};

/* Whether an invocation of function (whose limit is max_concurrency) of
 * tenant could start now. */
typedef bool (*fair_queue_fits_fn)(const char *tenant, const char *function,
				   unsigned max_concurrency, void *data);

/* Appends id to the queue of (tenant, function) and records the function's
 * max_concurrency. Returns 0, or -ENOMEM with the queue unchanged. A
 * zeroed struct is an empty queue. */
int fair_queue_push(struct fair_queue *q, const char *tenant, const char *function,
		    unsigned max_concurrency, const char *id);

/* Takes the next invocation that fits: the tenants in turn from the one
 * after the last served, within each its functions in turn, the oldest of
 * a function's invocations first; functions that do not fit are passed
 * over, keeping their place. Returns false (ret untouched) when none fits
 * or the queue is empty. */
bool fair_queue_pop(struct fair_queue *q, fair_queue_fits_fn fits, void *data,
		    struct fair_item *ret);

size_t fair_queue_len(const struct fair_queue *q);

/* Frees everything; q becomes an empty queue. */
void fair_queue_free(struct fair_queue *q);

#endif
