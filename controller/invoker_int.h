/* Internals shared by the invoker's modules:
 *   invoker.c        the life cycle, the concurrency slots, and one attempt
 *                    at an invocation (a route, attestation, the agent call
 *                    and its verdict), for sync callers on their own thread;
 *   invoker_async.c  the durable async queue: its workers, retries fenced
 *                    to their attempt, and requeueing after a restart;
 *   invoker_record.c the invocations' records: starts and outcomes, mostly
 *                    written in batches by the recorder thread.
 *
 * The helpers shared between the modules carry the iv_ prefix, so that these
 * global names never meet others in the controller. */
#ifndef DITTO_INVOKER_INT_H
#define DITTO_INVOKER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fair_queue.h"
#include "invoker.h"
#include "store.h"

struct pending; /* invoker_record.c */

/* How many invocations of one function run now. */
struct running {
	char tenant[STORE_NAME_SIZE];
	char name[STORE_NAME_SIZE];
	unsigned n;
};

/* A tenant's concurrency limit, as its scaling last set it. */
struct tenant_limit {
	char tenant[STORE_NAME_SIZE];
	unsigned limit;
};

struct invoker {
	struct invoker_config cfg;
	struct db *db;
	struct fleet *fleet;
	struct link_pool *links;
	struct metrics *metrics;
	pthread_mutex_t lock;
	pthread_cond_t work; /* the queue grew, a slot came free, or stopping */
	struct running *running;
	size_t n_running, cap_running;
	struct tenant_limit *limits; /* the tenants' own; others have cfg.tenant_concurrency */
	size_t n_limits, cap_limits;
	struct fair_queue queue; /* the async queue */
	struct delayed *delayed; /* retries waiting out their backoff, unordered */
	size_t n_delayed, cap_delayed;
	bool stopping;
	pthread_t *workers;
	size_t n_workers;
	/* Outcomes for the recorder thread, in order. */
	struct pending *rec_head, **rec_tail;
	uint64_t rec_since_us; /* when rec_head was queued (time_now_us) */
	/* rec_urgent: a reader waits (invoker_flush): no lingering. */
	bool rec_writing, rec_stopping, rec_started, rec_urgent;
	pthread_cond_t rec_work, rec_done;
	pthread_t recorder;
};

/* An async retry waiting out its backoff before it joins the queue again;
 * its record is queued in the store already, so a restart runs it anyway. */
struct delayed {
	char id[STORE_ID_SIZE];
	char tenant[STORE_NAME_SIZE];
	char function[STORE_NAME_SIZE];
	unsigned max_concurrency;
	uint64_t due_us; /* time_now_us() */
};

/* What became of one attempt at running an invocation. */
enum attempt {
	ATTEMPT_DONE,      /* out says how it ended, the record is final */
	ATTEMPT_HOST_LOST, /* the host went away mid-call: it may or may not have run */
};
/* ---- invoker.c ---------------------------------------------------------------------------------- */

/* The running count of tenant's function, added at 0 when new; NULL when
 * out of memory. The lock is held. */
struct running *iv_running_find(struct invoker *iv, const char *tenant, const char *name);
/* Whether one more invocation of the function may start now (a
 * fair_queue_pop slot test); the lock is held. */
bool iv_slot_free(const char *tenant, const char *function, unsigned max_concurrency, void *data);
/* Gives back a slot of tenant's function; takes the lock. */
void iv_slot_give(struct invoker *iv, const char *tenant, const char *function);
/* Runs an invocation whose record exists, once, and records its outcome
 * unless the host was lost. retries: -1 for a caller that waits, else the
 * queued invocation's retries. */
enum attempt iv_attempt(struct invoker *iv, const struct store_function *fn, const char *id,
			int retries, const void *input, size_t input_len, uint64_t start_us,
			int64_t waited_us, const struct fleet_route *ready,
			struct invocation_reply *out, enum metrics_outcome *ret_metric);

/* ---- invoker_record.c --------------------------------------------------------------------------- */

/* Records that invocation id started on route; logs a failure. */
void iv_record_start(struct invoker *iv, const char *id, const struct fleet_route *route);
/* Records a synchronous invocation that starts at once on route. Returns 0
 * with its id in ret_id, -EEXIST, or -errno. */
int iv_record_started(struct invoker *iv, const struct store_function *fn, const char *id,
		      const struct fleet_route *route, char ret_id[STORE_ID_SIZE]);
/* Hands invocation id's outcome to the recorder thread. */
void iv_record_finish(struct invoker *iv, const char *id, const struct store_outcome *o);
/* The recorder thread (arg: the invoker). */
void *iv_recorder_main(void *arg);

/* ---- invoker_async.c ---------------------------------------------------------------------------- */

/* An async worker thread (arg: the invoker). */
void *iv_worker_main(void *arg);

#endif
