/* The agent's operator interface: HTTP/JSON on loopback (libmicrohttpd driven
 * from the agent's libuv loop, no extra threads). docs/agent-api.md lists the
 * endpoints.
 *
 * Ownership runs one way: the agent owns the server, and the server knows
 * nothing of the agent. What the routes need of their owner (its VMs, its
 * status, whether it is shutting down) comes through struct api_server_ops
 * with the owner's data pointer; its limits come as plain values in struct
 * api_server_config. The routes act on a VM itself through vm.h and on the
 * artifact store through artifacts.h. */
#ifndef DITTO_API_H
#define DITTO_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "vm.h"

struct api_server;
struct artifacts;

struct api_server_config {
	const char *listen_addr;
	int port;            /* 0 picks any free port */
	const char *token;   /* needed on every route but /healthz; NULL or "": none (copied) */
	size_t max_input;    /* body limit of an invocation's input */
	size_t max_artifact; /* body limit of an artifact */
	/* Limits of an invocation: its timeout_ms and max_output parameters,
	 * and how many may be in flight per VM (quoted in the 429). */
	int default_timeout_ms;
	int max_timeout_ms;
	size_t max_output;
	unsigned max_inflight;
	/* The store the artifact routes act on; not copied, must outlive the
	 * server. */
	struct artifacts *store;
	/* Why this host cannot run sev-snp VMs (409 unsupported), or NULL when
	 * it can; not copied, must outlive the server. */
	const char *snp_refusal;
	/* Client connections served at once (0: API_MAX_CONNECTIONS). One
	 * opened past them is answered 503 too_many_connections with
	 * Retry-After and closed; past a quarter more (and 16), new ones wait
	 * in the listen backlog until others close. */
	unsigned max_connections;
};

#define API_MAX_CONNECTIONS 1024

/* What the server asks of its owner. Each is called on the loop's thread
 * with the data given to api_server_start(); all must be set. */
struct api_server_ops {
	/* The tenant's VM, or NULL when it has none. */
	struct vm *(*find_vm)(void *data, const char *tenant);
	/* Every VM, each as vm_to_json() has it, in a new JSON array (NULL
	 * when building it failed). */
	json_t *(*vms_json)(void *data);
	/* Starts a VM for spec as vm_start() does and keeps it until it is
	 * gone; cb is called as vm_start() calls it. Returns 0, -EEXIST when
	 * the tenant has a VM already, or what vm_start() returns. */
	int (*start_vm)(void *data, const struct vm_spec *spec, vm_ready_fn cb, void *cb_data,
			struct vm **ret);
	/* The owner's status as GET /v1/status answers it (a new reference;
	 * NULL when building it failed). */
	json_t *(*status_json)(void *data);
	/* True once the owner is shutting down: no VM is started or
	 * restarted any more. */
	bool (*is_stopping)(void *data);
};

/* Listens on cfg->listen_addr:cfg->port from loop; the routes reach their
 * owner through ops (copied) and data. Returns 0 and the bound port in
 * *ret_port, or -errno (-EINVAL for an address that is not IPv4,
 * -EADDRINUSE); on failure *ret and *ret_port are untouched. */
int api_server_start(uv_loop_t *loop, const struct api_server_config *cfg,
		     const struct api_server_ops *ops, void *data, struct api_server **ret,
		     int *ret_port);

/* Stops listening, closes its handles and frees it once they have closed.
 * Call after every VM has gone, so no request is still suspended waiting on
 * one. Accepts NULL. */
void api_server_stop(struct api_server *srv);

#endif
