/* Which controller owns a tenant: rendezvous (highest random weight)
 * hashing of the tenant's name over the ids of the live controllers. Every
 * controller that sees the same membership picks the same owner, and when a
 * controller joins or leaves, only the tenants it gains or held move: the
 * others keep their owner, since each tenant's weights for the remaining
 * controllers do not change. Pure: no state, no locks. */
#ifndef DITTO_RING_H
#define DITTO_RING_H

#include <stddef.h>
#include <stdint.h>

/* The weight of tenant on the controller named id: the first 8 bytes of
 * SHA-256(id NUL tenant), so that it is the same on every machine. */
uint64_t ring_weight(const char *id, const char *tenant);

/* The index in ids[0..n) of the controller that owns tenant: the highest
 * weight, ties going to the smaller id. Returns -1 when n is 0. */
long ring_owner(const char *tenant, const char *const *ids, size_t n);

#endif
