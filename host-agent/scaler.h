/* The autoscaler of one VM: it feeds the VM's demand (invocations in flight,
 * running or queued in the guest) to the VM's policy (lib/policy.h) and
 * resizes the VM's worker vCPUs toward the policy's target, the path
 * PUT /workers takes, one resize at a time.
 *
 * It is event-driven: it looks again when the demand changes, when a resize
 * ends, when the VM becomes ready (or answers again), when its limits change,
 * and at the one time the policy says its target will next change (a one-shot
 * timer: an elastic keep-alive running out, a periodic policy's next tick).
 * It drives the policy in lib/policy.h's calling sequence. Under "manual" it
 * only keeps the worker count within [min_workers, max_workers].
 *
 * It also measures its decision latency: from the first rise of the
 * in-flight count that left invocations without a worker vCPU (timestamped
 * where the count changes) to the grow it decides for them, into a
 * histogram. The grow is decided when it is requested, or, while a resize
 * is under way, when the scaler finds it wants more than that resize brings
 * (it requests it as soon as that one ends: the wait is the mechanism's, in
 * its resize latency). A rise that needs no grow (enough workers, the
 * maximum reached, a fixed or manual policy) is not counted; shrinks are not
 * decisions on demand but keep-alives running out, and are not counted
 * either.
 *
 * Part of a VM: the VM tells it what happens (scaler_on_*), and it reads the
 * demand and drives the worker vCPUs through struct scaler_ops. It owns its
 * two handles. */
#ifndef DITTO_SCALER_H
#define DITTO_SCALER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "hist.h"
#include "policy.h"
#include "vcpu.h"

/* What the scaler reads and drives, each called with the data given to
 * scaler_init; vcpu.h describes the worker-vCPU calls these stand for. */
struct scaler_ops {
	/* Invocations in flight in the VM now; sampled once per loop turn. */
	unsigned (*demand)(void *data);
	/* When (uv_hrtime, ns) the in-flight count first rose since the last
	 * call, or 0 when it did not; each call forgets it. May be NULL. */
	uint64_t (*take_arrival_ns)(void *data);
	/* As vcpu_set, vcpu_active, vcpu_busy, vcpu_free_cores and
	 * vcpu_hotplug_left. */
	int (*resize)(void *data, int n, vcpu_done_fn cb, void *cb_data);
	int (*active)(void *data);
	bool (*busy)(void *data);
	int (*free_cores)(void *data);
	int (*hotplug_left)(void *data);
};

/* A VM's first scaling limits; later ones come through scaler_set. */
struct scaler_config {
	const char *name;   /* for logs (the tenant); must outlive the scaler */
	int vm_max_workers; /* the VM's worker slots: the most max_workers may be */
	struct policy policy;
	int min_workers, max_workers; /* 0 <= min <= max <= vm_max_workers */
};

struct scaler {
	uv_loop_t *loop;
	const struct scaler_ops *ops;
	void *data;
	const char *name;
	int vm_max_workers;
	struct policy policy;
	int min_workers, max_workers; /* 0 <= min <= max <= vm_max_workers */
	struct policy_state history;
	uv_timer_t timer;   /* the policy's next change */
	uv_prepare_t watch; /* sees the in-flight count change, see scaler.c */
	unsigned seen_inflight;
	bool ready;        /* the VM is ready and answers: resizes may start */
	int resize_to;     /* the target of the resize of ours under way, or -1 */
	bool pending;      /* look again once the resize queue is empty */
	bool cores_short;  /* logged that free cores limit a grow */
	bool hotplug_full; /* QEMU can create no more vCPUs in this VM's life */
	uint64_t unserved_ns; /* the first arrival no grow has answered yet, or 0 */
	struct hist decisions; /* decision latency, us: arrival -> grow requested */
	int handles_open;
	void (*closed)(void *data);
};

/* Sets up the scaler of a new VM (not ready yet) with its first limits,
 * checked by the caller as scaler_set does. ops and cfg->name must outlive
 * it. */
void scaler_init(struct scaler *sc, uv_loop_t *loop, const struct scaler_config *cfg,
		 const struct scaler_ops *ops, void *data);

/* Closes its handles; cb(data) runs once they are closed. */
void scaler_close(struct scaler *sc, void (*cb)(void *data));

/* Changes the limits and the policy; applies them at once. Returns 0, -ERANGE
 * when max_workers exceeds the VM's max_workers (a larger VM needs a new
 * start), or -EINVAL when min_workers is negative or above max_workers. */
int scaler_set(struct scaler *sc, const struct policy *p, int min_workers, int max_workers);

/* Events from the VM. */
void scaler_on_ready(struct scaler *sc);        /* a fresh guest: brings it to its target */
void scaler_on_responsive(struct scaler *sc);   /* the guest answers again */
void scaler_on_unresponsive(struct scaler *sc); /* the guest stopped answering pings */
void scaler_on_down(struct scaler *sc);         /* the VM stops or died */
void scaler_on_resized(struct scaler *sc);      /* a resize (anyone's) completed */

/* Adds "min_workers", "max_workers", "policy" and "decision_us" (the decision
 * latency histogram, lib/hist.h's JSON form) to a VM's JSON. */
void scaler_to_json(const struct scaler *sc, json_t *o);

#endif
