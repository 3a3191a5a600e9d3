/* The guest daemon's shared state, for its own modules only: daemon.c
 * (protocol, channel, invocation queue) and cpuctl.c (worker CPU state
 * changes and uevents). Not part of the daemon's interface (daemon.h). */
#ifndef DITTO_DAEMON_INT_H
#define DITTO_DAEMON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "artifact.h"
#include "channel.h"
#include "daemon.h"
#include "hotplug.h"
#include "loop.h"
#include "runner.h"

enum wcpu_state { WCPU_OFFLINE, WCPU_STANDBY, WCPU_ACTIVE };

enum op_kind { OP_ACTIVATE, OP_STANDBY, OP_OFFLINE, OP_RELEASE };

/* A state change asked of one CPU. A CPU works through its changes in
 * arrival order, one at a time. */
struct cpu_op {
	enum op_kind kind;
	uint32_t id;       /* the request's id */
	bool hot_add;      /* started by a hot-add: report with WIRE_CPU_EVENT */
	bool job_pending;  /* job is with the helper thread */
	struct hotplug_job job;
	struct cpu_op *next;
};

/* A worker CPU as the daemon sees it. */
struct wcpu {
	int id;
	bool present;
	enum wcpu_state state;
	struct inv *running;
	struct cpu_op *ops;
};

struct daemon {
	const struct daemon_config *cfg;
	struct loop loop;
	struct channel chan;
	struct watch port_w, sig_w, uevent_w, hotplug_w;
	int sig_fd, uevent_fd;
	bool uevent_from_kernel;
	struct hotplug hp;
	struct artifact_store store;
	struct runner runner;
	struct wcpu *cpus; /* indexed by CPU id, for every possible CPU */
	int ncpus;
	struct inv *q_head, *q_tail;
	size_t queued;
	/* Whether the agent's end of a virtio-serial port is open; always true
	 * for socket and pipe channels. HELLO goes out on every connect. */
	bool host_connected;
	bool stopping;
	int result;
};

/* daemon.c: sending, and the invocation queue. */
void daemon_send_meta(struct daemon *d, uint8_t type, uint32_t id, json_t *meta);
void daemon_send_error(struct daemon *d, uint32_t id, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sends WIRE_CPU_EVENT {"cpu","event"} plus the fields of extra (stolen). */
void daemon_send_cpu_event(struct daemon *d, int cpu, const char *event, json_t *extra);
/* Starts queued invocations that have an idle CPU to run on. */
void daemon_dispatch(struct daemon *d);
/* Answers queued invocations pinned to cpu, which is leaving service. */
void daemon_fail_pinned(struct daemon *d, int cpu, const char *why);

/* cpuctl.c: worker CPU state changes, run one at a time per CPU. */
/* Queues a change for c; id 0 with hot_add for one the guest starts itself. */
void cpuctl_enqueue(struct daemon *d, struct wcpu *c, enum op_kind kind, uint32_t id,
		    bool hot_add);
/* Moves c's current change on as far as it can go now. */
void cpuctl_step(struct daemon *d, struct wcpu *c);
/* Re-reads every CPU's state from sysfs (after lost uevents). */
void cpuctl_rescan(struct daemon *d);
/* Takes c's first change off its list and frees it. */
void cpuctl_op_free(struct wcpu *c, struct cpu_op *op);
/* Loop callbacks: the helper thread finished a job; uevents arrived. */
void cpuctl_on_hotplug(struct watch *w, uint32_t events);
void cpuctl_on_uevent(struct watch *w, uint32_t events);

#endif
