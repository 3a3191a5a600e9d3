/* Where a tenant's VM goes: a pure decision over a snapshot of the hosts,
 * so it is unit-tested without any host and a trace simulator can reuse it. */
#ifndef DITTO_PLACEMENT_H
#define DITTO_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

struct placement_host {
	const char *id;
	bool up;       /* heartbeating */
	bool draining; /* takes nothing new */
	int cores;     /* the agent's core budget */
	int reserved;  /* cores promised to the VMs placed there (their minimum worker vCPUs) */
	int vms;       /* VMs placed there */
};

/* Picks the host for a VM that needs min_workers cores for itself: among the
 * up, non-draining hosts other than exclude (NULL: none) whose unreserved
 * cores cover min_workers, the one with the most unreserved cores, then the
 * fewest VMs, then the smallest id (so the choice is deterministic). Returns
 * the index into hosts, or -ENOSPC when none fits. */
int placement_choose(const struct placement_host *hosts, size_t n, int min_workers,
		     const char *exclude);

#endif
