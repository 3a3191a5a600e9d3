/* Asynchronous invocations: the durable queue, fair across tenants and
 * functions (fair_queue.h), its worker threads, the retries of an attempt cut
 * short, fenced to their attempt, and the requeueing of what a restart left. */
#include "invoker_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artifact_gc.h"
#include "fair_queue.h"
#include "log.h"
#include "util.h"

/* An async invocation whose attempt is cut short by the infrastructure (its
 * host, VM or the controller lost, the host refusing it for now) is run
 * again, at most this many more times: at least once, at most 1 + this. */
#define ASYNC_RETRIES INVOKER_ASYNC_RETRIES
/* The first retry waits this long, each next one twice as long. */
#define ASYNC_RETRY_WAIT_MS 1000

/* ---- the async queue ------------------------------------------------------------------------------ */

/* Queues id, an invocation of tenant's function whose limit is
 * max_concurrency. */
static int enqueue(struct invoker *iv, const char *tenant, const char *function,
		   unsigned max_concurrency, const char *id)
{
	pthread_mutex_lock(&iv->lock);
	if (fair_queue_push(&iv->queue, tenant, function, max_concurrency, id) < 0) {
		pthread_mutex_unlock(&iv->lock);
		return -ENOMEM;
	}
	pthread_cond_signal(&iv->work);
	pthread_mutex_unlock(&iv->lock);
	metrics_queue_add(iv->metrics, 1);
	return 0;
}

int invoker_submit(struct invoker *iv, const struct store_function *fn, const char *id,
		   const void *input, size_t input_len, char ret_id[STORE_ID_SIZE])
{
	pthread_mutex_lock(&iv->db->lock);
	int r = id ? store_invocation_create_as(iv->db->store, id, fn->tenant, fn->name,
						fn->version, true, input, input_len)
		   : store_invocation_create(iv->db->store, fn->tenant, fn->name, fn->version, true,
					     input, input_len, ret_id);
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0)
		return r;
	if (id)
		snprintf(ret_id, STORE_ID_SIZE, "%s", id);
	/* The record is durable: were the enqueue to fail, a restart would
	 * still run it. */
	return enqueue(iv, fn->tenant, fn->name, fn->limits.max_concurrency, ret_id);
}

/* Holds id back until due_us, then queues it (iv_worker_main moves it). A
 * retry that cannot be held is queued at once. */
static void delay(struct invoker *iv, const struct store_function *fn, const char *id,
		  uint64_t due_us)
{
	pthread_mutex_lock(&iv->lock);
	if (iv->n_delayed == iv->cap_delayed) {
		size_t cap = iv->cap_delayed ? 2 * iv->cap_delayed : 16;
		struct delayed *d = realloc(iv->delayed, cap * sizeof(*d));
		if (!d) {
			pthread_mutex_unlock(&iv->lock);
			enqueue(iv, fn->tenant, fn->name, fn->limits.max_concurrency, id);
			return;
		}
		iv->delayed = d;
		iv->cap_delayed = cap;
	}
	struct delayed *d = &iv->delayed[iv->n_delayed++];
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->tenant, sizeof(d->tenant), "%s", fn->tenant);
	snprintf(d->function, sizeof(d->function), "%s", fn->name);
	d->max_concurrency = fn->limits.max_concurrency;
	d->due_us = due_us;
	pthread_cond_signal(&iv->work);
	pthread_mutex_unlock(&iv->lock);
}

/* Queues the held retries that are due; returns the earliest due time of
 * those still held (0: none). The lock is held. */
static uint64_t delayed_release(struct invoker *iv, uint64_t now_us)
{
	uint64_t next = 0;
	for (size_t i = 0; i < iv->n_delayed;) {
		struct delayed *d = &iv->delayed[i];
		if (d->due_us > now_us) {
			if (!next || d->due_us < next)
				next = d->due_us;
			i++;
			continue;
		}
		/* Out of memory: it stays held and is tried again next turn. */
		if (fair_queue_push(&iv->queue, d->tenant, d->function, d->max_concurrency, d->id) <
		    0) {
			next = now_us + 100000;
			i++;
			continue;
		}
		metrics_queue_add(iv->metrics, 1);
		*d = iv->delayed[--iv->n_delayed];
	}
	return next;
}

/* After an attempt of the queued invocation inv was cut short: queues it
 * again after a wait that doubles with each retry, held outside the queue so
 * that neither a worker nor a concurrency slot waits with it, or, its
 * retries spent, fails it with why. Returns true when it was queued again. */
static bool retry_later(struct invoker *iv, const char *id, const struct store_invocation *inv,
			const struct store_function *fn, const char *why)
{
	pthread_mutex_lock(&iv->db->lock);
	int r = inv->retries < ASYNC_RETRIES ? store_invocation_requeue(iv->db->store, id)
					     : -EALREADY;
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0) {
		struct store_outcome o = { .status = STORE_ERROR,
					   .error = why,
					   .fenced = true,
					   .retries = inv->retries };
		iv_record_finish(iv, id, &o);
		return false;
	}
	log_info("async_retry id=%s retries=%d reason=\"%s\"", id, inv->retries + 1, why);
	int doublings = inv->retries < 3 ? inv->retries : 3;
	uint64_t wait_us = (uint64_t)ASYNC_RETRY_WAIT_MS * 1000 << doublings;
	delay(iv, fn, id, time_now_us() + wait_us);
	return true;
}

/* Runs a queued invocation, looked up (fr: the lookup of its version), to
 * its end; the worker holds a concurrency slot for it. */
static void run_found(struct invoker *iv, const char *id, const struct store_invocation *inv,
		      int fr, const struct store_function *fn)
{
	uint64_t start_us = time_now_us();
	int64_t waited_us = (time_wall_ms() - inv->created_ms) * 1000;
	struct invocation_reply out = { 0 };
	if (inv->status != STORE_QUEUED)
		return;
	if (fr < 0) {
		struct store_outcome o = { .status = STORE_ERROR,
					   .error = "the function version was deleted" };
		iv_record_finish(iv, id, &o);
		metrics_invocation(iv->metrics, inv->tenant, METRICS_FAILED, 0);
		return;
	}
	metrics_inflight_add(iv->metrics, 1);
	enum metrics_outcome metric;
	enum attempt a = iv_attempt(iv, fn, id, inv->retries, inv->input, inv->input_len, start_us,
				    waited_us > 0 ? waited_us : 0, NULL, &out, &metric);
	metrics_inflight_add(iv->metrics, -1);
	if (a == ATTEMPT_HOST_LOST) {
		if (!retry_later(iv, id, inv, fn, out.message))
			metrics_invocation(iv->metrics, inv->tenant, METRICS_FAILED,
					   (int64_t)(time_now_us() - start_us));
	} else {
		metrics_invocation(iv->metrics, inv->tenant, metric,
				   (int64_t)(time_now_us() - start_us));
	}
	invocation_reply_clear(&out);
}

/* Looks a queued invocation up with its version, in one hold of the store's
 * lock, pinning the version's artifact when pin is set. Returns 0 with inv
 * (clear it) and *fr the version's lookup (or pin) result, or -errno when
 * the invocation is gone (logged). */
static int queued_lookup(struct invoker *iv, const char *id, bool pin,
			 struct store_invocation *inv, struct store_function *fn, int *fr)
{
	pthread_mutex_lock(&iv->db->lock);
	int r = store_invocation_get(iv->db->store, NULL, id, inv);
	*fr = r == 0 ? store_function_get(iv->db->store, inv->tenant, inv->function, inv->version,
					  fn)
		     : r;
	if (*fr == 0 && pin)
		*fr = artifact_gc_pin(iv->db, fn->digest);
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0)
		log_warn("async_lost id=%s err=%s", id, strerror(-r));
	return r;
}

/* Runs one queued invocation to its end. Its version's artifact is pinned
 * (artifact_gc.h) in the hold of the lock that looked it up, until it ends. */
static void run_async(struct invoker *iv, const char *id)
{
	struct store_invocation inv;
	struct store_function fn;
	int fr;
	if (queued_lookup(iv, id, true, &inv, &fn, &fr) < 0)
		return;
	run_found(iv, id, &inv, fr, &fn);
	if (fr == 0)
		artifact_gc_unpin(iv->db, fn.digest);
	store_invocation_clear(&inv);
}

/* Waits on the work condition, until due_us (time_now_us) when not 0. The
 * lock is held. */
static void work_wait(struct invoker *iv, uint64_t due_us)
{
	if (!due_us) {
		pthread_cond_wait(&iv->work, &iv->lock);
		return;
	}
	uint64_t now = time_now_us();
	uint64_t left_us = due_us > now ? due_us - now : 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* the condition's clock */
	uint64_t ns = (uint64_t)ts.tv_nsec + left_us % 1000000 * 1000;
	ts.tv_sec += (time_t)(left_us / 1000000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_cond_timedwait(&iv->work, &iv->lock, &ts);
}

/* Takes the next queued invocation whose function has a free slot (fair
 * across tenants and functions, fair_queue.h) with its slot, runs it and
 * gives the slot back; never waits for a slot while holding a place.
 * Queues the retries whose backoff is over on the way. */
void *iv_worker_main(void *arg)
{
	struct invoker *iv = arg;
	pthread_mutex_lock(&iv->lock);
	while (!iv->stopping) {
		struct fair_item it;
		uint64_t next_due = delayed_release(iv, time_now_us());
		if (!fair_queue_pop(&iv->queue, iv_slot_free, iv, &it)) {
			work_wait(iv, next_due);
			continue;
		}
		iv_running_find(iv, it.tenant, it.function)->n++;
		pthread_mutex_unlock(&iv->lock);
		metrics_queue_add(iv->metrics, -1);
		run_async(iv, it.id.id);
		iv_slot_give(iv, it.tenant, it.function);
		pthread_mutex_lock(&iv->lock);
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

/* Queues again an async invocation left queued by the last run, under its
 * tenant and function (looked up). */
static void requeue(struct invoker *iv, const char *id)
{
	struct store_invocation inv;
	struct store_function fn;
	int fr;
	if (queued_lookup(iv, id, false, &inv, &fn, &fr) < 0)
		return;
	/* A deleted version is failed by the worker that takes it. */
	enqueue(iv, inv.tenant, inv.function, fr == 0 ? fn.limits.max_concurrency : 1, id);
	store_invocation_clear(&inv);
}

void invoker_adopt(struct invoker *iv, const struct store_id *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		requeue(iv, ids[i].id);
}

int invoker_recover(struct invoker *iv)
{
	size_t failed = 0, n = 0;
	struct store_id *retry = NULL;
	pthread_mutex_lock(&iv->db->lock);
	int r = store_invocations_recover(iv->db->store, "the controller restarted while it ran",
					  ASYNC_RETRIES, &failed, &retry, &n);
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		requeue(iv, retry[i].id);
	free(retry);
	if (failed || n)
		log_info("invocations_recovered failed=%zu requeued=%zu", failed, n);
	return 0;
}
