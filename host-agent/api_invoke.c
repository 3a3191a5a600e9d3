/* The invoke route and the artifact routes, and the invocation itself,
 * which the link's INVOKE frames (api_link.c) start the same way. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api_int.h"
#include "artifacts.h"
#include "encoding.h"
#include "fnpkg.h"
#include "invoke.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

/* Where an invocation's parameters come from: the HTTP query or a link
 * frame's meta. get returns a parameter's text, NULL when absent. */
struct params {
	const char *(*get)(void *src, const char *key);
	void *src;
};

static const char *param(const struct params *p, const char *key)
{
	return p->get(p->src, key);
}

static void fail_set(struct api_fail *f, enum agent_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_set(struct api_fail *f, enum agent_err e, const char *fmt, ...)
{
	f->status = agent_err_status(e);
	snprintf(f->code, sizeof(f->code), "%s", agent_err_name(e));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
}

void api_fail_errno(struct api_fail *f, int err, const char *what)
{
	fail_set(f, agent_err_from_errno(err), "%s: %s", what,
		 err == -EMLINK || err == -ENOSPC ? vcpu_strerror(err) : strerror(-err));
}

bool api_param_int(const char *s, const char *key, long lo, long hi, long *val, struct api_fail *f)
{
	if (!s)
		return true;
	int64_t v;
	if (parse_i64(s, lo, hi, &v) < 0) {
		fail_set(f, AGENT_E_BAD_PARAMETER, "%s must be an integer in %ld..%ld", key, lo,
			 hi);
		return false;
	}
	*val = (long)v;
	return true;
}

static bool param_int(const struct params *p, const char *key, long lo, long hi, long *val,
		      struct api_fail *f)
{
	return api_param_int(param(p, key), key, lo, hi, val, f);
}

/* An invocation id as the controller makes them: 32 lower-case hex digits. */
static bool invocation_id_is_valid(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* Reads the optional "invocation" and "e2e" parameters the guest is given
 * as they are; false (and *f) when one is malformed. */
static bool param_e2e(const struct params *p, struct invoke_req *req, struct api_fail *f)
{
	const char *id = param(p, "invocation");
	const char *e2e = param(p, "e2e");
	if (id && !invocation_id_is_valid(id)) {
		fail_set(f, AGENT_E_BAD_PARAMETER, "invocation must be 32 lower-case hex digits");
		return false;
	}
	if (e2e && strcmp(e2e, "0") != 0 && strcmp(e2e, "1") != 0) {
		fail_set(f, AGENT_E_BAD_PARAMETER, "e2e must be 0 or 1");
		return false;
	}
	req->invocation = id;
	req->e2e = e2e && strcmp(e2e, "1") == 0;
	return true;
}

/* Reads the optional "runtime" and "handler" parameters (lib/fnpkg's
 * rules); a handler goes only with python3 or nodejs. Only those two reach
 * the guest: binary and shell (or none) execute the artifact as ever.
 * False (and *f) when one is malformed. */
static bool param_runtime(const struct params *p, struct invoke_req *req, struct api_fail *f)
{
	const char *name = param(p, "runtime");
	const char *handler = param(p, "handler");
	enum fn_runtime rt = FN_RUNTIME_BINARY;
	char why[160];
	if (name && fn_runtime_parse(name, &rt) < 0) {
		fail_set(f, AGENT_E_BAD_PARAMETER,
			 "runtime must be python3, nodejs, binary or shell");
		return false;
	}
	if (fnpkg_check_handler(rt, handler, why, sizeof(why)) < 0) {
		fail_set(f, AGENT_E_BAD_PARAMETER, "handler: %s", why);
		return false;
	}
	if (fn_runtime_has_handler(rt)) {
		req->runtime = fn_runtime_name(rt);
		req->handler = handler && *handler ? handler : NULL;
	}
	return true;
}

/* Whether the VM's guest can run req's runtime: python3 and nodejs need the
 * image's runtime disk. False (and *f) when it cannot. */
static bool runtime_is_available(const struct vm *vm, const struct invoke_req *req,
				 struct api_fail *f)
{
	if (!req->runtime || vm->env->image->runtime[0])
		return true;
	fail_set(f, AGENT_E_UNSUPPORTED,
		 "runtime %s is not in this host's guest image (image.json has no runtime "
		 "disk)",
		 req->runtime);
	return false;
}

/* ---- artifacts ------------------------------------------------------------------ */

void api_put_artifact(struct request *r, const char *digest)
{
	if (!artifacts_digest_is_valid(digest)) {
		api_reply_error(r, AGENT_E_BAD_DIGEST,
				"artifact digest must be 64 lowercase hex characters (SHA-256)");
		return;
	}
	const struct buf *body = &r->body.data;
	if (body->len == 0) {
		api_reply_error(r, AGENT_E_EMPTY, "artifact body is empty");
		return;
	}
	int err = artifacts_put(r->server->cfg.store, digest, body->data, body->len);
	if (err == -EBADMSG) {
		api_reply_error(r, AGENT_E_DIGEST_MISMATCH, "the body's SHA-256 is not %s", digest);
		return;
	}
	if (err < 0) {
		api_reply_errno(r, err, "cannot store artifact");
		return;
	}
	api_reply_json(r, MHD_HTTP_CREATED,
		       json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)body->len));
}

void api_get_artifact(struct request *r, const char *digest)
{
	if (!artifacts_has(r->server->cfg.store, digest)) {
		api_reply_error(r, AGENT_E_NO_ARTIFACT, "no artifact %s", digest);
		return;
	}
	api_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "digest", digest));
}

/* ---- invoke ----------------------------------------------------------------------- */

/* An invocation on its way through the guest. */
struct invocation {
	struct vm *vm; /* alive while its guest can answer */
	/* When the whole request was there (uv_hrtime() in us). */
	uint64_t body_us;
	api_invoked_fn done;
	void *data;
};

/* The status a guest's refusal of an invocation is relayed with: the
 * caller's fault or a state it can act on keeps its own status, anything
 * else is the guest failing (502). */
static unsigned relay_status(enum agent_err e)
{
	switch (e) {
	case AGENT_E_ARTIFACT_MISSING:
	case AGENT_E_BAD_INPUT:
	case AGENT_E_BAD_REQUEST:
	case AGENT_E_NO_SUCH_CPU:
	case AGENT_E_QUEUE_FULL:
	case AGENT_E_CPU_UNAVAILABLE: return agent_err_status(e);
	default: return MHD_HTTP_BAD_GATEWAY;
	}
}

/* The reply's object for a guest's answer (a new reference, NULL when out
 * of memory): its meta with "result_len" within the body, the VM's usage
 * and the agent's share, taken last. */
static json_t *reply_meta(const struct invocation *inv, json_t *meta, size_t body_len)
{
	json_t *o = json_deep_copy(meta);
	size_t rlen = (size_t)json_integer_value(json_object_get(meta, "result_len"));
	if (!o || json_object_set_new(
			  o, "result_len",
			  json_integer((json_int_t)(rlen < body_len ? rlen : body_len))) < 0) {
		json_decref(o);
		return NULL;
	}
	/* guest_us came with the guest's meta; the agent's share is taken
	 * last, once all but serialising the reply is done. */
	vm_usage_to_json(inv->vm, o);
	json_object_set_new(o, "agent_us",
			    json_integer((json_int_t)(uv_hrtime() / 1000 - inv->body_us)));
	return o;
}

static void on_invoked(int status, json_t *meta, const uint8_t *body, size_t body_len, void *data)
{
	struct invocation *inv = data;
	struct api_fail f = { 0 };
	if (status == -EREMOTEIO) {
		const char *code = json_string_value(json_object_get(meta, "code"));
		const char *msg = json_string_value(json_object_get(meta, "message"));
		f.status = relay_status(agent_err_parse(code));
		snprintf(f.code, sizeof(f.code), "%s",
			 code ? code : agent_err_name(AGENT_E_GUEST_ERROR));
		snprintf(f.message, sizeof(f.message), "%s", msg ? msg : "guest refused");
		inv->done(inv->data, &f, NULL, NULL, 0);
	} else if (status < 0) {
		api_fail_errno(&f, status, "invocation lost");
		inv->done(inv->data, &f, NULL, NULL, 0);
	} else {
		json_t *o = reply_meta(inv, meta, body_len);
		if (o) {
			inv->done(inv->data, NULL, o, body, body_len);
		} else {
			api_fail_errno(&f, -ENOMEM, "cannot build the reply");
			inv->done(inv->data, &f, NULL, NULL, 0);
		}
		json_decref(o);
	}
	free(inv);
}

/* Reads and checks an invocation's parameters into req; false (and *f)
 * when one is malformed. */
static bool params_read(const struct api_server_config *cfg, const struct params *p,
			struct invoke_req *req, struct api_fail *f)
{
	long timeout = cfg->default_timeout_ms, max_output = (long)cfg->max_output, cpu = -1;
	long memory_mib = 0;
	if (!param_int(p, "timeout_ms", 1, cfg->max_timeout_ms, &timeout, f) ||
	    !param_int(p, "max_output", 0, (long)cfg->max_output, &max_output, f) ||
	    !param_int(p, "cpu", 1, VM_MAX_CPUS, &cpu, f) ||
	    !param_int(p, "memory_mib", 1, WIRE_MAX_MEMORY_MIB, &memory_mib, f))
		return false;
	const char *digest = param(p, "artifact");
	const char *mode = param(p, "mode");
	if (!artifacts_digest_is_valid(digest)) {
		fail_set(f, AGENT_E_BAD_DIGEST,
			 "?artifact= must be a SHA-256 digest (64 lowercase hex)");
		return false;
	}
	if (!mode)
		mode = "process";
	if (strcmp(mode, "process") != 0 && strcmp(mode, "persistent") != 0) {
		fail_set(f, AGENT_E_BAD_PARAMETER, "mode must be \"process\" or \"persistent\"");
		return false;
	}
	req->digest = digest;
	req->mode = mode;
	req->timeout_ms = (int)timeout;
	req->max_output = (size_t)max_output;
	req->cpu = (int)cpu;
	req->memory_mib = (int)memory_mib;
	return param_e2e(p, req, f) && param_runtime(p, req, f);
}

int api_invoke_start(struct api_server *srv, const char *tenant,
		     const char *(*get)(void *src, const char *key), void *src, const void *input,
		     size_t input_len, uint64_t body_us, api_invoked_fn done, void *data,
		     struct api_fail *f)
{
	const struct api_server_config *cfg = &srv->cfg;
	struct params p = { get, src };
	struct invoke_req req = { .input = input, .input_len = input_len };
	/* The parameters are checked first, so a malformed call is refused
	 * whatever the VM's state. */
	if (!params_read(cfg, &p, &req, f))
		return -EINVAL;
	struct vm *vm = srv->ops.find_vm(srv->data, tenant);
	if (!vm) {
		fail_set(f, AGENT_E_NO_VM, "no VM for tenant %s", tenant);
		return -ENOENT;
	}
	if (!runtime_is_available(vm, &req, f))
		return -EINVAL;
	struct invocation *inv = malloc(sizeof(*inv));
	if (!inv) {
		api_fail_errno(f, -ENOMEM, "cannot invoke");
		return -ENOMEM;
	}
	*inv = (struct invocation){ .vm = vm, .body_us = body_us, .done = done, .data = data };
	int err = vm_invoke(vm, &req, on_invoked, inv);
	if (err < 0)
		free(inv);
	if (err == -ENOENT)
		fail_set(f, AGENT_E_NO_ARTIFACT,
			 "artifact %s is not on this host: PUT /v1/artifacts/%s first", req.digest,
			 req.digest);
	else if (err == -EBUSY)
		fail_set(f, AGENT_E_TOO_MANY_REQUESTS,
			 "%u invocations already in flight for this VM", cfg->max_inflight);
	else if (err < 0)
		api_fail_errno(f, err, "cannot invoke");
	return err;
}

/* ---- the HTTP route ---------------------------------------------------------------- */

static const char *query_get(void *src, const char *key)
{
	return MHD_lookup_connection_value(src, MHD_GET_ARGUMENT_KIND, key);
}

/* The answer of an invocation the HTTP route started: result and log go
 * into the JSON reply. */
static void on_http_invoked(void *data, const struct api_fail *f, json_t *reply,
			    const uint8_t *body, size_t body_len)
{
	struct request *r = data;
	if (f) {
		api_reply_fail(r, f);
	} else {
		size_t rlen = (size_t)json_integer_value(json_object_get(reply, "result_len"));
		json_t *o = json_incref(reply);
		payload_to_json(o, "result", "result_encoding", body, rlen);
		payload_to_json(o, "log", "log_encoding", body + rlen, body_len - rlen);
		json_object_del(o, "result_len");
		api_reply_json(r, MHD_HTTP_OK, o);
	}
	api_resume(r);
}

void api_post_invoke(struct request *r, const char *tenant)
{
	uint64_t body_us = uv_hrtime() / 1000;
	struct api_fail f;
	if (api_invoke_start(r->server, tenant, query_get, r->conn, r->body.data.data,
			     r->body.data.len, body_us, on_http_invoked, r, &f) < 0) {
		api_reply_fail(r, &f);
		return;
	}
	api_suspend(r);
}
