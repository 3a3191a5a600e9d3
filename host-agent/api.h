/* The agent's operator interface: HTTP/JSON on loopback (libmicrohttpd driven
 * from the agent's libuv loop, no extra threads). docs/agent-api.md lists the
 * endpoints. */
#ifndef DITTO_API_H
#define DITTO_API_H

struct agent;
struct api;

/* Listens on cfg.listen_addr:cfg.port (0 = any free port). Returns 0 and
 * the bound port in *ret_port, or -errno. */
int api_start(struct agent *a, struct api **ret, int *ret_port);

/* Stops listening and frees. Call after every VM has gone, so no request
 * is still suspended waiting on one. */
void api_stop(struct api *api);

#endif
