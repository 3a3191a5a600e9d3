/* Developer routes: functions, their invocation, and invocation records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact_gc.h"
#include "controller_int.h"
#include "encoding.h"
#include "fnpkg.h"
#include "log.h"
#include "package.h"

#define LIST_DEFAULT 50

static json_t *function_json(const struct store_function *f)
{
	return json_pack("{s:s, s:I, s:s, s:I, s:I, s:{s:I, s:I, s:I, s:s}, s:b, s:s, s:s?}",
			 "name", f->name, "version", (json_int_t)f->version, "digest", f->digest,
			 "size", (json_int_t)f->size, "created_ms", (json_int_t)f->created_ms,
			 "limits", "timeout_ms", (json_int_t)f->limits.timeout_ms, "memory_mib",
			 (json_int_t)f->limits.memory_mib, "max_concurrency",
			 (json_int_t)f->limits.max_concurrency, "mode", f->limits.mode, "encrypted",
			 f->limits.encrypted, "runtime", fn_runtime_name(f->limits.runtime),
			 "handler", f->limits.handler[0] ? f->limits.handler : NULL);
}

/* Looks a function version up (0: the latest), from the function cache when
 * it has it (fn_cache.h), and with pin pins its artifact in the same hold of
 * the lock (artifact_gc_unpin when done). Replies 404 and returns false when
 * there is none. */
static bool lookup_pin(struct request *r, int64_t version, struct store_function *f, bool pin)
{
	int err = fn_cache_lookup(&r->ctl->functions, &r->ctl->db, r->tenant, r->arg, version, pin,
				  f);
	if (err == -ENOENT && version)
		reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no version %lld of function %s",
			    (long long)version, r->arg);
	else if (err == -ENOENT)
		reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no function %s", r->arg);
	else if (err < 0)
		reply_internal(r, "function_get", err);
	return err == 0;
}

static bool lookup(struct request *r, int64_t version, struct store_function *f)
{
	return lookup_pin(r, version, f, false);
}

static void function_list(struct request *r)
{
	struct store_function *fs;
	size_t n;
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_function_list(db->store, r->tenant, &fs, &n);
	pthread_mutex_unlock(&db->lock);
	if (err < 0)
		return reply_internal(r, "function_list", err);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, function_json(&fs[i]));
	free(fs);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "functions", a));
}

static void function_get(struct request *r)
{
	static const char *const keys[] = { "version", NULL };
	int64_t version = 0;
	if (!query_only(r, keys) || !query_int(r, "version", 1, INT64_MAX, &version))
		return;
	struct store_function f;
	if (lookup(r, version, &f))
		reply_json(r, MHD_HTTP_OK, function_json(&f));
}

static void function_delete(struct request *r)
{
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_function_delete(db->store, r->tenant, r->arg);
	fn_cache_forget(&r->ctl->functions);
	pthread_mutex_unlock(&db->lock);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no function %s", r->arg);
	if (err < 0)
		return reply_internal(r, "function_delete", err);
	log_info("function_deleted tenant=%s name=%s", r->tenant, r->arg);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:s, s:b}", "name", r->arg, "deleted", 1));
}

/* Reads the deploy's runtime and handler. A handler is checked against a
 * runtime named (or binary, for an encrypted artifact without one); with
 * none, against the one the bytes give, once they are here. */
static bool function_runtime(struct request *r)
{
	const char *runtime = query(r, "runtime"), *handler = query(r, "handler");
	struct store_limits *l = &r->limits;
	l->runtime = FN_RUNTIME_UNKNOWN;
	if (runtime && fn_runtime_parse(runtime, &l->runtime) < 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
			    "runtime must be python3, nodejs, binary or shell");
		return false;
	}
	/* Sealed bytes cannot be inspected: no runtime named means binary. */
	if (l->encrypted && !runtime)
		l->runtime = FN_RUNTIME_BINARY;
	l->handler[0] = '\0';
	if (!handler)
		return true;
	char why[256];
	if (!handler[0] || strlen(handler) > FNPKG_HANDLER_MAX) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "handler must be 1..%d bytes",
			    FNPKG_HANDLER_MAX);
		return false;
	}
	if (l->runtime != FN_RUNTIME_UNKNOWN &&
	    fnpkg_check_handler(l->runtime, handler, why, sizeof(why)) < 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "%s", why);
		return false;
	}
	snprintf(l->handler, sizeof(l->handler), "%s", handler);
	return true;
}

static bool function_limits(struct request *r)
{
	static const char *const keys[] = { "timeout",   "memory",  "mode",    "max_concurrency",
					    "encrypted", "runtime", "handler", NULL };
	int64_t timeout = TIMEOUT_DEFAULT, memory = MEMORY_DEFAULT, conc = CONCURRENCY_DEFAULT;
	if (!query_only(r, keys) || !query_int(r, "timeout", 100, TIMEOUT_MAX, &timeout) ||
	    !query_int(r, "memory", 16, MEMORY_MAX, &memory) ||
	    !query_int(r, "max_concurrency", 1, CONCURRENCY_MAX, &conc))
		return false;
	const char *mode = query(r, "mode");
	r->mode_given = mode != NULL;
	if (!mode)
		mode = "process"; /* until the runtime is known */
	if (strcmp(mode, "process") != 0 && strcmp(mode, "persistent") != 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
			    "mode must be process or persistent");
		return false;
	}
	r->limits.timeout_ms = (uint32_t)timeout;
	r->limits.memory_mib = (uint32_t)memory;
	r->limits.max_concurrency = (uint32_t)conc;
	snprintf(r->limits.mode, sizeof(r->limits.mode), "%s", mode);
	r->limits.encrypted = false;
	return query_bool(r, "encrypted", &r->limits.encrypted) && function_runtime(r);
}

/* Resolves the runtime and handler against the artifact's bytes (an
 * encrypted one's are sealed: only the syntax was checked) and the mode
 * the runtime wants when none was named. Replies 400 and returns false
 * when they do not suit each other. */
static bool function_package(struct request *r)
{
	struct store_limits *l = &r->limits;
	char why[256], handler[FNPKG_HANDLER_SIZE];
	enum fn_runtime rt = l->runtime;
	if (l->encrypted) {
		snprintf(handler, sizeof(handler), "%s",
			 l->handler[0] || !fn_runtime_has_handler(rt) ? l->handler : "main");
	} else {
		int err = package_check(r->fd, r->body.received, &rt, l->handler, handler, why,
					sizeof(why));
		/* A handler given without a runtime is checked against the
		 * inferred one: its syntax is the caller's parameter. */
		bool bad_handler = err == -EINVAL && l->handler[0] && rt != FN_RUNTIME_UNKNOWN &&
				   fnpkg_check_handler(rt, l->handler, NULL, 0) < 0;
		if (err == -EINVAL) {
			reply_error(r, MHD_HTTP_BAD_REQUEST,
				    bad_handler ? "bad_parameter" : "bad_function", "%s", why);
			return false;
		}
		if (err < 0) {
			reply_internal(r, "artifact_read", err);
			return false;
		}
	}
	l->runtime = rt;
	memcpy(l->handler, handler, sizeof(l->handler));
	if (!r->mode_given)
		snprintf(l->mode, sizeof(l->mode), "%s",
			 fn_runtime_has_handler(rt) ? "persistent" : "process");
	return true;
}

/* Moves the uploaded artifact into place under its digest (rename is atomic,
 * and a file already there holds the same bytes) and records the version. */
static void function_put(struct request *r)
{
	struct controller *c = r->ctl;
	if (r->body.received == 0)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "empty", "the artifact body is empty");
	if (!function_package(r))
		return;
	uint8_t d[SHA256_DIGEST_SIZE];
	char digest[SHA256_HEX_SIZE], path[1200];
	sha256_final(&r->hash, d);
	sha256_digest_to_hex(d, digest);
	snprintf(path, sizeof(path), "%s/%s", c->artifacts_dir, digest);
	if (fchmod(r->fd, 0600) < 0 || fsync(r->fd) < 0)
		return reply_internal(r, "artifact_write", -errno);
	/* No collection runs between the rename and the commit, which may
	 * bring back a collected artifact's record (artifact_gc.h). */
	pthread_rwlock_rdlock(&c->artifacts_lock);
	if (rename(r->tmp_path, path) < 0) {
		pthread_rwlock_unlock(&c->artifacts_lock);
		return reply_internal(r, "artifact_write", -errno);
	}
	r->tmp_path[0] = '\0';
	int64_t version;
	struct store_function f;
	/* A store every controller shares gets the bytes before a version
	 * names them (db.h). */
	int err = db_artifact_share(&c->db, digest, path);
	pthread_mutex_lock(&c->db.lock);
	if (err == 0)
		err = store_function_put(c->db.store, r->tenant, r->arg, digest, r->body.received,
					 &r->limits, &version);
	if (err == 0)
		err = store_function_get(c->db.store, r->tenant, r->arg, version, &f);
	fn_cache_forget(&c->functions);
	pthread_mutex_unlock(&c->db.lock);
	pthread_rwlock_unlock(&c->artifacts_lock);
	if (err == -EINVAL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "bad function name or limits");
	if (err == -EBUSY)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
				   "the store is busy, retry");
	if (err < 0)
		return reply_internal(r, "function_put", err);
	log_info("function_deployed tenant=%s name=%s version=%lld digest=%s size=%llu runtime=%s",
		 r->tenant, r->arg, (long long)version, digest,
		 (unsigned long long)r->body.received, fn_runtime_name(r->limits.runtime));
	reply_json(r, MHD_HTTP_CREATED, function_json(&f));
}

/* ---- invoke ---- */

static bool invoke_begin(struct request *r)
{
	static const char *const keys[] = { "async", "version", NULL };
	if (!query_only(r, keys))
		return false;
	r->async = false;
	if (!query_bool(r, "async", &r->async))
		return false;
	/* JSON is checked once it is here; opaque bytes, or an input of no
	 * declared type, pass as they are. */
	const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_TYPE);
	enum httpd_media media = httpd_media_type(type);
	if (media == HTTPD_MEDIA_OTHER) {
		reply_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
			    "Content-Type %.64s: the input must be application/json or "
			    "application/octet-stream",
			    type);
		return false;
	}
	r->json_input = media == HTTPD_MEDIA_JSON;
	/* An id the caller chose: the same form as the ones drawn here. */
	const char *id = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     "X-Ditto-Invocation-Id");
	if (id && !store_is_lower_hex(id, STORE_ID_SIZE - 1)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
			    "X-Ditto-Invocation-Id must be 32 lower-case hex digits");
		return false;
	}
	snprintf(r->invocation_id, sizeof(r->invocation_id), "%s", id ? id : "");
	int64_t version = 0;
	if (!query_int(r, "version", 1, INT64_MAX, &version))
		return false;
	if (r->async)
		r->body.limit = ASYNC_INPUT_MAX;
	return true;
}

/* Whether an input declared JSON is JSON (any value, as Lambda takes; no
 * input at all is no input, whatever its declared type); replies 400 with
 * jansson's reason and where when it is not. */
static bool input_ok(struct request *r)
{
	json_error_t e;
	json_t *v = r->json_input && r->body.data.len ? json_loadb((const char *)r->body.data.data, r->body.data.len,
					       JSON_DECODE_ANY, &e)
				  : NULL;
	if (v || !r->json_input || !r->body.data.len) {
		json_decref(v);
		return true;
	}
	reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
		    "the input is declared application/json but is not JSON: %s at line %d, "
		    "column %d (byte %d)",
		    e.text, e.line, e.column, e.position);
	return false;
}

/* A synchronous call's answer: its result, or its error beside its id. */
static void sync_reply(struct request *r, const struct store_function *f,
		       struct invocation_reply *out)
{
	snprintf(r->id_header, sizeof(r->id_header), "%s", out->id);
	if (out->http == 200 || !strcmp(out->code, "function_error") ||
	    !strcmp(out->code, "function_timeout")) {
		snprintf(r->cold_header, sizeof(r->cold_header), "%s",
			 out->cold_start ? "true" : "false");
		snprintf(
			r->timing_header, sizeof(r->timing_header),
			"total_us=%lld, controller_us=%lld, agent_us=%lld, guest_us=%lld, function_us=%lld",
			(long long)out->total_us,
			(long long)(out->agent_rtt_us >= 0 ? out->total_us - out->agent_rtt_us : -1),
			(long long)out->agent_us, (long long)out->guest_us,
			(long long)out->function_us);
	}
	if (out->http == 200) {
		snprintf(r->status_header, sizeof(r->status_header), "ok");
		/* The result passes through as the function wrote it; sealed
		 * end to end, it is binary. */
		reply_raw(r, MHD_HTTP_OK,
			  f->limits.encrypted ? "application/octet-stream" : "application/json",
			  (char *)out->result, out->result_len);
		out->result = NULL;
	} else {
		snprintf(r->status_header, sizeof(r->status_header), "%s",
			 !strcmp(out->code, "function_timeout") ? "timeout" : "error");
		/* A raised exception's type and message, beside the id. */
		json_t *extra = out->exception ? json_pack("{s:O}", "exception", out->exception)
					       : NULL;
		reply_error_with(r, out->http, out->code, extra, "%s", out->message);
	}
	invocation_reply_clear(out);
}

static void function_invoke(struct request *r)
{
	if (!input_ok(r))
		return;
	int64_t version = 0;
	query_int(r, "version", 1, INT64_MAX, &version); /* checked in invoke_begin */
	struct store_function f;
	/* A synchronous call's artifact stays while it runs, even should the
	 * function be deleted and its artifacts collected meanwhile; an
	 * asynchronous one's record names its version until it ends. */
	if (!lookup_pin(r, version, &f, !r->async))
		return;
	struct controller *c = r->ctl;
	const char *chosen = r->invocation_id[0] ? r->invocation_id : NULL;
	if (f.limits.encrypted && !chosen)
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
			    "an encrypted function needs X-Ditto-Invocation-Id: the id is "
			    "sealed into the request");
	else if (!r->async) {
		struct invocation_reply out;
		invoker_call(c->invoker, &f, chosen, r->body.data.data, r->body.data.len,
			     r->start_us, &out);
		sync_reply(r, &f, &out);
	}
	if (!r->async)
		artifact_gc_unpin(&c->db, f.digest);
	if (r->replied)
		return;
	char id[STORE_ID_SIZE];
	int err = invoker_submit(c->invoker, &f, chosen, r->body.data.data, r->body.data.len, id);
	if (err == -EEXIST)
		return reply_error(r, MHD_HTTP_CONFLICT, "exists", "an invocation with id %s exists",
				   chosen);
	if (err < 0)
		return reply_internal(r, "invocation_create", err);
	snprintf(r->id_header, sizeof(r->id_header), "%s", id);
	reply_json(r, MHD_HTTP_ACCEPTED, json_pack("{s:s, s:s}", "id", id, "status", "queued"));
}

/* ---- invocation records ---- */

static json_t *invocation_json(const struct store_invocation *v, bool payloads)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:I, s:b, s:s, s:i, s:I, s:o?, s:o?, s:s?, s:s?, s:o?, s:b, s:{s:I, s:I, s:I, s:I}, s:s?}",
		"id", v->id, "function", v->function, "version", (json_int_t)v->version, "async",
		v->async, "status", store_status_name(v->status), "retries", v->retries,
		"created_ms", (json_int_t)v->created_ms, "started_ms",
		v->started_ms ? json_integer(v->started_ms) : NULL, "finished_ms",
		v->finished_ms ? json_integer(v->finished_ms) : NULL, "host",
		v->host[0] ? v->host : NULL, "vm", v->vm[0] ? v->vm : NULL, "cpu",
		v->cpu > 0 ? json_integer(v->cpu) : NULL, "cold_start", v->cold_start, "timing",
		"queued_us", (json_int_t)v->queued_us, "cold_start_us",
		(json_int_t)v->cold_start_us, "exec_us", (json_int_t)v->exec_us, "total_us",
		(json_int_t)v->total_us, "error", v->error);
	/* The VM's state when the agent answered, beside where it ran. */
	json_object_set_new(o, "workers", v->workers >= 0 ? json_integer(v->workers) : json_null());
	json_object_set_new(o, "vcpu_ms",
			    v->vcpu_alloc_ms >= 0 ? json_pack("{s:I, s:I}", "allocated",
							      (json_int_t)v->vcpu_alloc_ms, "busy",
							      (json_int_t)v->vcpu_busy_ms)
						  : json_null());
	/* The exception it raised, as the guest reported it; absent when none. */
	json_t *exception = v->exception ? json_loads(v->exception, 0, NULL) : NULL;
	if (o && exception)
		json_object_set_new(o, "exception", exception);
	else
		json_decref(exception);
	if (o && payloads) {
		payload_to_json(o, "result", "result_encoding", v->result, v->result_len);
		payload_to_json(o, "log", "log_encoding", v->log, v->log_len);
	}
	return o;
}

static void invocation_get(struct request *r)
{
	invoker_flush(r->ctl->invoker);
	struct db *db = &r->ctl->db;
	struct store_invocation v;
	pthread_mutex_lock(&db->lock);
	int err = store_invocation_get(db->store, r->tenant, r->arg, &v);
	pthread_mutex_unlock(&db->lock);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no invocation %s", r->arg);
	if (err < 0)
		return reply_internal(r, "invocation_get", err);
	json_t *o = invocation_json(&v, true);
	store_invocation_clear(&v);
	reply_json(r, MHD_HTTP_OK, o);
}

static void invocation_list(struct request *r)
{
	static const char *const keys[] = { "function", "status", "limit", "cursor", NULL };
	int64_t limit = LIST_DEFAULT;
	if (!query_only(r, keys) || !query_int(r, "limit", 1, STORE_LIST_MAX, &limit))
		return;
	struct store_filter filter = { .function = query(r, "function") };
	const char *status = query(r, "status");
	if (filter.function && !name_ok(filter.function, true))
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "bad function name");
	if (status) {
		if (store_status_parse(status, &filter.status) < 0)
			return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
					   "status must be queued, running, ok, error or timeout");
		filter.has_status = true;
	}
	invoker_flush(r->ctl->invoker);
	struct db *db = &r->ctl->db;
	struct store_invocation *vs;
	size_t n;
	char next[STORE_CURSOR_SIZE];
	pthread_mutex_lock(&db->lock);
	int err = store_invocation_list(db->store, r->tenant, &filter, query(r, "cursor"),
					(unsigned)limit, &vs, &n, next);
	pthread_mutex_unlock(&db->lock);
	if (err == -EINVAL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "bad cursor");
	if (err < 0)
		return reply_internal(r, "invocation_list", err);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, invocation_json(&vs[i], false));
	store_invocations_free(vs, n);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:o, s:s}", "invocations", a, "next_cursor", next));
}

/* ---- routes ---- */

/* clang-format off */
const struct api_route api_function_routes[] = {
	{ { "GET", "/v1/functions" }, API_AUTH_TENANT, JSON_BODY_MAX,
	  NULL, function_list, false, API_ANY },
	{ { "GET", "/v1/functions/{}" }, API_AUTH_TENANT, JSON_BODY_MAX,
	  NULL, function_get, false, API_ANY },
	{ { "PUT", "/v1/functions/{}" }, API_AUTH_TENANT, API_BODY_ARTIFACT,
	  function_limits, function_put, false, API_ANY },
	{ { "DELETE", "/v1/functions/{}" }, API_AUTH_TENANT, JSON_BODY_MAX,
	  NULL, function_delete, false, API_ANY },
	{ { "POST", "/v1/functions/{}/invoke" }, API_AUTH_TENANT, SYNC_INPUT_MAX,
	  invoke_begin, function_invoke, true, API_OWNER_CALLER },
	{ { "GET", "/v1/invocations" }, API_AUTH_TENANT, JSON_BODY_MAX,
	  NULL, invocation_list, false, API_ANY },
	{ { "GET", "/v1/invocations/{}" }, API_AUTH_TENANT, JSON_BODY_MAX,
	  NULL, invocation_get, false, API_ANY },
};
/* clang-format on */
const size_t api_function_routes_n = ARRAY_SIZE(api_function_routes);
