/* The invoke route and the artifact routes. */
#include <errno.h>
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
#include "vm.h"

/* An invocation id as the controller makes them: 32 lower-case hex digits. */
static bool invocation_id_is_valid(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* Reads the optional "invocation" and "e2e" parameters the guest is given
 * as they are; false (and a 400) when one is malformed. */
static bool query_e2e(struct request *r, struct invoke_req *req)
{
	const char *id = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "invocation");
	const char *e2e = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "e2e");
	if (id && !invocation_id_is_valid(id)) {
		api_reply_error(r, AGENT_E_BAD_PARAMETER,
				"invocation must be 32 lower-case hex digits");
		return false;
	}
	if (e2e && strcmp(e2e, "0") != 0 && strcmp(e2e, "1") != 0) {
		api_reply_error(r, AGENT_E_BAD_PARAMETER, "e2e must be 0 or 1");
		return false;
	}
	req->invocation = id;
	req->e2e = e2e && strcmp(e2e, "1") == 0;
	return true;
}

/* Reads the optional "runtime" and "handler" parameters (lib/fnpkg's
 * rules); a handler goes only with python3 or nodejs. Only those two reach
 * the guest: binary and shell (or none) execute the artifact as ever.
 * False (and a 400) when one is malformed. */
static bool query_runtime(struct request *r, struct invoke_req *req)
{
	const char *name = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "runtime");
	const char *handler = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
							  "handler");
	enum fn_runtime rt = FN_RUNTIME_BINARY;
	char why[160];
	if (name && fn_runtime_parse(name, &rt) < 0) {
		api_reply_error(r, AGENT_E_BAD_PARAMETER,
				"runtime must be python3, nodejs, binary or shell");
		return false;
	}
	if (fnpkg_check_handler(rt, handler, why, sizeof(why)) < 0) {
		api_reply_error(r, AGENT_E_BAD_PARAMETER, "handler: %s", why);
		return false;
	}
	if (fn_runtime_has_handler(rt)) {
		req->runtime = fn_runtime_name(rt);
		req->handler = handler && *handler ? handler : NULL;
	}
	return true;
}

/* Whether the VM's guest can run req's runtime: python3 and nodejs need the
 * image's runtime disk. False after a 409. */
static bool runtime_is_available(struct request *r, const struct vm *vm,
				 const struct invoke_req *req)
{
	if (!req->runtime || vm->env->image->runtime[0])
		return true;
	api_reply_error(r, AGENT_E_UNSUPPORTED,
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
	struct request *r;
	struct vm *vm; /* alive while its guest can answer */
	/* When the whole request body was there (uv_hrtime() in us): the
	 * handler runs in the call that delivers the end of the body. */
	uint64_t body_us;
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

static void on_invoked(int status, json_t *meta, const uint8_t *body, size_t body_len, void *data)
{
	struct invocation *inv = data;
	struct request *r = inv->r;
	if (status == -EREMOTEIO) {
		const char *code = json_string_value(json_object_get(meta, "code"));
		const char *msg = json_string_value(json_object_get(meta, "message"));
		api_reply_error_code(r, relay_status(agent_err_parse(code)),
				     code ? code : agent_err_name(AGENT_E_GUEST_ERROR), "%s",
				     msg ? msg : "guest refused");
	} else if (status < 0) {
		api_reply_errno(r, status, "invocation lost");
	} else {
		json_t *o = json_deep_copy(meta);
		size_t rlen = (size_t)json_integer_value(json_object_get(meta, "result_len"));
		if (rlen > body_len)
			rlen = body_len;
		payload_to_json(o, "result", "result_encoding", body, rlen);
		payload_to_json(o, "log", "log_encoding", body + rlen, body_len - rlen);
		json_object_del(o, "result_len");
		/* guest_us came with the guest's meta; the agent's share is
		 * taken last, once all but serialising the reply is done. */
		vm_usage_to_json(inv->vm, o);
		json_object_set_new(o, "agent_us",
				    json_integer((json_int_t)(uv_hrtime() / 1000 - inv->body_us)));
		api_reply_json(r, MHD_HTTP_OK, o);
	}
	free(inv);
	api_resume(r);
}

void api_post_invoke(struct request *r, const char *tenant)
{
	uint64_t body_us = uv_hrtime() / 1000;
	const struct api_server_config *cfg = &r->server->cfg;
	const char *digest = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
							 "artifact");
	const char *mode = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "mode");
	long timeout = cfg->default_timeout_ms, max_output = (long)cfg->max_output, cpu = -1;
	long memory_mib = 0;
	if (!api_query_int(r, "timeout_ms", 1, cfg->max_timeout_ms, &timeout) ||
	    !api_query_int(r, "max_output", 0, (long)cfg->max_output, &max_output) ||
	    !api_query_int(r, "cpu", 1, VM_MAX_CPUS, &cpu) ||
	    !api_query_int(r, "memory_mib", 1, WIRE_MAX_MEMORY_MIB, &memory_mib))
		return;
	if (!artifacts_digest_is_valid(digest)) {
		api_reply_error(r, AGENT_E_BAD_DIGEST,
				"?artifact= must be a SHA-256 digest (64 lowercase hex)");
		return;
	}
	if (!mode)
		mode = "process";
	if (strcmp(mode, "process") != 0 && strcmp(mode, "persistent") != 0) {
		api_reply_error(r, AGENT_E_BAD_PARAMETER,
				"mode must be \"process\" or \"persistent\"");
		return;
	}
	struct invoke_req req = {
		.digest = digest,
		.mode = mode,
		.timeout_ms = (int)timeout,
		.max_output = (size_t)max_output,
		.cpu = (int)cpu,
		.memory_mib = (int)memory_mib,
		.input = r->body.data.data,
		.input_len = r->body.data.len,
	};
	if (!query_e2e(r, &req) || !query_runtime(r, &req))
		return;
	/* The parameters are checked first, so a malformed call is refused
	 * whatever the VM's state. */
	struct vm *vm = api_find_vm(r, tenant);
	if (!vm || !runtime_is_available(r, vm, &req))
		return;
	struct invocation *inv = malloc(sizeof(*inv));
	if (!inv) {
		api_reply_errno(r, -ENOMEM, "cannot invoke");
		return;
	}
	*inv = (struct invocation){ .r = r, .vm = vm, .body_us = body_us };
	int err = vm_invoke(vm, &req, on_invoked, inv);
	if (err < 0)
		free(inv);
	if (err == -ENOENT) {
		api_reply_error(r, AGENT_E_NO_ARTIFACT,
				"artifact %s is not on this host: PUT /v1/artifacts/%s first",
				digest, digest);
		return;
	}
	if (err == -EBUSY) {
		api_reply_error(r, AGENT_E_TOO_MANY_REQUESTS,
				"%u invocations already in flight for this VM", cfg->max_inflight);
		return;
	}
	if (err < 0) {
		api_reply_errno(r, err, "cannot invoke");
		return;
	}
	api_suspend(r);
}
