/* The controller: the store, the fleet of host agents, the invoker, and the
 * HTTP API (libmicrohttpd + jansson) over them: tenants, keys, functions,
 * invocations, hosts and metrics, every route but GET /healthz behind a
 * bearer key. docs/api.md is the API's reference. */
#ifndef DITTO_CONTROLLER_H
#define DITTO_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct controller_config {
	const char *listen_addr; /* IPv4 address, e.g. "127.0.0.1" */
	int port;                /* 0: any free port */
	const char *data_dir;    /* DIR/ditto.db, DIR/admin.key, DIR/artifacts/<sha256> */
	const char *store;       /* the store's URI (store.h); NULL: sqlite:DIR/ditto.db */
	uint64_t max_artifact;   /* largest artifact body accepted, bytes */
	int host_timeout_ms;     /* a host without heartbeats this long is down */
	int vm_memory_mib;       /* memory of each tenant VM */
	unsigned async_workers;  /* threads running asynchronous invocations */
	unsigned max_connections;
	unsigned retain;      /* invocation records kept per tenant (0: no cap) */
	unsigned retain_days; /* and for at most this many days (0: forever) */
	/* Invocations reach the agents over one persistent stream per host
	 * (agent_stream.h) instead of an HTTP request each (the default). */
	bool agent_stream;
	/* Several controllers on one PostgreSQL store (cluster.h): this one's
	 * id (NULL: "ctl-" and 8 random hex digits), the URL the others reach
	 * it at (NULL: http://LISTEN:PORT), and how long a silent one lives. */
	const char *id;
	const char *advertise;
	int peer_timeout_ms;
};

/* The defaults the controller runs with. */
void controller_config_defaults(struct controller_config *cfg);

struct controller;

/* Opens the store, makes sure an admin key exists (writing a new one to
 * DATA/admin.key, mode 0600, when DATA/admin.key holds no live admin key),
 * settles invocations a previous run left unfinished, and starts serving.
 * Returns 0 with a handle for controller_stop, or -errno with a reason in err. */
int controller_start(const struct controller_config *cfg, struct controller **ret, char *err,
		     size_t err_size);
/* The port the API listens on (the chosen one when the config said 0). */
int controller_port(const struct controller *c);
/* Stops serving: calls to agents in flight are abandoned, requests in
 * progress answered, threads joined. NULL is fine. */
void controller_stop(struct controller *c);

#endif
