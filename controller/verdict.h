/* What an agent's answer to an invocation means for the controller: the
 * answer stands (ok, or failed with the record's status, the metrics class
 * and the caller's HTTP error), the artifact must be pushed again, or the
 * invocation must be routed again. Pure: no I/O, no locks, so every canned
 * reply can be checked in a table test. */
#ifndef DITTO_VERDICT_H
#define DITTO_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "metrics.h"
#include "store.h"

enum verdict_next {
	VERDICT_OK,             /* the function ran and returned: record it */
	VERDICT_FAILED,         /* the answer stands as a failure: record it */
	VERDICT_RETRY_ARTIFACT, /* the host lost the artifact: push it, then call again */
	VERDICT_REROUTE,        /* the VM or its host went away: it may or may not have run */
};

/* What the classification needs besides the reply. */
struct verdict_context {
	const char *host_id; /* for the messages */
	unsigned timeout_ms; /* the function's, for a timeout's message */
	bool stopping;       /* the controller is stopping */
	bool artifact_retry; /* a retry after the artifact's push is still allowed */
};

struct verdict {
	enum verdict_next next;
	enum store_status status;    /* the record's: STORE_OK, STORE_TIMEOUT or STORE_ERROR */
	enum metrics_outcome metric; /* how ditto_invocations_total counts it */
	unsigned http;               /* 200, or the caller's error status */
	char code[32];               /* the caller's error code; "" when ok */
	char message[512];
	bool host_unreachable; /* the host refused or dropped the connection: mark it down */
	bool vm_lost;          /* the agent says the VM is gone */
	char why[256];         /* why the host or the VM is to be given up */
	bool ran;              /* the agent ran the function: the fields below are its */
	/* From a 200 (malloc'd, owned here: verdict_clear frees them). */
	uint8_t *result, *log;
	size_t result_len, log_len;
	bool cold_start; /* the agent started the VM for this call */
	int cpu;         /* -1 when not said */
	/* The VM's active worker vCPUs and worker-vCPU milliseconds since it
	 * started, when the agent answered; -1 when not said. */
	int workers;
	int64_t vcpu_alloc_ms, vcpu_busy_ms;
	/* The agent's timings; -1 when not said. */
	int64_t agent_us, guest_us, function_us, init_us, queued_us;
	/* The exception a failed function raised, as the guest reported it:
	 * {"type", "message", "traceback"} with type and message strings
	 * (owned: verdict_clear releases it); NULL when none. */
	json_t *exception;
};

/* Classifies an agent's answer to POST /v1/vms/{tenant}/invoke: status is
 * the HTTP status or -errno from the link (link.h), reply its JSON body or
 * NULL. Fills every field of ret. A failed function's exception (the
 * reply's "exception") names the message ("the function failed: TYPE:
 * MESSAGE"); the agent's 409 unsupported (its guest image lacks the
 * function's runtime) is a failed invocation (502 function_error) with the
 * agent's reason and the host. */
void verdict_classify(int status, json_t *reply, const struct verdict_context *ctx,
		      struct verdict *ret);

/* Makes v a failure the controller found itself (no room for the VM, too
 * many calls, a store error) or an answer it refuses: VERDICT_FAILED,
 * STORE_ERROR and METRICS_FAILED with this HTTP status, code and message,
 * and nothing else set. */
void verdict_fail(struct verdict *v, unsigned http, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Frees what a verdict holds; it stays valid, with no result, log or
 * exception. */
void verdict_clear(struct verdict *v);

#endif
