/* A tenant's set of VMs, the pure decisions the fleet takes about it: which
 * VM a new invocation goes to, when to add a VM, which VM to stop, and the
 * worker-vCPU accounting the agents report, summed across VM restarts. No
 * locks, no clock, no I/O: the fleet passes the state in and acts on the
 * answer, so every case is a table test. */
#ifndef DITTO_VMSET_H
#define DITTO_VMSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One VM of the set as the choice sees it. */
struct vmset_vm {
	bool ready;   /* placed on a host that is up: it takes routes */
	bool placing; /* a placement works on it */
	bool backoff; /* neither: its last placement failed a moment ago */
	int inflight; /* routes in flight to it */
};

enum vmset_pick {
	VMSET_ROUTE, /* route to vms[index] */
	VMSET_ADD,   /* add a VM to the set and place it, then wait */
	VMSET_PLACE, /* place vms[index] (neither ready nor placing), then wait */
	VMSET_WAIT,  /* wait for a placement to finish or a VM to free up */
};

struct vmset_choice {
	enum vmset_pick pick;
	size_t index;
};

/* Where a new invocation goes among the n VMs of a tenant. cap is how many
 * routes a VM takes before it counts as busy (0: no limit, the one VM of a
 * tenant that scales its worker vCPUs); want is how many VMs the tenant
 * should have now (its policy's target, counting this invocation, within
 * its limits; at least 1).
 *
 * The least loaded ready VM is taken when it is not busy. Otherwise a VM
 * that is neither ready nor placing (its host was lost, or its placement
 * failed and its back-off is over) is placed again, or else a VM is added
 * while the set is smaller than want; otherwise the caller waits for a
 * placement under way, or, when none is, queues on the least loaded ready
 * VM. With nothing ready nor placing, the first VM is placed again even in
 * its back-off. */
struct vmset_choice vmset_choose(const struct vmset_vm *vms, size_t n, int cap, int want);

/* Which VM to stop when the set holds more than want: a VM neither ready
 * nor placing first, else an idle ready one (the last in the set). Returns
 * its index, or -1 when the set is not too large or every VM is busy or
 * placing. */
int vmset_stop_pick(const struct vmset_vm *vms, size_t n, int want);

/* ---- accounting ---- */

#define VMSET_HIST_MAX 32 /* decision-latency buckets kept */

/* What an agent said about one VM: its cumulative worker-vCPU milliseconds
 * since it started and, from a status (not from an invoke reply), its
 * decision-latency histogram. */
struct vmset_sample {
	int64_t pid; /* identifies the VM's run (QEMU's pid); 0: not said */
	uint64_t alloc_ms, busy_ms;
	size_t n_buckets;                 /* 0: no histogram in this sample */
	uint64_t buckets[VMSET_HIST_MAX]; /* cumulative counts */
	uint64_t count, sum_us;
};

/* The last sample taken of one placement of a VM. Zeroed: nothing seen. */
struct vmset_meter {
	int64_t pid, prev_pid;
	uint64_t alloc_ms, busy_ms;
	uint64_t buckets[VMSET_HIST_MAX];
	uint64_t count, sum_us;
};

/* What a sample adds to the totals. */
struct vmset_delta {
	uint64_t alloc_ms, busy_ms;
	uint64_t buckets[VMSET_HIST_MAX];
	uint64_t count, sum_us;
};

/* Takes a sample into m and writes what it adds to ret. The counters only
 * grow: a sample of a new run of the VM (another pid: the agent's counters
 * started again from 0) adds all it holds; a late sample of the run before
 * (the previous pid) or one lower than what was seen (an older report
 * arriving late) adds nothing. */
void vmset_meter_take(struct vmset_meter *m, const struct vmset_sample *s, struct vmset_delta *ret);
/* A new placement of the VM whose run is pid (0: not known yet) on the
 * same meter: samples of the run before no longer count. */
void vmset_meter_restart(struct vmset_meter *m, int64_t pid);

#endif
