/* Each tenant's set of VMs: placement, routes (vmset.h picks the VM),
 * artifacts, and the VMs' pass of the reconciler (replace, move, restart,
 * scale in, stop orphans). */
#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "placement.h"
#include "util.h"

#define REPLACE_BACKOFF_US (2 * 1000000ull) /* between failed placements of one VM */
#define ORPHAN_GRACE_US (10 * 1000000ull)   /* a VM unaccounted for this long is stopped */
#define SET_MAX 128                         /* VMs of one tenant the choices look at */

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

/* ---- placement ------------------------------------------------------------------------------ */

/* Ends a placement: on success (err 0) the VM moves to host h, whose agent
 * runs it as QEMU process pid (0: not said); otherwise err (-ENOSPC: no
 * host had room, or -EIO) and reason say why not. */
static void placement_end(struct fleet *f, struct fleet_vm *v, struct fleet_host *h, uint64_t gen,
			  int64_t pid, int err, const char *reason)
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
			v->old_meter = v->meter;
			memset(&v->meter, 0, sizeof(v->meter));
		}
		vmset_meter_restart(&v->meter, pid);
		v->host = h;
		v->host_gen = gen;
		v->epoch++;
		v->inflight = 0;
		v->wanted = true;
		v->reason[0] = '\0';
		v->err = 0;
		v->ready_us = time_now_us();
		log_info("vm_placed vm=%s host=%s epoch=%llu", v->name, h->id,
			 (unsigned long long)v->epoch);
	} else {
		/* A VM waiting for room fails the same way every few seconds:
		 * say so once. */
		if (strcmp(v->reason, reason) != 0)
			log_warn("vm_placement_failed vm=%s reason=\"%s\"", v->name, reason);
		snprintf(v->reason, sizeof(v->reason), "%s", reason);
		v->err = err;
		v->retry_at_us = time_now_us() + REPLACE_BACKOFF_US;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

/* Chooses the host for v, which needs sc->min_workers free cores (and,
 * for an SEV-SNP tenant, a host that can launch it), among those known;
 * the lock is held. Returns it, or NULL with why none can take it. */
static struct fleet_host *host_choose(struct fleet *f, const struct fleet_vm *v,
				      const struct store_scaling *sc, char *why, size_t why_size)
{
	struct placement_host *ph = calloc(f->n_hosts ? f->n_hosts : 1, sizeof(*ph));
	if (!ph) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *x = f->hosts[i];
		ph[i] = (struct placement_host){
			.id = x->id,
			.up = x->up && x->registered,
			.draining = x->draining,
			.cores = x->cores,
			.sev_snp = x->sev_snp,
			.sev_snp_reason = x->sev_snp_reason,
		};
		ph[i].vms = vm_count_on(f, x, &ph[i].reserved);
	}
	/* A move never lands where the VM already is. */
	const char *exclude = v->host ? v->host->id : NULL;
	int i = placement_choose(ph, f->n_hosts, sc->min_workers,
				 !strcmp(sc->confidential, "sev-snp"), exclude);
	if (i == -ENODEV)
		placement_snp_why(ph, f->n_hosts, exclude, why, why_size);
	else if (i < 0)
		snprintf(why, why_size,
			 "no host has room for tenant %s (VM %s, %d free cores needed)", v->t->name,
			 v->name, sc->min_workers);
	free(ph);
	return i < 0 ? NULL : f->hosts[i];
}

/* Empties the name on h: a VM left there dead, from an earlier placement,
 * or still stopping, goes first. Returns the pid of a ready VM there, to be
 * taken as it is, or 0 when the name is free (or did not become free in
 * time: the start then says why). */
static int64_t name_clear(struct fleet *f, struct fleet_host *h, uint64_t gen, const char *path)
{
	uint64_t until = time_now_us() + (uint64_t)f->cfg.boot_timeout_ms * 1000;
	for (bool deleted = false;;) {
		json_t *reply = NULL;
		int st = fl_agent_call(f, h, gen, "GET", path, NULL, 0, NULL, AGENT_CALL_MS,
				       &reply);
		const char *state = json_string_value(json_object_get(reply, "state"));
		int64_t pid = json_integer_value(json_object_get(reply, "pid"));
		bool ready = st == 200 && state && !strcmp(state, "ready");
		json_decref(reply);
		if (ready && !deleted)
			return pid ? pid : -1;
		if (st != 200 || time_now_us() > until)
			return 0;
		if (!deleted)
			fl_agent_call(f, h, gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS,
				      NULL);
		deleted = true;
		/* The agent answers a delete at once and stops QEMU within
		 * seconds: look again shortly. */
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* Starts the VM named name on h (generation gen) as sc says, or takes the
 * ready one already there. Returns 0 with its QEMU pid in *ret_pid (0: not
 * said), or -EIO with what went wrong in reason. */
static int vm_start_on(struct fleet *f, const char *name, struct fleet_host *h, uint64_t gen,
		       const struct store_scaling *sc, int64_t *ret_pid, char *reason,
		       size_t reason_size)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s", name);
	int64_t pid = name_clear(f, h, gen, path);
	if (pid) {
		*ret_pid = pid > 0 ? pid : 0;
		return 0;
	}
	json_t *body = json_pack("{s:s, s:i, s:i, s:s, s:i, s:s}", "mechanism", sc->mechanism,
				 "max_workers", sc->max_workers, "min_workers", sc->min_workers,
				 "policy", sc->policy, "memory_mib", f->cfg.vm_memory_mib,
				 "confidential", sc->confidential);
	if (body && sc->host_data[0])
		json_object_set_new(body, "host_data", json_string(sc->host_data));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	log_info("vm_start vm=%s host=%s mechanism=%s max=%d policy=%s confidential=%s", name,
		 h->id, sc->mechanism, sc->max_workers, sc->policy, sc->confidential);
	metrics_vm_boot(f->metrics);
	json_t *reply = NULL;
	int st = text ? fl_agent_call(f, h, gen, "PUT", path, text, strlen(text), NULL,
				      f->cfg.boot_timeout_ms, &reply)
		      : -ENOMEM;
	free(text);
	if (st < 0)
		snprintf(reason, reason_size, "host %s: %s", h->id, strerror(-st));
	else if (st != 201)
		snprintf(reason, reason_size, "host %s answered %d: %s", h->id, st,
			 fl_error_message(reply));
	*ret_pid = json_integer_value(json_object_get(reply, "pid"));
	json_decref(reply);
	return st == 201 ? 0 : -EIO;
}

/* Picks v's host and records the placement under way, or says why none
 * can take it; the lock is held. Returns the host, or NULL. */
static struct fleet_host *placement_prepare(struct fleet *f, struct fleet_vm *v,
					    const struct store_scaling *sc,
					    struct fleet_host **ret_stop, uint64_t *ret_stop_gen,
					    char *reason, size_t reason_size)
{
	/* A restart stops the VM where it is before placing it anew. */
	if (v->restart_wanted && v->host) {
		*ret_stop = v->host;
		*ret_stop_gen = v->host_gen;
		v->host = NULL;
		v->restart_wanted = false;
	}
	struct fleet_host *h = host_choose(f, v, sc, reason, reason_size);
	if (!h)
		return NULL;
	v->placing_on = h;
	v->placed_with = *sc;
	return h;
}

static void *place_job(void *arg)
{
	struct job *j = arg;
	struct fleet *f = j->f;
	char tenant[STORE_NAME_SIZE];
	pthread_mutex_lock(&f->lock);
	/* A VM being placed is never removed: v stays valid. */
	struct fleet_vm *v = fl_vm_find(f, j->vm);
	memcpy(tenant, v->t->name, sizeof(tenant));
	pthread_mutex_unlock(&f->lock);
	struct store_tenant st;
	pthread_mutex_lock(&f->db->lock);
	int err = store_tenant_get(f->db->store, tenant, &st);
	pthread_mutex_unlock(&f->db->lock);

	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = NULL, *stop_first = NULL;
	uint64_t gen = 0, stop_gen = 0;
	char reason[256] = "";
	int fail = -EIO;
	struct store_scaling sc;
	if (err < 0) {
		snprintf(reason, sizeof(reason), "tenant %s: %s", tenant, strerror(-err));
	} else {
		fl_tenant_take(v->t, &st.scaling);
		fl_vm_scaling(v->t, &sc);
		h = placement_prepare(f, v, &sc, &stop_first, &stop_gen, reason, sizeof(reason));
		if (!h)
			fail = -ENOSPC;
		else
			gen = atomic_load(&h->gen);
	}
	pthread_mutex_unlock(&f->lock);

	if (stop_first) {
		char path[128];
		snprintf(path, sizeof(path), "/v1/vms/%s", j->vm);
		fl_agent_call(f, stop_first, stop_gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS,
			      NULL);
	}
	int64_t pid = 0;
	if (h)
		fail = vm_start_on(f, j->vm, h, gen, &sc, &pid, reason, sizeof(reason));
	placement_end(f, v, h, gen, pid, fail, fail ? reason : NULL);
	fl_job_done(f);
	free(j);
	return NULL;
}

/* Starts placing v unless that is under way. Returns 0 or -errno. */
static int placement_start(struct fleet *f, struct fleet_vm *v)
{
	if (v->placing)
		return 0;
	int r = fl_job_spawn(f, place_job, v->name, NULL, 0);
	if (r == 0)
		v->placing = true;
	return r;
}

/* ---- routes --------------------------------------------------------------------------------- */

/* Reads t's scaling from the store the first time t is routed to; the lock
 * is held, and dropped meanwhile. A tenant the store does not have keeps
 * the defaults: its placement says why it fails. */
static void tenant_load(struct fleet *f, struct fleet_tenant *t)
{
	if (t->known)
		return;
	char name[STORE_NAME_SIZE];
	memcpy(name, t->name, sizeof(name));
	struct store_tenant st;
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&f->db->lock);
	int err = store_tenant_get(f->db->store, name, &st);
	pthread_mutex_unlock(&f->db->lock);
	pthread_mutex_lock(&f->lock);
	if (err == 0 && !t->known)
		fl_tenant_take(t, &st.scaling);
}

/* t's VMs, in the order they were added, into vms and their state for
 * vmset.h into sv (at most SET_MAX). Returns how many. */
static size_t set_of(struct fleet *f, const struct fleet_tenant *t, struct fleet_vm **vms,
		     struct vmset_vm *sv)
{
	size_t n = 0;
	uint64_t now = time_now_us();
	for (size_t i = 0; i < f->n_vms && n < SET_MAX; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->t != t)
			continue;
		vms[n] = v;
		sv[n] = (struct vmset_vm){
			.ready = v->host && atomic_load(&v->host->gen) == v->host_gen,
			.placing = v->placing,
			.backoff = !v->host && v->err < 0 && now < v->retry_at_us,
			.inflight = v->inflight,
		};
		n++;
	}
	return n;
}

/* t's demand (routes in flight over all its VMs, and callers waiting) is
 * recorded for its policy. */
static void demand_observe(struct fleet *f, struct fleet_tenant *t)
{
	int d = t->waiting;
	for (size_t i = 0; i < f->n_vms; i++)
		if (f->vms[i]->t == t)
			d += f->vms[i]->inflight + f->vms[i]->old_inflight;
	uint64_t now_ms = time_now_us() / 1000;
	policy_advance(&t->pol, &t->demand, t->sc.min_workers, t->sc.max_workers, now_ms);
	policy_observe(&t->demand, now_ms, (uint32_t)(d < 0 ? 0 : d));
}

/* How many VMs t wants now: under scale-out its policy's target within its
 * limits, otherwise one. */
static int set_want(const struct fleet_tenant *t)
{
	if (!t->scale_out)
		return 1;
	int w = policy_target(&t->pol, &t->demand, t->sc.min_workers, t->sc.max_workers,
			      time_now_us() / 1000);
	return w < 0 ? 1 : w;
}

/* A route to v, not yet counted in flight. */
static void route_fill(struct fleet_vm *v, bool placed, struct fleet_route *ret)
{
	struct fleet_host *h = v->host;
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->tenant, v->t->name, sizeof(ret->tenant));
	memcpy(ret->vm, v->name, sizeof(ret->vm));
	memcpy(ret->host_id, h->id, sizeof(ret->host_id));
	memcpy(ret->address, h->address, sizeof(ret->address));
	memcpy(ret->token, h->token, sizeof(ret->token));
	ret->gen = &h->gen;
	ret->gen_expected = v->host_gen;
	ret->epoch = v->epoch;
	ret->placed = placed;
	ret->host = h;
	ret->attest_required = !strcmp(v->t->sc.attestation, "required");
	memcpy(ret->host_data, v->t->sc.host_data, sizeof(ret->host_data));
	ret->pid = v->meter.pid;
	ret->verdict = v->verdict;
}

/* One caller's wait for a route: the VM it had placed, if any. */
struct route_wait {
	struct fleet_vm *mine;
	uint64_t mine_attempts;
	bool settle; /* its placement failed: take any ready VM, add none */
};

/* One step of a caller's wait; the lock is held. Returns 0 with the
 * route, -EINPROGRESS to wait more, or -errno with why. */
static int route_step(struct fleet *f, struct fleet_tenant *t, bool wait, struct route_wait *w,
		      struct fleet_route *ret, char *why, size_t why_size)
{
	struct fleet_vm *vms[SET_MAX];
	struct vmset_vm sv[SET_MAX];
	size_t n = set_of(f, t, vms, sv);
	struct vmset_choice c = vmset_choose(sv, n, w->settle || !t->scale_out ? 0 : 1,
					     w->settle ? 0 : set_want(t));
	if (c.pick == VMSET_ROUTE) {
		route_fill(vms[c.index], vms[c.index] == w->mine, ret);
		vms[c.index]->inflight++;
		return 0;
	}
	if (!wait)
		return -EAGAIN;
	if (w->mine && w->mine->attempts > w->mine_attempts && !w->mine->placing &&
	    !w->mine->host) {
		/* The placement this caller started failed (one that worked
		 * may have gone to another caller: this one waits on). */
		snprintf(why, why_size, "%s", w->mine->reason);
		return w->mine->err < 0 ? w->mine->err : -EIO;
	}
	struct fleet_vm *v = NULL;
	if (c.pick == VMSET_ADD && !(v = fl_vm_add(f, t))) {
		snprintf(why, why_size, "cannot add a VM for tenant %s", t->name);
		return -ENOMEM;
	}
	if (c.pick == VMSET_PLACE)
		v = vms[c.index];
	if (v) {
		int r = placement_start(f, v);
		if (r < 0) {
			snprintf(why, why_size, "cannot start a placement: %s", strerror(-r));
			return r;
		}
		w->mine = v;
		w->mine_attempts = v->attempts;
	}
	return -EINPROGRESS;
}

int fleet_route_acquire(struct fleet *f, const char *tenant, uint64_t deadline_us,
			struct fleet_route *ret, char *why, size_t why_size)
{
	int r;
	pthread_mutex_lock(&f->lock);
	struct fleet_tenant *t = fl_tenant_find(f, tenant, true);
	if (!t) {
		pthread_mutex_unlock(&f->lock);
		return -ENOMEM;
	}
	tenant_load(f, t);
	t->waiting++;
	demand_observe(f, t);
	struct route_wait w = { 0 };
	for (;;) {
		if (f->stopping) {
			r = -ECANCELED;
			snprintf(why, why_size, "the controller is stopping");
			break;
		}
		r = route_step(f, t, deadline_us != 0, &w, ret, why, why_size);
		if ((r == -EIO || r == -ENOSPC) && t->scale_out && !w.settle) {
			/* Under scale-out a VM that could not be added leaves
			 * the caller the VMs there are, if any. */
			w.settle = true;
			w.mine = NULL;
			continue;
		}
		if (r != -EINPROGRESS)
			break;
		uint64_t now = time_now_us();
		if (now >= deadline_us) {
			r = -ETIMEDOUT;
			snprintf(why, why_size, "no VM of tenant %s was ready in time", tenant);
			break;
		}
		fl_wait_changed(f, deadline_us - now);
	}
	t->waiting--;
	demand_observe(f, t);
	pthread_mutex_unlock(&f->lock);
	return r;
}

void fleet_route_release(struct fleet *f, struct fleet_route *r)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, r->vm);
	if (v && r->epoch == v->epoch && v->inflight > 0)
		v->inflight--;
	else if (v && v->old_host == r->host && v->old_inflight > 0)
		v->old_inflight--;
	if (v) {
		demand_observe(f, v->t);
		/* A caller may wait for a VM of the tenant to free up. */
		if (v->t->waiting)
			pthread_cond_broadcast(&f->changed);
	}
	pthread_mutex_unlock(&f->lock);
}

void fleet_route_attested(struct fleet *f, const struct fleet_route *r,
			  const struct attest_verdict *vd)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, r->vm);
	if (v && vd->known && v->epoch == r->epoch && v->host == r->host) {
		v->verdict = *vd;
		v->verdict.epoch = r->epoch;
		v->verdict.pid = r->pid;
		log_info("vm_attested vm=%s host=%s ok=%d code=%s", v->name, r->host_id, vd->ok,
			 vd->code);
	}
	pthread_mutex_unlock(&f->lock);
}

size_t fleet_tenant_routes(struct fleet *f, const char *tenant, struct fleet_route *ret, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_vms && n < max; i++) {
		struct fleet_vm *v = f->vms[i];
		if (!strcmp(v->t->name, tenant) && v->host && v->host->up &&
		    atomic_load(&v->host->gen) == v->host_gen)
			route_fill(v, false, &ret[n++]);
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

void fleet_route_report(struct fleet *f, struct fleet_route *r, json_t *reply)
{
	pthread_mutex_lock(&f->lock);
	if (atomic_load(&r->host->gen) == r->gen_expected)
		fl_vm_account(f, r->host, r->vm, reply, 0);
	pthread_mutex_unlock(&f->lock);
}

void fleet_vm_lost(struct fleet *f, struct fleet_route *r, const char *why)
{
	pthread_mutex_lock(&f->lock);
	struct fleet_vm *v = fl_vm_find(f, r->vm);
	if (v && v->epoch == r->epoch && v->host == r->host) {
		v->host = NULL;
		snprintf(v->reason, sizeof(v->reason), "%s", why);
		log_warn("vm_lost vm=%s host=%s reason=\"%s\"", v->name, r->host_id, why);
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

int fleet_artifact_ensure(struct fleet *f, struct fleet_route *r, const char *digest, uint64_t size,
			  long timeout_ms)
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
	if (st != 200) {
		/* Deployed through another controller: the store has the bytes. */
		int e = db_artifact_cache(f->db, digest, file);
		st = e < 0 ? e
			   : fl_agent_call(f, h, r->gen_expected, "PUT", path, NULL, 0, file,
					   timeout_ms, &reply);
	}
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
		 st, st > 0 ? fl_error_message(reply) : strerror(-st));
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
		json_t *vm = fl_reported_vm(v->host, v->name);
		const char *state = json_string_value(json_object_get(vm, "state"));
		bool dead = state && !strcmp(state, "dead");
		bool missing = !vm && now - v->ready_us > ORPHAN_GRACE_US;
		if (dead || missing) {
			snprintf(v->reason, sizeof(v->reason), "the VM on %s %s", v->host->id,
				 dead ? "died" : "disappeared");
			log_warn("vm_lost vm=%s host=%s reason=\"%s\"", v->name, v->host->id,
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
		fl_job_spawn(f, fl_stop_job, v->name, v->old_host, v->old_gen);
		v->old_host = NULL;
	}
}

/* Stops the VMs of t beyond what it wants: under scale-out those idle past
 * its keep-alive (the last one too), otherwise all but one (left by a
 * switch away from scale-out). A VM is stopped only when idle. */
static void tenant_scale_in(struct fleet *f, struct fleet_tenant *t)
{
	/* A tenant whose VMs were adopted after a restart has its scaling
	 * read here, before any invocation. */
	bool has_vms = false;
	if (!fl_owns(f, t->name))
		return;
	for (size_t i = 0; !has_vms && i < f->n_vms; i++)
		has_vms = f->vms[i]->t == t;
	if (!has_vms)
		return;
	tenant_load(f, t);
	if (!t->known)
		return;
	demand_observe(f, t);
	int want = t->scale_out ? set_want(t) : 1;
	for (;;) {
		struct fleet_vm *vms[SET_MAX];
		struct vmset_vm sv[SET_MAX];
		size_t n = set_of(f, t, vms, sv);
		int i = vmset_stop_pick(sv, n, want);
		if (i < 0 || vms[i]->old_host)
			return;
		struct fleet_vm *v = vms[i];
		log_info("vm_scale_in vm=%s host=%s vms=%zu want=%d", v->name,
			 v->host ? v->host->id : "-", n, want);
		if (v->host) {
			fl_job_spawn(f, fl_stop_job, v->name, v->host, v->host_gen);
			/* Until the next heartbeat shows it stopping, it is no
			 * orphan to stop again. */
			json_t *vm = fl_reported_vm(v->host, v->name);
			if (vm)
				json_object_set_new(vm, "state", json_string("stopping"));
		}
		t->stopped_us = time_now_us();
		fl_vm_remove(f, v);
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
		const char *name = json_string_value(json_object_get(vm, "tenant"));
		const char *state = json_string_value(json_object_get(vm, "state"));
		/* A VM still booting is no orphan yet: another controller
		 * that owned its tenant a moment ago may be placing it, and
		 * once ready it is adopted. */
		if (!name ||
		    (state && (!strcmp(state, "stopping") || !strcmp(state, "stopped") ||
			       !strcmp(state, "booting"))) ||
		    !fl_owns_vm(f, name))
			continue;
		struct fleet_vm *v = fl_vm_find(f, name);
		if (v && (v->host == h || v->old_host == h || v->placing_on == h ||
			  now - v->ready_us < ORPHAN_GRACE_US))
			continue;
		log_info("vm_orphan vm=%s host=%s", name, h->id);
		fl_job_spawn(f, fl_stop_job, name, h, atomic_load(&h->gen));
		/* Until the next heartbeat shows it gone, do not ask twice. */
		json_object_set_new(vm, "state", json_string("stopping"));
	}
}

/* Forgets the idle VMs of the tenants another controller owns now: their
 * owner adopts them from the agents' heartbeats, and they keep running. A
 * VM with calls in flight (served here while the owner was unreachable) is
 * forgotten once they end. */
static void others_forget(struct fleet *f)
{
	for (size_t i = f->n_vms; i-- > 0;) {
		struct fleet_vm *v = f->vms[i];
		if (fl_owns(f, v->t->name) || v->placing || v->inflight > 0 || v->old_host ||
		    v->t->waiting)
			continue;
		log_info("vm_released vm=%s host=%s", v->name, v->host ? v->host->id : "-");
		fl_vm_remove(f, v);
	}
}

void fl_vms_reconcile(struct fleet *f, uint64_t now)
{
	others_forget(f);
	for (size_t i = 0; i < f->n_tenants; i++)
		tenant_scale_in(f, f->tenants[i]);
	for (size_t i = 0; i < f->n_vms; i++)
		if (fl_owns(f, f->vms[i]->t->name))
			vm_reconcile(f, f->vms[i], now);
	for (size_t i = 0; i < f->n_hosts; i++)
		orphans_stop(f, f->hosts[i], now);
}
