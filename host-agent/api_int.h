/* What the agent's HTTP API files share: the per-connection request, the
 * reply helpers and the route handlers. api.c owns the request's life cycle
 * (MHD on the loop, routing, auth, replies); api_vms.c and api_invoke.c hold
 * the handlers. Not a public interface: api.h is. */
#ifndef DITTO_API_INT_H
#define DITTO_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>
#include <uv.h>

#include "agent_api.h"
#include "api.h"
#include "httpd.h"

struct api_link;
struct api_route;
struct vm;

/* The agent's HTTP server: the MHD daemon, driven from the agent's loop by a
 * poll on its epoll fd and a timer for its timeouts. */
struct api_server {
	struct api_server_ops ops;    /* what the handlers ask of the server's owner */
	void *data;                   /* the owner's, passed to each of ops */
	struct api_server_config cfg; /* its limits and store (listen_addr, token: NULL) */
	char *token;                  /* "" when none is required */
	struct MHD_Daemon *d;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles_open; /* of poll and timer: freed when both have closed */
	/* Open client connections (counted by on_connection). */
	unsigned connections;
	struct api_link *links; /* open link streams (api_link.c) */
};

/* One HTTP request, from its headers to its reply; MHD's per-connection
 * pointer, freed when MHD reports the request completed. */
struct request {
	struct api_server *server;
	struct MHD_Connection *conn;
	const char *method;
	char url[512];
	const struct api_route *route; /* NULL when none matched */
	int route_err;                 /* then: -ENOENT (no such path) or -EPERM (method) */
	char arg[512];                 /* the route's "{}" segment, "" when none */
	struct httpd_body body;        /* limited by the route */
	uint64_t declared;             /* the Content-Length, 0 when none */
	bool drain;                    /* declared over the limit: read, drop, 413 */
	bool dispatched, suspended;
	/* Answer 101 and hand the connection to this handler (with the
	 * server) instead of sending resp. */
	MHD_UpgradeHandler upgrade;
	/* The response, once known. */
	unsigned status;
	char *resp;
	size_t resp_len;
};

/* A handler answers a request in one of two ways: it calls one of the
 * api_reply_* helpers before it returns, or it hands the request to an
 * asynchronous call and then calls api_suspend(); that call's callback
 * replies and then calls api_resume(). */

/* Sets the reply to body (owned; NULL means building it failed, which
 * becomes a 500), replacing any earlier one. */
void api_reply_json(struct request *r, unsigned status, json_t *body);

/* Sets an error reply {"error": {"code", "message"}} for e, with its status
 * and a printf message (what is not UTF-8 in it is replaced). */
void api_reply_error(struct request *r, enum agent_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The same with any status and code: for codes relayed from the guest. */
void api_reply_error_code(struct request *r, unsigned status, const char *code, const char *fmt,
			  ...) __attribute__((format(printf, 4, 5)));

/* Sets the error reply for a -errno (agent_err_from_errno): "what: reason". */
void api_reply_errno(struct request *r, int err, const char *what);

/* Why a request failed: an error reply's status, code and message. */
struct api_fail {
	unsigned status;
	char code[32];
	char message[512];
};

/* Sets the error reply for f. */
void api_reply_fail(struct request *r, const struct api_fail *f);

/* Fills f for a -errno (agent_err_from_errno): "what: reason". */
void api_fail_errno(struct api_fail *f, int err, const char *what);

/* Reads an optional integer parameter s (NULL: absent, *val left alone);
 * false with f set to 400 bad_parameter when it is not an integer in
 * lo..hi. */
bool api_param_int(const char *s, const char *key, long lo, long hi, long *val, struct api_fail *f);

/* Reads an optional integer query parameter into *val (left alone when
 * absent); false after replying 400 bad_parameter when it is not an integer
 * in lo..hi. */
bool api_query_int(struct request *r, const char *key, long lo, long hi, long *val);

/* Parks the request until a callback answers it, unless one already did. */
void api_suspend(struct request *r);

/* Sends a suspended request's reply; a no-op if it was never suspended. */
void api_resume(struct request *r);

/* The tenant's VM, or NULL after replying 404. */
struct vm *api_find_vm(struct request *r, const char *tenant);

/* The tenant's VM when it is ready and its guest channel open; NULL after
 * replying 404 no_vm or 503 vm_not_ready. */
struct vm *api_find_ready_vm(struct request *r, const char *tenant);

/* Route handlers (api_vms.c): each answers or suspends as described above.
 * They are rows of api.c's route table, so all take the path's "{}"
 * segment, "" for a route without one. */
void api_get_status(struct request *r, const char *unused);
void api_list_vms(struct request *r, const char *unused);
void api_get_vm(struct request *r, const char *tenant);
void api_put_vm(struct request *r, const char *tenant);
void api_delete_vm(struct request *r, const char *tenant);
void api_restart_vm(struct request *r, const char *tenant);
void api_put_workers(struct request *r, const char *tenant);
void api_put_scaling(struct request *r, const char *tenant);
void api_post_ping(struct request *r, const char *tenant);

/* Route handler (api_attest.c). */
void api_get_attestation(struct request *r, const char *tenant);

/* An invocation's answer, once (on the loop): f set when it failed (the
 * error reply's status, code and message); else reply is the HTTP reply's
 * object without "result" and "log" but with "result_len", and body the
 * result then the log bytes. All are valid only during the call. */
typedef void (*api_invoked_fn)(void *data, const struct api_fail *f, json_t *reply,
			       const uint8_t *body, size_t body_len);

/* Starts an invocation on the tenant's VM, its parameters read with
 * get(src, name) as POST /v1/vms/{tenant}/invoke names them, the request
 * complete at body_us (uv_hrtime in us). Returns 0 and calls done(data)
 * once later, or -errno with *f filled (done not called). Both the HTTP
 * route and the link's INVOKE frames run through it. */
int api_invoke_start(struct api_server *srv, const char *tenant,
		     const char *(*get)(void *src, const char *key), void *src, const void *input,
		     size_t input_len, uint64_t body_us, api_invoked_fn done, void *data,
		     struct api_fail *f);

/* Route handler (api_link.c): GET /v1/link with "Upgrade: ditto-link/1"
 * turns the connection into a link stream (lib/agent_link.h). */
void api_get_link(struct request *r, const char *unused);
/* Closes every link stream of the server (before MHD stops). */
void api_links_close(struct api_server *srv);

/* Route handlers (api_invoke.c). */
void api_post_invoke(struct request *r, const char *tenant);
void api_put_artifact(struct request *r, const char *digest);
void api_get_artifact(struct request *r, const char *digest);

#endif
