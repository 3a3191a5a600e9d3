/* The agent's link to its controller (--controller URL): it registers this
 * host (POST /v1/hosts with its id, address, core count, API token, a boot id
 * made at each start, and its status), then sends a heartbeat with the status
 * every --heartbeat-ms (POST /v1/hosts/{id}/heartbeat), and registers again
 * when the controller answers 404 or 409. A controller that cannot be
 * reached is tried again at each beat; changes of state are logged once.
 *
 * The HTTP client (libcurl) runs on a thread of its own, so the event loop
 * never waits on the controller: a timer on the loop builds the status JSON
 * and hands the newest one over; the thread sends it. */
#ifndef DITTO_UPLINK_H
#define DITTO_UPLINK_H

#include <stddef.h>

struct agent;
struct uplink;

/* Starts the link for a->cfg (controller_url set, the API listening and
 * a->token set). Returns 0, or a negative errno with a one-line reason in err
 * (an unreadable key file, a host id or address the controller would refuse,
 * no thread). */
int uplink_start(struct agent *a, char *err, size_t err_len, struct uplink **ret);

/* Stops sending, cancels a call in progress, joins the thread and frees the
 * link once its timer has closed. Accepts NULL. */
void uplink_stop(struct uplink *u);

#endif
