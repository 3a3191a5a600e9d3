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
#define ASYNC_RETRIES 4
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

/* After an attempt of the queued invocation inv was cut short: queues it
 * again after a wait that doubles with each retry (none while the
 * controller stops: the next start runs it), or, its retries spent, fails
 * it with why. Returns true when it was queued again. */
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
	long wait_ms = (long)ASYNC_RETRY_WAIT_MS << (inv->retries < 3 ? inv->retries : 3);
	/* The record is queued again already: a restart meanwhile runs it. */
	for (long t = 0; t < wait_ms && !fleet_stopping(iv->fleet); t += 100) {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	enqueue(iv, fn->tenant, fn->name, fn->limits.max_concurrency, id);
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

/* Runs one queued invocation to its end. Its version's artifact is pinned
 * (artifact_gc.h) in the hold of the lock that looked it up, until it ends. */
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

/* Takes the next queued invocation whose function has a free slot (fair
 * across tenants and functions, fair_queue.h) with its slot, runs it and
 * gives the slot back; never waits for a slot while holding a place. */
void *iv_worker_main(void *arg)
{
	struct invoker *iv = arg;
	pthread_mutex_lock(&iv->lock);
	while (!iv->stopping) {
		struct fair_item it;
		if (!fair_queue_pop(&iv->queue, iv_slot_free, iv, &it)) {
			pthread_cond_wait(&iv->work, &iv->lock);
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
