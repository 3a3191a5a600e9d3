/* Internals shared by the fleet's modules, in layers that call downwards
 * only:
 *   fleet.c        the life cycle and the reconciler thread, which runs
 *                  fl_hosts_reconcile and then fl_vms_reconcile;
 *   fleet_hosts.c  registration, heartbeats, drain, the hosts' JSON and
 *                  gauges, and the hosts' pass (heartbeat timeouts);
 *   fleet_tenants.c the tenants' JSON, scaling changes and accounting
 *                  metrics;
 *   fleet_vms.c    placement, routes, artifacts, each tenant's set of VMs
 *                  (vmset.h decides which VM takes a route, when one is
 *                  added and which is stopped) and the VMs' pass (replace,
 *                  move, restart, scale in, stop orphans);
 *   fleet_core.c   the bottom: finding and adding hosts, tenants and VMs,
 *                  losing a host, the agents' accounting reports, agent
 *                  calls and worker threads.
 *
 * The helpers shared between the modules carry the fl_ prefix, so that these
 * global names never meet others in the controller. Unless a comment says
 * otherwise, they are called with the fleet lock held. */
#ifndef DITTO_FLEET_INT_H
#define DITTO_FLEET_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "fleet.h"
#include "link.h"
#include "metrics.h"
#include "policy.h"
#include "store.h"
#include "vmset.h"

#define AGENT_CALL_MS 30000 /* calls other than VM starts and invocations */
/* How long a VM the fleet stopped may still be reported running without
 * being taken for one to adopt. */
#define FLEET_STOP_GRACE_US (10 * 1000000ull)

struct fleet_host {
	char id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	char token[128];
	char boot_id[128];
	char accel[16];
	int cores;
	bool registered; /* since this controller started: its token is known */
	bool up, draining;
	/* An operator removed it: it is listed nowhere and used for nothing
	 * until it registers again. The struct stays, as routes and jobs may
	 * still point at it. */
	bool removed;
	uint64_t last_seen_us;
	bool sev_snp;                         /* its status says it can launch SEV-SNP VMs */
	char sev_snp_reason[200];             /* why not, as it says */
	_Atomic uint64_t gen;                 /* bumped whenever the host is lost or re-registers */
	json_t *vms;                          /* the "vms" of its last status */
	char (*artifacts)[STORE_DIGEST_SIZE]; /* digests it holds (this generation) */
	size_t n_artifacts, cap_artifacts;
};

/* A tenant as the fleet knows it: its scaling settings, its demand and
 * what its VMs have used. VMs point at it; it lives as long as the fleet. */
struct fleet_tenant {
	char name[STORE_NAME_SIZE];
	bool known; /* sc and pol were read from the store */
	struct store_scaling sc;
	struct policy pol;
	bool scale_out;             /* one-worker VMs, as many as the demand wants */
	struct policy_state demand; /* routes in flight plus callers waiting */
	int waiting;                /* callers waiting for a route */
	unsigned next_k;            /* the K of the next VM named TENANT.K */
	uint64_t stopped_us;        /* when a VM of the set was last stopped */
	/* Worker-vCPU milliseconds its VMs reported, summed over every run. */
	uint64_t alloc_ms, busy_ms;
};

/* One VM of a tenant as the fleet wants it. */
struct fleet_vm {
	char name[STORE_NAME_SIZE]; /* on the agent: TENANT (the first) or TENANT.K */
	struct fleet_tenant *t;
	struct fleet_host *host; /* where it runs; NULL: nowhere yet */
	uint64_t host_gen;
	uint64_t epoch;    /* counts placements */
	uint64_t ready_us; /* when the current placement finished */
	int inflight;      /* routes of this epoch */
	bool wanted;       /* it ran once, so it is kept running */
	bool placing;      /* a placement thread works on it */
	struct fleet_host *placing_on;
	uint64_t attempts; /* placements finished, failed or not */
	char reason[256];  /* why the last one failed */
	int err;           /* and as -errno: -ENOSPC (no host had room) or -EIO */
	uint64_t retry_at_us;
	bool restart_wanted; /* its mechanism or size changed */
	/* The previous placement while a move drains it. */
	struct fleet_host *old_host;
	uint64_t old_gen;
	int old_inflight;
	struct store_scaling placed_with;
	/* The accounting of the current placement and of the one a move left. */
	struct vmset_meter meter, old_meter;
	int workers;                   /* active worker vCPUs, as last reported */
	struct attest_verdict verdict; /* of its last attestation, for the run it names */
};

struct fleet {
	struct fleet_config cfg;
	char artifacts_dir[1024];
	struct db *db;
	struct link_pool *links;
	struct metrics *metrics;
	pthread_mutex_t lock;
	/* Serialises registration and removal, each a store write and a
	 * change under lock, so neither lands between the other's two. Taken
	 * before db.lock and lock, never while holding either. */
	pthread_mutex_t members;
	pthread_cond_t changed; /* a placement finished, or stopping */
	struct fleet_host **hosts;
	size_t n_hosts, cap_hosts;
	struct fleet_tenant **tenants;
	size_t n_tenants, cap_tenants;
	struct fleet_vm **vms; /* every tenant's, in the order they were added */
	size_t n_vms, cap_vms;
	/* The agents' decision-latency histogram, summed over every VM. */
	size_t n_buckets;
	uint64_t bucket_le_us[VMSET_HIST_MAX];
	uint64_t buckets[VMSET_HIST_MAX];
	uint64_t decisions, decisions_sum_us;
	int workers_running; /* placement and clean-up threads */
	bool stopping;
	pthread_t reconciler;
	bool reconciler_started;
	uint64_t last_prune_us;
	uint64_t last_checkpoint_us;
};

struct job {
	struct fleet *f;
	char vm[STORE_NAME_SIZE]; /* the VM's name */
	/* For a stop job: the host and generation the VM to stop was on. */
	struct fleet_host *host;
	uint64_t gen;
};

/* ---- fleet_core.c ---- */

/* The host with this id, or NULL. */
struct fleet_host *fl_host_find(struct fleet *f, const char *id);
/* A new host with this id and nothing else known, or NULL (out of memory). */
struct fleet_host *fl_host_add(struct fleet *f, const char *id);
/* The tenant; with create, a new one when it is not known (NULL: out of
 * memory, or not known). */
struct fleet_tenant *fl_tenant_find(struct fleet *f, const char *name, bool create);
/* The VM named name (TENANT or TENANT.K), or NULL. */
struct fleet_vm *fl_vm_find(struct fleet *f, const char *name);
/* A new VM of t, named TENANT when t has no VM yet and TENANT.K otherwise,
 * or NULL (out of memory, or the name would be too long). */
struct fleet_vm *fl_vm_add(struct fleet *f, struct fleet_tenant *t);
/* The known tenant a VM name (TENANT or TENANT.K) belongs to, or NULL. */
struct fleet_tenant *fl_tenant_of(struct fleet *f, const char *vm);
/* A VM of a tenant found on an agent under name (after a controller
 * restart), or NULL when name names no tenant or memory ran out. */
struct fleet_vm *fl_vm_adopt(struct fleet *f, const char *name);
/* Whether this controller owns the tenant of the VM named vm (TENANT or
 * TENANT.K). */
bool fl_owns_vm(const struct fleet *f, const char *vm);
/* Forgets v, which no placement, route or move may use any more. */
void fl_vm_remove(struct fleet *f, struct fleet_vm *v);
/* Sets what the fleet knows of t's scaling from the store's record. */
void fl_tenant_take(struct fleet_tenant *t, const struct store_scaling *sc);
/* The scaling each VM of t is started with: the tenant's, but under
 * scale-out one worker vCPU (min = max = 1) and the per-VM policy. */
void fl_vm_scaling(const struct fleet_tenant *t, struct store_scaling *ret);
/* The host is gone as far as running things goes: every call to it aborts,
 * and its VMs are to be placed again. */
void fl_host_lost(struct fleet *f, struct fleet_host *h, const char *why);
/* The host's own report of the VM named name (borrowed from its status),
 * or NULL. */
json_t *fl_reported_vm(struct fleet_host *h, const char *name);
/* Takes the accounting in an agent's VM object (a status's VM or an invoke
 * reply; pid 0 when it does not say) of the VM named name on host h into
 * the tenant's totals and the fleet's histogram. */
void fl_vm_account(struct fleet *f, struct fleet_host *h, const char *name, json_t *vm,
		   int64_t pid);
/* The message of an agent's error reply, or "no reason given". Any lock. */
const char *fl_error_message(json_t *reply);
/* Waits on f->changed (CLOCK_MONOTONIC) until signalled or wait_us passed. */
void fl_wait_changed(struct fleet *f, uint64_t wait_us);
/* Calls the agent on h with the lock not held; the call aborts when h->gen
 * moves off gen. Returns the HTTP status or -errno, the reply in *ret if ret. */
int fl_agent_call(struct fleet *f, struct fleet_host *h, uint64_t gen, const char *method,
		  const char *path, const void *body, size_t len, const char *file, long timeout_ms,
		  json_t **ret);
/* Ends a worker thread's count, with the lock not held. */
void fl_job_done(struct fleet *f);
/* Starts fn on a detached thread that counts as a worker, with a struct job
 * it frees. Returns 0 or -errno. */
int fl_job_spawn(struct fleet *f, void *(*fn)(void *), const char *vm, struct fleet_host *h,
		 uint64_t gen);
/* A job that stops the job's VM on the job's host and generation. */
void *fl_stop_job(void *arg);

/* ---- the reconciler's passes ---- */

/* Appends the hosts' gauges (fleet_hosts.c) and the tenants' worker vCPUs,
 * VMs, vCPU-seconds and the decision-latency histogram (fleet_tenants.c)
 * in the Prometheus text format. Return 0 or -ENOMEM. */
int fl_hosts_metrics(struct fleet *f, struct buf *out);
int fl_tenants_metrics(struct fleet *f, struct buf *out);

/* Marks down the hosts silent for longer than the host timeout; the lock is
 * dropped around the store write (fleet_hosts.c). */
void fl_hosts_reconcile(struct fleet *f, uint64_t now);
/* Replaces, moves and restarts the tenants' VMs as needed, stops the VMs a
 * tenant no longer wants (scale-out past its keep-alive) and what no
 * placement accounts for (fleet_vms.c). */
void fl_vms_reconcile(struct fleet *f, uint64_t now);

/* Whether this controller runs the store-level once-only work (fleet.c). */
bool fl_is_leader(const struct fleet *f);
/* Whether this controller owns tenant (fleet.c). */
bool fl_owns(const struct fleet *f, const char *tenant);

#endif
