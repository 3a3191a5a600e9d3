#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "agent.h"
#include "encoding.h"
#include "invoke.h"
#include "log.h"
#include "policy.h"
#include "vcpu.h"
#include "vm.h"

#define SMALL_BODY_MAX (64 * 1024)

struct api {
	struct agent *agent;
	struct MHD_Daemon *d;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
};

struct request {
	struct api *api;
	struct MHD_Connection *conn;
	const char *method;
	char url[512];
	uint8_t *body;
	size_t len, cap, limit;
	bool too_big, dispatched, suspended;
	/* The response, once known. */
	unsigned status;
	char *resp;
	size_t resp_len;
	char invocation_status[16];
};

/* ---- responses -------------------------------------------------------------- */

static void reply_json(struct request *r, unsigned status, json_t *body)
{
	r->status = status;
	free(r->resp);
	r->resp = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!r->resp) {
		/* Every request gets an answer, even when building it failed. */
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		r->resp = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot build the reply\"}}");
	}
	r->resp_len = r->resp ? strlen(r->resp) : 0;
}

static void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A cut may have split a UTF-8 sequence; JSON strings must be whole. */
	size_t n = strlen(msg);
	while (n > 0 && !utf8_is_valid((const uint8_t *)msg, n))
		msg[--n] = '\0';
	reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

static enum MHD_Result send_reply(struct request *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
								    MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	r->resp = NULL; /* now the response's */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void run_mhd(struct api *api);
static void on_mhd_timer(uv_timer_t *t);

/* Completes a suspended request from a callback on the loop. MHD only acts
 * on a resumed connection when it next runs, so run it on the next turn of
 * the loop (not inline: we may be inside MHD's own callback). */
static void resume(struct request *r)
{
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		uv_timer_start(&r->api->timer, on_mhd_timer, 0, 0);
	}
}

/* Parks the request until a callback answers it, unless one already did
 * (a callback may run before the call that takes it returns). */
static void suspend(struct request *r)
{
	if (r->resp)
		return;
	r->suspended = true;
	MHD_suspend_connection(r->conn);
}

static unsigned status_for_errno(int err, const char **code)
{
	switch (err) {
	case -ENOENT: *code = "not_found"; return MHD_HTTP_NOT_FOUND;
	case -EEXIST: *code = "exists"; return MHD_HTTP_CONFLICT;
	case -EINVAL: *code = "bad_request"; return MHD_HTTP_BAD_REQUEST;
	case -ERANGE: *code = "out_of_range"; return MHD_HTTP_BAD_REQUEST;
	case -EAGAIN: *code = "vm_not_ready"; return MHD_HTTP_SERVICE_UNAVAILABLE;
	case -ENOSPC: *code = "no_capacity"; return MHD_HTTP_SERVICE_UNAVAILABLE;
	case -EMLINK: *code = "hotplug_exhausted"; return MHD_HTTP_CONFLICT;
	case -EBUSY: *code = "too_many_requests"; return MHD_HTTP_TOO_MANY_REQUESTS;
	case -ECANCELED: *code = "cancelled"; return MHD_HTTP_CONFLICT;
	case -ENAMETOOLONG: *code = "bad_request"; return MHD_HTTP_BAD_REQUEST;
	case -EPIPE: case -ECONNRESET: *code = "vm_died"; return MHD_HTTP_BAD_GATEWAY;
	case -ETIMEDOUT: *code = "guest_timeout"; return MHD_HTTP_GATEWAY_TIMEOUT;
	case -EIO: *code = "step_failed"; return MHD_HTTP_BAD_GATEWAY;
	case -ESHUTDOWN: *code = "shutting_down"; return MHD_HTTP_SERVICE_UNAVAILABLE;
	default: *code = "internal"; return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static void reply_errno(struct request *r, int err, const char *what)
{
	const char *code;
	unsigned st = status_for_errno(err, &code);
	reply_error(r, st, code, "%s: %s", what,
		    err == -EMLINK || err == -ENOSPC ? vcpu_strerror(err) : strerror(-err));
}

/* ---- small parsers ---------------------------------------------------------- */

static json_t *body_json(struct request *r)
{
	if (r->len == 0)
		return json_object();
	json_error_t err;
	json_t *j = json_loadb((const char *)r->body, r->len, 0, &err);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json", "body is not a JSON object: %s",
			    j ? "not an object" : err.text);
		return NULL;
	}
	return j;
}

/* Reads an optional integer field; false (and a 400) on a wrong type/range. */
static bool get_int(struct request *r, json_t *o, const char *key, long lo, long hi, long *val)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "%s must be an integer in %ld..%ld",
			    key, lo, hi);
		return false;
	}
	*val = (long)json_integer_value(v);
	return true;
}

/* Reads an optional "policy" spec; false (and a 400) when it is malformed. */
static bool get_policy(struct request *r, json_t *o, struct policy *val)
{
	json_t *v = json_object_get(o, "policy");
	if (!v)
		return true;
	if (!json_is_string(v) || policy_parse(json_string_value(v), val) < 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "policy must be \"manual\", \"elastic\", \"elastic:MS\" (MS in 0..%d) or "
			    "\"fixed:N\" (N in 0..%d)",
			    POLICY_KEEP_ALIVE_MAX_MS, POLICY_MAX_WORKERS);
		return false;
	}
	return true;
}

static bool query_int(struct request *r, const char *key, long lo, long hi, long *val)
{
	const char *s = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
	if (!s)
		return true;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "%s must be an integer in %ld..%ld",
			    key, lo, hi);
		return false;
	}
	*val = v;
	return true;
}

/* ---- status ----------------------------------------------------------------- */

static void get_status(struct request *r)
{
	reply_json(r, MHD_HTTP_OK, agent_status_json(r->api->agent));
}

/* ---- VMs ---------------------------------------------------------------------- */

static void on_vm_ready(struct vm *vm, int status, void *data)
{
	struct request *r = data;
	if (status == 0)
		reply_json(r, MHD_HTTP_CREATED, vm_to_json(vm));
	else if (status == -ECANCELED)
		reply_error(r, MHD_HTTP_CONFLICT, "cancelled", "the VM was stopped before it was ready");
	else
		reply_error(r, MHD_HTTP_BAD_GATEWAY, "vm_failed", "VM did not become ready: %s",
			    vm->died_reason[0] ? vm->died_reason : strerror(-status));
	resume(r);
}

static void put_vm(struct request *r, const char *tenant)
{
	struct agent *a = r->api->agent;
	json_t *o = body_json(r);
	if (!o)
		return;
	struct vm_spec spec = { .mech = VCPU_HOTPLUG, .max_workers = 2, .memory_mib = 256,
				.standby = 1, .hotplug_slots = 0 };
	long max_workers = spec.max_workers, mem = spec.memory_mib, standby = -1, slots = 0,
	     min_workers = 0;
	const char *mech = json_string_value(json_object_get(o, "mechanism"));
	bool ok = get_int(r, o, "max_workers", 0, VM_MAX_CPUS - 1, &max_workers) &&
		  get_int(r, o, "memory_mib", 64, 65536, &mem) &&
		  get_int(r, o, "standby", 0, VM_MAX_CPUS - 1, &standby) &&
		  get_int(r, o, "hotplug_slots", 0, VM_MAX_CPUS, &slots) &&
		  get_int(r, o, "min_workers", 0, VM_MAX_CPUS - 1, &min_workers) &&
		  get_policy(r, o, &spec.policy);
	if (ok && json_object_get(o, "mechanism") && (!mech || vcpu_mech_parse(mech, &spec.mech) < 0)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "mechanism must be \"hotplug\" or \"precreated\"");
		ok = false;
	}
	json_decref(o);
	if (!ok)
		return;
	if (min_workers > max_workers) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "min_workers must not exceed max_workers (%ld)", max_workers);
		return;
	}
	spec.min_workers = (int)min_workers;
	if (strlen(tenant) >= sizeof(spec.tenant)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_tenant", "tenant name is too long");
		return;
	}
	strcpy(spec.tenant, tenant);
	spec.max_workers = (int)max_workers;
	spec.memory_mib = (int)mem;
	spec.standby = standby >= 0 ? (int)standby : (spec.max_workers > 0 ? 1 : 0);
	if (spec.standby > spec.max_workers) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "standby must not exceed max_workers");
		return;
	}
	/* Hotplug: QEMU can create at most maxcpus vCPUs over the VM's life, so
	 * leave room for many grow/shrink cycles by default. */
	spec.hotplug_slots = slots ? (int)slots : (spec.max_workers + 1 > 32 ? spec.max_workers + 1 : 32);
	if (spec.mech == VCPU_HOTPLUG && spec.hotplug_slots < spec.max_workers + 1) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "hotplug_slots must be at least max_workers + 1");
		return;
	}
	if (a->stopping) {
		reply_errno(r, -ESHUTDOWN, "agent is shutting down");
		return;
	}
	struct vm *vm;
	int err = vm_start(a, &spec, on_vm_ready, r, &vm);
	if (err == -EEXIST) {
		reply_error(r, MHD_HTTP_CONFLICT, "exists", "tenant %s already has a VM here", tenant);
		return;
	}
	if (err == -EINVAL) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
			    "invalid VM spec (tenant name [A-Za-z0-9._-], max_workers, memory_mib)");
		return;
	}
	if (err < 0) {
		const char *code;
		unsigned st = status_for_errno(err, &code);
		if (err == -ENOENT || st == MHD_HTTP_INTERNAL_SERVER_ERROR)
			reply_error(r, MHD_HTTP_BAD_GATEWAY, "vm_failed", "cannot start VM: %s",
				    strerror(-err));
		else
			reply_errno(r, err, "cannot start VM");
		return;
	}
	suspend(r);
}

static struct vm *find_vm(struct request *r, const char *tenant)
{
	struct vm *vm = agent_find_vm(r->api->agent, tenant);
	if (!vm)
		reply_error(r, MHD_HTTP_NOT_FOUND, "no_vm", "no VM for tenant %s", tenant);
	return vm;
}

static void delete_vm(struct request *r, const char *tenant)
{
	struct vm *vm = find_vm(r, tenant);
	if (!vm)
		return;
	vm_stop(vm);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:s, s:s}", "tenant", tenant, "state", "stopping"));
}

static void restart_vm(struct request *r, const char *tenant)
{
	struct vm *vm = find_vm(r, tenant);
	if (!vm)
		return;
	if (r->api->agent->stopping) {
		reply_errno(r, -ESHUTDOWN, "agent is shutting down");
		return;
	}
	int err = vm_restart(vm, on_vm_ready, r);
	if (err == -EBUSY) {
		reply_error(r, MHD_HTTP_CONFLICT, "stopping", "the VM is being deleted");
		return;
	}
	if (err < 0) {
		reply_errno(r, err, "cannot restart VM");
		return;
	}
	suspend(r);
}

static void on_resized(struct vm *vm, int status, json_t *report, void *data)
{
	struct request *r = data;
	if (status == 0) {
		reply_json(r, MHD_HTTP_OK, json_incref(report));
	} else {
		const char *code;
		unsigned st = status_for_errno(status, &code);
		json_t *body = json_pack("{s:{s:s, s:s}, s:O}", "error", "code", code, "message",
					 vcpu_strerror(status), "report", report);
		reply_json(r, st, body);
	}
	resume(r);
}

static void put_workers(struct request *r, const char *tenant)
{
	struct vm *vm = find_vm(r, tenant);
	json_t *o = vm ? body_json(r) : NULL;
	if (!o)
		return;
	long n = -1;
	bool ok = get_int(r, o, "count", 0, VM_MAX_CPUS, &n);
	json_decref(o);
	if (!ok)
		return;
	if (n < 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "body needs {\"count\": N}");
		return;
	}
	const struct scaler *sc = &vm->scaler;
	if (!policy_is_manual(&sc->policy)) {
		char spec[POLICY_SPEC_MAX];
		policy_format(&sc->policy, spec, sizeof(spec));
		reply_error(r, MHD_HTTP_CONFLICT, "policy_active",
			    "the %s policy sets this VM's worker count; set the policy to manual first "
			    "(PUT /v1/vms/%s/scaling)",
			    spec, tenant);
		return;
	}
	if (n < sc->min_workers || n > sc->max_workers) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "out_of_range", "count must be in %d..%d",
			    sc->min_workers, sc->max_workers);
		return;
	}
	int err = vcpu_set(vm, (int)n, on_resized, r);
	if (err == -ERANGE) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "out_of_range", "count must be in 0..%d",
			    vm->spec.max_workers);
		return;
	}
	if (err < 0) {
		reply_errno(r, err, "cannot resize");
		return;
	}
	suspend(r);
}

static void put_scaling(struct request *r, const char *tenant)
{
	struct vm *vm = find_vm(r, tenant);
	json_t *o = vm ? body_json(r) : NULL;
	if (!o)
		return;
	const struct scaler *sc = &vm->scaler;
	long min = sc->min_workers, max = sc->max_workers;
	struct policy p = sc->policy;
	bool ok = get_int(r, o, "min_workers", 0, VM_MAX_CPUS - 1, &min) &&
		  get_int(r, o, "max_workers", 0, VM_MAX_CPUS - 1, &max) && get_policy(r, o, &p);
	json_decref(o);
	if (!ok)
		return;
	if (max > vm->spec.max_workers) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "out_of_range",
			    "max_workers %ld is over the %d worker vCPUs this VM was started with: the "
			    "VM must be restarted with a larger max_workers (DELETE, then PUT "
			    "/v1/vms/%s)",
			    max, vm->spec.max_workers, tenant);
		return;
	}
	if (min > max) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "min_workers (%ld) must not exceed max_workers (%ld)", min, max);
		return;
	}
	int err = scaler_set(vm, &p, (int)min, (int)max);
	if (err < 0) {
		reply_errno(r, err, "cannot change scaling");
		return;
	}
	reply_json(r, MHD_HTTP_OK, vm_to_json(vm));
}

/* ---- artifacts ------------------------------------------------------------------ */

static void put_artifact(struct request *r, const char *digest)
{
	struct agent *a = r->api->agent;
	if (!artifacts_digest_is_valid(digest)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_digest",
			    "artifact digest must be 64 lowercase hex characters (SHA-256)");
		return;
	}
	if (r->len == 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "empty", "artifact body is empty");
		return;
	}
	int err = artifacts_put(&a->store, digest, r->body, r->len);
	if (err == -EBADMSG) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "digest_mismatch",
			    "the body's SHA-256 is not %s", digest);
		return;
	}
	if (err < 0) {
		reply_errno(r, err, "cannot store artifact");
		return;
	}
	reply_json(r, MHD_HTTP_CREATED, json_pack("{s:s, s:I}", "digest", digest, "size",
						  (json_int_t)r->len));
}

static void get_artifact(struct request *r, const char *digest)
{
	if (!artifacts_has(&r->api->agent->store, digest)) {
		reply_error(r, MHD_HTTP_NOT_FOUND, "no_artifact", "no artifact %s", digest);
		return;
	}
	reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "digest", digest));
}

/* ---- invoke ----------------------------------------------------------------------- */

/* An invocation on its way through the guest. */
struct invocation {
	struct request *r;
	/* When the whole request body was there (uv_hrtime() in us): the
	 * handler runs in the call that delivers the end of the body. */
	uint64_t body_us;
};

static void on_invoked(struct vm *vm, int status, json_t *meta, const uint8_t *body,
		       size_t body_len, void *data)
{
	struct invocation *inv = data;
	struct request *r = inv->r;
	if (status == -EREMOTEIO) {
		const char *code = json_string_value(json_object_get(meta, "code"));
		const char *msg = json_string_value(json_object_get(meta, "message"));
		unsigned st = MHD_HTTP_BAD_GATEWAY;
		if (code && strcmp(code, "artifact_missing") == 0)
			st = MHD_HTTP_NOT_FOUND;
		else if (code && (strcmp(code, "bad_input") == 0 || strcmp(code, "bad_request") == 0 ||
				  strcmp(code, "no_such_cpu") == 0))
			st = MHD_HTTP_BAD_REQUEST;
		else if (code && strcmp(code, "queue_full") == 0)
			st = MHD_HTTP_TOO_MANY_REQUESTS;
		else if (code && strcmp(code, "cpu_unavailable") == 0)
			st = MHD_HTTP_CONFLICT;
		reply_error(r, st, code ? code : "guest_error", "%s", msg ? msg : "guest refused");
	} else if (status < 0) {
		reply_errno(r, status, "invocation lost");
	} else {
		json_t *o = json_deep_copy(meta);
		size_t rlen = (size_t)json_integer_value(json_object_get(meta, "result_len"));
		if (rlen > body_len)
			rlen = body_len;
		payload_to_json(o, "result", "result_encoding", body, rlen);
		payload_to_json(o, "log", "log_encoding", body + rlen, body_len - rlen);
		json_object_del(o, "result_len");
		snprintf(r->invocation_status, sizeof(r->invocation_status), "%s",
			 json_string_value(json_object_get(meta, "status")) ?: "");
		/* guest_us came with the guest's meta; the agent's share is
		 * taken last, once all but serialising the reply is done. */
		json_object_set_new(o, "agent_us",
				    json_integer((json_int_t)(uv_hrtime() / 1000 - inv->body_us)));
		reply_json(r, MHD_HTTP_OK, o);
	}
	free(inv);
	resume(r);
}

static void post_invoke(struct request *r, const char *tenant)
{
	uint64_t body_us = uv_hrtime() / 1000;
	struct agent *a = r->api->agent;
	struct vm *vm = find_vm(r, tenant);
	if (!vm)
		return;
	const char *digest = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "artifact");
	const char *mode = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "mode");
	long timeout = a->cfg.default_timeout_ms, max_output = (long)a->cfg.max_output, cpu = -1;
	long memory_mib = 0;
	if (!query_int(r, "timeout_ms", 1, a->cfg.max_timeout_ms, &timeout) ||
	    !query_int(r, "max_output", 0, (long)a->cfg.max_output, &max_output) ||
	    !query_int(r, "cpu", 1, VM_MAX_CPUS, &cpu) ||
	    !query_int(r, "memory_mib", 1, WIRE_MAX_MEMORY_MIB, &memory_mib))
		return;
	if (!artifacts_digest_is_valid(digest)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_digest",
			    "?artifact= must be a SHA-256 digest (64 lowercase hex)");
		return;
	}
	if (!mode)
		mode = "process";
	if (strcmp(mode, "process") != 0 && strcmp(mode, "persistent") != 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
			    "mode must be \"process\" or \"persistent\"");
		return;
	}
	struct invoke_req req = {
		.digest = digest, .mode = mode, .timeout_ms = (int)timeout,
		.max_output = (size_t)max_output, .cpu = (int)cpu, .memory_mib = (int)memory_mib,
		.input = r->body, .input_len = r->len,
	};
	struct invocation *inv = malloc(sizeof(*inv));
	if (!inv) {
		reply_errno(r, -ENOMEM, "cannot invoke");
		return;
	}
	*inv = (struct invocation){ .r = r, .body_us = body_us };
	int err = invoke_start(vm, &req, on_invoked, inv);
	if (err < 0)
		free(inv);
	if (err == -ENOENT) {
		reply_error(r, MHD_HTTP_NOT_FOUND, "no_artifact",
			    "artifact %s is not on this host: PUT /v1/artifacts/%s first", digest, digest);
		return;
	}
	if (err == -EBUSY) {
		reply_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_requests",
			    "%u invocations already in flight for this VM", a->cfg.max_inflight);
		return;
	}
	if (err < 0) {
		reply_errno(r, err, "cannot invoke");
		return;
	}
	suspend(r);
}

/* ---- access ----------------------------------------------------------------------- */

/* Compares in time that depends on the length of want only, so the time an
 * answer takes does not tell how much of a guessed token was right. */
static bool secret_equal(const char *want, const char *got)
{
	size_t n = strlen(want), m = strlen(got);
	unsigned char diff = n != m;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? got[i] : 0);
	return diff == 0;
}

/* Every path but /healthz needs the agent's token, when it has one, as
 * "Authorization: Bearer TOKEN". */
static bool authorized(const struct agent *a, struct MHD_Connection *conn, const char *url)
{
	if (!a->token[0] || strcmp(url, "/healthz") == 0)
		return true;
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	h += strspn(h, " ");
	return secret_equal(a->token, h);
}

/* ---- routing ---------------------------------------------------------------------- */

/* Splits "/v1/a/b/c" into at most n segments; returns the count or -1. */
static int split_path(char *url, char **seg, int n)
{
	int k = 0;
	char *save = NULL;
	for (char *s = strtok_r(url, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (k == n)
			return -1;
		seg[k++] = s;
	}
	return k;
}

static size_t body_limit(const struct agent *a, const char *method, const char *url)
{
	if (strcmp(method, "PUT") == 0 && strncmp(url, "/v1/artifacts/", 14) == 0)
		return a->cfg.max_artifact;
	if (strcmp(method, "POST") == 0 && strstr(url, "/invoke"))
		return a->cfg.max_input;
	return SMALL_BODY_MAX;
}

static void route(struct request *r)
{
	char url[512];
	snprintf(url, sizeof(url), "%s", r->url);
	char *s[6];
	int n = split_path(url, s, 6);
	const char *m = r->method;
	bool get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0,
	     post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;

	if (n == 1 && strcmp(s[0], "healthz") == 0 && get) {
		reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
		return;
	}
	if (n < 2 || strcmp(s[0], "v1") != 0)
		goto not_found;
	if (n == 2 && strcmp(s[1], "status") == 0 && get)
		return get_status(r);
	if (n == 2 && strcmp(s[1], "vms") == 0 && get) {
		json_t *vms = json_array();
		for (struct vm *vm = r->api->agent->vms; vm; vm = vm->next)
			json_array_append_new(vms, vm_to_json(vm));
		return reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "vms", vms));
	}
	if (n == 3 && strcmp(s[1], "artifacts") == 0) {
		if (put)
			return put_artifact(r, s[2]);
		if (get)
			return get_artifact(r, s[2]);
		goto bad_method;
	}
	if (strcmp(s[1], "vms") != 0)
		goto not_found;
	if (n == 3) {
		if (put)
			return put_vm(r, s[2]);
		if (del)
			return delete_vm(r, s[2]);
		if (get) {
			struct vm *vm = find_vm(r, s[2]);
			if (vm)
				reply_json(r, MHD_HTTP_OK, vm_to_json(vm));
			return;
		}
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "workers") == 0) {
		if (put)
			return put_workers(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "scaling") == 0) {
		if (put)
			return put_scaling(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "invoke") == 0) {
		if (post)
			return post_invoke(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "restart") == 0) {
		if (post)
			return restart_vm(r, s[2]);
		goto bad_method;
	}
not_found:
	reply_error(r, MHD_HTTP_NOT_FOUND, "no_route", "no such endpoint: %s %s", m, r->url);
	return;
bad_method:
	reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method", "%s is not allowed on %s", m, r->url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api *api = cls;
	struct request *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->api = api;
		r->conn = conn;
		r->method = method;
		snprintf(r->url, sizeof(r->url), "%s", url);
		r->limit = body_limit(api->agent, method, url);
		*con_cls = r;
		if (!authorized(api->agent, conn, url)) {
			/* Refused before the body is read, like an oversized one. */
			reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				    "missing or wrong token: send \"Authorization: Bearer <token>\"");
			r->dispatched = true;
			return send_reply(r);
		}
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > r->limit) {
			/* Refuse before reading a body we would throw away. */
			reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				    "body of %s bytes is over the limit of %zu", cl, r->limit);
			r->dispatched = true;
			return send_reply(r);
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->too_big || r->len + n > r->limit) {
			r->too_big = true;
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			while (cap < r->len + n)
				cap *= 2;
			uint8_t *b = realloc(r->body, cap);
			if (!b)
				return MHD_NO;
			r->body = b;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	if (r->resp && !r->suspended)
		return send_reply(r);
	if (r->dispatched)
		return MHD_YES;
	r->dispatched = true;
	if (r->too_big)
		reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body is over the limit of %zu bytes",
			    r->limit);
	else
		route(r);
	if (r->suspended)
		return MHD_YES;
	if (!r->resp)
		reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no response");
	return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	if (!r)
		return;
	if (r->status)
		log_debug("http method=%s url=%s status=%u", r->method, r->url, r->status);
	free(r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

/* ---- MHD on the libuv loop ------------------------------------------------------------ */

static void on_mhd_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
	run_mhd(p->data);
}

static void run_mhd(struct api *api)
{
	MHD_run(api->d);
	MHD_UNSIGNED_LONG_LONG to;
	if (MHD_get_timeout(api->d, &to) == MHD_YES)
		uv_timer_start(&api->timer, on_mhd_timer, to, 0);
	else
		uv_timer_stop(&api->timer);
}

int api_start(struct agent *a, struct api **ret, int *ret_port)
{
	struct api *api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->agent = a;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)a->cfg.port) };
	if (inet_pton(AF_INET, a->cfg.listen_addr, &sa.sin_addr) != 1) {
		free(api);
		return -EINVAL;
	}
	api->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL,
				  NULL, on_request, api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_END);
	if (!api->d) {
		free(api);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *port = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_BIND_PORT);
	uv_poll_init(a->loop, &api->poll, info->epoll_fd);
	uv_timer_init(a->loop, &api->timer);
	api->poll.data = api->timer.data = api;
	uv_poll_start(&api->poll, UV_READABLE, on_mhd_poll);
	*ret_port = port ? port->port : a->cfg.port;
	*ret = api;
	return 0;
}

static void on_api_closed(uv_handle_t *h)
{
	struct api *api = h->data;
	if (++api->open_handles == 2)
		free(api);
}

void api_stop(struct api *api)
{
	if (!api)
		return;
	uv_poll_stop(&api->poll);
	MHD_stop_daemon(api->d);
	uv_close((uv_handle_t *)&api->poll, on_api_closed);
	uv_close((uv_handle_t *)&api->timer, on_api_closed);
}
