/* Relaying a request to the controller that owns its tenant.
 *
 * Several controllers share one store (cluster.h); each tenant has one
 * owner among the live ones, and what lives in memory about a tenant (its
 * invocations in flight and concurrency slots, its async queue, its VMs)
 * lives with its owner. A request whose route is marked as the owner's
 * (enum api_owner) that reaches another controller is relayed to the owner
 * once authenticated and read: the method, path and query, the headers
 * Authorization, Content-Type and X-Ditto-*, and the body as opaque bytes,
 * with X-Ditto-Forwarded-By: <this controller's id> added. The owner's reply
 * comes back unchanged (status, body, Content-Type, Retry-After and its
 * X-Ditto-* headers), with X-Ditto-Forwarded-To: <the owner's id>.
 *
 * A request that carries X-Ditto-Forwarded-By is always served where it
 * lands, so that two controllers whose views differ for a moment never relay
 * it back and forth. When the owner cannot be reached (no connection), the
 * request is served here (the membership drops the owner within the peer
 * timeout) and counted; when the owner was lost once it had the request, the
 * caller gets 502 controller_lost, since the call may have started there. */
#ifndef DITTO_FORWARD_H
#define DITTO_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

struct controller;
struct request;

/* Whether an incoming header is relayed: Authorization, Content-Type and
 * X-Ditto-* but X-Ditto-Forwarded-By (the relay sets its own); any case. */
bool forward_header_kept(const char *name);

/* Whether a reply header from the owner goes back to the caller:
 * Content-Type, Retry-After and X-Ditto-*; any case. */
bool forward_reply_header_kept(const char *name, size_t len);

/* Relays r to its tenant's owner when that is another controller and r was
 * not relayed already. Returns true when r has its reply (the owner's, or
 * 502 controller_lost), false when it is to be served here. */
bool forward_request(struct request *r);

/* Hands tenant's owner, when that is another controller, the concurrency
 * limit just stored here for it (a tenant made with one), so that the
 * owner's invoker, which holds every limit in memory, takes it: PUT
 * /v1/tenants/{tenant}/scaling {"concurrency": N} under the caller's (admin)
 * key. Best effort: a failure is logged; the owner reads every limit from
 * the store at its start and when the membership changes. */
void forward_concurrency(struct request *r, const char *tenant, int concurrency);

/* Whether the membership changed since the last call (true on the first):
 * the tenants this controller owns may have changed, so their limits are to
 * be read again. */
bool forward_membership_moved(struct controller *c);

#endif
