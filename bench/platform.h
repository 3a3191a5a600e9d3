/* The platform ditto-bench invoke measures: a controller and an agent it
 * starts (or a running controller it is given), the tenant "bench" with a
 * fixed number of worker vCPUs, and the echo function deployed for it. */
#ifndef DITTO_BENCH_PLATFORM_H
#define DITTO_BENCH_PLATFORM_H

#include <sys/types.h>

#include "api_client.h"
#include "bench.h"
#include "daemon_proc.h"

struct platform {
	const struct bench_opts *o;
	struct daemon_proc controller, agent; /* pid 0 when not started here */
	struct api_client admin, tenant;      /* to the controller, with either key */
	struct api_client agent_api;          /* to our agent, with its token */
	pid_t qemu_pid;                       /* the tenant VM's, when the agent is ours */
	char url[128];
	char accel[16], qemu[64];
	int cores, workers;
	char tenant_key[128];
};

/* Starts a controller and an agent unless o->url and o->key name a running
 * controller, and waits until the controller lists a host "up". p is zeroed
 * first, so platform_stop may follow any outcome. Returns 0, or -errno after
 * printing one line. */
int platform_start(struct platform *p, const struct bench_opts *o);

/* Creates the tenant (or, on a platform that has it already, a new key for
 * it), fixes its worker vCPUs at min(concurrency, cores) and deploys echo.
 * Returns 0, or -errno after printing one line. */
int platform_tenant_setup(struct platform *p);

/* Makes the first call, which boots the tenant VM, and waits until the VM
 * has its worker vCPUs; then reads its QEMU pid when the agent is ours.
 * Returns 0, or -errno after printing one line. */
int platform_first_call(struct platform *p);

/* Frees the clients and stops the daemons started here (the agent first: on
 * SIGTERM it stops its VMs). Accepts a platform that did not fully start. */
void platform_stop(struct platform *p);

#endif
