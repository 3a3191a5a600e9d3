/* The fleet: host agents, where each tenant's VMs run, and keeping them so.
 *
 * Agents register and heartbeat (POST /v1/hosts...); the fleet keeps each
 * host's last status in memory and its identity and drain flag in the store.
 * A tenant has a set of VMs, named on the agents TENANT (the first) and
 * TENANT.K. Under most policies the set holds one VM, whose worker vCPUs
 * the agent scales; under scale-out it holds as many one-worker VMs as the
 * tenant's demand wants (lib/policy's target on its invocations in flight,
 * up to its max): a VM is added when every VM is busy, and VMs idle past the
 * keep-alive are stopped, the last one too. A VM is placed on first use
 * (placement.h picks the host) through the agent's PUT /v1/vms/{name}, and
 * a reconciler thread keeps the set running: a host without heartbeats is
 * marked down and its VMs placed again elsewhere, a dead VM is replaced, a
 * draining host is emptied, and VMs no placement accounts for are stopped.
 *
 * Invocations borrow a route to one of the tenant's VMs, the least loaded
 * (fleet_route_acquire), for their call to the agent; the route carries the
 * host's generation, which changes the moment the host is lost, so calls in
 * flight abort at once.
 *
 * The fleet also sums what the agents report of each VM's worker vCPUs
 * (allocated and busy vCPU-milliseconds, per run of the VM, so restarts and
 * moves never count twice) per tenant, and their decision-latency
 * histograms. */
#ifndef DITTO_FLEET_H
#define DITTO_FLEET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attestation.h"
#include "db.h"
#include "link.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

struct fleet_config {
	int host_timeout_ms;       /* a host silent this long is down */
	int boot_timeout_ms;       /* longest wait for an agent to start a VM */
	int vm_memory_mib;         /* each tenant VM's memory */
	const char *artifacts_dir; /* the controller's artifact files, by digest */
	unsigned retain;           /* invocation records kept per tenant (0: no cap) */
	unsigned retain_days;      /* and for at most this long (0: forever) */
	struct store *checkpoint;  /* a handle of its own for WAL checkpoints, or NULL */
	/* Whether this controller leads the ones sharing the store (cluster.h):
	 * only the leader writes the store-level once-only work (pruning, hosts
	 * marked down for silence). NULL: it always does (a single controller). */
	bool (*is_leader)(void *data);
	void *leader_data;
	/* Whether this controller owns tenant (cluster.h): the fleet places,
	 * adopts, re-places, scales in and stops the VMs only of the tenants
	 * it owns, and leaves the others' alone (their owner looks after them;
	 * one that moves here is adopted from the agents' heartbeats). NULL:
	 * it owns every tenant. Called with the fleet's lock held. */
	bool (*owns)(void *data, const char *tenant);
	void *owns_data;
};

struct fleet;
struct fleet_host;

/* A borrowed path to one of a tenant's VMs, valid until
 * fleet_route_release. */
struct fleet_route {
	char tenant[STORE_NAME_SIZE];
	char vm[STORE_NAME_SIZE]; /* the VM's name on the agent */
	char host_id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	char token[128];
	const _Atomic uint64_t *gen; /* changes when the host is lost */
	uint64_t gen_expected;
	uint64_t epoch; /* which placement of the VM it used */
	bool placed;    /* the VM was started for this caller */
	struct fleet_host *host;
	/* For a tenant whose attestation is "required": the VM's run (its
	 * QEMU pid, 0 when not known) and the verdict the fleet holds for the
	 * VM, for attest_use. */
	bool attest_required;
	/* The tenant's host_data (hex, "": unset), which its SEV-SNP VMs'
	 * reports must carry. */
	char host_data[STORE_HOST_DATA_SIZE];
	int64_t pid;
	struct attest_verdict verdict;
};

/* Starts the reconciler thread. Returns 0 with a fleet for fleet_free, or
 * -errno. */
int fleet_new(const struct fleet_config *cfg, struct db *db, struct link_pool *links,
	      struct metrics *metrics, struct fleet **ret);
/* Aborts every call to an agent in flight (they fail with -ECANCELED), for a
 * quick shutdown; fleet_stopping is true from then on. */
void fleet_stop_calls(struct fleet *f);
bool fleet_stopping(struct fleet *f);
/* Stops the reconciler, waits for placements in progress, frees. */
void fleet_free(struct fleet *f);

/* Gets a route to one of tenant's VMs, the least loaded, placing a VM
 * first when the tenant has none (or, under scale-out, when all are busy and
 * it may have more), and waiting until one is ready or until deadline_us
 * (CLOCK_MONOTONIC). Returns 0, -ENOSPC (no host can take it: why says so),
 * -EIO (its placement failed: why), -ETIMEDOUT or -ECANCELED (stopping).
 * deadline_us 0 asks only for a ready VM that can take it: -EAGAIN when
 * there is none, and nothing is started. */
int fleet_route_acquire(struct fleet *f, const char *tenant, uint64_t deadline_us,
			struct fleet_route *ret, char *why, size_t why_size);
void fleet_route_release(struct fleet *f, struct fleet_route *r);
/* Takes the accounting an agent's invoke reply carries ("workers",
 * "vcpu_ms") for the route's VM. */
void fleet_route_report(struct fleet *f, struct fleet_route *r, json_t *reply);
/* Keeps the verdict an attestation of the route's VM gave, for the run the
 * route names (a later run of the VM needs a verdict of its own). */
void fleet_route_attested(struct fleet *f, const struct fleet_route *r,
			  const struct attest_verdict *v);
/* Routes to every VM of tenant placed on a host that is up, oldest first,
 * without counting them in flight (they are for calls that are not
 * invocations: the routes need no release). Returns how many (at most
 * max). */
size_t fleet_tenant_routes(struct fleet *f, const char *tenant, struct fleet_route *ret,
			   size_t max);
/* Makes sure the route's host holds the artifact, uploading it on first
 * use, the upload taking at most timeout_ms. Returns 0 or -errno
 * (-ECANCELED when the host was lost, -ETIMEDOUT past timeout_ms). */
int fleet_artifact_ensure(struct fleet *f, struct fleet_route *r, const char *digest, uint64_t size,
			  long timeout_ms);
/* Forgets that the route's host holds the artifact (it said it does not). */
void fleet_artifact_forget(struct fleet *f, struct fleet_route *r, const char *digest);
/* Tells the fleet that the route's VM is gone or dead (the agent said so):
 * the next caller or the reconciler places it again. */
void fleet_vm_lost(struct fleet *f, struct fleet_route *r, const char *why);

/* Tells the fleet that the route's host refused or dropped a connection:
 * it is marked down at once (its next heartbeat brings it back) so that
 * nothing else is sent there meanwhile. */
void fleet_host_unreachable(struct fleet *f, struct fleet_route *r, const char *why);

/* Registration (POST /v1/hosts). Returns 0 with the host's JSON in *ret, or
 * -EINVAL with what is wrong in err. */
int fleet_host_register(struct fleet *f, json_t *body, json_t **ret, char *err, size_t err_size);
/* Heartbeat. Returns 0, -ENOENT (not registered since the controller
 * started: register again), -ESTALE (another boot of the agent), -EINVAL. */
int fleet_host_heartbeat(struct fleet *f, const char *id, json_t *body);
/* Sets or clears a host's drain flag. Returns 0 with its JSON, or -ENOENT. */
int fleet_host_drain(struct fleet *f, const char *id, bool on, json_t **ret);
/* Removes a host (DELETE /v1/hosts/{id}): it leaves the list and the store,
 * nothing is placed there, and its heartbeats are refused (-ENOENT) until
 * it registers again. A host with VMs (placed there, moving off it, being
 * placed there, or, while it is up, reported by its agent) is kept unless
 * force, which loses it first as a silent host is lost: calls to it abort
 * and its VMs are placed again elsewhere. Returns 0 with the removed host's
 * JSON in *ret (ret_vms: how many VMs it had), -ENOENT, -EBUSY (it has
 * *ret_vms VMs) or -errno from the store. */
int fleet_host_remove(struct fleet *f, const char *id, bool force, json_t **ret, int *ret_vms);
/* {"hosts":[...]} as GET /v1/hosts shows it. */
json_t *fleet_hosts_json(struct fleet *f);
/* Where tenant's VMs run and what they used, as GET /v1/tenants/{tenant}
 * shows it: {"vm": the first VM's object or null, "vms": [...], "vcpu_s":
 * {"allocated", "busy"}}. */
json_t *fleet_tenant_json(struct fleet *f, const char *tenant);
/* Applies new scaling settings to tenant's running VMs: limits and policy at
 * once, a new mechanism, a larger size or a change to or from scale-out by
 * a restart when a VM is idle. */
void fleet_tenant_scaling(struct fleet *f, const char *tenant, const struct store_scaling *sc);
/* Appends the fleet's gauges, the tenants' vCPU-seconds and the decision
 * latency histogram in the Prometheus text format. */
int fleet_metrics(struct fleet *f, struct buf *out);

#endif
