/* The worker CPU state machine of the guest: every worker CPU is offline,
 * standby (online, no work) or active (takes invocations). Requests to change
 * a CPU's state queue per CPU and run one at a time, in arrival order; the
 * slow sysfs writes go to the CPU helper thread (cpu_helper.h), and the
 * kernel's CPU uevents (hot-add, hot-remove, changes nobody asked for) keep
 * the table in line with the kernel.
 *
 * A struct cpuctl owns the CPU table, the helper thread, the uevent socket
 * and their watches on the owner's loop. It never calls into its owner: it
 * reports through the hooks of struct cpuctl_ops, each given the owner's
 * data pointer. The owner tells it which CPUs run an invocation
 * (cpuctl_set_busy), because a CPU leaving service waits for its invocation
 * to end. CPU 0 is the control CPU and never a worker. */
#ifndef DITTO_GUEST_CPUCTL_H
#define DITTO_GUEST_CPUCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cpu_helper.h"
#include "loop.h"

enum wcpu_state { WCPU_OFFLINE, WCPU_STANDBY, WCPU_ACTIVE };

/* The state changes a request can ask of a worker CPU. */
enum cpuctl_change {
	CPUCTL_ACTIVATE, /* online, probe, take work: reply {cpu,online_us,probe_us} */
	CPUCTL_STANDBY,  /* online, no work (drains first): reply {cpu,online_us} */
	CPUCTL_OFFLINE,  /* drain, drop warm processes, offline: reply {cpu,offline_us} */
	CPUCTL_RELEASE,  /* drain and drop warm processes, stay online: reply {cpu} */
};

struct cpu_op;

/* A worker CPU as the guest sees it. */
struct wcpu {
	int id;
	bool present;
	enum wcpu_state state;
	bool busy;          /* runs an invocation (set by the owner) */
	struct cpu_op *ops; /* changes asked of it; the first one is in progress */
};

/* How a cpuctl reports to its owner. Every hook is required. Hooks may run
 * from any cpuctl_* call except cpuctl_init and cpuctl_fini, and from the
 * loop's callbacks. */
struct cpuctl_ops {
	/* The change asked by request id succeeded; meta (a reference is
	 * stolen, NULL when out of memory) is the reply. */
	void (*reply)(void *data, uint32_t id, json_t *meta);
	/* The change asked by request id failed with this error code
	 * ("cpu_removed", "online_failed", "offline_failed", "probe_failed",
	 * "io_error") and message. */
	void (*fail)(void *data, uint32_t id, const char *code, const char *msg);
	/* Something nobody asked for happened to cpu: event is "added",
	 * "active", "activate_failed", "online", "offline" or "removed";
	 * extra holds the event's further fields (stolen, may be NULL). */
	void (*event)(void *data, int cpu, const char *event, json_t *extra);
	/* cpu is leaving service (why completes "cpu N ..."): work waiting
	 * for that CPU in particular will not get it. */
	void (*leaving)(void *data, int cpu, const char *why);
	/* The processes kept warm on cpu must go: it goes offline, is
	 * released or was removed. */
	void (*evict)(void *data, int cpu);
	/* CPUs may have come into service: called once after each burst of
	 * changes a request or a loop callback caused. */
	void (*changed)(void *data);
};

struct cpuctl {
	struct wcpu *cpus; /* indexed by CPU id, for every possible CPU */
	int ncpus;
	/* private */
	const struct cpuctl_ops *ops;
	void *data;
	struct loop *loop;
	const char *root;
	struct cpu_helper helper;
	struct watch helper_w, uevent_w;
	int uevent_fd;
	bool uevent_from_kernel;
	bool stopping;
};

/* Reads the CPU table from <sysfs_root>/devices/system/cpu (online worker
 * CPUs start standby), starts the helper thread (it inherits the calling
 * thread's CPU affinity and signal mask) and watches the helper and the
 * uevents on loop. uevent_fd -1 opens a NETLINK_KOBJECT_UEVENT socket;
 * otherwise it is a datagram socket carrying kernel-format uevents from any
 * sender, taken over in every case. sysfs_root, ops and loop must outlive
 * ctl. Returns 0, or -errno with *ret_step naming what failed; call
 * cpuctl_fini() either way. */
int cpuctl_init(struct cpuctl *ctl, struct loop *loop, const char *sysfs_root, int uevent_fd,
		const struct cpuctl_ops *ops, void *data, const char **ret_step);

/* Queues a change for worker CPU cpu, asked by request id; its answer comes
 * through reply or fail. The caller checks that cpu is a present worker
 * (cpuctl_is_worker). */
void cpuctl_request(struct cpuctl *ctl, int cpu, enum cpuctl_change change, uint32_t id);

/* Whether cpu is a present worker CPU (not CPU 0). */
bool cpuctl_is_worker(const struct cpuctl *ctl, int cpu);

/* Whether cpu can start an invocation now: present, active, not busy and
 * with no change waiting. */
bool cpuctl_takes_work(const struct cpuctl *ctl, int cpu);

/* Whether cpu is a present worker in service (active), busy or not. */
bool cpuctl_in_service(const struct cpuctl *ctl, int cpu);

/* Marks cpu as running an invocation or not. When it becomes idle, a change
 * that waited for it moves on. */
void cpuctl_set_busy(struct cpuctl *ctl, int cpu, bool busy);

/* Brings the table in line with sysfs, as if the uevents that were lost had
 * arrived. */
void cpuctl_rescan(struct cpuctl *ctl);

/* WIRE_STATUS's "cpus": [{"cpu","state","busy","draining"}] for each
 * present worker CPU, or NULL when out of memory. */
json_t *cpuctl_status_json(const struct cpuctl *ctl);

/* Stops moving changes on: the owner is shutting down. */
void cpuctl_stop(struct cpuctl *ctl);

/* Stops watching, stops the helper thread, drops the changes still queued
 * without answering them, closes the uevent socket and frees the table.
 * Accepts a cpuctl whose init failed, and a zeroed one whose init never
 * ran. */
void cpuctl_fini(struct cpuctl *ctl);

#endif
