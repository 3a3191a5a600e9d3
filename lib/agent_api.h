/* The contract between the controller and a host agent: the error codes an
 * agent's replies carry and what the controller does with them, the limits
 * both sides enforce and the timeouts one side must keep above the other's.
 * docs/agent-api.md describes the routes; this header is where both daemons
 * (and the guest, for the invocation defaults) take the numbers from, so
 * they cannot drift apart. */
#ifndef DITTO_AGENT_API_H
#define DITTO_AGENT_API_H

#include <stdbool.h>

/* ---- invocation limits and timeouts -------------------------------------------------- */

/* A function's timeout when none is set, and the most it may be set to. The
 * controller, the agent and the guest all default to the same value. */
#define INVOKE_TIMEOUT_DEFAULT_MS 60000
#define INVOKE_TIMEOUT_MAX_MS 300000

/* How long past an invocation's own timeout the agent waits for the guest
 * (boot, a vCPU to grow, the artifact's push) before it gives up. */
#define AGENT_GUARD_MS 120000
/* How long past an invocation's own timeout the controller waits for the
 * agent's answer: the agent's guard plus a margin for the link, so the
 * agent always answers first. */
#define AGENT_GRACE_MS (AGENT_GUARD_MS + 10000)

/* ---- error codes ------------------------------------------------------------------------- */

/* The "code" of an agent's error reply, with the HTTP status it goes with.
 * The guest's codes (see wire.h) reach the controller too: the agent
 * relays them as they are. */
enum agent_err {
	AGENT_E_UNKNOWN = 0,       /* a code this build does not know, or none */
	AGENT_E_NOT_FOUND,         /* 404 not_found */
	AGENT_E_NO_ROUTE,          /* 404 no_route */
	AGENT_E_NO_VM,             /* 404 no_vm: no VM for the tenant on this agent */
	AGENT_E_NO_ARTIFACT,       /* 404 no_artifact: push the artifact, then retry */
	AGENT_E_ARTIFACT_MISSING,  /* 404 artifact_missing: the guest's own word for it, relayed */
	AGENT_E_EXISTS,            /* 409 exists */
	AGENT_E_BAD_REQUEST,       /* 400 bad_request (also the guest's, relayed) */
	AGENT_E_BAD_PARAMETER,     /* 400 bad_parameter: a query parameter */
	AGENT_E_BAD_FIELD,         /* 400 bad_field: a field of the JSON body */
	AGENT_E_BAD_JSON,          /* 400 bad_json: the body is not a JSON object */
	AGENT_E_BAD_DIGEST,        /* 400 bad_digest: not 64 lowercase hex digits */
	AGENT_E_DIGEST_MISMATCH,   /* 400 digest_mismatch: the artifact's SHA-256 differs */
	AGENT_E_BAD_TENANT,        /* 400 bad_tenant */
	AGENT_E_EMPTY,             /* 400 empty: an empty artifact */
	AGENT_E_OUT_OF_RANGE,      /* 400 out_of_range */
	AGENT_E_UNAUTHORIZED,      /* 401 unauthorized */
	AGENT_E_BAD_METHOD,        /* 405 bad_method */
	AGENT_E_TOO_LARGE,         /* 413 too_large */
	AGENT_E_TOO_MANY_REQUESTS, /* 429 too_many_requests */
	AGENT_E_CANCELLED,         /* 409 cancelled: the VM stopped or restarted under it */
	AGENT_E_HOTPLUG_EXHAUSTED, /* 409 hotplug_exhausted */
	AGENT_E_POLICY_ACTIVE,     /* 409 policy_active: a scaling policy owns the vCPUs */
	AGENT_E_STOPPING,          /* 409 stopping: the VM is being deleted */
	AGENT_E_VM_NOT_READY,      /* 503 vm_not_ready */
	AGENT_E_NO_CAPACITY,       /* 503 no_capacity: not enough free host cores */
	AGENT_E_SHUTTING_DOWN,     /* 503 shutting_down */
	AGENT_E_VM_DIED,           /* 502 vm_died: QEMU or the guest went away mid-call */
	AGENT_E_VM_FAILED,         /* 502 vm_failed: the VM did not start or become ready */
	AGENT_E_STEP_FAILED,       /* 502 step_failed */
	AGENT_E_GUEST_TIMEOUT,     /* 504 guest_timeout */
	AGENT_E_GUEST_ERROR,       /* 502 guest_error: the guest refused without a code */
	AGENT_E_INTERNAL,          /* 500 internal */
	AGENT_E_UNSUPPORTED,       /* 409 unsupported: this host cannot (e.g. no SEV-SNP) */
	/* The guest's codes the agent relays. */
	AGENT_E_MALFORMED,       /* 502 malformed: a frame the guest could not read */
	AGENT_E_TOO_BIG,         /* 502 too_big: a frame over the guest's limits */
	AGENT_E_BAD_INPUT,       /* 400 bad_input */
	AGENT_E_NO_SUCH_CPU,     /* 400 no_such_cpu */
	AGENT_E_CPU_UNAVAILABLE, /* 409 cpu_unavailable: the CPU left service */
	AGENT_E_CPU_REMOVED,     /* 502 cpu_removed */
	AGENT_E_ONLINE_FAILED,   /* 502 online_failed */
	AGENT_E_OFFLINE_FAILED,  /* 502 offline_failed */
	AGENT_E_PROBE_FAILED,    /* 502 probe_failed */
	AGENT_E_QUEUE_FULL,      /* 429 queue_full */
	AGENT_E_IO_ERROR,        /* 502 io_error */
	AGENT_E_COUNT
};

/* The code's wire name ("no_vm"...), "" for AGENT_E_UNKNOWN. */
const char *agent_err_name(enum agent_err e);
/* The HTTP status an agent answers with for e (500 for AGENT_E_UNKNOWN). */
unsigned agent_err_status(enum agent_err e);
/* The code for a wire name; AGENT_E_UNKNOWN for NULL or one not known. */
enum agent_err agent_err_parse(const char *name);
/* The code an agent answers with for a -errno from its modules. */
enum agent_err agent_err_from_errno(int err);

/* What the controller does with an agent's failed invocation. */
enum agent_retry {
	AGENT_RETRY_NO,       /* the answer stands */
	AGENT_RETRY_ARTIFACT, /* push the function's artifact, then call again */
	AGENT_RETRY_REROUTE,  /* the VM went away: route again (maybe elsewhere) and call again */
};
/* Which of those e calls for: no_artifact and artifact_missing a push,
 * no_vm, vm_died and cancelled a new route; anything else none. */
enum agent_retry agent_err_retry(enum agent_err e);

#endif
