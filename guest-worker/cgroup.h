/* Per-process memory cgroups (cgroup v2): a function process that cannot
 * take RLIMIT_AS (Node.js reserves far more address space than it uses)
 * gets a cgroup of its own with memory.max and memory.swap.max = 0, created
 * before it starts and removed once it is reaped. Where no cgroup v2
 * hierarchy with the memory controller is mounted at the root given, the
 * set is disabled and creates nothing. Never logs. */
#ifndef DITTO_GUEST_CGROUP_H
#define DITTO_GUEST_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#define CGROUP_DEFAULT_ROOT "/sys/fs/cgroup"

struct cgroup_stale;

/* The cgroups of one daemon. */
struct cgroups {
	int root_fd; /* -1: disabled */
	uint64_t seq;
	/* Removed cgroups whose processes had not all gone yet: removal is
	 * tried again on each cgroups_sweep(). */
	struct cgroup_stale *stale;
};

/* One process's cgroup; an empty name when it has none. */
struct cgroup {
	char name[48];
	int fd; /* the cgroup's folder, or -1 */
};

/* Opens root when it is a cgroup v2 hierarchy offering the memory
 * controller, and enables that controller for its children; otherwise
 * leaves the set disabled. Returns 0, or -errno when the hierarchy is there
 * but unusable (the set is then disabled too). */
int cgroups_init(struct cgroups *cs, const char *root);

bool cgroups_enabled(const struct cgroups *cs);

/* Creates a cgroup with memory.max = memory_mib MiB and no swap. A process
 * joins it by writing "0" to its cgroup.procs (cgroup_join()). Returns 0,
 * -EOPNOTSUPP when the set is disabled, or -errno. */
int cgroup_create(struct cgroups *cs, uint32_t memory_mib, struct cgroup *ret);

/* Moves the calling process into cg. Async-signal-safe (for a child between
 * fork and exec). Returns 0 or -errno. */
int cgroup_join(const struct cgroup *cg);

/* Closes cg and removes it (later, in cgroups_sweep(), while processes of
 * it are still exiting); cg is then empty. Accepts an empty cg. */
void cgroup_remove(struct cgroups *cs, struct cgroup *cg);

/* Tries again to remove the cgroups whose removal had to wait. */
void cgroups_sweep(struct cgroups *cs);

/* Sweeps once more and frees the set; what still cannot be removed is left. */
void cgroups_fini(struct cgroups *cs);

#endif
