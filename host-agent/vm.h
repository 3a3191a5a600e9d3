/* A tenant VM: one QEMU process, its QMP connection, its guest channel and
 * its worker vCPUs. vm.c owns the lifecycle (start, ready, death, stop);
 * vcpu.c grows and shrinks worker vCPUs; invoke.c relays invocations. */
#ifndef DITTO_VM_H
#define DITTO_VM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "policy.h"
#include "qemu.h"
#include "scaler.h"

#define VM_MAX_CPUS 128
#define VM_TENANT_MAX 63

struct agent;
struct vm;
struct qmp_client;
struct guest_chan;
struct vcpu_op;

enum vm_state {
	VM_BOOTING = 0,
	VM_READY,
	VM_UNRESPONSIVE, /* QEMU runs but the guest stopped answering pings */
	VM_DEAD,         /* QEMU exited without being asked to */
	VM_STOPPING,
	VM_STOPPED,
};

const char *vm_state_name(enum vm_state s);

struct vm_spec {
	char tenant[VM_TENANT_MAX + 1];
	enum vcpu_mech mech;
	int max_workers;
	int memory_mib;
	int standby;       /* precreated: online idle worker vCPUs kept ready */
	int hotplug_slots; /* hotplug: vCPUs QEMU may ever create */
	/* First scaling limits (later ones: scaler_set). A zeroed spec means
	 * min 0 and the manual policy. */
	int min_workers;
	struct policy policy;
};

enum worker_state {
	W_ABSENT = 0, /* hotplug: no vCPU in this slot */
	W_DORMANT,    /* exists, offline in the guest: its host thread sleeps */
	W_WARMING,    /* being brought to standby in the background */
	W_STANDBY,    /* online in the guest, no work, no core */
	W_GROWING,    /* on its way to active */
	W_ACTIVE,     /* runs invocations on a granted core */
	W_SHRINKING,  /* on its way out */
};

const char *worker_state_name(enum worker_state s);

struct worker {
	struct vm *vm;
	int cpu; /* guest CPU number; equals the QEMU core-id */
	enum worker_state state;
	int core;  /* granted host core, -1 when none */
	pid_t tid; /* host thread of the vCPU, 0 when unknown */
	char dev_id[24];
	/* Progress of the current step, in µs since it was requested. */
	uint64_t t_req_ns;
	int64_t added_us, seen_us, active_us, released_us;
	int64_t guest_online_us, guest_probe_us;
	bool pinned, guest_done;
	enum worker_state settle; /* where a shrink leaves it: standby or dormant */
	struct vcpu_op *op;
};

typedef void (*vm_ready_fn)(struct vm *vm, int status, void *data);

struct vm_waiter {
	struct vm_waiter *next;
	vm_ready_fn cb;
	void *data;
};

struct vm {
	struct vm *next;
	struct agent *agent;
	struct vm_spec spec;
	enum vm_state state;
	char dir[PATH_MAX];
	char died_reason[128];
	enum accel accel;

	uv_process_t *proc; /* NULL once QEMU has exited */
	bool proc_running;
	pid_t pid;
	struct qmp_client *qmp;
	struct guest_chan *chan;
	uv_timer_t ping_timer;
	uv_timer_t kill_timer;
	uv_timer_t ops_kick; /* runs queued resizes from the loop, never inline */
	uv_timer_t op_timer; /* the running resize's deadline */
	uv_timer_t boot_timer;
	uv_pipe_t *qmp_listen, *chan_listen; /* until QEMU connects */
	char kill_reason[128]; /* why the agent killed QEMU, if it did */
	char lost_reason[64];  /* a connection to QEMU that closed */
	int handles_open;
	bool freeing;

	bool qmp_ready, guest_hello, restart_pending;
	uint64_t t_spawn_ns;
	int64_t boot_ms;        /* spawn -> guest HELLO */
	int64_t guest_uptime_ms;
	int generation;         /* bumps on each start */

	/* Worker vCPUs: workers[i] is guest CPU i+1 (CPU 0 is the control CPU). */
	struct worker workers[VM_MAX_CPUS];
	int n_workers;          /* usable slots: max_workers */
	char cpu_type[64];      /* hotplug driver from query-hotpluggable-cpus */
	int hotplug_created;    /* vCPUs ever created (QEMU caps this at maxcpus) */
	int hotplug_removed;    /* vCPUs unplugged in this VM's life */
	struct vcpu_op *ops_head, *ops_tail; /* resizes run one at a time */

	/* Artifacts already pushed into this guest (by digest). */
	char (*pushed)[65];
	size_t n_pushed, cap_pushed;

	unsigned inflight; /* invocations sent to the guest, not yet answered */
	uint64_t invocations;

	struct vm_waiter *waiters;
	json_t *last_error;

	struct scaler scaler;
};

/* Starts a VM for spec. Returns 0 and calls cb once the guest is ready (or
 * failed to be), or returns <0 without calling it: -EEXIST, -ENOENT (no guest
 * image), -EINVAL (also for min_workers outside 0..max_workers), or -errno
 * from spawning. Its scaling limits start as min_workers..max_workers under
 * spec->policy, and stay through restarts. */
int vm_start(struct agent *a, const struct vm_spec *spec, vm_ready_fn cb, void *data,
	     struct vm **ret);

/* Stops the VM (QMP quit, then SIGKILL after a grace period) and frees it once
 * QEMU has exited. Pending work fails with -ECANCELED. */
void vm_stop(struct vm *vm);

/* Stops QEMU if it runs and starts it again with the same spec. cb as for
 * vm_start. Returns 0 or <0 without calling cb. */
int vm_restart(struct vm *vm, vm_ready_fn cb, void *data);

/* Adds a callback for when the VM next becomes ready (or fails). */
int vm_wait_ready(struct vm *vm, vm_ready_fn cb, void *data);

bool vm_is_ready(const struct vm *vm);
int vm_active_workers(const struct vm *vm);

/* A JSON description for the operator API. */
json_t *vm_to_json(const struct vm *vm);

/* The QEMU process's resident and proportional set sizes in KiB, or -1. */
long vm_qemu_rss_kib(const struct vm *vm);
long vm_qemu_pss_kib(const struct vm *vm);

/* For vcpu.c and invoke.c. */
struct qmp_client *vm_qmp(struct vm *vm);
struct guest_chan *vm_chan(struct vm *vm);
struct worker *vm_worker_by_cpu(struct vm *vm, int cpu);

#endif
