/* A VM's worker-vCPU accounting: how many worker vCPUs hold a host core
 * (allocated) and how many run an invocation (busy), integrated over time
 * into vCPU-milliseconds. Pure: the caller passes the time (ns on one
 * monotonic clock) and tells it every change of the two levels; a reading
 * integrates up to the time it is asked for, so it is exact then too. */
#ifndef DITTO_USAGE_H
#define DITTO_USAGE_H

#include <stdint.h>

#include <jansson.h>

struct usage {
	uint64_t t_ns;     /* the last change (or the start) */
	int allocated;     /* worker vCPUs granted a host core since t_ns */
	int busy;          /* worker vCPUs running an invocation since t_ns */
	uint64_t alloc_ns; /* integrals up to t_ns, in vCPU-nanoseconds */
	uint64_t busy_ns;
};

/* Starts at time now_ns with nothing allocated and nothing integrated. */
void usage_init(struct usage *u, uint64_t now_ns);

/* The levels are allocated and busy (each clamped at 0) from now_ns on. A
 * now_ns before the last change is taken as that change's time. */
void usage_set(struct usage *u, uint64_t now_ns, int allocated, int busy);

/* The vCPU-milliseconds integrated up to now_ns (rounded down). */
void usage_read(const struct usage *u, uint64_t now_ns, uint64_t *ret_alloc_ms,
		uint64_t *ret_busy_ms);

/* {"allocated": N, "busy": N} in vCPU-ms up to now_ns (a new reference). */
json_t *usage_to_json(const struct usage *u, uint64_t now_ns);

#endif
