/* The agent's link to one controller (--controller URL; an agent has a link
 * per controller, each on its own thread): it registers this host
 * (POST /v1/hosts with its id, address, core count, API token, a boot id
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

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

struct uplink;

/* What the link sends and where; the strings are copied at start. */
struct uplink_config {
	const char *controller_url; /* http:// or https:// */
	const char *controller_key; /* sent as "Authorization: Bearer KEY"; NULL: none */
	const char *host_id;        /* NULL: the machine's hostname */
	const char *address;        /* the URL the controller calls this agent at */
	const char *token;          /* the token the agent's API requires ("" for none) */
	int cores;                  /* the host's core budget */
	int heartbeat_ms;
};

/* Whether url is a controller URL the link takes: http:// or https://, no
 * space, quote or control character, under 256 bytes. */
bool uplink_url_is_valid(const char *url);

/* Builds the status a registration or heartbeat carries: a new reference, or
 * NULL to skip this beat. Called on the loop's thread (from a timer), never
 * on the link's own, so it may read whatever the loop owns. */
typedef json_t *(*uplink_status_fn)(void *data);

/* Starts the link on loop: a timer there calls status_json(data) every
 * cfg->heartbeat_ms and hands the result to the link's thread. Returns 0, or
 * a negative errno with a one-line reason in err (a URL, host id or address
 * the controller would refuse, no thread). */
int uplink_start(uv_loop_t *loop, const struct uplink_config *cfg, uplink_status_fn status_json,
		 void *data, char *err, size_t err_len, struct uplink **ret);

/* Stops sending, cancels a call in progress, joins the thread and frees the
 * link once its timer has closed. Accepts NULL. */
void uplink_stop(struct uplink *u);

#endif
