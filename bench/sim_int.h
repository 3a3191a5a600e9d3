/* The simulator's insides, shared by its files: the engine (sim.c), a VM
 * and its scaler (sim_vm.c), tenants and the controller's scale-out
 * (sim_tenant.c). Not for use outside bench/sim*.c. */
#ifndef DITTO_BENCH_SIM_INT_H
#define DITTO_BENCH_SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "sim.h"

enum sim_ev_kind {
	SIM_EV_DONE = 1,      /* a = vm, b = call, x = its worker (struct sim_worker) */
	SIM_EV_STEP,          /* a = vm: a step of its resize ended */
	SIM_EV_WARM,          /* a = vm: a standby vCPU came online */
	SIM_EV_BOOT,          /* a = vm: its guest is ready */
	SIM_EV_VM_TIMER,      /* a = vm, b = generation */
	SIM_EV_TENANT_TIMER,  /* a = tenant, b = generation */
};

struct sim_ev {
	double t;
	uint64_t seq; /* ties in t run in the order pushed */
	enum sim_ev_kind kind;
	uint32_t a;
	uint64_t b;
	double x;
};

struct sim_heap {
	struct sim_ev *v;
	size_t n, cap;
};

struct sim_fifo {
	uint32_t *v;
	size_t head, n, cap;
};

struct sim_host {
	int granted;  /* worker cores held */
	int reserved; /* by scale-out VMs booting, for their one worker */
	int placed;   /* max workers of the VMs placed here (placement's weight) */
};

/* A worker vCPU of a VM, from its grow to its shrink. */
struct sim_worker {
	bool live;
	double since; /* activated at */
	/* Persistent mode: the functions whose process runs here, when each
	 * was last used. */
	uint32_t fn[SIM_WARM_PER_WORKER];
	double used[SIM_WARM_PER_WORKER];
	int n_warm;
};

struct sim_vm {
	uint32_t id, tenant;
	int k; /* the tenant's VM number: 0 is TENANT, k is TENANT.k */
	int host;
	bool booting; /* its boot is under way */
	bool up;      /* booted, ready: resizes may run */
	bool stopped; /* scale-out: stopped */
	int active;   /* workers that run calls */
	int running;  /* of them, running one */
	int granted;  /* workers holding a core: growing, active or shrinking */
	int reserved; /* cores reserved on its host for a grow to come */
	int standby, warming; /* online vCPUs without a core; being brought online */
	int standby_want;     /* the policy's standby (precreated only) */
	struct sim_worker *workers; /* max of them */
	/* The idle active workers (indices into workers), a stack. */
	int idle[POLICY_MAX_WORKERS];
	int n_idle;
	/* The resize under way: steps left, +1 growing, -1 shrinking, 0 none. */
	int steps_left, dir;
	bool pending;
	uint64_t timer_gen;
	uint64_t timer_at; /* armed for, or POLICY_NEVER */
	struct policy policy; /* what its scaler runs (fixed:1 under scale-out) */
	int min, max;
	struct policy_state st;
	uint32_t inflight; /* running and queued here */
	struct sim_fifo q;
	double idle_since; /* scale-out: when its last call ended */
};

struct sim_tenant {
	uint32_t id;
	struct sim_vm **vms; /* scale-out: the live ones; otherwise the one */
	size_t n_vms, cap_vms;
	int next_k;
	int max; /* its worker vCPUs (scale-out: VMs) at most */
	/* Scale-out: the controller's view. */
	struct policy_state st;
	uint32_t inflight;
	struct sim_fifo q;
	uint64_t timer_gen, timer_at;
};

struct sim {
	const struct sim_config *c;
	const struct workload *w;
	const struct policy *p;
	struct run *run;
	struct sim_stats *stats;
	bool scale_out;
	double now;
	uint64_t seq, rng;
	struct sim_heap heap;
	struct sim_host *hosts;
	struct sim_tenant *tenants;
	struct sim_vm **vms; /* every VM ever, by id */
	size_t n_vms, cap_vms;
	int granted;               /* worker cores held, all hosts */
	double busy_ms, last_done; /* worker time running calls; the last answer */
};

/* sim.c */
int sim_push(struct sim *s, double t, enum sim_ev_kind kind, uint32_t a, uint64_t b, double x);
double sim_draw(struct sim *s, enum sim_step step);
int sim_fifo_push(struct sim_fifo *q, uint32_t call);
uint32_t sim_fifo_pop(struct sim_fifo *q);
/* Adds delta cores to vm's (and its host's, and the total) at s->now. */
int sim_cores_change(struct sim *s, struct sim_vm *vm, int delta);
int sim_host_free(const struct sim *s, int host);
/* Starts call on one of vm's idle workers (there must be one). */
int sim_call_start(struct sim *s, struct sim_vm *vm, uint32_t call);

/* sim_vm.c: a VM and its agent-side scaler. */
/* Takes the worker (an index) of vm that the guest picks for fn's call off
 * the idle stack (there must be one): one warm for fn (for the one
 * executable when all share it) first, in persistent mode. Sets *warm when
 * it is. */
int sim_vm_take_worker(struct sim *s, struct sim_vm *vm, uint32_t fn, bool *warm);
struct sim_vm *sim_vm_new(struct sim *s, struct sim_tenant *t, int host, const struct policy *p,
			  int min, int max);
/* The scaler's evaluate (host-agent/scaler.c): toward the target, one
 * resize at a time. */
int sim_vm_evaluate(struct sim *s, struct sim_vm *vm);
/* The VM's in-flight count changed: the policy observes it, then evaluate. */
int sim_vm_demand(struct sim *s, struct sim_vm *vm);
/* A VM that is up from the start, at its target already (the window starts
 * on a settled platform). */
int sim_vm_settle(struct sim *s, struct sim_vm *vm);
int sim_vm_boot(struct sim *s, struct sim_vm *vm);
int sim_vm_booted(struct sim *s, struct sim_vm *vm);
int sim_vm_step(struct sim *s, struct sim_vm *vm);
int sim_vm_warmed(struct sim *s, struct sim_vm *vm);
/* A call for a tenant with one VM: queued on it, started when a worker is
 * idle. */
int sim_vm_arrival(struct sim *s, struct sim_vm *vm, uint32_t call);
/* A call of vm ended (its worker already back among the idle). */
int sim_vm_done(struct sim *s, struct sim_vm *vm);
/* Stops a scale-out VM: its cores go back to its host at once. */
int sim_vm_stop(struct sim *s, struct sim_vm *vm);

/* sim_tenant.c: the tenants and the controller's scale-out. */
int sim_tenants_start(struct sim *s);
int sim_so_arrival(struct sim *s, struct sim_tenant *t, uint32_t call);
int sim_so_done(struct sim *s, struct sim_vm *vm);
int sim_so_evaluate(struct sim *s, struct sim_tenant *t);

#endif
