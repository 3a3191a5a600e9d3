/* The autoscaler of one VM: it feeds the VM's demand (invocations in flight,
 * running or queued in the guest) to the VM's policy (lib/policy.h) and
 * resizes the VM toward the policy's target through vcpu_set, the path
 * PUT /workers takes, one resize at a time.
 *
 * It is event-driven: it looks again when the demand changes, when a resize
 * ends, when the VM becomes ready (or answers again), when its limits change,
 * and at the one time the policy says its target will next drop (a one-shot
 * timer). Under "manual" it only keeps the worker count within
 * [min_workers, max_workers]. */
#ifndef DITTO_SCALER_H
#define DITTO_SCALER_H

#include <stdbool.h>

#include <jansson.h>
#include <uv.h>

#include "policy.h"

struct vm;

/* Part of struct vm; vm.c owns its two handles' lifetime. */
struct scaler {
	struct policy policy;
	int min_workers, max_workers; /* 0 <= min <= max <= the VM's max_workers */
	struct policy_state history;
	uv_timer_t timer;      /* the policy's next change */
	uv_prepare_t watch;    /* sees the in-flight count change, see scaler.c */
	unsigned seen_inflight;
	int resize_to;         /* the target of the resize of ours under way, or -1 */
	bool pending;          /* look again once the resize queue is empty */
	bool cores_short;      /* logged that free cores limit a grow */
	bool hotplug_full;     /* QEMU can create no more vCPUs in this VM's life */
};

/* Sets up the scaler of a new VM with its first limits (checked by the
 * caller, see scaler_set) and its two handles, whose data is vm. */
void scaler_init(struct vm *vm, const struct policy *p, int min_workers, int max_workers);

/* Closes the two handles; cb runs for each (the VM counts them). */
void scaler_close(struct vm *vm, uv_close_cb cb);

/* Changes the limits and the policy; applies them at once. Returns 0, -ERANGE
 * when max_workers exceeds the VM's max_workers (a larger VM needs a new
 * start), or -EINVAL when min_workers is negative or above max_workers. */
int scaler_set(struct vm *vm, const struct policy *p, int min_workers, int max_workers);

/* Hooks from vm.c and vcpu.c. */
void scaler_on_ready(struct vm *vm);      /* a fresh guest: brings it to its target */
void scaler_on_responsive(struct vm *vm); /* the guest answers again */
void scaler_on_resized(struct vm *vm);    /* a resize (anyone's) completed */

/* Adds "min_workers", "max_workers" and "policy" to a VM's JSON. */
void scaler_to_json(const struct vm *vm, json_t *o);

#endif
