/* The agent's operator interface: HTTP/JSON on loopback (libmicrohttpd driven
 * from the agent's libuv loop, no extra threads). docs/agent-api.md lists the
 * endpoints. */
#ifndef DITTO_API_H
#define DITTO_API_H

#include <stddef.h>

#include <uv.h>

struct agent;
struct api_server;

struct api_server_config {
	const char *listen_addr;
	int port;            /* 0 picks any free port */
	const char *token;   /* needed on every route but /healthz; NULL or "": none (copied) */
	size_t max_input;    /* body limit of an invocation's input */
	size_t max_artifact; /* body limit of an artifact */
};

/* Listens on cfg->listen_addr:cfg->port from loop; the routes act on agent's
 * VMs and artifacts. Returns 0 and the bound port in *ret_port, or -errno
 * (-EINVAL for an address that is not IPv4, -EADDRINUSE). */
int api_server_start(uv_loop_t *loop, const struct api_server_config *cfg, struct agent *agent,
		     struct api_server **ret, int *ret_port);

/* Stops listening, closes its handles and frees it once they have closed.
 * Call after every VM has gone, so no request is still suspended waiting on
 * one. Accepts NULL. */
void api_server_stop(struct api_server *srv);

#endif
