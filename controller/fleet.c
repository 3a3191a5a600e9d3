/* The fleet's top: its life cycle, the metrics, and the reconciler thread,
 * which runs the hosts' pass (fleet_hosts.c) and then the VMs' (fleet_vms.c:
 * replacing, moving, scaling tenants' VM sets in, every 200 ms, which is
 * also the grain of scale-out's keep-alive), and keeps the store's WAL
 * checkpointed and its old records pruned. */
#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define RECONCILE_EVERY_MS 200
#define PRUNE_EVERY_US (60 * 1000000ull)
#define CHECKPOINT_EVERY_US (1000000ull)

/* ---- the reconciler ------------------------------------------------------------------------- */

bool fl_is_leader(const struct fleet *f)
{
	return !f->cfg.is_leader || f->cfg.is_leader(f->cfg.leader_data);
}

bool fl_owns(const struct fleet *f, const char *tenant)
{
	return !f->cfg.owns || f->cfg.owns(f->cfg.owns_data, tenant);
}

static void *reconciler_main(void *arg)
{
	struct fleet *f = arg;
	pthread_mutex_lock(&f->lock);
	while (!f->stopping) {
		uint64_t now = time_now_us();
		fl_hosts_reconcile(f, now);
		fl_vms_reconcile(f, now);
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
		if (now - f->last_prune_us > PRUNE_EVERY_US &&
		    (f->cfg.retain || f->cfg.retain_days) && fl_is_leader(f)) {
			f->last_prune_us = now;
			pthread_mutex_unlock(&f->lock);
			int64_t now_ms = time_wall_ms();
			int64_t before = f->cfg.retain_days
						 ? now_ms - (int64_t)f->cfg.retain_days * 86400000
						 : 0;
			size_t deleted = 0;
			pthread_mutex_lock(&f->db->lock);
			int r = store_invocations_prune(f->db->store, before, f->cfg.retain,
							&deleted);
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

int fleet_new(const struct fleet_config *cfg, struct db *db, struct link_pool *links,
	      struct metrics *metrics, struct fleet **ret)
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
	pthread_mutex_init(&f->members, NULL);
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
	for (size_t i = 0; i < f->n_tenants; i++)
		free(f->tenants[i]);
	free(f->hosts);
	free(f->vms);
	free(f->tenants);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->members);
	free(f);
}

int fleet_metrics(struct fleet *f, struct buf *out)
{
	pthread_mutex_lock(&f->lock);
	int r = fl_tenants_metrics(f, out);
	if (r == 0)
		r = fl_hosts_metrics(f, out);
	pthread_mutex_unlock(&f->lock);
	return r;
}
