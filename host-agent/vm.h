/* A tenant VM: one QEMU process, its QMP connection, its guest channel and
 * its worker vCPUs. vm.c owns the lifecycle (start, ready, death, stop) and
 * three parts that each own their state and report back through hooks:
 * vcpu.c grows and shrinks worker vCPUs, scaler.c decides how many there
 * should be, invoke.c relays invocations. Other files use a VM through the
 * functions below; the struct is visible so its parts can be embedded. */
#ifndef DITTO_VM_H
#define DITTO_VM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "invoke.h"
#include "policy.h"
#include "qemu.h"
#include "scaler.h"
#include "snp_host.h"
#include "usage.h"
#include "vcpu.h"
#include "vm_ports.h"

#define VM_TENANT_MAX 63

struct vm;
struct qmp_client;
struct guest_chan;

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
	/* precreated: online idle worker vCPUs kept ready, unless the policy
	 * says (policy_standby) */
	int standby;
	int hotplug_slots; /* hotplug: vCPUs QEMU may ever create */
	/* First scaling limits (later ones: vm_set_scaling). A zeroed spec means
	 * min 0 and the manual policy. */
	int min_workers;
	struct policy policy;
	/* sev-snp needs precreated vCPUs and a host that can run it. */
	enum confidential confidential;
	/* The HOST_DATA a sev-snp VM is launched with (the commitment to the
	 * tenant secret its guest accepts); kept but unused with none. */
	bool has_host_data;
	uint8_t host_data[QEMU_SNP_HOST_DATA_SIZE];
};

/* The host's SEV-SNP setup, for confidential VMs: found once at agent start
 * (snp_host_check) and the same for every VM. */
struct vm_snp {
	bool supported;
	char reason[SNP_HOST_REASON_MAX]; /* why not, when not supported */
	struct qemu_snp launch;           /* the OVMF, policy, C-bit and vCPU model */
};

typedef void (*vm_ready_fn)(struct vm *vm, int status, void *data);

/* What VMs take from the host agent, which keeps it for their lifetime. */
struct vm_env {
	uv_loop_t *loop;
	struct cores *cores; /* the budget worker vCPUs take their cores from */
	struct artifacts *store;
	const struct guest_image *image;
	enum accel accel;
	const char *qemu; /* the binary */
	int qemu_major;
	const char *qemu_version;
	const char *data_dir; /* VM run folders go in DATA/vms/TENANT */
	int ping_interval_ms, ping_timeout_ms, boot_timeout_ms;
	int max_timeout_ms;       /* the longest function timeout */
	unsigned max_inflight;    /* invocations per VM sent and unanswered */
	const struct vm_snp *snp; /* never NULL */
	const char *wire_capture; /* copy guest channel bytes into this folder, or NULL */
	enum guest_ports guest_ports; /* per-cpu: a port per worker CPU (vm_ports.h) */
	/* A VM is gone for good; called with data. */
	void (*gone)(struct vm *vm, void *data);
	void *data;
};

struct vm_waiter {
	struct vm_waiter *next;
	vm_ready_fn cb;
	void *data;
};

struct vm {
	struct vm *next; /* the agent's list of VMs (agent.c links it) */
	const struct vm_env *env;
	struct vm_spec spec;
	enum vm_state state;
	char dir[PATH_MAX];
	char died_reason[128];
	enum accel accel;
	/* sev-snp: the launch digest its reports must show, in hex; "" else */
	char measurement[SNP_DIGEST_HEX_SIZE];

	uv_process_t *proc; /* NULL once QEMU has exited */
	bool proc_running;
	pid_t pid;
	/* QEMU's memory as last read from /proc (-1: unknown), at most every
	 * VM_MEMORY_SAMPLE_NS (vm_json.c): smaps_rollup costs milliseconds. */
	long rss_kib, pss_kib;
	uint64_t memory_at_ns; /* uv_hrtime of that read; 0: never */
	struct qmp_client *qmp;
	struct guest_chan *chan;
	uv_timer_t ping_timer;
	uv_timer_t kill_timer;
	uv_timer_t boot_timer;
	uv_pipe_t *qmp_listen, *chan_listen; /* until QEMU connects */
	char kill_reason[128];               /* why the agent killed QEMU, if it did */
	char lost_reason[64];                /* a connection to QEMU that closed */
	int handles_open;
	bool freeing;

	bool qmp_ready, guest_hello, restart_pending;
	uint64_t t_spawn_ns;
	int64_t boot_ms; /* spawn -> guest HELLO */
	int64_t guest_uptime_ms;

	struct vm_waiter *waiters;

	/* The parts, each owning its state. */
	struct vcpu vcpu;
	struct scaler scaler;
	struct invoke invoke;
	struct vm_ports ports; /* per-cpu: the worker CPU ports */
	/* Worker vCPUs allocated and busy, integrated over the VM object's
	 * life (restarts included), on uv_hrtime. */
	struct usage usage;
};

/* Checks a spec as vm_start does: 0 or -EINVAL (a bad tenant name, sizes
 * out of range, min_workers outside 0..max_workers, too few hotplug slots, a
 * policy refused as vm_policy_refusal says, sev-snp under hotplug). */
int vm_spec_check(const struct vm_spec *spec);

/* Why a VM of this mechanism and size cannot run policy p, as a sentence
 * for the operator, or NULL when it can: scale-out (the controller gives
 * each of a tenant's VMs fixed:1), a standby over max_workers, or a standby
 * under hotplug (only precreated vCPUs have one). */
const char *vm_policy_refusal(enum vcpu_mech mech, int max_workers, const struct policy *p);

/* Starts a VM for spec in env, which must outlive it. Returns 0 and calls cb
 * once the guest is ready (or failed to be), or returns <0 without calling
 * it: -EINVAL (see vm_spec_check), -ENOENT (no guest image), -ENOTSUP
 * (sev-snp on a host without it), what snp_launch_measure returns, or
 * -errno from spawning. A sev-snp VM's expected launch digest is computed
 * here, once. Its scaling limits start as min_workers..max_workers under
 * spec->policy, and stay through restarts. env->gone is called when a VM
 * started here is stopped for good, just before it is freed. */
int vm_start(const struct vm_env *env, const struct vm_spec *spec, vm_ready_fn cb, void *data,
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

/* Why the VM is not running, or "" while it is. */
const char *vm_reason(const struct vm *vm);

/* The worker vCPU slots the VM was started with (spec max_workers). */
int vm_max_workers(const struct vm *vm);

/* Resizes the VM to n active worker vCPUs, as vcpu_set does. */
int vm_set_workers(struct vm *vm, int n, vcpu_done_fn cb, void *data);

/* The current scaling limits and policy, and changing them as scaler_set
 * does (-EINVAL also for a policy vm_policy_refusal refuses); the policy's
 * standby, when it has one, replaces the VM's. */
void vm_scaling(const struct vm *vm, struct policy *ret_policy, int *ret_min, int *ret_max);
int vm_set_scaling(struct vm *vm, const struct policy *p, int min_workers, int max_workers);

/* Relays an invocation to the guest, as invoke_start does (-EAGAIN when the
 * VM is not ready). */
int vm_invoke(struct vm *vm, const struct invoke_req *req, invoke_done_fn cb, void *data);

/* How long a reading of QEMU's memory serves vm_to_json. */
#define VM_MEMORY_SAMPLE_NS (5 * 1000000000ull)

/* A JSON description for the operator API; QEMU's memory is read again when
 * the last reading is older than VM_MEMORY_SAMPLE_NS. */
json_t *vm_to_json(struct vm *vm);

/* Reads QEMU's memory now, for vm_to_json (a GET of the one VM). */
void vm_sample_memory(struct vm *vm);

/* Adds "workers" (active worker vCPUs now) and "vcpu_ms" ({"allocated",
 * "busy"}: worker-vCPU-milliseconds so far, exact now) to o. */
void vm_usage_to_json(const struct vm *vm, json_t *o);

#endif
