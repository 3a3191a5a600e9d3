/* The platform ditto-bench invoke and replay measure: a controller and an
 * agent it starts (or a running controller it is given) and tenants on it;
 * for invoke, the tenant "bench" with a fixed number of worker vCPUs and the
 * echo function deployed for it. */
#ifndef DITTO_BENCH_PLATFORM_H
#define DITTO_BENCH_PLATFORM_H

#include <stdbool.h>
#include <sys/types.h>

#include "api_client.h"
#include "bench.h"
#include "daemon_proc.h"
#include "pg_local.h"

struct platform {
	const struct bench_opts *o;
	struct daemon_proc controller, agent; /* pid 0 when not started here */
	/* The controllers after the first on a shared store (--controllers). */
	struct daemon_proc peers[BENCH_CONTROLLERS_MAX - 1];
	int n_controllers;  /* the first and its peers; 1 with a controller not ours */
	struct pg_local pg; /* the private PostgreSQL server (--store postgres), pid 0 if none */
	struct api_client admin, tenant; /* to the controller, with either key */
	struct api_client agent_api;     /* to our agent, with its token */
	pid_t qemu_pid;                  /* the tenant VM's, when the agent is ours */
	char url[128];
	char accel[16], qemu[64];
	int cores, workers;
	char tenant_key[128];
	char admin_key[128];
};

/* Starts the private PostgreSQL server of --store postgres (throw-away: no
 * fsync) as p->pg in a new folder under /tmp, which platform_stop removes,
 * and writes the store URI of its database "ditto" into uri. Returns 0, or
 * -errno after printing one line. */
int platform_postgres_start(struct platform *p, char *uri, size_t size);

/* A loopback port nothing listens on now, to name a controller's address
 * before it starts (it may be taken in between: the start then fails and
 * says so). Returns it, or -errno. */
int platform_free_port(void);

/* Controller k (0: p->controller, then p->peers) of p->n_controllers. */
struct daemon_proc *platform_controller(struct platform *p, int k);

/* Starts a controller and an agent unless o->url and o->key name a running
 * controller, and waits until the controller lists a host "up". With
 * --store postgres it first starts a private PostgreSQL server
 * (platform_postgres_start) and o->controllers controllers on it (ids ctl-1.., each advertising its own
 * port), the agent reporting to every one, and waits until each lists it up.
 * p is zeroed
 * first, so platform_stop may follow any outcome. Returns 0, or -errno after
 * printing one line. */
int platform_start(struct platform *p, const struct bench_opts *o);

/* Creates tenant `name` (or, on a platform that has it already, a new key
 * for it) and points p->tenant at it with its key. Returns 0, or -errno after
 * printing one line. */
int platform_tenant_create(struct platform *p, const char *name);

/* PUTs scaling (a JSON object, docs/api.md) for tenant name. Returns 0, or
 * -errno after printing one line. */
int platform_tenant_scaling(struct platform *p, const char *name, const char *scaling);

/* A tenant as GET /v1/tenants/{t} shows it. */
struct tenant_state {
	int workers;     /* worker vCPUs over all of its VMs (heartbeats behind) */
	int vms;         /* VMs placed on a host */
	bool has_vcpu_s; /* the controller reports vcpu_s */
	double vcpu_s_allocated, vcpu_s_busy;
};

/* Reads tenant name's state through c (admin or the tenant's key). Sums
 * "vms" when the controller lists them, else reads "vm". Returns 0, or the
 * HTTP status or -errno of a failed call. */
int platform_tenant_read(struct api_client *c, const char *name, struct tenant_state *ret);

/* Deploys the artifact art as function name with the query's limits
 * (e.g. "mode=process&timeout=1000"). Returns 0, or -errno after printing one
 * line. */
int platform_deploy(struct platform *p, const char *name, const void *art, size_t len,
		    const char *query);

/* Reads the echo function of o->runtime: BUILD/functions/echo (binary), or
 * the source python/echo.py or nodejs/echo.js under BUILD/functions, else
 * under ./functions (the source tree). The caller frees *ret. Returns 0, or
 * -errno after printing one line. */
int platform_echo_read(const struct bench_opts *o, void **ret, size_t *ret_len);

/* The query echo is deployed with: persistent, in o->runtime, with room
 * for every client's call. */
void platform_echo_query(const struct bench_opts *o, char *query, size_t size);

/* Creates the tenant "bench", fixes its worker vCPUs at min(concurrency,
 * cores), raises its concurrency limit to the concurrency when that is over
 * the default 100, and deploys echo in o->runtime. Returns 0, or -errno after printing one line. */
int platform_tenant_setup(struct platform *p);

/* Makes the first call, which boots the tenant VM, and waits until the VM
 * has its worker vCPUs; then reads its QEMU pid when the agent is ours.
 * Returns 0, or -errno after printing one line. */
int platform_first_call(struct platform *p);

/* Frees the clients and stops the daemons started here (the agent first: on
 * SIGTERM it stops its VMs; the PostgreSQL server last). Accepts a platform
 * that did not fully start. */
void platform_stop(struct platform *p);

#endif
