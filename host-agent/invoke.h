/* Relaying an invocation to a tenant's guest: push the artifact the first
 * time this guest needs it, send WIRE_INVOKE, hand back the guest's reply.
 * Input and result are opaque bytes here. */
#ifndef DITTO_INVOKE_H
#define DITTO_INVOKE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wire.h"

struct vm;

struct invoke_req {
	const char *digest; /* artifact, already in the agent's store */
	const char *mode;   /* "process" or "persistent" */
	int timeout_ms;
	size_t max_output;
	int cpu; /* run on this worker vCPU, or -1 for any */
	/* The function process's address-space limit in MiB (1..WIRE_MAX_MEMORY_MIB),
	 * or 0 for none; a persistent process keeps the one it started with. */
	int memory_mib;
	const void *input;
	size_t input_len;
};

/* status 0: meta is the guest's reply meta (status, cpu, timings, guest_us), body
 * holds the result followed by the log (meta "result_len" splits them).
 * status -EREMOTEIO: the guest refused it; meta has code and message.
 * Other status (<0): the VM went away (-ECONNRESET) or did not answer
 * (-ETIMEDOUT); meta and body are NULL. All are valid only during the call. */
typedef void (*invoke_done_fn)(struct vm *vm, int status, json_t *meta, const uint8_t *body,
			       size_t body_len, void *data);

/* Returns 0 and calls cb once, or fails without calling it: -EAGAIN (VM not
 * ready), -ENOENT (artifact not in the store), -EBUSY (too many invocations in
 * flight), -EINVAL (memory_mib out of range), -ENOMEM. */
int invoke_start(struct vm *vm, const struct invoke_req *req, invoke_done_fn cb, void *data);

#endif
