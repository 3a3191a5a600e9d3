#include "verdict.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_api.h"
#include "encoding.h"

static void verdict_init(struct verdict *v)
{
	*v = (struct verdict){
		.status = STORE_ERROR,
		.metric = METRICS_FAILED,
		.cpu = -1,
		.workers = -1,
		.vcpu_alloc_ms = -1,
		.vcpu_busy_ms = -1,
		.agent_us = -1,
		.guest_us = -1,
		.function_us = -1,
		.init_us = -1,
		.queued_us = -1,
	};
}

void verdict_fail(struct verdict *v, unsigned http, const char *code, const char *fmt, ...)
{
	verdict_init(v);
	v->next = VERDICT_FAILED;
	v->http = http;
	snprintf(v->code, sizeof(v->code), "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	va_end(ap);
}

static int64_t field(json_t *o, const char *key)
{
	json_t *x = json_object_get(o, key);
	return json_is_integer(x) ? (int64_t)json_integer_value(x) : -1;
}

/* The link failed: the host stopped answering, or the controller stops. */
static void link_failed(int status, const struct verdict_context *ctx, struct verdict *v)
{
	const char *host = ctx->host_id;
	if (status == -ECANCELED && ctx->stopping) {
		verdict_fail(v, 503, "unavailable",
			     "the controller stopped while the invocation ran");
		/* Queued work stays unfinished: the next start runs it again. */
		v->next = VERDICT_REROUTE;
	} else if (status == -ECANCELED || status == -ECONNREFUSED || status == -ECONNRESET ||
		   status == -EIO || status == -ETIMEDOUT || status == -EHOSTUNREACH) {
		verdict_fail(v, 502, "host_lost",
			     "host %s stopped answering (%s); the function may or may not have run",
			     host, strerror(-status));
		v->next = VERDICT_REROUTE;
		v->host_unreachable = status == -ECONNREFUSED || status == -ECONNRESET;
		if (v->host_unreachable)
			snprintf(v->why, sizeof(v->why), "%s", strerror(-status));
	} else {
		verdict_fail(v, 502, "agent_error", "host %s: %s", host, strerror(-status));
	}
}

/* The exception in a failed function's reply, when it has the form the
 * guest gives it; NULL otherwise. */
static json_t *exception_get(json_t *reply)
{
	json_t *x = json_object_get(reply, "exception");
	json_t *tb = json_object_get(x, "traceback");
	if (!json_is_string(json_object_get(x, "type")) ||
	    !json_is_string(json_object_get(x, "message")) || (tb && !json_is_string(tb)))
		return NULL;
	return x;
}

/* The function failed: the exception it raised, or the guest's reason. */
static void failed(json_t *reply, struct verdict *v)
{
	json_t *x = exception_get(reply);
	const char *e = json_string_value(json_object_get(reply, "error"));
	if (x)
		verdict_fail(v, 502, "function_error", "the function failed: %s: %s",
			     json_string_value(json_object_get(x, "type")),
			     json_string_value(json_object_get(x, "message")));
	else
		verdict_fail(v, 502, "function_error", "the function failed: %s",
			     e ? e : "no reason given");
	v->metric = METRICS_ERROR;
	v->exception = json_incref(x);
}

/* The agent ran the function: it returned, failed or timed out. */
static void ran(json_t *reply, const struct verdict_context *ctx, struct verdict *v)
{
	const char *status = json_string_value(json_object_get(reply, "status"));
	if (status && !strcmp(status, "ok")) {
		v->next = VERDICT_OK;
		v->status = STORE_OK;
		v->metric = METRICS_OK;
		v->http = 200;
	} else if (status && !strcmp(status, "timeout")) {
		verdict_fail(v, 504, "function_timeout",
			     "the function ran past its timeout of %u ms", ctx->timeout_ms);
		v->status = STORE_TIMEOUT;
		v->metric = METRICS_TIMEOUT;
	} else {
		failed(reply, v);
	}
	if (payload_from_json(reply, "result", "result_encoding", &v->result, &v->result_len) < 0 ||
	    payload_from_json(reply, "log", "log_encoding", &v->log, &v->log_len) < 0) {
		verdict_clear(v);
		verdict_fail(v, 502, "agent_error", "host %s sent a malformed result",
			     ctx->host_id);
		return;
	}
	v->ran = true;
	v->cold_start = json_is_true(json_object_get(reply, "cold_start"));
	v->cpu = (int)field(reply, "cpu");
	v->agent_us = field(reply, "agent_us");
	v->guest_us = field(reply, "guest_us");
	v->function_us = field(reply, "wall_us");
	v->init_us = field(reply, "init_us");
	v->queued_us = field(reply, "queued_us");
	v->workers = (int)field(reply, "workers");
	json_t *ms = json_object_get(reply, "vcpu_ms");
	v->vcpu_alloc_ms = field(ms, "allocated");
	v->vcpu_busy_ms = field(ms, "busy");
}

/* The agent refused or failed the call with an error reply. */
static void refused(int status, json_t *reply, const struct verdict_context *ctx, struct verdict *v)
{
	const char *host = ctx->host_id;
	json_t *error = json_object_get(reply, "error");
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *msg = json_string_value(json_object_get(error, "message"));
	enum agent_err e = agent_err_parse(code);
	enum agent_retry retry = e != AGENT_E_UNKNOWN && (unsigned)status == agent_err_status(e)
					 ? agent_err_retry(e)
					 : AGENT_RETRY_NO;
	if (retry == AGENT_RETRY_ARTIFACT && ctx->artifact_retry) {
		verdict_fail(v, 404, code, "host %s does not hold the artifact", host);
		v->next = VERDICT_RETRY_ARTIFACT;
	} else if (retry == AGENT_RETRY_REROUTE) {
		verdict_fail(v, 502, "vm_lost", "the tenant's VM on %s went away: %s", host,
			     msg ? msg : code);
		v->next = VERDICT_REROUTE;
		v->vm_lost = true;
		snprintf(v->why, sizeof(v->why), "%s", msg ? msg : "the VM is gone");
	} else if (e == AGENT_E_UNSUPPORTED && (unsigned)status == agent_err_status(e)) {
		/* The host cannot run this function (its guest image lacks the
		 * runtime): the invocation fails, saying why and where. */
		verdict_fail(v, 502, "function_error", "host %s cannot run the function: %s", host,
			     msg ? msg : "unsupported");
		v->metric = METRICS_ERROR;
	} else if (status == 429 || status == 503) {
		/* Refused before it ran (the VM not ready, the host full or
		 * stopping): a caller that waits hears why, queued work is
		 * tried again later. */
		if (status == 429)
			verdict_fail(v, 429, "too_many_requests", "host %s: %s", host,
				     msg ? msg : "too many requests");
		else
			verdict_fail(v, 503, code ? code : "unavailable", "host %s: %s", host,
				     msg ? msg : "unavailable");
		v->next = VERDICT_REROUTE;
	} else if (status == 413) {
		verdict_fail(v, 413, "too_large", "host %s: %s", host, msg ? msg : "too large");
	} else {
		verdict_fail(v, 502, "agent_error", "host %s answered %d: %s", host, status,
			     msg ? msg : "no reason");
	}
}

void verdict_classify(int status, json_t *reply, const struct verdict_context *ctx,
		      struct verdict *ret)
{
	verdict_init(ret);
	if (status < 0)
		link_failed(status, ctx, ret);
	else if (status == 200)
		ran(reply, ctx, ret);
	else
		refused(status, reply, ctx, ret);
}

void verdict_clear(struct verdict *v)
{
	free(v->result);
	free(v->log);
	json_decref(v->exception);
	v->exception = NULL;
	v->result = v->log = NULL;
	v->result_len = v->log_len = 0;
}
