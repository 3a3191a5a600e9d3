#include "fleet.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "placement.h"

#define RECONCILE_EVERY_MS 200
#define REPLACE_BACKOFF_US (2 * 1000000ull) /* between failed placements of one VM */
#define ORPHAN_GRACE_US (10 * 1000000ull)    /* a VM unaccounted for this long is stopped */
#define PRUNE_EVERY_US (60 * 1000000ull)
#define CHECKPOINT_EVERY_US (1000000ull)
#define AGENT_CALL_MS 30000 /* calls other than VM starts and invocations */

struct fleet_host {
	char id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	char token[128];
	char boot_id[128];
	char accel[16];
	int cores;
	bool registered; /* since this controller started: its token is known */
	bool up, draining;
	uint64_t last_seen_us;
	_Atomic uint64_t gen; /* bumped whenever the host is lost or re-registers */
	json_t *vms;          /* the "vms" of its last status */
	char (*artifacts)[STORE_DIGEST_SIZE]; /* digests it holds (this generation) */
	size_t n_artifacts, cap_artifacts;
};

/* A tenant's VM as the fleet wants it. */
struct fleet_vm {
	char tenant[STORE_NAME_SIZE];
	struct fleet_host *host; /* where it runs; NULL: nowhere yet */
	uint64_t host_gen;
	uint64_t epoch;          /* counts placements */
	uint64_t ready_us;       /* when the current placement finished */
	int inflight;            /* routes of this epoch */
	bool wanted;             /* it ran once, so it is kept running */
	bool placing;            /* a placement thread works on it */
	struct fleet_host *placing_on;
	uint64_t attempts;       /* placements finished, failed or not */
	char reason[256];        /* why the last one failed */
	uint64_t retry_at_us;
	bool restart_wanted;     /* its mechanism or size changed */
	/* The previous placement while a move drains it. */
	struct fleet_host *old_host;
	uint64_t old_gen;
	int old_inflight;
	struct store_scaling placed_with;
};

struct fleet {
	struct fleet_config cfg;
	char artifacts_dir[1024];
	struct db *db;
	struct link_pool *links;
	struct metrics *metrics;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a placement finished, or stopping */
	struct fleet_host **hosts;
	size_t n_hosts, cap_hosts;
	struct fleet_vm **vms;
	size_t n_vms, cap_vms;
	int workers_running; /* placement and clean-up threads */
	bool stopping;
	pthread_t reconciler;
	bool reconciler_started;
	uint64_t last_prune_us;
	uint64_t last_checkpoint_us;
};

/* ---- helpers (the fleet lock is held) ----------------------------------------------------------- */

static struct fleet_host *host_find(struct fleet *f, const char *id)
{
	for (size_t i = 0; i < f->n_hosts; i++)
		if (!strcmp(f->hosts[i]->id, id))
			return f->hosts[i];
	return NULL;
}

static struct fleet_host *host_add(struct fleet *f, const char *id)
{
	if (f->n_hosts == f->cap_hosts) {
		size_t cap = f->cap_hosts ? f->cap_hosts * 2 : 8;
		struct fleet_host **h = realloc(f->hosts, cap * sizeof(*h));
		if (!h)
			return NULL;
		f->hosts = h;
		f->cap_hosts = cap;
	}
	struct fleet_host *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	snprintf(h->id, sizeof(h->id), "%s", id);
	f->hosts[f->n_hosts++] = h;
	return h;
}

static struct fleet_vm *vm_find(struct fleet *f, const char *tenant, bool create)
{
	for (size_t i = 0; i < f->n_vms; i++)
		if (!strcmp(f->vms[i]->tenant, tenant))
			return f->vms[i];
	if (!create)
		return NULL;
	if (f->n_vms == f->cap_vms) {
		size_t cap = f->cap_vms ? f->cap_vms * 2 : 16;
		struct fleet_vm **v = realloc(f->vms, cap * sizeof(*v));
		if (!v)
			return NULL;
		f->vms = v;
		f->cap_vms = cap;
	}
	struct fleet_vm *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	snprintf(v->tenant, sizeof(v->tenant), "%s", tenant);
	f->vms[f->n_vms++] = v;
	return v;
}

static int vm_count_on(struct fleet *f, const struct fleet_host *h, int *ret_reserved)
{
	int n = 0, reserved = 0;
	for (size_t i = 0; i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->host == h || v->placing_on == h) {
			n++;
			reserved += v->placed_with.min_workers;
		}
	}
	*ret_reserved = reserved;
	return n;
}

/* The host is gone as far as running things goes: every call to it aborts,
 * and its VMs are to be placed again. */
static void host_lost(struct fleet *f, struct fleet_host *h, const char *why)
{
	atomic_fetch_add(&h->gen, 1);
	h->n_artifacts = 0;
	for (size_t i = 0; i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->host == h) {
			v->host = NULL;
			v->inflight = 0;
			snprintf(v->reason, sizeof(v->reason), "host %s lost: %s", h->id, why);
			log_warn("vm_lost tenant=%s host=%s reason=\"%s\"", v->tenant, h->id, why);
		}
		if (v->old_host == h)
			v->old_host = NULL;
	}
	pthread_cond_broadcast(&f->changed);
}

static const char *host_state(const struct fleet_host *h)
{
	return !h->up ? "down" : h->draining ? "draining" : "up";
}

static json_t *host_json(struct fleet *f, const struct fleet_host *h)
{
	int used = 0;
	json_t *vms = json_array();
	for (size_t i = 0; h->vms && i < json_array_size(h->vms); i++) {
		json_t *v = json_array_get(h->vms, i);
		json_int_t workers = json_integer_value(json_object_get(v, "workers"));
		used += (int)workers;
		json_array_append_new(
			vms, json_pack("{s:O?, s:O?, s:I, s:O?, s:O?}", "tenant", json_object_get(v, "tenant"),
				       "state", json_object_get(v, "state"), "workers", workers, "max_workers",
				       json_object_get(v, "max_workers"), "inflight", json_object_get(v, "inflight")));
	}
	json_int_t ago = h->last_seen_us ? (json_int_t)((time_now_us() - h->last_seen_us) / 1000) : -1;
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:o}", "id", h->id, "address", h->address, "state",
			 host_state(h), "cores", h->cores, "cores_used", used, "last_seen_ms_ago", ago, "accel",
			 h->accel, "vms", vms);
}

/* ---- agent calls ---------------------------------------------------------------------------- */

static int agent_call(struct fleet *f, struct fleet_host *h, uint64_t gen, const char *method, const char *path,
		      const void *body, size_t len, const char *file, long timeout_ms, json_t **ret)
{
	char address[STORE_ADDRESS_SIZE], token[128];
	pthread_mutex_lock(&f->lock);
	memcpy(address, h->address, sizeof(address));
	memcpy(token, h->token, sizeof(token));
	pthread_mutex_unlock(&f->lock);
	struct link_call c = {
		.address = address, .token = token, .method = method, .path = path, .body = body,
		.body_len = len, .body_file = file, .timeout_ms = timeout_ms, .gen = &h->gen,
		.gen_expected = gen,
	};
	json_t *reply = NULL;
	int status = link_do(f->links, &c, &reply, NULL);
	if (ret)
		*ret = reply;
	else
		json_decref(reply);
	return status;
}

static const char *error_message(json_t *reply)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
	return m ? m : "no reason given";
}

/* ---- placement ------------------------------------------------------------------------------ */

struct job {
	struct fleet *f;
	char tenant[STORE_NAME_SIZE];
	/* For a stop job: the host and generation the VM to stop was on. */
	struct fleet_host *host;
	uint64_t gen;
};

static void job_done(struct fleet *f)
{
	pthread_mutex_lock(&f->lock);
	f->workers_running--;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

/* Starts fn on a detached thread that counts as a worker. The lock is held. */
static int job_spawn(struct fleet *f, void *(*fn)(void *), const char *tenant, struct fleet_host *h, uint64_t gen)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->f = f;
	snprintf(j->tenant, sizeof(j->tenant), "%s", tenant);
	j->host = h;
	j->gen = gen;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t t;
	int r = pthread_create(&t, &attr, fn, j);
	pthread_attr_destroy(&attr);
	if (r) {
		free(j);
		return -r;
	}
	f->workers_running++;
	return 0;
}

static void *stop_job(void *arg)
{
	struct job *j = arg;
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s", j->tenant);
	int st = agent_call(j->f, j->host, j->gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS, NULL);
	log_info("vm_stop tenant=%s host=%s status=%d", j->tenant, j->host->id, st);
	job_done(j->f);
	free(j);
	return NULL;
}

/* Ends a placement: on success the VM moves to host h. */
static void placement_end(struct fleet *f, struct fleet_vm *v, struct fleet_host *h, uint64_t gen, bool ok,
			  const char *reason)
{
	pthread_mutex_lock(&f->lock);
	v->placing = false;
	v->placing_on = NULL;
	v->attempts++;
	if (ok && atomic_load(&h->gen) != gen) {
		ok = false;
		reason = "the host was lost while the VM started";
	}
	if (ok) {
		if (v->host && v->host != h) {
			/* A move: the old VM serves what it has until it is stopped. */
			v->old_host = v->host;
			v->old_gen = v->host_gen;
			v->old_inflight = v->inflight;
		}
		v->host = h;
		v->host_gen = gen;
		v->epoch++;
		v->inflight = 0;
		v->wanted = true;
		v->reason[0] = '\0';
		v->ready_us = time_now_us();
		log_info("vm_placed tenant=%s host=%s epoch=%llu", v->tenant, h->id, (unsigned long long)v->epoch);
	} else {
		/* A VM waiting for room fails the same way every few seconds:
		 * say so once. */
		if (strcmp(v->reason, reason) != 0)
			log_warn("vm_placement_failed tenant=%s reason=\"%s\"", v->tenant, reason);
		snprintf(v->reason, sizeof(v->reason), "%s", reason);
		v->retry_at_us = time_now_us() + REPLACE_BACKOFF_US;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

static void *place_job(void *arg)
{
	struct job *j = arg;
	struct fleet *f = j->f;
	struct store_tenant t;
	pthread_mutex_lock(&f->db->lock);
	int err = store_tenant_get(f->db->store, j->tenant, &t);
	pthread_mutex_unlock(&f->db->lock);

	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = vm_find(f, j->tenant, false);
	struct fleet_host *h = NULL, *stop_first = NULL;
	uint64_t gen = 0, stop_gen = 0;
	char reason[256] = "";
	if (err < 0) {
		snprintf(reason, sizeof(reason), "tenant %s: %s", j->tenant, strerror(-err));
	} else {
		/* A restart stops the VM where it is before placing it anew. */
		if (v->restart_wanted && v->host) {
			stop_first = v->host;
			stop_gen = v->host_gen;
			v->host = NULL;
			v->restart_wanted = false;
		}
		struct placement_host *ph = calloc(f->n_hosts ? f->n_hosts : 1, sizeof(*ph));
		for (size_t i = 0; ph && i < f->n_hosts; i++) {
			struct fleet_host *x = f->hosts[i];
			ph[i] = (struct placement_host){ x->id, x->up && x->registered, x->draining, x->cores, 0, 0 };
			ph[i].vms = vm_count_on(f, x, &ph[i].reserved);
		}
		/* A move never lands where the VM already is. */
		const char *exclude = v->host ? v->host->id : NULL;
		int i = ph ? placement_choose(ph, f->n_hosts, t.scaling.min_workers, exclude) : -ENOMEM;
		free(ph);
		if (i < 0) {
			snprintf(reason, sizeof(reason), "no host has room for tenant %s (%d free cores needed)",
				 j->tenant, t.scaling.min_workers);
		} else {
			h = f->hosts[i];
			gen = atomic_load(&h->gen);
			v->placing_on = h;
			v->placed_with = t.scaling;
		}
	}
	pthread_mutex_unlock(&f->lock);

	if (stop_first) {
		char path[128];
		snprintf(path, sizeof(path), "/v1/vms/%s", j->tenant);
		agent_call(f, stop_first, stop_gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS, NULL);
	}
	if (!h) {
		placement_end(f, v, NULL, 0, false, reason);
		goto out;
	}
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s", j->tenant);
	/* A VM left there dead, or from an earlier placement, goes first. */
	json_t *reply = NULL;
	int st = agent_call(f, h, gen, "GET", path, NULL, 0, NULL, AGENT_CALL_MS, &reply);
	const char *state = json_string_value(json_object_get(reply, "state"));
	bool reuse = st == 200 && state && !strcmp(state, "ready");
	if (st == 200 && !reuse)
		agent_call(f, h, gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS, NULL);
	json_decref(reply);
	reply = NULL;
	if (reuse) {
		placement_end(f, v, h, gen, true, NULL);
		goto out;
	}
	json_t *body = json_pack("{s:s, s:i, s:i, s:s, s:i}", "mechanism", t.scaling.mechanism, "max_workers",
				 t.scaling.max_workers, "min_workers", t.scaling.min_workers, "policy",
				 t.scaling.policy, "memory_mib", f->cfg.vm_memory_mib);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	log_info("vm_start tenant=%s host=%s mechanism=%s max=%d", j->tenant, h->id, t.scaling.mechanism,
		 t.scaling.max_workers);
	metrics_vm_boot(f->metrics);
	st = text ? agent_call(f, h, gen, "PUT", path, text, strlen(text), NULL, f->cfg.boot_timeout_ms, &reply)
		  : -ENOMEM;
	free(text);
	if (st == 201) {
		placement_end(f, v, h, gen, true, NULL);
	} else {
		if (st < 0)
			snprintf(reason, sizeof(reason), "host %s: %s", h->id, strerror(-st));
		else
			snprintf(reason, sizeof(reason), "host %s answered %d: %s", h->id, st, error_message(reply));
		placement_end(f, v, h, gen, false, reason);
	}
	json_decref(reply);
out:
	job_done(f);
	free(j);
	return NULL;
}

/* Starts placing v unless that is under way. The lock is held. */
static int placement_start(struct fleet *f, struct fleet_vm *v)
{
	if (v->placing)
		return 0;
	int r = job_spawn(f, place_job, v->tenant, NULL, 0);
	if (r == 0)
		v->placing = true;
	return r;
}

/* ---- routes --------------------------------------------------------------------------------- */

int fleet_route_acquire(struct fleet *f, const char *tenant, uint64_t deadline_us, struct fleet_route *ret,
			char *why, size_t why_size)
{
	int r = 0;
	bool started = false;
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = vm_find(f, tenant, true);
	if (!v) {
		pthread_mutex_unlock(&f->lock);
		return -ENOMEM;
	}
	uint64_t attempts = v->attempts;
	for (;;) {
		if (f->stopping) {
			r = -ECANCELED;
			snprintf(why, why_size, "the controller is stopping");
			break;
		}
		/* A VM waiting for a restart keeps serving until it is idle
		 * and the reconciler restarts it. */
		if (v->host && atomic_load(&v->host->gen) == v->host_gen) {
			struct fleet_host *h = v->host;
			memset(ret, 0, sizeof(*ret));
			snprintf(ret->tenant, sizeof(ret->tenant), "%s", tenant);
			memcpy(ret->host_id, h->id, sizeof(ret->host_id));
			memcpy(ret->address, h->address, sizeof(ret->address));
			memcpy(ret->token, h->token, sizeof(ret->token));
			ret->gen = &h->gen;
			ret->gen_expected = v->host_gen;
			ret->epoch = v->epoch;
			ret->placed = started;
			ret->host = h;
			v->inflight++;
			break;
		}
		if (deadline_us == 0) {
			r = -EAGAIN;
			break;
		}
		if (v->attempts > attempts && !v->placing) {
			/* A placement ended since this caller came, and failed. */
			r = strstr(v->reason, "no host has room") ? -ENOSPC : -EIO;
			snprintf(why, why_size, "%s", v->reason);
			break;
		}
		if (!v->placing) {
			if ((r = placement_start(f, v)) < 0) {
				snprintf(why, why_size, "cannot start a placement: %s", strerror(-r));
				break;
			}
			started = true;
		}
		struct timespec ts;
		uint64_t now = time_now_us();
		if (now >= deadline_us) {
			r = -ETIMEDOUT;
			snprintf(why, why_size, "the VM of tenant %s was not ready in time", tenant);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t wait_us = deadline_us - now;
		ts.tv_sec += (time_t)(wait_us / 1000000);
		ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->changed, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

void fleet_route_release(struct fleet *f, struct fleet_route *r)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = vm_find(f, r->tenant, false);
	if (v && r->epoch == v->epoch && v->inflight > 0)
		v->inflight--;
	else if (v && v->old_host == r->host && v->old_inflight > 0)
		v->old_inflight--;
	pthread_mutex_unlock(&f->lock);
}

void fleet_vm_lost(struct fleet *f, struct fleet_route *r, const char *why)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = vm_find(f, r->tenant, false);
	if (v && v->epoch == r->epoch && v->host == r->host) {
		v->host = NULL;
		snprintf(v->reason, sizeof(v->reason), "%s", why);
		log_warn("vm_lost tenant=%s host=%s reason=\"%s\"", v->tenant, r->host_id, why);
	}
	pthread_mutex_unlock(&f->lock);
}

void fleet_host_unreachable(struct fleet *f, struct fleet_route *r, const char *why)
{
	struct fleet_host *h = r->host;
	pthread_mutex_lock(&f->lock);
	bool lost = h->up && atomic_load(&h->gen) == r->gen_expected;
	if (lost) {
		h->up = false;
		log_warn("host_down id=%s reason=\"%s\"", h->id, why);
		host_lost(f, h, why);
	}
	pthread_mutex_unlock(&f->lock);
	if (lost) {
		pthread_mutex_lock(&f->db->lock);
		store_host_set_down(f->db->store, h->id, true);
		pthread_mutex_unlock(&f->db->lock);
	}
}

static bool artifact_known(struct fleet_host *h, const char *digest)
{
	for (size_t i = 0; i < h->n_artifacts; i++)
		if (!strcmp(h->artifacts[i], digest))
			return true;
	return false;
}

int fleet_artifact_ensure(struct fleet *f, struct fleet_route *r, const char *digest, uint64_t size)
{
	struct fleet_host *h = r->host;
	pthread_mutex_lock(&f->lock);
	bool known = atomic_load(&h->gen) == r->gen_expected && artifact_known(h, digest);
	pthread_mutex_unlock(&f->lock);
	if (known)
		return 0;
	char path[128], file[1200];
	snprintf(path, sizeof(path), "/v1/artifacts/%s", digest);
	snprintf(file, sizeof(file), "%s/%s", f->artifacts_dir, digest);
	/* Uploads are idempotent, so two callers racing here both succeed. */
	json_t *reply = NULL;
	int st = agent_call(f, h, r->gen_expected, "GET", path, NULL, 0, NULL, AGENT_CALL_MS, NULL);
	if (st != 200)
		st = agent_call(f, h, r->gen_expected, "PUT", path, NULL, 0, file, 600000, &reply);
	if (st == 200 || st == 201) {
		pthread_mutex_lock(&f->lock);
		if (atomic_load(&h->gen) == r->gen_expected && !artifact_known(h, digest)) {
			if (h->n_artifacts == h->cap_artifacts) {
				size_t cap = h->cap_artifacts ? h->cap_artifacts * 2 : 16;
				void *a = realloc(h->artifacts, cap * sizeof(*h->artifacts));
				if (a) {
					h->artifacts = a;
					h->cap_artifacts = cap;
				}
			}
			if (h->n_artifacts < h->cap_artifacts)
				memcpy(h->artifacts[h->n_artifacts++], digest, STORE_DIGEST_SIZE);
		}
		pthread_mutex_unlock(&f->lock);
		log_info("artifact_pushed host=%s digest=%s size=%llu", h->id, digest, (unsigned long long)size);
		json_decref(reply);
		return 0;
	}
	log_warn("artifact_push_failed host=%s digest=%s status=%d message=\"%s\"", h->id, digest, st,
		 st > 0 ? error_message(reply) : strerror(-st));
	json_decref(reply);
	return st < 0 ? st : -EIO;
}

void fleet_artifact_forget(struct fleet *f, struct fleet_route *r, const char *digest)
{
	struct fleet_host *h = r->host;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < h->n_artifacts; i++)
		if (!strcmp(h->artifacts[i], digest)) {
			memmove(h->artifacts[i], h->artifacts[h->n_artifacts - 1], STORE_DIGEST_SIZE);
			h->n_artifacts--;
			break;
		}
	pthread_mutex_unlock(&f->lock);
}

/* ---- registration and heartbeats ------------------------------------------------------------ */

static bool id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n >= STORE_NAME_SIZE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool printable_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Takes what a status says: the VMs, and where a tenant has no VM placed,
 * adopts a ready one found here (after a controller restart). The lock is
 * held. */
static void take_status(struct fleet *f, struct fleet_host *h, json_t *status)
{
	json_t *vms = json_object_get(status, "vms");
	if (!json_is_array(vms))
		return;
	json_decref(h->vms);
	h->vms = json_incref(vms);
	const char *accel = json_string_value(json_object_get(status, "accel"));
	if (accel)
		snprintf(h->accel, sizeof(h->accel), "%s", accel);
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm) {
		const char *tenant = json_string_value(json_object_get(vm, "tenant"));
		const char *state = json_string_value(json_object_get(vm, "state"));
		if (!tenant || !state || strcmp(state, "ready"))
			continue;
		struct fleet_vm *v = vm_find(f, tenant, true);
		if (!v || v->host || v->placing || !h->up || h->draining)
			continue;
		v->host = h;
		v->host_gen = atomic_load(&h->gen);
		v->epoch++;
		v->inflight = 0;
		v->wanted = true;
		v->ready_us = time_now_us();
		/* What it was started with, so a later scaling change knows
		 * whether it needs a restart. */
		json_t *size = json_object_get(vm, "max_workers_limit");
		v->placed_with.min_workers = (int)json_integer_value(json_object_get(vm, "min_workers"));
		v->placed_with.max_workers =
			(int)json_integer_value(size ? size : json_object_get(vm, "max_workers"));
		snprintf(v->placed_with.mechanism, sizeof(v->placed_with.mechanism), "%s",
			 json_string_value(json_object_get(vm, "mechanism")) ?: "");
		snprintf(v->placed_with.policy, sizeof(v->placed_with.policy), "%s",
			 json_string_value(json_object_get(vm, "policy")) ?: "");
		log_info("vm_adopted tenant=%s host=%s", tenant, h->id);
	}
	pthread_cond_broadcast(&f->changed);
}

int fleet_host_register(struct fleet *f, json_t *body, json_t **ret, char *err, size_t err_size)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	const char *address = json_string_value(json_object_get(body, "address"));
	const char *token = json_string_value(json_object_get(body, "token"));
	const char *boot_id = json_string_value(json_object_get(body, "boot_id"));
	json_t *cores = json_object_get(body, "cores");
	json_t *status = json_object_get(body, "status");
	if (!id_ok(id)) {
		snprintf(err, err_size, "id must match [A-Za-z0-9_.-]{1,63}");
		return -EINVAL;
	}
	if (!address || strncmp(address, "http://", 7) != 0 || !printable_ok(address, STORE_ADDRESS_SIZE)) {
		snprintf(err, err_size, "address must be an http:// URL");
		return -EINVAL;
	}
	if (!json_is_integer(cores) || json_integer_value(cores) < 1 || json_integer_value(cores) > 4096) {
		snprintf(err, err_size, "cores must be an integer in 1..4096");
		return -EINVAL;
	}
	if ((token && !printable_ok(token, 128)) || !printable_ok(boot_id, 128)) {
		snprintf(err, err_size, "token and boot_id must be printable strings under 128 bytes");
		return -EINVAL;
	}
	if (status && !json_is_object(status)) {
		snprintf(err, err_size, "status must be an object");
		return -EINVAL;
	}
	pthread_mutex_lock(&f->db->lock);
	int r = store_host_register(f->db->store, id, address, (int)json_integer_value(cores));
	struct store_host sh;
	if (r == 0)
		r = store_host_get(f->db->store, id, &sh);
	pthread_mutex_unlock(&f->db->lock);
	if (r < 0) {
		snprintf(err, err_size, "cannot record the host: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = host_find(f, id);
	if (!h)
		h = host_add(f, id);
	if (!h) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	if (h->registered && strcmp(h->boot_id, boot_id) != 0)
		host_lost(f, h, "the agent restarted");
	snprintf(h->address, sizeof(h->address), "%s", address);
	snprintf(h->token, sizeof(h->token), "%s", token ? token : "");
	snprintf(h->boot_id, sizeof(h->boot_id), "%s", boot_id);
	h->cores = (int)json_integer_value(cores);
	h->draining = sh.draining;
	h->registered = true;
	h->up = true;
	h->last_seen_us = time_now_us();
	if (status)
		take_status(f, h, status);
	log_info("host_registered id=%s address=%s cores=%d", id, address, h->cores);
	*ret = host_json(f, h);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int fleet_host_heartbeat(struct fleet *f, const char *id, json_t *body)
{
	const char *boot_id = json_string_value(json_object_get(body, "boot_id"));
	json_t *status = json_object_get(body, "status");
	if (!boot_id || (status && !json_is_object(status)))
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = host_find(f, id);
	int r = 0;
	bool came_back = false;
	if (!h || !h->registered) {
		r = -ENOENT;
	} else if (strcmp(h->boot_id, boot_id) != 0) {
		r = -ESTALE;
	} else {
		came_back = !h->up;
		h->up = true;
		h->last_seen_us = time_now_us();
		if (status)
			take_status(f, h, status);
	}
	pthread_mutex_unlock(&f->lock);
	if (came_back) {
		log_info("host_up id=%s", id);
		pthread_mutex_lock(&f->db->lock);
		store_host_set_down(f->db->store, id, false);
		pthread_mutex_unlock(&f->db->lock);
	}
	return r;
}

int fleet_host_drain(struct fleet *f, const char *id, bool on, json_t **ret)
{
	pthread_mutex_lock(&f->db->lock);
	int r = store_host_set_draining(f->db->store, id, on);
	pthread_mutex_unlock(&f->db->lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = host_find(f, id);
	if (!h)
		h = host_add(f, id);
	if (h) {
		h->draining = on;
		*ret = host_json(f, h);
	}
	pthread_mutex_unlock(&f->lock);
	log_info("host_drain id=%s on=%d", id, on);
	return h ? 0 : -ENOMEM;
}

json_t *fleet_hosts_json(struct fleet *f)
{
	json_t *a = json_array();
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_hosts; i++)
		json_array_append_new(a, host_json(f, f->hosts[i]));
	pthread_mutex_unlock(&f->lock);
	return json_pack("{s:o}", "hosts", a);
}

/* The host's own report of tenant's VM. The lock is held. */
static json_t *reported_vm(struct fleet_host *h, const char *tenant)
{
	size_t i;
	json_t *vm;
	json_array_foreach(h->vms, i, vm) {
		const char *t = json_string_value(json_object_get(vm, "tenant"));
		if (t && !strcmp(t, tenant))
			return vm;
	}
	return NULL;
}

json_t *fleet_tenant_vm_json(struct fleet *f, const char *tenant)
{
	json_t *o = json_null();
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = vm_find(f, tenant, false);
	if (v && v->host) {
		json_t *vm = reported_vm(v->host, tenant);
		o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:O?, s:O?, s:I}", "host", v->host->id, "state",
			      json_string_value(json_object_get(vm, "state")) ?: "booting", "workers",
			      json_integer_value(json_object_get(vm, "workers")), "min_workers",
			      json_integer_value(json_object_get(vm, "min_workers")), "max_workers",
			      json_integer_value(json_object_get(vm, "max_workers")), "mechanism",
			      json_object_get(vm, "mechanism"), "policy", json_object_get(vm, "policy"),
			      "inflight", (json_int_t)v->inflight);
	} else if (v && (v->placing || v->reason[0])) {
		o = json_pack("{s:n, s:s, s:s}", "host", "state", v->placing ? "placing" : "none", "reason",
			      v->reason);
	}
	pthread_mutex_unlock(&f->lock);
	return o;
}

void fleet_tenant_scaling(struct fleet *f, const char *tenant, const struct store_scaling *sc)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = vm_find(f, tenant, false);
	struct fleet_host *h = v ? v->host : NULL;
	uint64_t gen = v ? v->host_gen : 0;
	bool restart = v && h &&
		       (strcmp(v->placed_with.mechanism, sc->mechanism) != 0 ||
			sc->max_workers > v->placed_with.max_workers);
	if (v && restart) {
		v->restart_wanted = true;
		log_info("vm_restart_wanted tenant=%s mechanism=%s max=%d", tenant, sc->mechanism, sc->max_workers);
	}
	pthread_mutex_unlock(&f->lock);
	if (!h || restart)
		return;
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s/scaling", tenant);
	json_t *body = json_pack("{s:i, s:i, s:s}", "min_workers", sc->min_workers, "max_workers", sc->max_workers,
				 "policy", sc->policy);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	json_t *reply = NULL;
	int st = text ? agent_call(f, h, gen, "PUT", path, text, strlen(text), NULL, AGENT_CALL_MS, &reply) : -ENOMEM;
	free(text);
	if (st != 200)
		log_warn("vm_scaling_failed tenant=%s host=%s status=%d message=\"%s\"", tenant, h->id, st,
			 st > 0 ? error_message(reply) : strerror(-st));
	else {
		pthread_mutex_lock(&f->lock);
		/* The VM's size (max_workers) and mechanism stay what it was
		 * started with. */
		if (v->host == h) {
			v->placed_with.min_workers = sc->min_workers;
			memcpy(v->placed_with.policy, sc->policy, sizeof(v->placed_with.policy));
		}
		pthread_mutex_unlock(&f->lock);
	}
	json_decref(reply);
}

int fleet_metrics(struct fleet *f, struct buf *out)
{
	int r = 0, up = 0, down = 0, draining = 0;
	pthread_mutex_lock(&f->lock);
	r |= buf_printf(out, "# HELP ditto_worker_vcpus Active worker vCPUs of each tenant's VM.\n"
			     "# TYPE ditto_worker_vcpus gauge\n");
	for (size_t i = 0; i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		json_t *vm = v->host ? reported_vm(v->host, v->tenant) : NULL;
		r |= buf_printf(out, "ditto_worker_vcpus{tenant=\"%s\"} %lld\n", v->tenant,
				(long long)json_integer_value(json_object_get(vm, "workers")));
	}
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *h = f->hosts[i];
		if (!h->up)
			down++;
		else if (h->draining)
			draining++;
		else
			up++;
	}
	pthread_mutex_unlock(&f->lock);
	r |= buf_printf(out,
			"# HELP ditto_hosts Host agents by state.\n# TYPE ditto_hosts gauge\n"
			"ditto_hosts{state=\"up\"} %d\nditto_hosts{state=\"down\"} %d\n"
			"ditto_hosts{state=\"draining\"} %d\n",
			up, down, draining);
	return r ? -ENOMEM : 0;
}

/* ---- the reconciler ------------------------------------------------------------------------- */

/* One pass; the lock is held. */
static void reconcile(struct fleet *f, uint64_t now)
{
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *h = f->hosts[i];
		if (h->up && h->registered && now - h->last_seen_us > (uint64_t)f->cfg.host_timeout_ms * 1000) {
			h->up = false;
			log_warn("host_down id=%s silent_ms=%llu", h->id,
				 (unsigned long long)((now - h->last_seen_us) / 1000));
			host_lost(f, h, "no heartbeat");
			/* The store write waits for the db lock; take it outside ours. */
			pthread_mutex_unlock(&f->lock);
			pthread_mutex_lock(&f->db->lock);
			store_host_set_down(f->db->store, h->id, true);
			pthread_mutex_unlock(&f->db->lock);
			pthread_mutex_lock(&f->lock);
		}
	}
	for (size_t i = 0; i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->placing)
			continue;
		/* A VM its host reports dead, or no longer reports at all some
		 * time after it was placed, is placed again. */
		if (v->host && v->host->up) {
			json_t *vm = reported_vm(v->host, v->tenant);
			const char *state = json_string_value(json_object_get(vm, "state"));
			bool dead = state && !strcmp(state, "dead");
			bool missing = !vm && now - v->ready_us > ORPHAN_GRACE_US;
			if (dead || missing) {
				snprintf(v->reason, sizeof(v->reason), "the VM on %s %s", v->host->id,
					 dead ? "died" : "disappeared");
				log_warn("vm_lost tenant=%s host=%s reason=\"%s\"", v->tenant, v->host->id, v->reason);
				v->host = NULL;
			}
		}
		bool move = v->host && v->host->draining;
		bool restart = v->host && v->restart_wanted && v->inflight == 0;
		bool replace = !v->host && v->wanted;
		if ((move || restart || replace) && now >= v->retry_at_us && !f->stopping)
			placement_start(f, v);
		if (v->old_host && v->old_inflight <= 0) {
			job_spawn(f, stop_job, v->tenant, v->old_host, v->old_gen);
			v->old_host = NULL;
		}
	}
	/* VMs a host runs that no placement accounts for (left behind by a
	 * host that came back, or by a controller restart) are stopped. */
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *h = f->hosts[i];
		size_t k;
		json_t *vm;
		if (!h->up || !h->registered || now - h->last_seen_us > 2000000)
			continue;
		json_array_foreach(h->vms, k, vm) {
			const char *tenant = json_string_value(json_object_get(vm, "tenant"));
			const char *state = json_string_value(json_object_get(vm, "state"));
			if (!tenant || (state && (!strcmp(state, "stopping") || !strcmp(state, "stopped"))))
				continue;
			struct fleet_vm *v = vm_find(f, tenant, false);
			if (v && (v->host == h || v->old_host == h || v->placing_on == h ||
				  now - v->ready_us < ORPHAN_GRACE_US))
				continue;
			log_info("vm_orphan tenant=%s host=%s", tenant, h->id);
			job_spawn(f, stop_job, tenant, h, atomic_load(&h->gen));
			/* Until the next heartbeat shows it gone, do not ask twice. */
			json_object_set_new(vm, "state", json_string("stopping"));
		}
	}
}

static void *reconciler_main(void *arg)
{
	struct fleet *f = arg;
	pthread_mutex_lock(&f->lock);
	while (!f->stopping) {
		uint64_t now = time_now_us();
		reconcile(f, now);
		if (f->cfg.checkpoint && now - f->last_checkpoint_us > CHECKPOINT_EVERY_US) {
			/* Its own handle: the fsyncs of a checkpoint never hold
			 * up the requests that share db.lock. */
			f->last_checkpoint_us = now;
			pthread_mutex_unlock(&f->lock);
			int r = store_checkpoint(f->cfg.checkpoint);
			if (r < 0)
				log_warn("checkpoint_failed err=%s", strerror(-r));
			pthread_mutex_lock(&f->lock);
		}
		if (now - f->last_prune_us > PRUNE_EVERY_US && (f->cfg.retain || f->cfg.retain_days)) {
			f->last_prune_us = now;
			pthread_mutex_unlock(&f->lock);
			struct timespec wall;
			clock_gettime(CLOCK_REALTIME, &wall);
			int64_t now_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
			int64_t before = f->cfg.retain_days ? now_ms - (int64_t)f->cfg.retain_days * 86400000 : 0;
			size_t deleted = 0;
			pthread_mutex_lock(&f->db->lock);
			int r = store_invocations_prune(f->db->store, before, f->cfg.retain, &deleted);
			pthread_mutex_unlock(&f->db->lock);
			if (r < 0)
				log_warn("prune_failed err=%s", strerror(-r));
			else if (deleted)
				log_info("invocations_pruned count=%zu", deleted);
			pthread_mutex_lock(&f->lock);
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += RECONCILE_EVERY_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->changed, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int fleet_new(const struct fleet_config *cfg, struct db *db, struct link_pool *links, struct metrics *metrics,
	      struct fleet **ret)
{
	struct fleet *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->cfg = *cfg;
	snprintf(f->artifacts_dir, sizeof(f->artifacts_dir), "%s", cfg->artifacts_dir);
	f->cfg.artifacts_dir = f->artifacts_dir;
	f->db = db;
	f->links = links;
	f->metrics = metrics;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->changed, &ca);
	pthread_condattr_destroy(&ca);
	/* Hosts known from earlier runs are shown, down, until they register. */
	struct store_host *hs = NULL;
	size_t n = 0;
	pthread_mutex_lock(&db->lock);
	int r = store_host_list(db->store, &hs, &n);
	pthread_mutex_unlock(&db->lock);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct fleet_host *h = host_add(f, hs[i].id);
		if (h) {
			snprintf(h->address, sizeof(h->address), "%s", hs[i].address);
			h->cores = hs[i].cores;
			h->draining = hs[i].draining;
		}
	}
	free(hs);
	if ((r = pthread_create(&f->reconciler, NULL, reconciler_main, f)) != 0) {
		fleet_free(f);
		return -r;
	}
	f->reconciler_started = true;
	*ret = f;
	return 0;
}

void fleet_stop_calls(struct fleet *f)
{
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	for (size_t i = 0; i < f->n_hosts; i++)
		atomic_fetch_add(&f->hosts[i]->gen, 1);
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

bool fleet_stopping(struct fleet *f)
{
	pthread_mutex_lock(&f->lock);
	bool s = f->stopping;
	pthread_mutex_unlock(&f->lock);
	return s;
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	fleet_stop_calls(f);
	if (f->reconciler_started)
		pthread_join(f->reconciler, NULL);
	pthread_mutex_lock(&f->lock);
	while (f->workers_running > 0)
		pthread_cond_wait(&f->changed, &f->lock);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < f->n_hosts; i++) {
		json_decref(f->hosts[i]->vms);
		free(f->hosts[i]->artifacts);
		free(f->hosts[i]);
	}
	for (size_t i = 0; i < f->n_vms; i++)
		free(f->vms[i]);
	free(f->hosts);
	free(f->vms);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
