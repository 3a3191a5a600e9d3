/* The agent's budget of physical cores. A worker vCPU is granted one core for
 * itself while it is active: its QEMU vCPU thread is pinned there. Cores
 * outside the budget (or, when the budget is the whole machine, every core)
 * form the shared set where everything else of QEMU runs. */
#ifndef DITTO_CORES_H
#define DITTO_CORES_H

#include <sched.h>
#include <stdbool.h>
#include <sys/types.h>

#define CORES_MAX 256

struct cores {
	bool owned[CORES_MAX];   /* in the budget */
	bool granted[CORES_MAX]; /* currently given to a worker vCPU */
	cpu_set_t shared;        /* affinity for threads that hold no grant */
	int n_owned;
};

/* Parses a core list such as "0-3,6", or "all" (every core the agent may
 * use, i.e. its own affinity mask), into a budget. Returns 0, -EINVAL for a malformed spec, or -ERANGE
 * for cores the agent cannot use. */
int cores_init(struct cores *c, const char *spec);

int cores_free_count(const struct cores *c);

/* Takes a free core out of the budget. Returns the core, or -ENOSPC. */
int cores_grant(struct cores *c);

/* Returns a granted core to the budget. Unknown cores are ignored. */
void cores_release(struct cores *c, int core);

/* Pins host thread tid to one core, or to the shared set when core < 0.
 * Returns 0 or -errno (e.g. -ESRCH for a thread that has gone). */
int cores_pin_thread(const struct cores *c, pid_t tid, int core);

/* Writes the budget as a list, e.g. "0-1", into buf. */
void cores_format(const bool set[CORES_MAX], char *buf, size_t len);

#endif
