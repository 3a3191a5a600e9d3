#include "agent_api.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "util.h"

static const struct {
	const char *name;
	unsigned status;
	enum agent_retry retry;
} errs[AGENT_E_COUNT] = {
	[AGENT_E_UNKNOWN] = { "", 500, AGENT_RETRY_NO },
	[AGENT_E_NOT_FOUND] = { "not_found", 404, AGENT_RETRY_NO },
	[AGENT_E_NO_ROUTE] = { "no_route", 404, AGENT_RETRY_NO },
	[AGENT_E_NO_VM] = { "no_vm", 404, AGENT_RETRY_REROUTE },
	[AGENT_E_NO_ARTIFACT] = { "no_artifact", 404, AGENT_RETRY_ARTIFACT },
	[AGENT_E_ARTIFACT_MISSING] = { "artifact_missing", 404, AGENT_RETRY_ARTIFACT },
	[AGENT_E_EXISTS] = { "exists", 409, AGENT_RETRY_NO },
	[AGENT_E_BAD_REQUEST] = { "bad_request", 400, AGENT_RETRY_NO },
	[AGENT_E_BAD_PARAMETER] = { "bad_parameter", 400, AGENT_RETRY_NO },
	[AGENT_E_BAD_FIELD] = { "bad_field", 400, AGENT_RETRY_NO },
	[AGENT_E_BAD_JSON] = { "bad_json", 400, AGENT_RETRY_NO },
	[AGENT_E_BAD_DIGEST] = { "bad_digest", 400, AGENT_RETRY_NO },
	[AGENT_E_DIGEST_MISMATCH] = { "digest_mismatch", 400, AGENT_RETRY_NO },
	[AGENT_E_BAD_TENANT] = { "bad_tenant", 400, AGENT_RETRY_NO },
	[AGENT_E_EMPTY] = { "empty", 400, AGENT_RETRY_NO },
	[AGENT_E_OUT_OF_RANGE] = { "out_of_range", 400, AGENT_RETRY_NO },
	[AGENT_E_UNAUTHORIZED] = { "unauthorized", 401, AGENT_RETRY_NO },
	[AGENT_E_BAD_METHOD] = { "bad_method", 405, AGENT_RETRY_NO },
	[AGENT_E_TOO_LARGE] = { "too_large", 413, AGENT_RETRY_NO },
	[AGENT_E_TOO_MANY_REQUESTS] = { "too_many_requests", 429, AGENT_RETRY_NO },
	[AGENT_E_CANCELLED] = { "cancelled", 409, AGENT_RETRY_REROUTE },
	[AGENT_E_HOTPLUG_EXHAUSTED] = { "hotplug_exhausted", 409, AGENT_RETRY_NO },
	[AGENT_E_POLICY_ACTIVE] = { "policy_active", 409, AGENT_RETRY_NO },
	[AGENT_E_STOPPING] = { "stopping", 409, AGENT_RETRY_NO },
	[AGENT_E_VM_NOT_READY] = { "vm_not_ready", 503, AGENT_RETRY_NO },
	[AGENT_E_NO_CAPACITY] = { "no_capacity", 503, AGENT_RETRY_NO },
	[AGENT_E_SHUTTING_DOWN] = { "shutting_down", 503, AGENT_RETRY_NO },
	[AGENT_E_VM_DIED] = { "vm_died", 502, AGENT_RETRY_REROUTE },
	[AGENT_E_VM_FAILED] = { "vm_failed", 502, AGENT_RETRY_NO },
	[AGENT_E_STEP_FAILED] = { "step_failed", 502, AGENT_RETRY_NO },
	[AGENT_E_GUEST_TIMEOUT] = { "guest_timeout", 504, AGENT_RETRY_NO },
	[AGENT_E_GUEST_ERROR] = { "guest_error", 502, AGENT_RETRY_NO },
	[AGENT_E_INTERNAL] = { "internal", 500, AGENT_RETRY_NO },
	[AGENT_E_UNSUPPORTED] = { "unsupported", 409, AGENT_RETRY_NO },
	[AGENT_E_MALFORMED] = { "malformed", 502, AGENT_RETRY_NO },
	[AGENT_E_TOO_BIG] = { "too_big", 502, AGENT_RETRY_NO },
	[AGENT_E_BAD_INPUT] = { "bad_input", 400, AGENT_RETRY_NO },
	[AGENT_E_NO_SUCH_CPU] = { "no_such_cpu", 400, AGENT_RETRY_NO },
	[AGENT_E_CPU_UNAVAILABLE] = { "cpu_unavailable", 409, AGENT_RETRY_NO },
	[AGENT_E_CPU_REMOVED] = { "cpu_removed", 502, AGENT_RETRY_NO },
	[AGENT_E_ONLINE_FAILED] = { "online_failed", 502, AGENT_RETRY_NO },
	[AGENT_E_OFFLINE_FAILED] = { "offline_failed", 502, AGENT_RETRY_NO },
	[AGENT_E_PROBE_FAILED] = { "probe_failed", 502, AGENT_RETRY_NO },
	[AGENT_E_QUEUE_FULL] = { "queue_full", 429, AGENT_RETRY_NO },
	[AGENT_E_IO_ERROR] = { "io_error", 502, AGENT_RETRY_NO },
};

static enum agent_err valid(enum agent_err e)
{
	return (unsigned)e < AGENT_E_COUNT ? e : AGENT_E_UNKNOWN;
}

const char *agent_err_name(enum agent_err e)
{
	return errs[valid(e)].name;
}

unsigned agent_err_status(enum agent_err e)
{
	return errs[valid(e)].status;
}

enum agent_retry agent_err_retry(enum agent_err e)
{
	return errs[valid(e)].retry;
}

enum agent_err agent_err_parse(const char *name)
{
	if (!name || !*name)
		return AGENT_E_UNKNOWN;
	for (size_t i = 1; i < ARRAY_SIZE(errs); i++)
		if (strcmp(errs[i].name, name) == 0)
			return (enum agent_err)i;
	return AGENT_E_UNKNOWN;
}

enum agent_err agent_err_from_errno(int err)
{
	switch (err) {
	case -ENOENT: return AGENT_E_NOT_FOUND;
	case -EEXIST: return AGENT_E_EXISTS;
	case -EINVAL:
	case -ENAMETOOLONG: return AGENT_E_BAD_REQUEST;
	case -ERANGE: return AGENT_E_OUT_OF_RANGE;
	case -EAGAIN: return AGENT_E_VM_NOT_READY;
	case -ENOSPC: return AGENT_E_NO_CAPACITY;
	case -EMLINK: return AGENT_E_HOTPLUG_EXHAUSTED;
	case -EBUSY: return AGENT_E_TOO_MANY_REQUESTS;
	case -ECANCELED: return AGENT_E_CANCELLED;
	case -EPIPE:
	case -ECONNRESET: return AGENT_E_VM_DIED;
	case -ETIMEDOUT: return AGENT_E_GUEST_TIMEOUT;
	case -EIO: return AGENT_E_STEP_FAILED;
	case -ESHUTDOWN: return AGENT_E_SHUTTING_DOWN;
	default: return AGENT_E_INTERNAL;
	}
}
