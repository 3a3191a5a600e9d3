/* Per-process cgroups (cgroup v2): every function process gets a leaf cgroup
 * of its own, created before it starts and joined before its exec, so that
 * killing it kills everything it started (cgroup.kill), also descendants
 * that left its process group (setsid) or were re-parented by a double fork.
 * A process that cannot take RLIMIT_AS (Node.js reserves far more address
 * space than it uses) gets memory.max and memory.swap.max = 0 in it where the
 * memory controller is there. The leaf is removed once empty. Where no
 * cgroup v2 hierarchy is mounted at the root given, the set is disabled,
 * creates nothing, and the caller falls back to killing process groups.
 * Never logs. */
#ifndef DITTO_GUEST_CGROUP_H
#define DITTO_GUEST_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#define CGROUP_DEFAULT_ROOT "/sys/fs/cgroup"

struct cgroup_stale;

/* The cgroups of one daemon. */
struct cgroups {
	int root_fd; /* -1: disabled */
	bool memory; /* the memory controller is handed to the leaves */
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

/* Opens root when it is a cgroup v2 hierarchy (the file system itself, not
 * a folder that looks like one), and where it offers the memory controller
 * enables it for its children; otherwise leaves the set disabled. root may
 * be any cgroup of the hierarchy that holds no process itself. Returns 0, or
 * -errno when the hierarchy is there but unusable (the set is then disabled
 * too). */
int cgroups_init(struct cgroups *cs, const char *root);

bool cgroups_enabled(const struct cgroups *cs);

/* Whether cgroup_create() can set a memory limit. */
bool cgroups_have_memory(const struct cgroups *cs);

/* Creates a leaf cgroup; with memory_mib > 0 also memory.max = memory_mib
 * MiB and no swap (-EOPNOTSUPP without the memory controller). A process
 * joins it by cgroup_join(). Returns 0, -EOPNOTSUPP when the set is
 * disabled, or -errno. */
int cgroup_create(struct cgroups *cs, uint32_t memory_mib, struct cgroup *ret);

/* Whether cg is a created cgroup (not an empty one). */
bool cgroup_is_set(const struct cgroup *cg);

/* Moves the calling process into cg. Async-signal-safe (for a child between
 * fork and exec). Returns 0 or -errno. */
int cgroup_join(const struct cgroup *cg);

/* Sends SIGKILL to every process in cg at once (cgroup.kill, Linux 5.14 and
 * later), including those forked while the kill runs. Returns 0, -EBADF for
 * an empty cg, or -errno (-ENOENT on an older kernel). */
int cgroup_kill(const struct cgroup *cg);

/* Closes cg and removes it (later, in cgroups_sweep(), while processes of
 * it are still exiting); cg is then empty. Accepts an empty cg. */
void cgroup_remove(struct cgroups *cs, struct cgroup *cg);

/* Tries again to remove the cgroups whose removal had to wait. */
void cgroups_sweep(struct cgroups *cs);

/* Sweeps once more and frees the set; what still cannot be removed is left. */
void cgroups_fini(struct cgroups *cs);

#endif
