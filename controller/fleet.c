#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define RECONCILE_EVERY_MS 200
#define ORPHAN_GRACE_US (10 * 1000000ull)    /* a VM unaccounted for this long is stopped */
#define PRUNE_EVERY_US (60 * 1000000ull)
#define CHECKPOINT_EVERY_US (1000000ull)

/* ---- helpers (the fleet lock is held) ----------------------------------------------------------- */

struct fleet_host *fl_host_find(struct fleet *f, const char *id)
{
	for (size_t i = 0; i < f->n_hosts; i++)
		if (!strcmp(f->hosts[i]->id, id))
			return f->hosts[i];
	return NULL;
}

struct fleet_host *fl_host_add(struct fleet *f, const char *id)
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

struct fleet_vm *fl_vm_find(struct fleet *f, const char *tenant, bool create)
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

void fl_host_lost(struct fleet *f, struct fleet_host *h, const char *why)
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

json_t *fl_reported_vm(struct fleet_host *h, const char *tenant)
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

void fl_wait_changed(struct fleet *f, uint64_t wait_us)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(wait_us / 1000000);
	ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&f->changed, &f->lock, &ts);
}

/* ---- agent calls and worker threads ---------------------------------------------------------- */

int fl_agent_call(struct fleet *f, struct fleet_host *h, uint64_t gen, const char *method, const char *path,
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

void fl_job_done(struct fleet *f)
{
	pthread_mutex_lock(&f->lock);
	f->workers_running--;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

int fl_job_spawn(struct fleet *f, void *(*fn)(void *), const char *tenant, struct fleet_host *h, uint64_t gen)
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
			fl_host_lost(f, h, "no heartbeat");
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
			json_t *vm = fl_reported_vm(v->host, v->tenant);
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
			fl_placement_start(f, v);
		if (v->old_host && v->old_inflight <= 0) {
			fl_job_spawn(f, fl_stop_job, v->tenant, v->old_host, v->old_gen);
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
		fl_wait_changed(f, RECONCILE_EVERY_MS * 1000ull);
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
		struct fleet_host *h = fl_host_add(f, hs[i].id);
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
