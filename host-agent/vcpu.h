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
 * Each active worker vCPU holds one host core from the agent's budget. */
#ifndef DITTO_VCPU_H
#define DITTO_VCPU_H

#include <jansson.h>

#include "qmp.h"

struct vm;

/* status 0 when the VM has N active workers; report (borrowed) describes each
 * step: {"workers","latency_us","steps":[{"cpu","action","core",
 * "added_us","seen_us","active_us","released_us","guest_online_us",
 * "guest_probe_us"}]} where the *_us are measured on the host from the
 * request. On failure status is <0 and report names what failed. */
typedef void (*vcpu_done_fn)(struct vm *vm, int status, json_t *report, void *data);

/* Queues a resize to n active worker vCPUs; resizes of one VM run in order.
 * Returns 0 and calls cb exactly once later, or returns without calling it:
 * -ERANGE (n outside 0..max_workers), -EAGAIN (VM not ready). Errors found
 * when the resize runs reach cb: -ENOSPC (not enough free cores), -EMLINK
 * (hotplug: QEMU cannot create more vCPUs in this VM's life), -EIO (QMP or
 * guest refused a step), -ECANCELED (VM went down). */
int vcpu_set(struct vm *vm, int n, vcpu_done_fn cb, void *data);

/* Hooks from vm.c. */
void vcpu_on_ready(struct vm *vm);
void vcpu_on_guest_event(struct vm *vm, json_t *meta);
void vcpu_on_qmp_event(struct vm *vm, const struct qmp_msg *ev);
/* Fails queued resizes with reason and returns every core. */
void vcpu_on_vm_down(struct vm *vm, int reason);

/* Human-readable name for a vcpu_set error code. */
const char *vcpu_strerror(int status);

#endif
