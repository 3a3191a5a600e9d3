#include "invoker.h"

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
#include "artifact_gc.h"
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

/* An async invocation whose attempt is cut short by the infrastructure (its
 * host, VM or the controller lost, the host refusing it for now) is run
 * again, at most this many more times: at least once, at most 1 + this. */
#define ASYNC_RETRIES 4
/* The first retry waits this long, each next one twice as long. */
#define ASYNC_RETRY_WAIT_MS 1000

/* A write waiting for the recorder thread: a synchronous invocation that
 * started, or an outcome. */
struct pending {
	struct pending *next;
	char id[STORE_ID_SIZE];
	bool start; /* the record of a started invocation, else an outcome */
	/* start */
	char tenant[STORE_NAME_SIZE], function[STORE_NAME_SIZE], host[STORE_NAME_SIZE];
	char vm[STORE_NAME_SIZE];
	int64_t version, created_ms;
	/* outcome */
	struct store_outcome o; /* its pointers point at the copies below */
	uint8_t *result, *log;
	char *error, *exception;
};

static void pending_free(struct pending *p)
{
	free(p->result);
	free(p->log);
	free(p->error);
	free(p->exception);
	free(p);
}

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
	bool stopping;
	pthread_t *workers;
	size_t n_workers;
	/* Outcomes for the recorder thread, in order. */
	struct pending *rec_head, **rec_tail;
	bool rec_writing, rec_stopping, rec_started;
	pthread_cond_t rec_work, rec_done;
	pthread_t recorder;
};

/* ---- concurrency limits ------------------------------------------------------------------------ */

static struct running *running_find(struct invoker *iv, const char *tenant, const char *name)
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

/* Whether one more invocation of the function may start now: under its
 * max_concurrency and under the tenant's concurrency limit. The lock is
 * held; a slot it answers true for is then taken with slot_take_locked. */
static bool slot_free(const char *tenant, const char *function, unsigned max_concurrency,
		      void *data)
{
	struct invoker *iv = data;
	struct running *r = running_find(iv, tenant, function);
	if (!r || r->n >= max_concurrency)
		return false;
	return running_tenant(iv, tenant) < tenant_limit(iv, tenant);
}

/* Takes one of the function's max_concurrency slots if one is free (and
 * the tenant is under its limit); never waits. */
static bool slot_take(struct invoker *iv, const struct store_function *fn)
{
	pthread_mutex_lock(&iv->lock);
	bool ok = slot_free(fn->tenant, fn->name, fn->limits.max_concurrency, iv);
	if (ok)
		running_find(iv, fn->tenant, fn->name)->n++;
	pthread_mutex_unlock(&iv->lock);
	return ok;
}

/* Gives back a slot of tenant's function; queued work may fit now. */
static void slot_give(struct invoker *iv, const char *tenant, const char *function)
{
	pthread_mutex_lock(&iv->lock);
	struct running *r = running_find(iv, tenant, function);
	if (r && r->n > 0)
		r->n--;
	pthread_cond_broadcast(&iv->work);
	pthread_mutex_unlock(&iv->lock);
}

/* ---- one invocation ----------------------------------------------------------------------------- */

static void record_start(struct invoker *iv, const char *id, const struct fleet_route *route)
{
	pthread_mutex_lock(&iv->db->lock);
	int r = store_invocation_start(iv->db->store, id, route->host_id, route->vm, -1);
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0)
		log_warn("invocation_start_unrecorded id=%s err=%s", id, strerror(-r));
}

static void *dup_bytes(const void *p, size_t n)
{
	void *d = p && n ? malloc(n) : NULL;
	if (d)
		memcpy(d, p, n);
	return d;
}

static void pending_push(struct invoker *iv, struct pending *p)
{
	pthread_mutex_lock(&iv->lock);
	*iv->rec_tail = p;
	iv->rec_tail = &p->next;
	pthread_cond_signal(&iv->rec_work);
	pthread_mutex_unlock(&iv->lock);
}

/* Writes one pending item; the db lock is held. */
static int pending_write(struct invoker *iv, const struct pending *p)
{
	if (p->start)
		return store_invocation_create_running(iv->db->store, p->id, p->created_ms,
						       p->tenant, p->function, p->version, p->host,
						       p->vm);
	return store_invocation_finish(iv->db->store, p->id, &p->o);
}

/* Records a synchronous invocation that starts at once on route, through
 * the recorder thread like its outcome, so that neither write is on the
 * caller's path; the record is on disk milliseconds after it starts. An id
 * the caller chose is written here and now instead, so that one already
 * taken is refused before anything runs. Returns 0 with its id in ret_id,
 * -EEXIST, or -errno. */
static int record_started(struct invoker *iv, const struct store_function *fn, const char *id,
			  const struct fleet_route *route, char ret_id[STORE_ID_SIZE])
{
	if (id) {
		pthread_mutex_lock(&iv->db->lock);
		int r = store_invocation_create_running(iv->db->store, id, time_wall_ms(),
							fn->tenant, fn->name, fn->version,
							route->host_id, route->vm);
		pthread_mutex_unlock(&iv->db->lock);
		if (r == 0)
			snprintf(ret_id, STORE_ID_SIZE, "%s", id);
		return r;
	}
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = store_invocation_new_id(p->id);
	if (r < 0) {
		free(p);
		return r;
	}
	p->start = true;
	memcpy(p->tenant, fn->tenant, sizeof(p->tenant));
	memcpy(p->function, fn->name, sizeof(p->function));
	memcpy(p->host, route->host_id, sizeof(p->host));
	memcpy(p->vm, route->vm, sizeof(p->vm));
	p->version = fn->version;
	p->created_ms = time_wall_ms();
	memcpy(ret_id, p->id, STORE_ID_SIZE);
	pending_push(iv, p);
	return 0;
}

/* Hands an outcome to the recorder thread, which writes what arrives
 * together in one commit, off the caller's path: a synchronous caller gets
 * its answer without waiting for the disk. Readers of records call
 * invoker_flush first, so they always see the outcome. */
static void record_finish(struct invoker *iv, const char *id, const struct store_outcome *o)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (p) {
		snprintf(p->id, sizeof(p->id), "%s", id);
		p->o = *o;
		p->o.result = p->result = dup_bytes(o->result, o->result_len);
		p->o.log = p->log = dup_bytes(o->log, o->log_len);
		p->o.error = p->error = o->error ? strdup(o->error) : NULL;
		p->o.exception = p->exception = o->exception ? strdup(o->exception) : NULL;
		if ((o->result_len && !p->result) || (o->log_len && !p->log) ||
		    (o->error && !p->error) || (o->exception && !p->exception)) {
			pending_free(p);
			p = NULL;
		}
	}
	if (!p) {
		/* Out of memory: write it here and now instead. */
		pthread_mutex_lock(&iv->db->lock);
		int r = store_invocation_finish(iv->db->store, id, o);
		pthread_mutex_unlock(&iv->db->lock);
		if (r < 0)
			log_warn("invocation_finish_unrecorded id=%s err=%s", id, strerror(-r));
		return;
	}
	pending_push(iv, p);
}

static void *recorder_main(void *arg)
{
	struct invoker *iv = arg;
	pthread_mutex_lock(&iv->lock);
	for (;;) {
		if (!iv->rec_head) {
			if (iv->rec_stopping)
				break;
			pthread_cond_wait(&iv->rec_work, &iv->lock);
			continue;
		}
		struct pending *batch = iv->rec_head;
		iv->rec_head = NULL;
		iv->rec_tail = &iv->rec_head;
		iv->rec_writing = true;
		pthread_mutex_unlock(&iv->lock);
		pthread_mutex_lock(&iv->db->lock);
		int r = store_batch_begin(iv->db->store);
		for (struct pending *p = batch; r >= 0 && p; p = p->next) {
			int e = pending_write(iv, p);
			/* A record that finished already (a late answer after a
			 * restart failed it) keeps what it has. */
			if (e < 0 && e != -EALREADY && e != -ENOENT)
				r = e;
		}
		r = store_batch_end(iv->db->store, r);
		if (r < 0) {
			/* One by one, so that one bad write loses nothing else. */
			for (struct pending *p = batch; p; p = p->next) {
				int e = pending_write(iv, p);
				if (e < 0 && e != -EALREADY)
					log_warn("invocation_unrecorded id=%s err=%s", p->id,
						 strerror(-e));
			}
		}
		pthread_mutex_unlock(&iv->db->lock);
		while (batch) {
			struct pending *next = batch->next;
			pending_free(batch);
			batch = next;
		}
		pthread_mutex_lock(&iv->lock);
		iv->rec_writing = false;
		pthread_cond_broadcast(&iv->rec_done);
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

void invoker_flush(struct invoker *iv)
{
	pthread_mutex_lock(&iv->lock);
	while (iv->rec_head || iv->rec_writing)
		pthread_cond_wait(&iv->rec_done, &iv->lock);
	pthread_mutex_unlock(&iv->lock);
}

/* What became of one attempt at running an invocation. */
enum attempt {
	ATTEMPT_DONE,      /* out says how it ended, the record is final */
	ATTEMPT_HOST_LOST, /* the host went away mid-call: it may or may not have run */
};

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
static enum attempt attempt(struct invoker *iv, const struct store_function *fn, const char *id,
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
			record_start(iv, id, &route);
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
		record_finish(iv, id, &o);
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
		r = record_started(iv, fn, id, &route, out->id);
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
	} else if (attempt(iv, fn, out->id, -1, input, input_len, start_us, 0,
			   ready ? &route : NULL, out, &metric) == ATTEMPT_HOST_LOST) {
		/* Nothing to retry for a caller that waits: say what happened. */
		struct store_outcome o = { .status = STORE_ERROR,
					   .error = out->message,
					   .total_us = (int64_t)(time_now_us() - start_us) };
		record_finish(iv, out->id, &o);
	}
	out->total_us = (int64_t)(time_now_us() - start_us);
	metrics_inflight_add(iv->metrics, -1);
	metrics_invocation(iv->metrics, fn->tenant, metric, out->total_us);
	slot_give(iv, fn->tenant, fn->name);
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
		record_finish(iv, id, &o);
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
		record_finish(iv, id, &o);
		metrics_invocation(iv->metrics, inv->tenant, METRICS_FAILED, 0);
		return;
	}
	metrics_inflight_add(iv->metrics, 1);
	enum metrics_outcome metric;
	enum attempt a = attempt(iv, fn, id, inv->retries, inv->input, inv->input_len, start_us,
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
static void *worker_main(void *arg)
{
	struct invoker *iv = arg;
	pthread_mutex_lock(&iv->lock);
	while (!iv->stopping) {
		struct fair_item it;
		if (!fair_queue_pop(&iv->queue, slot_free, iv, &it)) {
			pthread_cond_wait(&iv->work, &iv->lock);
			continue;
		}
		running_find(iv, it.tenant, it.function)->n++;
		pthread_mutex_unlock(&iv->lock);
		metrics_queue_add(iv->metrics, -1);
		run_async(iv, it.id.id);
		slot_give(iv, it.tenant, it.function);
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
	int rr = pthread_create(&iv->recorder, NULL, recorder_main, iv);
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
		int r = pthread_create(&iv->workers[i], &attr, worker_main, iv);
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
	free(iv->running);
	free(iv->limits);
	pthread_cond_destroy(&iv->work);
	pthread_cond_destroy(&iv->rec_work);
	pthread_cond_destroy(&iv->rec_done);
	pthread_mutex_destroy(&iv->lock);
	free(iv);
}
