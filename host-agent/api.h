/* The agent's operator interface: HTTP/JSON on loopback (libmicrohttpd driven
 * from the agent's libuv loop, no extra threads). docs/agent-api.md lists the
 * endpoints. */
#ifndef DITTO_API_H
#define DITTO_API_H

struct agent;
struct api_server;

/* Listens on cfg.listen_addr:cfg.port (0 = any free port). Returns 0 and
 * the bound port in *ret_port, or -errno. */
int api_server_start(struct agent *a, struct api_server **ret, int *ret_port);

/* Stops listening, closes its handles and frees it once they have closed.
 * Call after every VM has gone, so no request is still suspended waiting on
 * one. Accepts NULL. */
void api_server_stop(struct api_server *srv);

#endif
