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
	bool sev_snp; /* can launch SEV-SNP VMs (its status says "confidential": {"sev_snp": true}) */
	const char *sev_snp_reason; /* why not, as its status says; NULL: it does not say */
};

/* Picks the host for a VM that needs min_workers cores for itself and, when
 * sev_snp, a host that can launch SEV-SNP VMs: among the up, non-draining
 * hosts other than exclude (NULL: none) that can, whose unreserved cores
 * cover min_workers, the one with the most unreserved cores, then the fewest
 * VMs, then the smallest id (so the choice is deterministic). Returns the
 * index into hosts, -ENODEV when sev_snp and none of those hosts can launch
 * such a VM (placement_snp_why says why), or -ENOSPC when none has room. */
int placement_choose(const struct placement_host *hosts, size_t n, int min_workers, bool sev_snp,
		     const char *exclude);

/* Why no host can launch an SEV-SNP VM, for -ENODEV: "no host can launch an
 * SEV-SNP VM: " then each up, non-draining host other than exclude with
 * its reason ("h1: /dev/sev missing; h2: ..."), or "no host is up". */
void placement_snp_why(const struct placement_host *hosts, size_t n, const char *exclude, char *why,
		       size_t why_size);

#endif
