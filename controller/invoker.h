/* Running invocations: synchronous ones on the caller's thread, asynchronous
 * ones from a durable queue on a pool of threads. Each has a record in the
 * store from the moment it is accepted; each call goes through the fleet to
 * the agent running the tenant's VM, after the function's artifact has been
 * put there. Payloads pass through as opaque bytes. */
#ifndef DITTO_INVOKER_H
#define DITTO_INVOKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attestation.h"
#include "db.h"
#include "fleet.h"
#include "link.h"
#include "metrics.h"
#include "store.h"

struct invoker_config {
	unsigned async_workers;   /* threads running asynchronous invocations */
	int placement_timeout_ms; /* longest wait for a tenant's VM to come up */
	/* How many invocations of one tenant's functions may run at once,
	 * sync and async together, for a tenant whose own limit (its scaling's
	 * concurrency) is not known (0: INVOKER_TENANT_CONCURRENCY). */
	unsigned tenant_concurrency;
	/* The streams calls to agents go over (agent_stream.h; not owned);
	 * NULL: each call is an HTTP request (link.h). */
	struct agent_streams *streams;
};

/* The default limit on a tenant's invocations running at once, as
 * OpenWhisk's per-namespace concurrency limit. */
#define INVOKER_TENANT_CONCURRENCY STORE_CONCURRENCY_DEFAULT

struct invoker;

/* Reads every tenant's concurrency limit from the store (kept in memory
 * from then on: no invocation reads it from the store) and starts the async
 * workers. Returns 0 with a handle for invoker_free. */
int invoker_new(const struct invoker_config *cfg, struct db *db, struct fleet *fleet,
		struct link_pool *links, struct metrics *metrics, struct invoker **ret);
/* Stops the workers (queued invocations stay queued in the store) and frees. */
void invoker_free(struct invoker *iv);

/* Sets the most invocations of tenant's functions that run at once, sync
 * and async together, from the next slot taken on; call it whenever a
 * tenant is made or its scaling's concurrency changes. Calls running over a
 * lowered limit finish; a raised one lets queued calls start at once.
 * Returns 0 or -ENOMEM (the old limit stays). */
int invoker_tenant_concurrency(struct invoker *iv, const char *tenant, unsigned limit);
/* Reads every tenant's concurrency limit from the store again (as at the
 * start): for a controller that came to own tenants whose limits another
 * one set. Returns 0 or -errno (the limits held stay). */
int invoker_limits_reload(struct invoker *iv);

/* After a restart: records left queued or running are failed (sync ones,
 * and async ones whose retries are spent) or queued again (async ones; a
 * running one spends a retry, a queued one does not). Returns 0 or
 * -errno. */
int invoker_recover(struct invoker *iv);

/* An async invocation's retries: an attempt cut short by the
 * infrastructure is run again at most this many more times. */
#define INVOKER_ASYNC_RETRIES 4

/* Queues queued async records this controller took over from one that
 * died (cluster.h), as a restart queues its own: no retry spent. */
void invoker_adopt(struct invoker *iv, const struct store_id *ids, size_t n);

/* How a synchronous invocation ended. */
struct invocation_reply {
	unsigned http; /* 200, or the error's HTTP status */
	char code[32]; /* the error code, "" on success */
	char message[512];
	char id[STORE_ID_SIZE]; /* "" when no record was made (throttled) */
	uint8_t *result;        /* the function's result bytes (malloc'd) */
	size_t result_len;
	bool cold_start;
	/* Where the time went: all of it in the controller, the controller's
	 * call to the agent, the agent's own (guest included), the guest's
	 * (function included), and the function's. -1 when unknown. */
	int64_t total_us, agent_rtt_us, agent_us, guest_us, function_us;
	/* The exception the function raised, {"type", "message"} for the
	 * error reply (owned: invocation_reply_clear releases it); NULL when
	 * none. */
	json_t *exception;
};

/* Runs a version of a function synchronously with input; start_us is when
 * the request arrived (CLOCK_MONOTONIC). id is the invocation's id when
 * the caller chose one (32 lower-case hex digits: an id taken already
 * answers 409 exists), NULL to draw one. Fills ret (release with
 * invocation_reply_clear).
 *
 * A function stored encrypted is run end to end (the agent is told the
 * invocation id and e2e); a tenant whose attestation is required has its
 * invocations sent only to VMs verified for their current run (attested on
 * first use with a fresh nonce), others answer 503 not_attested. */
void invoker_call(struct invoker *iv, const struct store_function *fn, const char *id,
		  const void *input, size_t input_len, uint64_t start_us,
		  struct invocation_reply *ret);
void invocation_reply_clear(struct invocation_reply *r);

/* Writes the agent's invoke path (POST /v1/vms/{vm}/invoke?...) for a
 * version of a function: its artifact, mode and limits, for an encrypted
 * one the invocation id (id) and e2e, and for a python3 or nodejs one its
 * runtime and handler (percent-escaped: a Node.js handler may hold '$');
 * binary and shell ones are called as they always were. Returns 0, or
 * -ENAMETOOLONG when it does not fit in size bytes. */
int invoker_agent_path(const struct store_function *fn, const char *id, const char *vm, char *path,
		       size_t size);

/* Waits until every outcome handed to the store so far is written, so a
 * reader sees the record of an invocation that has answered. */
void invoker_flush(struct invoker *iv);

/* Records and queues an asynchronous invocation under id (NULL: a new
 * one). Returns 0 with its id, -ENOENT (the version is gone), -EEXIST (an
 * invocation has that id), or -errno. */
int invoker_submit(struct invoker *iv, const struct store_function *fn, const char *id,
		   const void *input, size_t input_len, char ret_id[STORE_ID_SIZE]);

#endif
