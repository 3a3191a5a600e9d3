/* A worker CPU's own port ("ditto.cpu.N", lib/wire.h): a thread of its own,
 * pinned to CPU N while the CPU is in service, reads WIRE_INVOKE frames from
 * the port, runs each on the CPU's long-lived function process (a runner and
 * an event loop of its own) and writes the result frame back on the same
 * port, so a warm invocation never passes through the control CPU.
 *
 * The daemon owns the ports and keeps the CPU's state: it opens a port's gate
 * while its CPU is in service and closes it when the CPU leaves; an
 * invocation the port holds or receives while the gate is closed is answered
 * "cpu_unavailable", for the agent to send again on the control port. The
 * port serves plain invocations only: end-to-end encrypted and process-mode
 * ones go through the control port. It runs one invocation at a time and
 * tells the daemon when it starts and stops being busy (cpuport_env's
 * notify_fd), so a CPU change waits for it as for the daemon's own. */
#ifndef DITTO_GUEST_CPUPORT_H
#define DITTO_GUEST_CPUPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifact.h"
#include "channel.h"
#include "cpuctl.h"
#include "host_binding.h"
#include "inv_queue.h"
#include "loop.h"
#include "runner.h"

/* What every port's thread reads of the daemon: set before the first port
 * starts and unchanged while any runs. */
struct cpuport_env {
	const struct artifact_store *store;
	const struct host_binding *bind;
	const struct cpuctl *cpus; /* read for ncpus only */
	const char *launchers;
	const char *cgroup_root;
	const char *sysfs_root; /* where the ports are found */
	uint32_t max_body;
	size_t queue_max;
	int notify_fd; /* an eventfd the daemon watches: some port's busy changed */
};

struct cpuport {
	int cpu;
	char vport[32]; /* the port's device ("vport1p2"); "" when not one */
	bool steered;   /* its interrupts were steered (or that was tried) once */
	const struct cpuport_env *env;
	pthread_t thread;
	bool started;
	int wake_fd; /* eventfd: the daemon asks the thread something */
	pthread_mutex_t mu;
	/* Under mu: what the daemon asks, and whether the port runs one. */
	bool open, evict, reap, quit, busy;
	/* Under mu: invocations of the control port the daemon hands the port
	 * to run (inbox), and those it hands back, run or not (outbox). */
	struct inv *in_head, *in_tail, *out_head;
	/* The daemon's own: an invocation of the control port runs on cpu. */
	bool ctl_busy;
	/* The thread's own. */
	struct loop loop;
	struct channel chan;
	struct runner runner;
	struct watch port_w, wake_w;
	struct inv_queue q;
	bool running, host_connected, gate, stopping;
};

/* Takes over fd (the port's device, or a socket in tests) and starts the
 * port's thread for worker CPU cpu, gate closed. env must outlive the port.
 * Call it from the daemon's thread after it blocked the signals it handles
 * (the thread inherits the mask). Returns 0 or -errno; cpuport_stop() cleans
 * up either way. */
int cpuport_start(struct cpuport *p, int cpu, int fd, const struct cpuport_env *env);

/* Opens (the CPU is in service) or closes the gate. Opening steers the
 * port's interrupts to its CPU (irq_steer.h) where the kernel lets it. */
void cpuport_set_open(struct cpuport *p, bool open);
/* The processes kept warm on the CPU must go (as runner_kill_cpu). */
void cpuport_evict(struct cpuport *p);
/* A child exited: the port's thread reaps its own. */
void cpuport_reap(struct cpuport *p);
/* Whether the port runs an invocation now. */
bool cpuport_busy(struct cpuport *p);

/* Stops the thread (what it runs is killed, unanswered) and frees
 * everything. Accepts a port whose start failed or never ran (zeroed, with
 * wake_fd and chan.fd -1). */
void cpuport_stop(struct cpuport *p);

/* The ports of a VM's worker CPUs, indexed by CPU (NULL-free: a CPU without
 * a port has started false). */
struct cpuports {
	struct cpuport *port; /* ncpus entries */
	int ncpus;
	int nopen; /* ports found and started */
	struct cpuport_env env;
};

/* Finds "ditto.cpu.N" for each worker CPU N < ncpus under
 * sysfs_root/class/virtio-ports and starts a port on each found (none is
 * an error: the VM has only its control port). env's notify_fd must be
 * set; the rest is copied. Returns 0, or -errno (a port that cannot be
 * opened or started) with the others stopped. */
int cpuports_open(struct cpuports *ps, const char *sysfs_root, int ncpus,
		  const struct cpuport_env *env);
/* Opens each port's gate whose CPU is in service, closes the others. */
void cpuports_sync(struct cpuports *ps, const struct cpuctl *ctl);
/* The port of cpu, or NULL when it has none. */
struct cpuport *cpuports_get(struct cpuports *ps, int cpu);
/* The daemon runs an invocation of the control port on cpu (busy) or no
 * longer: cpuctl's busy is that or the port's own. */
void cpuports_ctl_busy(struct cpuports *ps, struct cpuctl *ctl, int cpu, bool busy);
/* A port said it started or stopped running one: cpuctl's busy follows. */
void cpuports_sync_busy(struct cpuports *ps, struct cpuctl *ctl);
/* cpu is leaving service: closes its port's gate, after which nothing new
 * starts there, and marks cpu busy in ctl while the port still runs one (a
 * change of the CPU then waits for it). */
void cpuports_leaving(struct cpuports *ps, struct cpuctl *ctl, int cpu);
/* Hands inv, a control port's invocation the daemon chose cpu for, to
 * cpu's port to run when it is persistent and plain: the port's runner keeps
 * the long-lived processes of its CPU, so the warm calls that come down the
 * port find them. Marks cpu busy in ctl until it comes back. Returns 0 when
 * handed over (it comes back from cpuports_take_back), or -ENOENT (run it
 * yourself). */
int cpuports_relay(struct cpuports *ps, struct cpuctl *ctl, struct inv *inv, int cpu);
/* Takes the invocations the ports hand back, a list linked by next: run
 * (answer them on the control port) or returned unrun (queue them again),
 * clearing the busy mark of their CPUs in ctl; NULL when none. */
struct inv *cpuports_take_back(struct cpuports *ps, struct cpuctl *ctl);
/* Tells every port a child exited. */
void cpuports_reap(struct cpuports *ps);
/* Stops every port and frees the table; accepts a zeroed one. */
void cpuports_close(struct cpuports *ps);

#endif
