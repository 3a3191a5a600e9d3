/* The simulator: a discrete-event model of Ditto's scaling, run against a
 * workload (bench/workload.h) with lib/policy's own code, at any scale.
 *
 * The model, as docs/simulator.md states it:
 *   - hosts, each with a budget of worker cores (a worker vCPU holds one
 *     from the start of its grow to the end of its shrink);
 *   - tenants, each with a VM (or, under scale-out, a set of one-worker
 *     VMs) placed on a host; a VM's control vCPU holds no worker core;
 *   - calls queued FIFO per VM (under scale-out per tenant, routed to the
 *     first idle VM), each running on one active worker vCPU for its
 *     duration (after the call's fixed share, and longer when touching its
 *     memory takes longer);
 *   - the agent's scaler per VM (host-agent/scaler.c): the policy observes
 *     every change of the VM's in-flight count, the target is looked at on
 *     every change, at the policy's one timer and when a resize ends; one
 *     resize at a time; a grow is cut to the host's free cores;
 *   - the controller's scale-out: one policy state per tenant fed with its
 *     total in-flight count, VMs booted toward the target (each then grows
 *     its one worker) and stopped, idle ones first, when it drops;
 *   - grow, shrink and boot latencies, and the platform's per-call overhead,
 *     drawn (seeded) from distributions measured by ditto-bench vcpu.
 *
 * Pure: no I/O (but sim_latencies_load reading its file), no clock, no
 * printing. The same inputs and seed give the same run. */
#ifndef DITTO_BENCH_SIM_H
#define DITTO_BENCH_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "policy.h"
#include "results.h"
#include "trace.h"
#include "workload.h"

/* ditto-bench simulate and ditto-bench burst (bench/simulate.c, bench/burst.c):
 * argv[0] is the command's name. Each prints its results (or one line on
 * stderr) and returns the process's exit status: 0, 1 on failure, 2 on bad
 * usage. */
int bench_simulate(int argc, char **argv);
int bench_burst(int argc, char **argv);

/* An empirical distribution: the measured samples, drawn uniformly. */
struct sim_dist {
	double *ms;
	size_t n;
};

enum sim_step {
	SIM_GROW = 0,     /* request -> the new worker runs work (from dormant/absent) */
	SIM_GROW_STANDBY, /* the same from a standby vCPU (precreated) */
	SIM_SHRINK,       /* request -> the core is released */
	SIM_BOOT,         /* VM start -> guest ready */
	SIM_CALL,         /* a call's fixed share, invoke to answer, held on its worker */
	SIM_TOUCH,        /* the function's time per MiB of memory it touches */
	SIM_WARM_CALL,    /* the same as SIM_CALL on a warm persistent process */
	SIM_STEPS
};

/* The latencies of one mechanism. A step with no samples takes 0 ms, but for
 * grow_standby, which falls back to grow, and warm_call, to call. */
struct sim_mech_lat {
	char mechanism[16]; /* "precreated" or "hotplug" */
	struct sim_dist step[SIM_STEPS];
};

#define SIM_LAT_MECHS 2

/* A latencies file:
 *   {"accel": "tcg", "qemu": "10.0.2", "source": "ditto-bench vcpu ...",
 *    "mechanisms": {"precreated": {"grow_ms": [..], "grow_standby_ms": [..],
 *      "shrink_ms": [..], "boot_ms": [..], "call_ms": [..], "touch_ms_per_mib": [..],
 *      "warm_call_ms": [..]},
 *      "hotplug": {..}}}
 * Every sample a finite number in 0..600000 ms; grow_ms, shrink_ms and
 * boot_ms non-empty for each mechanism given. */
struct sim_latencies {
	char accel[16];
	char qemu[64];
	struct sim_mech_lat mech[SIM_LAT_MECHS];
	int n_mech;
};

/* The keys of a latencies file's steps, by enum sim_step. */
extern const char *const sim_step_keys[SIM_STEPS];

/* Parses a latencies file's text. Returns 0 with *ret filled
 * (sim_latencies_free it), or -EINVAL / -ENOMEM with a one-line reason. */
int sim_latencies_parse(const char *text, size_t len, struct sim_latencies *ret, char *err,
			size_t err_size);
/* Reads and parses path. Returns as sim_latencies_parse, or -errno. */
int sim_latencies_load(const char *path, struct sim_latencies *ret, char *err, size_t err_size);
void sim_latencies_free(struct sim_latencies *l);
/* The measured default's file name: installed beside ditto-bench by the
 * build, and kept in bench/ in the source tree. */
#define SIM_LATENCIES_DEFAULT "latencies-tcg.json"

/* The latencies file to read: `given` when not NULL, else the default beside
 * the running executable, else bench/ under the current folder. Writes its
 * path into buf. Returns 0, or -ENOENT when none is there. */
int sim_latencies_find(const char *given, char *buf, size_t len);

/* The latencies of mechanism, or NULL when the file has none. */
const struct sim_mech_lat *sim_latencies_mech(const struct sim_latencies *l, const char *mechanism);

enum sim_tenancy {
	SIM_TENANTS_ONE = 0, /* every function in one tenant, as replay runs them */
	SIM_TENANTS_APP,     /* one tenant per trace application */
	SIM_TENANTS_OWNER,   /* one tenant per trace owner */
};

/* Parses "one", "app" or "owner". Returns 0 or -EINVAL. */
int sim_tenancy_parse(const char *s, enum sim_tenancy *ret);

/* Which tenant each of w's functions belongs to: tenant_of[i] for w->fns[i],
 * in 0..*n_tenants-1 (numbered in order of first appearance). tenant_of
 * holds w->n_fns entries. Returns 0. */
int sim_tenants(const struct trace *t, const struct workload *w, enum sim_tenancy how,
		uint32_t *tenant_of, uint32_t *n_tenants);

/* ditto-bench simulate's model by default: one host of this many worker
 * cores; each tenant's max is its peak (sim_tenant_peaks). */
#define SIM_DEFAULT_HOST_CORES 32
/* The persistent processes a worker vCPU keeps, the least recently used
 * going first (the guest worker's limit). */
#define SIM_WARM_PER_WORKER 8
/* The memory a call touches is cut to this by default, as replay deploys. */
#define SIM_DEFAULT_MAX_MEMORY_MB 128

/* Each tenant's peak: the most of its calls in flight at once were each to
 * run the moment it arrives (what a VM sized for the tenant's load needs),
 * clamped to 1..cap. ret holds n_tenants. Returns 0 or -ENOMEM. */
int sim_tenant_peaks(const struct workload *w, const uint32_t *tenant_of, uint32_t n_tenants,
		     int cap, int *ret);

struct sim_config {
	int hosts;               /* >= 1 */
	int host_cores;          /* worker cores per host, 1..POLICY_MAX_WORKERS */
	int tenant_min;          /* worker vCPUs (scale-out: VMs) each tenant keeps, >= 0 */
	int tenant_max;          /* worker vCPUs (scale-out: VMs) at most, 1..POLICY_MAX_WORKERS */
	const int *tenant_maxes; /* per tenant instead (same range), or NULL */
	bool cold_vms;           /* tenants' VMs boot on their first call (else up at 0) */
	/* Functions in persistent mode: a call pays call_ms the first time its
	 * function runs on a worker vCPU (a cold start), warm_call_ms after
	 * (as long as the worker lives and keeps the function's process among
	 * its SIM_WARM_PER_WORKER latest). Else process mode: call_ms always. */
	bool persistent;
	/* Every function shares one process per worker: the guest keys a
	 * persistent process by executable and memory limit, so this holds
	 * when the functions run one executable with one limit. Else (replay:
	 * one busy, but each trace function its own memory limit) each
	 * function has its own process. */
	bool one_executable;
	double max_memory_mb; /* a call's memory is cut to this (0: none touched) */
	const struct sim_mech_lat *lat;
	uint64_t seed;
	const uint32_t *tenant_of; /* per workload function, see sim_tenants */
	uint32_t n_tenants;
};

/* What a run did beyond struct run. */
struct sim_stats {
	uint64_t events;
	uint64_t resizes, boots;
	uint64_t grows_cut; /* grows limited by a host's free cores */
	double end_ms;      /* the last completion, or the window's end if later */
};

/* Runs policy p over w with c's model, filling r (run_init'ed for w): each
 * call's latency, status and cold start, the exact allocation timeline (the
 * worker vCPUs holding a host core, over all tenants), vcpu_s_allocated
 * (integrated up to the window's end or the last completion, whichever is
 * later) and vcpu_s_busy. Returns 0, -EINVAL for a bad config or a manual
 * policy, or -ENOMEM. */
int sim_run(const struct sim_config *c, const struct workload *w, const struct policy *p,
	    struct run *r, struct sim_stats *stats);

/* The paper's microbenchmark on the model: `tasks` calls of task_ms each,
 * sent at once at time 0 to one tenant with 0 worker vCPUs, max `tasks`, on
 * one host of `tasks` cores (base gives the latencies and the seed; its
 * other fields are ignored). The tenant's VM is up and settled at 0, so a
 * periodic policy's first tick is one period after the burst (its worst
 * phase). Writes when the last call was answered, from the burst. Returns 0,
 * -EINVAL or -ENOMEM. */
int sim_burst(const struct sim_config *base, int tasks, double task_ms, const struct policy *p,
	      double *ret_completion_ms);

/* --compare: reads a replay's --json summary from path and, for each policy
 * both ran, sets the differences of `ours` (a simulation's summary) from it:
 * p50 and p99 latency and allocated vCPU-seconds, as values and relative
 * errors. Adds them as "compare" to into when not NULL, else prints them as a
 * table on out. Warns on stderr when the two summaries' window, scaling or
 * invocations differ. Returns 0, or -errno after one line on stderr. */
int sim_compare(const char *path, json_t *ours, json_t *into, FILE *out);

#endif
