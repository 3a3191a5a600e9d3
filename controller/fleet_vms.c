#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "placement.h"
#include "util.h"

#define REPLACE_BACKOFF_US (2 * 1000000ull) /* between failed placements of one VM */
#define ORPHAN_GRACE_US (10 * 1000000ull)   /* a VM unaccounted for this long is stopped */

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

static const char *error_message(json_t *reply)
{
	const char *m = json_string_value(
		json_object_get(json_object_get(reply, "error"), "message"));
	return m ? m : "no reason given";
}

/* ---- placement ------------------------------------------------------------------------------ */

/* Ends a placement: on success (err 0) the VM moves to host h; otherwise
 * err (-ENOSPC: no host had room, or -EIO) and reason say why not. */
static void placement_end(struct fleet *f, struct fleet_vm *v, struct fleet_host *h, uint64_t gen,
			  int err, const char *reason)
{
	bool ok = err == 0;
	pthread_mutex_lock(&f->lock);
	v->placing = false;
	v->placing_on = NULL;
	v->attempts++;
	if (ok && atomic_load(&h->gen) != gen) {
		ok = false;
		err = -EIO;
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
		v->err = 0;
		v->ready_us = time_now_us();
		log_info("vm_placed tenant=%s host=%s epoch=%llu", v->tenant, h->id,
			 (unsigned long long)v->epoch);
	} else {
		/* A VM waiting for room fails the same way every few seconds:
		 * say so once. */
		if (strcmp(v->reason, reason) != 0)
			log_warn("vm_placement_failed tenant=%s reason=\"%s\"", v->tenant, reason);
		snprintf(v->reason, sizeof(v->reason), "%s", reason);
		v->err = err;
		v->retry_at_us = time_now_us() + REPLACE_BACKOFF_US;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

/* Chooses the host for v, which needs sc->min_workers free cores, among
 * those known; the lock is held. Returns it, or NULL when none has room. */
static struct fleet_host *host_choose(struct fleet *f, const struct fleet_vm *v,
				      const struct store_scaling *sc)
{
	struct placement_host *ph = calloc(f->n_hosts ? f->n_hosts : 1, sizeof(*ph));
	if (!ph)
		return NULL;
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *x = f->hosts[i];
		ph[i] = (struct placement_host){
			.id = x->id,
			.up = x->up && x->registered,
			.draining = x->draining,
			.cores = x->cores,
		};
		ph[i].vms = vm_count_on(f, x, &ph[i].reserved);
	}
	/* A move never lands where the VM already is. */
	int i = placement_choose(ph, f->n_hosts, sc->min_workers, v->host ? v->host->id : NULL);
	free(ph);
	return i < 0 ? NULL : f->hosts[i];
}

/* Starts tenant's VM on h (generation gen) as sc says, or takes the ready
 * one already there. Returns 0, or -EIO with what went wrong in reason. */
static int vm_start_on(struct fleet *f, const char *tenant, struct fleet_host *h, uint64_t gen,
		       const struct store_scaling *sc, char *reason, size_t reason_size)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s", tenant);
	/* A VM left there dead, or from an earlier placement, goes first. */
	json_t *reply = NULL;
	int st = fl_agent_call(f, h, gen, "GET", path, NULL, 0, NULL, AGENT_CALL_MS, &reply);
	const char *state = json_string_value(json_object_get(reply, "state"));
	bool reuse = st == 200 && state && !strcmp(state, "ready");
	if (st == 200 && !reuse)
		fl_agent_call(f, h, gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS, NULL);
	json_decref(reply);
	reply = NULL;
	if (reuse)
		return 0;
	json_t *body = json_pack("{s:s, s:i, s:i, s:s, s:i}", "mechanism", sc->mechanism,
				 "max_workers", sc->max_workers, "min_workers", sc->min_workers,
				 "policy", sc->policy, "memory_mib", f->cfg.vm_memory_mib);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	log_info("vm_start tenant=%s host=%s mechanism=%s max=%d", tenant, h->id, sc->mechanism,
		 sc->max_workers);
	metrics_vm_boot(f->metrics);
	st = text ? fl_agent_call(f, h, gen, "PUT", path, text, strlen(text), NULL,
				  f->cfg.boot_timeout_ms, &reply)
		  : -ENOMEM;
	free(text);
	if (st < 0)
		snprintf(reason, reason_size, "host %s: %s", h->id, strerror(-st));
	else if (st != 201)
		snprintf(reason, reason_size, "host %s answered %d: %s", h->id, st,
			 error_message(reply));
	json_decref(reply);
	return st == 201 ? 0 : -EIO;
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
	struct fleet_vm *v = fl_vm_find(f, j->tenant, false);
	struct fleet_host *h = NULL, *stop_first = NULL;
	uint64_t gen = 0, stop_gen = 0;
	char reason[256] = "";
	int fail = -EIO;
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
		h = host_choose(f, v, &t.scaling);
		if (!h) {
			fail = -ENOSPC;
			snprintf(reason, sizeof(reason),
				 "no host has room for tenant %s (%d free cores needed)", j->tenant,
				 t.scaling.min_workers);
		} else {
			gen = atomic_load(&h->gen);
			v->placing_on = h;
			v->placed_with = t.scaling;
		}
	}
	pthread_mutex_unlock(&f->lock);

	if (stop_first) {
		char path[128];
		snprintf(path, sizeof(path), "/v1/vms/%s", j->tenant);
		fl_agent_call(f, stop_first, stop_gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS,
			      NULL);
	}
	if (h)
		fail = vm_start_on(f, j->tenant, h, gen, &t.scaling, reason, sizeof(reason));
	placement_end(f, v, h, gen, fail, fail ? reason : NULL);
	fl_job_done(f);
	free(j);
	return NULL;
}

/* Starts placing v unless that is under way. Returns 0 or -errno. */
static int placement_start(struct fleet *f, struct fleet_vm *v)
{
	if (v->placing)
		return 0;
	int r = fl_job_spawn(f, place_job, v->tenant, NULL, 0);
	if (r == 0)
		v->placing = true;
	return r;
}

/* ---- routes --------------------------------------------------------------------------------- */

int fleet_route_acquire(struct fleet *f, const char *tenant, uint64_t deadline_us,
			struct fleet_route *ret, char *why, size_t why_size)
{
	int r = 0;
	bool started = false;
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, tenant, true);
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
			r = v->err < 0 ? v->err : -EIO;
			snprintf(why, why_size, "%s", v->reason);
			break;
		}
		if (!v->placing) {
			if ((r = placement_start(f, v)) < 0) {
				snprintf(why, why_size, "cannot start a placement: %s",
					 strerror(-r));
				break;
			}
			started = true;
		}
		uint64_t now = time_now_us();
		if (now >= deadline_us) {
			r = -ETIMEDOUT;
			snprintf(why, why_size, "the VM of tenant %s was not ready in time",
				 tenant);
			break;
		}
		fl_wait_changed(f, deadline_us - now);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

void fleet_route_release(struct fleet *f, struct fleet_route *r)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, r->tenant, false);
	if (v && r->epoch == v->epoch && v->inflight > 0)
		v->inflight--;
	else if (v && v->old_host == r->host && v->old_inflight > 0)
		v->old_inflight--;
	pthread_mutex_unlock(&f->lock);
}

void fleet_vm_lost(struct fleet *f, struct fleet_route *r, const char *why)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, r->tenant, false);
	if (v && v->epoch == r->epoch && v->host == r->host) {
		v->host = NULL;
		snprintf(v->reason, sizeof(v->reason), "%s", why);
		log_warn("vm_lost tenant=%s host=%s reason=\"%s\"", v->tenant, r->host_id, why);
	}
	pthread_mutex_unlock(&f->lock);
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
	int st = fl_agent_call(f, h, r->gen_expected, "GET", path, NULL, 0, NULL, AGENT_CALL_MS,
			       NULL);
	if (st != 200)
		st = fl_agent_call(f, h, r->gen_expected, "PUT", path, NULL, 0, file, 600000,
				   &reply);
	if (st == 200 || st == 201) {
		pthread_mutex_lock(&f->lock);
		if (atomic_load(&h->gen) == r->gen_expected && !artifact_known(h, digest)) {
			/* Without memory the push stays unrecorded and is
			 * checked again next time. */
			if (array_reserve(&h->artifacts, &h->cap_artifacts, h->n_artifacts + 1,
					  sizeof(*h->artifacts), 16) == 0)
				memcpy(h->artifacts[h->n_artifacts++], digest, STORE_DIGEST_SIZE);
		}
		pthread_mutex_unlock(&f->lock);
		log_info("artifact_pushed host=%s digest=%s size=%llu", h->id, digest,
			 (unsigned long long)size);
		json_decref(reply);
		return 0;
	}
	log_warn("artifact_push_failed host=%s digest=%s status=%d message=\"%s\"", h->id, digest,
		 st, st > 0 ? error_message(reply) : strerror(-st));
	json_decref(reply);
	return st < 0 ? st : -EIO;
}

void fleet_artifact_forget(struct fleet *f, struct fleet_route *r, const char *digest)
{
	struct fleet_host *h = r->host;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < h->n_artifacts; i++)
		if (!strcmp(h->artifacts[i], digest)) {
			memmove(h->artifacts[i], h->artifacts[h->n_artifacts - 1],
				STORE_DIGEST_SIZE);
			h->n_artifacts--;
			break;
		}
	pthread_mutex_unlock(&f->lock);
}

/* ---- the reconciler's pass ------------------------------------------------------------------- */

/* Looks after one VM: places it again when its host reports it dead or no
 * longer reports it, moves it off a draining host, restarts it when idle
 * after its size or mechanism changed, and stops what a move left behind. */
static void vm_reconcile(struct fleet *f, struct fleet_vm *v, uint64_t now)
{
	if (v->placing)
		return;
	/* A VM its host reports dead, or no longer reports at all some
	 * time after it was placed, is placed again. */
	if (v->host && v->host->up) {
		json_t *vm = fl_reported_vm(v->host, v->tenant);
		const char *state = json_string_value(json_object_get(vm, "state"));
		bool dead = state && !strcmp(state, "dead");
		bool missing = !vm && now - v->ready_us > ORPHAN_GRACE_US;
		if (dead || missing) {
			snprintf(v->reason, sizeof(v->reason), "the VM on %s %s", v->host->id,
				 dead ? "died" : "disappeared");
			log_warn("vm_lost tenant=%s host=%s reason=\"%s\"", v->tenant, v->host->id,
				 v->reason);
			v->host = NULL;
		}
	}
	bool move = v->host && v->host->draining;
	bool restart = v->host && v->restart_wanted && v->inflight == 0;
	bool replace = !v->host && v->wanted;
	if ((move || restart || replace) && now >= v->retry_at_us && !f->stopping)
		placement_start(f, v);
	if (v->old_host && v->old_inflight <= 0) {
		fl_job_spawn(f, fl_stop_job, v->tenant, v->old_host, v->old_gen);
		v->old_host = NULL;
	}
}

/* Stops the VMs host h runs that no placement accounts for (left behind by a
 * host that came back, or by a controller restart). */
static void orphans_stop(struct fleet *f, struct fleet_host *h, uint64_t now)
{
	size_t k;
	json_t *vm;
	if (!h->up || !h->registered || now - h->last_seen_us > 2000000)
		return;
	json_array_foreach(h->vms, k, vm)
	{
		const char *tenant = json_string_value(json_object_get(vm, "tenant"));
		const char *state = json_string_value(json_object_get(vm, "state"));
		if (!tenant || (state && (!strcmp(state, "stopping") || !strcmp(state, "stopped"))))
			continue;
		struct fleet_vm *v = fl_vm_find(f, tenant, false);
		if (v && (v->host == h || v->old_host == h || v->placing_on == h ||
			  now - v->ready_us < ORPHAN_GRACE_US))
			continue;
		log_info("vm_orphan tenant=%s host=%s", tenant, h->id);
		fl_job_spawn(f, fl_stop_job, tenant, h, atomic_load(&h->gen));
		/* Until the next heartbeat shows it gone, do not ask twice. */
		json_object_set_new(vm, "state", json_string("stopping"));
	}
}

void fl_vms_reconcile(struct fleet *f, uint64_t now)
{
	for (size_t i = 0; i < f->n_vms; i++)
		vm_reconcile(f, f->vms[i], now);
	for (size_t i = 0; i < f->n_hosts; i++)
		orphans_stop(f, f->hosts[i], now);
}

/* ---- tenants -------------------------------------------------------------------------------- */

json_t *fleet_tenant_vm_json(struct fleet *f, const char *tenant)
{
	json_t *o = json_null();
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, tenant, false);
	if (v && v->host) {
		json_t *vm = fl_reported_vm(v->host, tenant);
		o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:O?, s:O?, s:I}", "host", v->host->id,
			      "state", json_string_value(json_object_get(vm, "state")) ?: "booting",
			      "workers", json_integer_value(json_object_get(vm, "workers")),
			      "min_workers", json_integer_value(json_object_get(vm, "min_workers")),
			      "max_workers", json_integer_value(json_object_get(vm, "max_workers")),
			      "mechanism", json_object_get(vm, "mechanism"), "policy",
			      json_object_get(vm, "policy"), "inflight", (json_int_t)v->inflight);
	} else if (v && (v->placing || v->reason[0])) {
		o = json_pack("{s:n, s:s, s:s}", "host", "state", v->placing ? "placing" : "none",
			      "reason", v->reason);
	}
	pthread_mutex_unlock(&f->lock);
	return o;
}

void fleet_tenant_scaling(struct fleet *f, const char *tenant, const struct store_scaling *sc)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, tenant, false);
	struct fleet_host *h = v ? v->host : NULL;
	uint64_t gen = v ? v->host_gen : 0;
	bool restart = v && h &&
		       (strcmp(v->placed_with.mechanism, sc->mechanism) != 0 ||
			sc->max_workers > v->placed_with.max_workers);
	if (v && restart) {
		v->restart_wanted = true;
		log_info("vm_restart_wanted tenant=%s mechanism=%s max=%d", tenant, sc->mechanism,
			 sc->max_workers);
	}
	pthread_mutex_unlock(&f->lock);
	if (!h || restart)
		return;
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s/scaling", tenant);
	json_t *body = json_pack("{s:i, s:i, s:s}", "min_workers", sc->min_workers, "max_workers",
				 sc->max_workers, "policy", sc->policy);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	json_t *reply = NULL;
	int st = text ? fl_agent_call(f, h, gen, "PUT", path, text, strlen(text), NULL,
				      AGENT_CALL_MS, &reply)
		      : -ENOMEM;
	free(text);
	if (st != 200)
		log_warn("vm_scaling_failed tenant=%s host=%s status=%d message=\"%s\"", tenant,
			 h->id, st, st > 0 ? error_message(reply) : strerror(-st));
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
