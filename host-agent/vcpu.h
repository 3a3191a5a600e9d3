/* Worker vCPU elasticity: grow or shrink a VM to N active worker vCPUs with
 * one of two mechanisms behind the same call.
 *
 *   hotplug     device_add a vCPU through QMP; the guest sees the uevent,
 *               onlines it and starts using it. Shrink: the guest drains it,
 *               then device_del.
 *   precreated  every worker vCPU exists from launch, dormant (offline in the
 *               guest). Grow: grant a host core (pin the vCPU thread) and ask
 *               the guest to activate it; a standby of online idle vCPUs
 *               keeps the slow online step off this path. Shrink: the guest
 *               drains it back to standby or offline, then the core is
 *               revoked.
 *
 * Each active worker vCPU holds one host core from the agent's budget.
 *
 * A struct vcpu is part of its VM, the way a libuv handle is part of its
 * owner: the owner gives it the loop, the core budget and its limits, tells
 * it what happens to the VM (vcpu_on_*), and hears back through hooks. It
 * owns the worker slots, the queue of resizes and its two timers. */
#ifndef DITTO_VCPU_H
#define DITTO_VCPU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "cores.h"
#include "qemu.h"
#include "qmp.h"

/* vCPUs of one VM, the control CPU 0 included. */
#define VM_MAX_CPUS 128

struct qmp_client;
struct guest_chan;
struct vcpu;
struct vcpu_op;

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
	struct vcpu *vcpu;
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

/* What the owner decides once, at vcpu_init. */
struct vcpu_limits {
	const char *name; /* for logs (the tenant); must outlive the vcpu */
	enum vcpu_mech mech;
	int max_workers;   /* worker slots: guest CPUs 1..max_workers */
	int standby;       /* precreated: online idle worker vCPUs kept ready */
	int hotplug_slots; /* hotplug: vCPUs QEMU may ever create (maxcpus) */
	int qemu_major;    /* QEMU before 8 cannot add a vCPU after a removal */
	const char *qemu_version;
	int max_timeout_ms; /* the longest function timeout: bounds a shrink */
};

/* How a vcpu reaches its VM. Each is called with the data given to vcpu_init. */
struct vcpu_hooks {
	/* The VM's QMP client and guest channel, or NULL while there is none. */
	struct qmp_client *(*qmp)(void *data);
	struct guest_chan *(*chan)(void *data);
	/* A resize (anyone's) completed, after its own callback. May be NULL. */
	void (*resized)(void *data);
	/* The host cores granted to workers, or the active workers, changed
	 * (vcpu_granted, vcpu_active). May be NULL. */
	void (*changed)(void *data);
};

struct vcpu {
	uv_loop_t *loop;
	struct cores *cores;
	struct vcpu_limits limits;
	const struct vcpu_hooks *hooks;
	void *data;
	bool ready; /* resizes may start: between vcpu_on_ready and stop or down */
	/* Worker vCPUs: workers[i] is guest CPU i+1 (CPU 0 is the control CPU). */
	struct worker workers[VM_MAX_CPUS];
	int n_workers;                       /* usable slots: max_workers */
	char cpu_type[64];                   /* hotplug driver from query-hotpluggable-cpus */
	int hotplug_created;                 /* vCPUs ever created (QEMU caps this at maxcpus) */
	int hotplug_removed;                 /* vCPUs unplugged in this VM's life */
	struct vcpu_op *ops_head, *ops_tail; /* resizes run one at a time */
	uv_timer_t ops_kick;                 /* runs queued resizes from the loop, never inline */
	uv_timer_t op_timer;                 /* the running resize's deadline */
	int handles_open;
	void (*closed)(void *data);
};

/* status 0 when the VM has N active workers; report (borrowed) describes each
 * step: {"workers","latency_us","steps":[{"cpu","action","core",
 * "added_us","seen_us","active_us","released_us","guest_online_us",
 * "guest_probe_us"}]} where the *_us are measured on the host from the
 * request. On failure status is <0 and report names what failed. */
typedef void (*vcpu_done_fn)(int status, json_t *report, void *data);

/* Sets up v for a VM that has not booted yet: every slot absent, not ready.
 * cores (the agent's budget), limits->name and hooks must outlive v. */
void vcpu_init(struct vcpu *v, uv_loop_t *loop, struct cores *cores,
	       const struct vcpu_limits *limits, const struct vcpu_hooks *hooks, void *data);

/* Closes v's handles; cb(data) runs once they are closed. Resizes must have
 * ended (vcpu_on_vm_down) before. */
void vcpu_close(struct vcpu *v, void (*cb)(void *data));

/* Queues a resize to n active worker vCPUs; resizes of one VM run in order.
 * Returns 0 and calls cb exactly once later, or returns without calling it:
 * -ERANGE (n outside 0..max_workers), -EAGAIN (VM not ready). Errors found
 * when the resize runs reach cb: -ENOSPC (not enough free cores), -EMLINK
 * (hotplug: QEMU cannot create more vCPUs in this VM's life), -EIO (QMP or
 * guest refused a step), -ETIMEDOUT, -ECANCELED or -EPIPE (VM went down). */
int vcpu_set(struct vcpu *v, int n, vcpu_done_fn cb, void *data);

/* True while a resize runs or waits in the queue. */
bool vcpu_busy(const struct vcpu *v);

/* Active worker vCPUs. */
int vcpu_active(const struct vcpu *v);

/* Whether guest CPU cpu is an active worker (runs invocations) now. */
bool vcpu_cpu_is_active(const struct vcpu *v, int cpu);
/* Worker vCPUs holding a host core: the active ones, and those on their way
 * in or out. */
int vcpu_granted(const struct vcpu *v);

/* Precreated: keeps standby worker vCPUs online and idle from now on (0 for
 * none), warming more at once when the VM is ready. A smaller standby takes
 * effect as workers shrink: the vCPUs already in standby stay there until a
 * grow takes them. */
void vcpu_set_standby(struct vcpu *v, int standby);

/* Free host cores in the budget, i.e. how many workers a grow could add. */
int vcpu_free_cores(const struct vcpu *v);

/* Hotplug: vCPUs QEMU can still create in this VM's life (the boot CPU
 * counts against maxcpus). INT_MAX under precreated, which has no such cap. */
int vcpu_hotplug_left(const struct vcpu *v);

/* The worker slots that exist, [{"cpu","state","core","host_tid"}]. */
json_t *vcpu_workers_json(const struct vcpu *v);

/* ---- what the owner tells it about the VM ---------------------------------- */

/* A new QEMU is starting: every slot absent, counters zeroed, not ready. */
void vcpu_reset(struct vcpu *v);

/* QEMU's answer to query-hotpluggable-cpus (NULL when it failed). Returns 0
 * when the hotplug CPU driver is known, -ENODEV when not. */
int vcpu_on_hotpluggable(struct vcpu *v, const json_t *value);

/* QEMU's answer to query-cpus-fast at boot: the vCPUs that exist, with their
 * host threads, become dormant workers. */
void vcpu_on_boot_cpus(struct vcpu *v, const json_t *value);

/* The guest is ready: resizes may run, and the standby is warmed. */
void vcpu_on_ready(struct vcpu *v);

/* The VM is being stopped: no resize starts any more (queued ones that were
 * about to start fail with -EAGAIN, the others wait for vcpu_on_vm_down). */
void vcpu_on_stopping(struct vcpu *v);

/* A WIRE_CPU_EVENT's meta, and a QMP event. */
void vcpu_on_guest_event(struct vcpu *v, json_t *meta);
void vcpu_on_qmp_event(struct vcpu *v, const struct qmp_msg *ev);

/* QEMU is gone: fails queued resizes with reason and returns every core. */
void vcpu_on_vm_down(struct vcpu *v, int reason);

/* Human-readable name for a vcpu_set error code. */
const char *vcpu_strerror(int status);

#endif
