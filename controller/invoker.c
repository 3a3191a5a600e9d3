#include "invoker_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "agent_api.h"
#include "agent_stream.h"
#include "fair_queue.h"
#include "log.h"
#include "util.h"
#include "verdict.h"

/* How often queued work looks for room again while no host has any. */
#define ASYNC_ROOM_WAIT_US 500000

/* How long past the function's own timeout a caller that waits waits in
 * all (for a slot it never waits): room for one VM to be placed and booted
 * and its artifact pushed. After it the call ends 504 timeout. */
#define SYNC_BOOT_MARGIN_MS 30000

/* The longest push of an artifact to a host for queued work. */
#define ARTIFACT_PUSH_MS 600000

/* ---- concurrency limits ------------------------------------------------------------------------ */

struct running *iv_running_find(struct invoker *iv, const char *tenant, const char *name)
{
	for (size_t i = 0; i < iv->n_running; i++)
		if (!strcmp(iv->running[i].name, name) && !strcmp(iv->running[i].tenant, tenant))
			return &iv->running[i];
	if (array_reserve(&iv->running, &iv->cap_running, iv->n_running + 1, sizeof(*iv->running),
			  16) < 0)
		return NULL;
	struct running *r = &iv->running[iv->n_running++];
	memset(r, 0, sizeof(*r));
	snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
	snprintf(r->name, sizeof(r->name), "%s", name);
	return r;
}

/* How many invocations of the tenant's functions run now. */
static unsigned running_tenant(const struct invoker *iv, const char *tenant)
{
	unsigned n = 0;
	for (size_t i = 0; i < iv->n_running; i++)
		if (!strcmp(iv->running[i].tenant, tenant))
			n += iv->running[i].n;
	return n;
}

/* The tenant's concurrency limit; the lock is held. */
static unsigned tenant_limit(const struct invoker *iv, const char *tenant)
{
	for (size_t i = 0; i < iv->n_limits; i++)
		if (!strcmp(iv->limits[i].tenant, tenant))
			return iv->limits[i].limit;
	return iv->cfg.tenant_concurrency;
}

/* Sets the tenant's concurrency limit; the lock is held. Returns 0 or
 * -ENOMEM. */
static int tenant_limit_set(struct invoker *iv, const char *tenant, unsigned limit)
{
	for (size_t i = 0; i < iv->n_limits; i++)
		if (!strcmp(iv->limits[i].tenant, tenant)) {
			iv->limits[i].limit = limit;
			return 0;
		}
	if (array_reserve(&iv->limits, &iv->cap_limits, iv->n_limits + 1, sizeof(*iv->limits), 16) <
	    0)
		return -ENOMEM;
	struct tenant_limit *l = &iv->limits[iv->n_limits++];
	snprintf(l->tenant, sizeof(l->tenant), "%s", tenant);
	l->limit = limit;
	return 0;
}

int invoker_tenant_concurrency(struct invoker *iv, const char *tenant, unsigned limit)
{
	pthread_mutex_lock(&iv->lock);
	int r = tenant_limit_set(iv, tenant, limit);
	/* A higher limit may let queued work start now. */
	pthread_cond_broadcast(&iv->work);
	pthread_mutex_unlock(&iv->lock);
	return r;
}

/* Takes every tenant's limit from the store, before any invocation runs.
 * Returns 0 or -errno. */
static int tenant_limits_load(struct invoker *iv)
{
	struct store_tenant *ts;
	size_t n;
	pthread_mutex_lock(&iv->db->lock);
	int r = store_tenant_list(iv->db->store, &ts, &n);
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&iv->lock);
	for (size_t i = 0; i < n && r == 0; i++)
		r = tenant_limit_set(iv, ts[i].name, (unsigned)ts[i].scaling.concurrency);
	pthread_mutex_unlock(&iv->lock);
	free(ts);
	return r;
}

int invoker_limits_reload(struct invoker *iv)
{
	int r = tenant_limits_load(iv);
	pthread_mutex_lock(&iv->lock);
	pthread_cond_broadcast(&iv->work);
	pthread_mutex_unlock(&iv->lock);
	return r;
}

/* Whether one more invocation of the function may start now: under its
 * max_concurrency and under the tenant's concurrency limit. The lock is
 * held; a slot it answers true for is then taken with slot_take_locked. */
bool iv_slot_free(const char *tenant, const char *function, unsigned max_concurrency, void *data)
{
	struct invoker *iv = data;
	struct running *r = iv_running_find(iv, tenant, function);
	if (!r || r->n >= max_concurrency)
		return false;
	return running_tenant(iv, tenant) < tenant_limit(iv, tenant);
}

/* Takes one of the function's max_concurrency slots if one is free (and
 * the tenant is under its limit); never waits. */
static bool slot_take(struct invoker *iv, const struct store_function *fn)
{
	pthread_mutex_lock(&iv->lock);
	bool ok = iv_slot_free(fn->tenant, fn->name, fn->limits.max_concurrency, iv);
	if (ok)
		iv_running_find(iv, fn->tenant, fn->name)->n++;
	pthread_mutex_unlock(&iv->lock);
	return ok;
}

/* Gives back a slot of tenant's function; queued work may fit now. */
void iv_slot_give(struct invoker *iv, const char *tenant, const char *function)
{
	pthread_mutex_lock(&iv->lock);
	struct running *r = iv_running_find(iv, tenant, function);
	if (r && r->n > 0)
		r->n--;
	/* One slot lets at most one queued invocation start: one worker is
	 * enough, and none at all when nothing is queued (every synchronous
	 * call ends here: waking each idle worker for it cost them all a
	 * wake-up and a turn on the lock). */
	if (fair_queue_len(&iv->queue))
		pthread_cond_signal(&iv->work);
	pthread_mutex_unlock(&iv->lock);
}

/* ---- one invocation ----------------------------------------------------------------------------- */

/* Gets a route to one of the tenant's VMs for an attempt. A caller that
 * waits (sync_deadline_us set) gets "no capacity" at once when no host has
 * room, and waits for a VM to be placed, booted or freed until its
 * deadline (nor longer than the placement timeout); queued work waits for
 * room (a host coming back, say) until the placement timeout. Returns 0,
 * or -errno with why. */
static int route_wait(struct invoker *iv, const struct store_function *fn,
		      uint64_t sync_deadline_us, struct fleet_route *ret, char *why,
		      size_t why_size)
{
	bool async = !sync_deadline_us;
	uint64_t deadline = time_now_us() + (uint64_t)iv->cfg.placement_timeout_ms * 1000;
	if (!async && sync_deadline_us < deadline)
		deadline = sync_deadline_us;
	int r;
	while ((r = fleet_route_acquire(iv->fleet, fn->tenant, deadline, ret, why, why_size)) ==
		       -ENOSPC &&
	       async && time_now_us() + ASYNC_ROOM_WAIT_US < deadline &&
	       !fleet_stopping(iv->fleet)) {
		struct timespec ts = { 0, ASYNC_ROOM_WAIT_US * 1000 };
		nanosleep(&ts, NULL);
	}
	return r;
}

/* The caller's error for a route that could not be had. */
static void route_failed(struct verdict *v, int err, const char *why)
{
	if (err == -ENOSPC || err == -EIO)
		verdict_fail(v, 503, "no_capacity", "%s", why);
	else if (err == -ETIMEDOUT)
		verdict_fail(v, 504, "placement_timeout", "%s", why);
	else
		verdict_fail(v, 503, "unavailable", "%s", why);
}

/* For a tenant requiring attestation: lets the invocation go to the route's
 * VM only when its current run was verified, attesting it first (with a
 * fresh random nonce) when the run has no verdict yet. Returns true, or
 * false with ret failed (503 not_attested, saying why). */
static bool attest_gate(struct invoker *iv, const struct fleet_route *route, struct verdict *ret)
{
	struct attest_verdict vd = route->verdict;
	enum attest_use use = attest_use(route->attest_required, &vd, route->epoch, route->pid);
	if (use == ATTEST_VERIFY) {
		uint8_t nonce[32];
		struct link_call c = { .address = route->address,
				       .token = route->token,
				       .gen = route->gen,
				       .gen_expected = route->gen_expected };
		uint8_t hd[ATTEST_HOST_DATA_SIZE];
		memset(&vd, 0, sizeof(vd));
		if (RAND_bytes(nonce, sizeof(nonce)) == 1)
			json_decref(attest_vm(iv->links, &c, route->vm, nonce, sizeof(nonce),
					      attest_host_data(route->host_data, hd), &vd));
		else
			snprintf(vd.reason, sizeof(vd.reason), "no random nonce");
		fleet_route_attested(iv->fleet, route, &vd);
		vd.epoch = route->epoch;
		vd.pid = route->pid;
		use = vd.known ? attest_use(true, &vd, route->epoch, route->pid) : ATTEST_REFUSE;
	}
	if (use == ATTEST_USE)
		return true;
	verdict_fail(ret, 503, "not_attested", "VM %s on host %s is not attested: %s", route->vm,
		     route->host_id, vd.reason);
	return false;
}

int invoker_agent_path(const struct store_function *fn, const char *id, const char *vm, char *path,
		       size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	int w = snprintf(path, size,
			 "/v1/vms/%s/invoke?artifact=%s&mode=%s&timeout_ms=%u&memory_mib=%u", vm,
			 fn->digest, fn->limits.mode, fn->limits.timeout_ms, fn->limits.memory_mib);
	if (w > 0 && (size_t)w < size && fn->limits.encrypted)
		w += snprintf(path + w, size - (size_t)w, "&invocation=%s&e2e=1", id ? id : "");
	if (w > 0 && (size_t)w < size && fn_runtime_has_handler(fn->limits.runtime))
		w += snprintf(path + w, size - (size_t)w,
			      "&runtime=%s&handler=", fn_runtime_name(fn->limits.runtime));
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	n = (size_t)w;
	if (!fn_runtime_has_handler(fn->limits.runtime))
		return 0;
	for (const char *c = fn->limits.handler; *c; c++) {
		bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			     (*c >= '0' && *c <= '9') || strchr("-._~/", *c);
		if (n + (plain ? 1 : 3) >= size)
			return -ENAMETOOLONG;
		if (plain) {
			path[n++] = *c;
		} else {
			path[n++] = '%';
			path[n++] = hex[(unsigned char)*c >> 4];
			path[n++] = hex[(unsigned char)*c & 15];
		}
	}
	path[n] = '\0';
	return 0;
}

/* How long a caller that waits until deadline_us (0: queued work, which
 * waits for the agent's own answer) waits for the agent's. */
static long agent_wait_ms(const struct store_function *fn, uint64_t deadline_us)
{
	if (!deadline_us)
		return (long)fn->limits.timeout_ms + AGENT_GRACE_MS;
	uint64_t now = time_now_us();
	long left = now < deadline_us ? (long)((deadline_us - now) / 1000) : 0;
	return left > 1000 ? left : 1000;
}

/* Calls the agent on route, after making sure its host holds the artifact,
 * and once more after pushing it again when the host says it lost it.
 * Classifies the last answer into ret; *ret_rtt gets the call's round trip.
 * An encrypted function's call names the invocation (its id is sealed
 * into the request) and asks for end-to-end handling. A caller that waits
 * (sync_deadline_us set) and gets no answer by then fails 504 timeout. */
static void agent_invoke(struct invoker *iv, const struct store_function *fn, const char *id,
			 struct fleet_route *route, uint64_t sync_deadline_us, const void *input,
			 size_t input_len, struct verdict *ret, int64_t *ret_rtt)
{
	struct verdict_context ctx = { .host_id = route->host_id,
				       .timeout_ms = fn->limits.timeout_ms };
	struct link_call c = {
		.address = route->address,
		.token = route->token,
		.body = input ? input : "",
		.body_len = input_len,
		.gen = route->gen,
		.gen_expected = route->gen_expected,
	};
	for (int tries = 0;; tries++) {
		json_t *reply = NULL;
		struct agent_stream_body body = { 0 };
		/* A caller that waits has one deadline for the push and the call. */
		long push_ms = sync_deadline_us ? agent_wait_ms(fn, sync_deadline_us)
						: ARTIFACT_PUSH_MS;
		int st = fleet_artifact_ensure(iv->fleet, route, fn->digest, fn->size, push_ms);
		if (st == 0) {
			c.timeout_ms = agent_wait_ms(fn, sync_deadline_us);
			st = agent_stream_call(iv->cfg.streams, iv->links, &c, fn, id, route->vm,
					       &reply, &body, ret_rtt);
		}
		ctx.stopping = st == -ECANCELED && fleet_stopping(iv->fleet);
		ctx.artifact_retry = tries == 0;
		verdict_classify(st, reply, &ctx, ret);
		if (ret->ran && agent_stream_body_take(&body, ret) < 0) {
			verdict_clear(ret);
			verdict_fail(ret, 502, "agent_error", "out of memory for host %s's result",
				     route->host_id);
		}
		free(body.data);
		if (st == -ETIMEDOUT && sync_deadline_us) {
			verdict_fail(
				ret, 504, "timeout",
				"no answer from host %s within the function's timeout of %u ms "
				"plus %d ms for its VM; the function may or may not have run",
				route->host_id, fn->limits.timeout_ms, SYNC_BOOT_MARGIN_MS);
			ret->status = STORE_TIMEOUT;
		}
		if (ret->ran)
			fleet_route_report(iv->fleet, route, reply);
		json_decref(reply);
		if (ret->next != VERDICT_RETRY_ARTIFACT)
			return;
		fleet_artifact_forget(iv->fleet, route, fn->digest);
	}
}

/* Tells the caller how it ended. */
static void reply_set(struct invocation_reply *out, const struct verdict *v)
{
	out->http = v->http;
	memcpy(out->code, v->code, sizeof(out->code));
	memcpy(out->message, v->message, sizeof(out->message));
}

/* Fills the caller's reply and the record's outcome from a verdict on route
 * (only read when the function ran), acquire_us after the attempt began,
 * which was waited_us after the invocation was accepted. */
static void verdict_take(struct verdict *v, const struct fleet_route *route, int64_t waited_us,
			 int64_t acquire_us, struct invocation_reply *out, struct store_outcome *o)
{
	reply_set(out, v);
	o->status = v->status;
	o->error = v->status == STORE_OK ? NULL : out->message;
	if (!v->ran)
		return;
	if (v->exception) {
		/* The record keeps it whole; the caller's reply names it. */
		o->exception = json_dumps(v->exception, JSON_COMPACT);
		out->exception = json_pack("{s:O, s:O}", "type",
					   json_object_get(v->exception, "type"), "message",
					   json_object_get(v->exception, "message"));
	}
	out->result = v->result;
	out->result_len = v->result_len;
	v->result = NULL;
	out->cold_start = route->placed || v->cold_start;
	out->agent_us = v->agent_us;
	out->guest_us = v->guest_us;
	out->function_us = v->function_us;
	o->result = out->result;
	o->result_len = out->result_len;
	o->log = v->log;
	o->log_len = v->log_len;
	o->cpu = v->cpu;
	o->has_vcpu = v->vcpu_alloc_ms >= 0;
	o->workers = v->workers;
	o->vcpu_alloc_ms = v->vcpu_alloc_ms;
	o->vcpu_busy_ms = v->vcpu_busy_ms;
	o->cold_start = out->cold_start;
	o->queued_us = waited_us + (route->placed ? 0 : acquire_us) +
		       (v->queued_us > 0 ? v->queued_us : 0);
	o->cold_start_us = (route->placed ? acquire_us : 0) + (v->init_us > 0 ? v->init_us : 0);
	o->exec_us = v->function_us;
}

/* Runs an invocation whose record (id) exists: gets one of the tenant's VMs (unless
 * the caller holds a route already and recorded the start), calls the agent
 * and records the outcome, unless the host was lost (the caller decides
 * then). retries: -1 for a caller that waits, else the queued invocation's
 * retries, to which its outcome is fenced. waited_us: how long it waited in
 * the queue since it was accepted. *ret_metric gets how the metrics count
 * it. */
enum attempt iv_attempt(struct invoker *iv, const struct store_function *fn, const char *id,
			int retries, const void *input, size_t input_len, uint64_t start_us,
			int64_t waited_us, const struct fleet_route *ready,
			struct invocation_reply *out, enum metrics_outcome *ret_metric)
{
	struct fleet_route route = { 0 };
	char why[256];
	uint64_t t_acquire = time_now_us();
	bool async = retries >= 0;
	uint64_t sync_deadline_us =
		async ? 0
		      : start_us + ((uint64_t)fn->limits.timeout_ms + SYNC_BOOT_MARGIN_MS) * 1000;
	int r = 0;
	if (ready)
		route = *ready;
	else
		r = route_wait(iv, fn, sync_deadline_us, &route, why, sizeof(why));
	int64_t acquire_us = (int64_t)(time_now_us() - t_acquire);
	struct verdict v;
	if (r < 0) {
		route_failed(&v, r, why);
	} else if (attest_gate(iv, &route, &v)) {
		if (!ready)
			iv_record_start(iv, id, &route);
		agent_invoke(iv, fn, id, &route, sync_deadline_us, input, input_len, &v,
			     &out->agent_rtt_us);
		if (v.host_unreachable)
			fleet_host_unreachable(iv->fleet, &route, v.why);
		if (v.vm_lost)
			fleet_vm_lost(iv->fleet, &route, v.why);
	}
	struct store_outcome o = { .fenced = async, .retries = retries };
	verdict_take(&v, &route, waited_us, acquire_us, out, &o);
	*ret_metric = v.metric;
	if (v.next != VERDICT_REROUTE) {
		o.total_us = (int64_t)(time_now_us() - start_us);
		iv_record_finish(iv, id, &o);
	}
	free((char *)o.exception);
	verdict_clear(&v);
	if (r == 0)
		fleet_route_release(iv->fleet, &route);
	return v.next == VERDICT_REROUTE ? ATTEMPT_HOST_LOST : ATTEMPT_DONE;
}

void invoker_call(struct invoker *iv, const struct store_function *fn, const char *id,
		  const void *input, size_t input_len, uint64_t start_us,
		  struct invocation_reply *out)
{
	memset(out, 0, sizeof(*out));
	out->agent_rtt_us = out->agent_us = out->guest_us = out->function_us = -1;
	struct verdict v;
	if (!slot_take(iv, fn)) {
		verdict_fail(&v, 429, "too_many_requests",
			     "function %s already runs %u invocations (its max_concurrency), or "
			     "tenant %s its concurrency limit",
			     fn->name, fn->limits.max_concurrency, fn->tenant);
		reply_set(out, &v);
		out->total_us = (int64_t)(time_now_us() - start_us);
		metrics_invocation(iv->metrics, fn->tenant, METRICS_FAILED, out->total_us);
		return;
	}
	metrics_inflight_add(iv->metrics, 1);
	/* The usual case, the tenant's VM is up: the record is made running
	 * in one write, by the recorder. Otherwise it is made queued here and
	 * now, before the wait for the VM. */
	struct fleet_route route;
	char why[8];
	bool ready = fleet_route_acquire(iv->fleet, fn->tenant, 0, &route, why, sizeof(why)) == 0;
	enum metrics_outcome metric = METRICS_FAILED;
	int r;
	if (ready) {
		r = iv_record_started(iv, fn, id, &route, out->id);
	} else {
		pthread_mutex_lock(&iv->db->lock);
		r = id ? store_invocation_create_as(iv->db->store, id, fn->tenant, fn->name,
						    fn->version, false, NULL, 0)
		       : store_invocation_create(iv->db->store, fn->tenant, fn->name, fn->version,
						 false, NULL, 0, out->id);
		pthread_mutex_unlock(&iv->db->lock);
		if (r == 0 && id)
			snprintf(out->id, sizeof(out->id), "%s", id);
	}
	if (r < 0) {
		if (ready)
			fleet_route_release(iv->fleet, &route);
		out->id[0] = '\0';
		if (r == -ENOENT)
			verdict_fail(&v, 404, "not_found", "function %s version %lld is gone",
				     fn->name, (long long)fn->version);
		else if (r == -EEXIST)
			verdict_fail(&v, 409, "exists", "an invocation with id %s exists", id);
		else
			verdict_fail(&v, 503, "busy", "cannot record the invocation: %s",
				     strerror(-r));
		reply_set(out, &v);
	} else if (iv_attempt(iv, fn, out->id, -1, input, input_len, start_us, 0,
			      ready ? &route : NULL, out, &metric) == ATTEMPT_HOST_LOST) {
		/* Nothing to retry for a caller that waits: say what happened. */
		struct store_outcome o = { .status = STORE_ERROR,
					   .error = out->message,
					   .total_us = (int64_t)(time_now_us() - start_us) };
		iv_record_finish(iv, out->id, &o);
	}
	out->total_us = (int64_t)(time_now_us() - start_us);
	metrics_inflight_add(iv->metrics, -1);
	metrics_invocation(iv->metrics, fn->tenant, metric, out->total_us);
	iv_slot_give(iv, fn->tenant, fn->name);
	log_debug("invocation id=%s tenant=%s function=%s version=%lld http=%u total_us=%lld",
		  out->id, fn->tenant, fn->name, (long long)fn->version, out->http,
		  (long long)out->total_us);
}

void invocation_reply_clear(struct invocation_reply *r)
{
	json_decref(r->exception);
	r->exception = NULL;
	free(r->result);
	r->result = NULL;
	r->result_len = 0;
}
/* ---- life cycle ------------------------------------------------------------------------------------ */

int invoker_new(const struct invoker_config *cfg, struct db *db, struct fleet *fleet,
		struct link_pool *links, struct metrics *metrics, struct invoker **ret)
{
	struct invoker *iv = calloc(1, sizeof(*iv));
	if (!iv)
		return -ENOMEM;
	iv->cfg = *cfg;
	if (!iv->cfg.tenant_concurrency)
		iv->cfg.tenant_concurrency = INVOKER_TENANT_CONCURRENCY;
	iv->db = db;
	iv->fleet = fleet;
	iv->links = links;
	iv->metrics = metrics;
	pthread_mutex_init(&iv->lock, NULL);
	pthread_cond_init(&iv->work, NULL);
	pthread_cond_init(&iv->rec_work, NULL);
	pthread_cond_init(&iv->rec_done, NULL);
	iv->rec_tail = &iv->rec_head;
	int lr = tenant_limits_load(iv);
	if (lr < 0) {
		invoker_free(iv);
		return lr;
	}
	int rr = pthread_create(&iv->recorder, NULL, iv_recorder_main, iv);
	if (rr) {
		invoker_free(iv);
		return -rr;
	}
	iv->rec_started = true;
	iv->workers = calloc(cfg->async_workers ? cfg->async_workers : 1, sizeof(*iv->workers));
	if (!iv->workers) {
		invoker_free(iv);
		return -ENOMEM;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned i = 0; i < cfg->async_workers; i++) {
		int r = pthread_create(&iv->workers[i], &attr, iv_worker_main, iv);
		if (r) {
			pthread_attr_destroy(&attr);
			invoker_free(iv);
			return -r;
		}
		iv->n_workers++;
	}
	pthread_attr_destroy(&attr);
	*ret = iv;
	return 0;
}

void invoker_free(struct invoker *iv)
{
	if (!iv)
		return;
	pthread_mutex_lock(&iv->lock);
	iv->stopping = true;
	pthread_cond_broadcast(&iv->work);
	pthread_mutex_unlock(&iv->lock);
	for (size_t i = 0; i < iv->n_workers; i++)
		pthread_join(iv->workers[i], NULL);
	/* The recorder writes what is queued before it ends. */
	pthread_mutex_lock(&iv->lock);
	iv->rec_stopping = true;
	pthread_cond_broadcast(&iv->rec_work);
	pthread_mutex_unlock(&iv->lock);
	if (iv->rec_started)
		pthread_join(iv->recorder, NULL);
	free(iv->workers);
	fair_queue_free(&iv->queue);
	free(iv->delayed);
	free(iv->running);
	free(iv->limits);
	pthread_cond_destroy(&iv->work);
	pthread_cond_destroy(&iv->rec_work);
	pthread_cond_destroy(&iv->rec_done);
	pthread_mutex_destroy(&iv->lock);
	free(iv);
}
