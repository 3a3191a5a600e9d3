/* Relaying an invocation to a tenant's guest: push the artifact the first
 * time this guest needs it, send WIRE_INVOKE, hand back the guest's reply.
 * Input and result are opaque bytes here.
 *
 * A struct invoke is part of its VM and owns what the VM's invocations share:
 * the count in flight, the artifacts this guest already has. The VM tells it
 * when a new guest starts and when QEMU stops or goes. */
#ifndef DITTO_INVOKE_H
#define DITTO_INVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "artifacts.h"
#include "sha256.h"
#include "wire.h"

struct guest_chan;

/* Tells the VM the in-flight count changed (the count is read with
 * invoke_inflight). */
typedef void (*invoke_changed_fn)(void *data);

/* The most worker CPU ports an invoke tracks (CPUs 1..INVOKE_MAX_PORTS). */
#define INVOKE_MAX_PORTS 32

/* How invocations reach a VM's worker CPU ports ("ditto.cpu.N", lib/wire.h)
 * in per-cpu mode; each is called with data. */
struct invoke_ports {
	/* The control channel now (NULL while there is none). */
	struct guest_chan *(*control)(void *data);
	/* Worker CPU cpu's port, or NULL while it is not connected. */
	struct guest_chan *(*port)(void *data, int cpu);
	/* Whether worker CPU cpu is active (runs invocations) now. */
	bool (*active)(void *data, int cpu);
	int n; /* ports: worker CPUs 1..n (at most INVOKE_MAX_PORTS) */
	void *data;
};

/* An artifact this guest has been sent; acked once the guest stored it. */
struct invoke_pushed {
	char digest[SHA256_HEX_SIZE];
	bool acked;
};

struct invoke {
	const char *name;        /* for logs (the tenant) */
	struct artifacts *store; /* the agent's artifacts */
	unsigned max_inflight;
	unsigned inflight;   /* invocations sent to the guest, not yet answered */
	uint64_t arrival_ns; /* the first rise of inflight not yet taken, or 0 */
	invoke_changed_fn changed;
	void *changed_data;
	uint64_t invocations;
	int generation; /* bumps with each new guest */
	bool stopping;  /* QEMU is being stopped on purpose */
	/* Artifacts already pushed into this guest (by digest). */
	struct invoke_pushed *pushed;
	size_t n_pushed, cap_pushed;
	/* Per-cpu mode (invoke_use_ports): the worker CPU ports and the calls
	 * in flight on each; ports.n is 0 in single mode. */
	struct invoke_ports ports;
	unsigned port_load[INVOKE_MAX_PORTS + 1];
	uint64_t port_calls, resent; /* sent on a port; sent again on the control channel */
};

struct invoke_req {
	const char *digest; /* artifact, already in the agent's store */
	const char *mode;   /* "process" or "persistent" */
	int timeout_ms;
	size_t max_output;
	int cpu; /* run on this worker vCPU, or -1 for any */
	/* The function process's address-space limit in MiB (1..WIRE_MAX_MEMORY_MIB),
	 * or 0 for none; a persistent process keeps the one it started with. */
	int memory_mib;
	/* Passed to the guest as they are: the controller's invocation id
	 * (NULL: none) and whether input and artifact are end-to-end sealed. */
	const char *invocation;
	bool e2e;
	/* The runtime that runs the artifact through its launcher ("python3",
	 * "nodejs") with its handler (NULL: the runtime's default), passed to
	 * the guest as they are; runtime NULL: the artifact is executed. */
	const char *runtime;
	const char *handler;
	const void *input;
	size_t input_len;
};

/* status 0: meta is the guest's reply meta (status, cpu, timings, guest_us), body
 * holds the result followed by the log (meta "result_len" splits them).
 * status -EREMOTEIO: the guest refused it; meta has code and message.
 * Other status (<0): the VM went away (-ECONNRESET) or did not answer
 * (-ETIMEDOUT); meta and body are NULL. All are valid only during the call. */
typedef void (*invoke_done_fn)(int status, json_t *meta, const uint8_t *body, size_t body_len,
			       void *data);

/* Sets up inv with nothing in flight. name and store must outlive it.
 * changed (may be NULL) is called with changed_data whenever the in-flight
 * count changes. */
void invoke_init(struct invoke *inv, const char *name, struct artifacts *store,
		 unsigned max_inflight, invoke_changed_fn changed, void *changed_data);

/* Frees what inv holds. */
void invoke_free(struct invoke *inv);

/* Sends req over chan, the guest channel of a ready VM (NULL when the VM is
 * not ready). Returns 0 and calls cb once, or fails without calling it:
 * -EAGAIN (VM not ready), -ENOENT (artifact not in the store), -EBUSY (too
 * many invocations in flight), -EINVAL (memory_mib out of range), -ENOMEM. A
 * call lost with the channel fails with -ECANCELED when the VM was being
 * stopped (invoke_on_stopping), else -ECONNRESET. */
int invoke_start(struct invoke *inv, struct guest_chan *chan, const struct invoke_req *req,
		 invoke_done_fn cb, void *data);

/* Sends warm invocations straight to worker CPU ports from now on
 * (per-cpu mode): a plain persistent invocation that names no CPU, whose
 * artifact the guest has acknowledged, goes to the port of the least loaded
 * active worker CPU; everything else, and every call when no port is
 * usable, goes through the control channel given to invoke_start. A call a
 * port answers "cpu_unavailable" (its CPU left service) or loses with the
 * port, while the VM lives, is sent again on the control channel: none is
 * lost. ports is copied. */
void invoke_use_ports(struct invoke *inv, const struct invoke_ports *ports);

/* The worker CPU (1..n) for a warm invocation: the least loaded usable one
 * (load[cpu] calls in flight, usable[cpu]), the lowest on a tie; -1 when none
 * is usable. load and usable have n + 1 entries (index 0 unused). Pure. */
int invoke_pick_port(const unsigned *load, const bool *usable, int n);

/* Invocations sent and not yet answered. */
unsigned invoke_inflight(const struct invoke *inv);

/* When (uv_hrtime, ns) the in-flight count first rose since the last call,
 * or 0 when it did not; the time is taken where the count changes. */
uint64_t invoke_take_arrival_ns(struct invoke *inv);

/* Adds "inflight" and "invocations" to a VM's JSON. */
void invoke_to_json(const struct invoke *inv, json_t *o);

/* A new guest starts: it has no artifacts and nothing in flight. */
void invoke_reset(struct invoke *inv);

/* The VM is being stopped on purpose: calls it loses are cancelled. */
void invoke_on_stopping(struct invoke *inv);

/* QEMU is gone: nothing is in flight any more. */
void invoke_on_vm_down(struct invoke *inv);

#endif
