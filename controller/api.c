#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "log.h"
#include "sha256.h"
#include "store.h"
#include "util.h"

#define JSON_BODY_MAX (64 * 1024)
#define TIMEOUT_DEFAULT 60000
#define TIMEOUT_MAX 300000
#define MEMORY_DEFAULT 256
#define MEMORY_MAX 2048
#define CONCURRENCY_DEFAULT 10
#define CONCURRENCY_MAX 1000

/* Threading: MHD runs every callback on its one internal polling thread
 * (epoll), so requests are handled one step at a time and a single store
 * handle suffices; SQLite would serialise writers anyway. Uploads arrive in
 * chunks, so a slow client never blocks the others. The mutex guards the
 * handle for threads the controller may add beside the HTTP one. */
struct api {
	struct api_config cfg;
	char data_dir[1024];
	struct store *store;
	pthread_mutex_t lock;
	struct MHD_Daemon *d;
	int port;
};

enum route {
	R_NONE,
	R_HEALTHZ,
	R_TENANTS,
	R_TENANT_KEYS,
	R_TENANT_SCALING,
	R_FUNCTIONS,
	R_FUNCTION,
};

struct request {
	struct api *api;
	struct MHD_Connection *conn;
	const char *method;
	char path[512];
	uint64_t start_us;
	enum route route;
	char arg[STORE_NAME_SIZE];	  /* tenant or function name from the path */
	char tenant[STORE_NAME_SIZE]; /* the caller's tenant; "" for admin */
	bool authed, is_admin;
	/* The body: JSON in memory, or an artifact streamed to a temp file. */
	struct buf body;
	uint64_t limit, received;
	bool too_big;
	int fd;
	char tmp_path[1200];
	struct sha256 hash;
	struct store_limits limits;
	/* The reply. */
	unsigned status;
	char *resp;
	bool replied;
};

/* ---- replies --------------------------------------------------------------------------- */

static void reply_json(struct request *r, unsigned status, json_t *o)
{
	free(r->resp);
	r->resp = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	r->status = r->resp ? status : MHD_HTTP_INTERNAL_SERVER_ERROR;
	r->replied = true;
}

static void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

static void reply_internal(struct request *r, const char *what, int err)
{
	log_error("internal_error what=%s err=%s", what, strerror(-err));
	reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s failed", what);
}

static enum MHD_Result send_reply(struct request *r)
{
	const char *body = r->resp ? r->resp : "{\"error\":{\"code\":\"internal\",\"message\":\"no reply\"}}";
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status ? r->status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- names, parameters, JSON ------------------------------------------------------------ */

static bool name_ok(const char *s, bool function)
{
	size_t n = strlen(s);
	if (n < 1 || n >= STORE_NAME_SIZE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			  (function && ((c >= 'A' && c <= 'Z') || c == '_' || c == '.'));
		if (!ok)
			return false;
	}
	return true;
}

static const char *query(struct request *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Reads an optional integer query parameter in lo..hi. Replies 400 and
 * returns false when it is malformed or out of range. */
static bool query_uint(struct request *r, const char *key, long long lo, long long hi, long long *val)
{
	const char *s = query(r, key);
	if (!s)
		return true;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "%s must be an integer in %lld..%lld", key,
			    lo, hi);
		return false;
	}
	*val = v;
	return true;
}

struct allowed {
	const char *const *keys;
	const char *bad;
};

static enum MHD_Result check_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct allowed *a = cls;
	for (size_t i = 0; a->keys[i]; i++)
		if (strcmp(a->keys[i], key) == 0)
			return MHD_YES;
	a->bad = key;
	return MHD_NO;
}

/* Replies 400 and returns false when the query has a parameter not in keys. */
static bool query_only(struct request *r, const char *const *keys)
{
	struct allowed a = { keys, NULL };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_key, &a);
	if (a.bad) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "unknown query parameter %.64s", a.bad);
		return false;
	}
	return true;
}

/* Parses the body as a JSON object; an empty body is {} when allow_empty.
 * Replies 400 and returns NULL otherwise. */
static json_t *body_object(struct request *r, bool allow_empty)
{
	if (r->body.len == 0 && allow_empty)
		return json_object();
	json_error_t e;
	json_t *o = json_loadb((const char *)r->body.data, r->body.len, 0, &e);
	if (!json_is_object(o)) {
		json_decref(o);
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json", "body must be a JSON object");
		return NULL;
	}
	return o;
}

static json_t *tenant_json(const struct store_tenant *t)
{
	return json_pack("{s:s, s:I, s:{s:i, s:i, s:s, s:s}}", "name", t->name, "created_ms",
			 (json_int_t)t->created_ms, "scaling", "min", t->scaling.min_workers, "max",
			 t->scaling.max_workers, "mechanism", t->scaling.mechanism, "policy", t->scaling.policy);
}

static json_t *function_json(const struct store_function *f)
{
	return json_pack("{s:s, s:I, s:s, s:I, s:I, s:{s:I, s:I, s:s, s:I}}", "name", f->name, "version",
			 (json_int_t)f->version, "digest", f->digest, "size", (json_int_t)f->size, "created_ms",
			 (json_int_t)f->created_ms, "limits", "timeout_ms", (json_int_t)f->limits.timeout_ms,
			 "memory_mib", (json_int_t)f->limits.memory_mib, "mode", f->limits.mode,
			 "max_concurrency", (json_int_t)f->limits.max_concurrency);
}

/* ---- handlers (the store lock is held) ---------------------------------------------------- */

static bool need_admin(struct request *r)
{
	if (!r->is_admin)
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "this route needs an admin key");
	return r->is_admin;
}

static bool need_tenant(struct request *r)
{
	if (r->is_admin)
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "function routes need a tenant key");
	return !r->is_admin;
}

static void tenant_create(struct request *r)
{
	json_t *o = body_object(r, false);
	if (!o)
		return;
	const char *name = json_string_value(json_object_get(o, "name"));
	if (!name || !name_ok(name, false)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "name must match [a-z0-9-]{1,63}");
	} else {
		struct store *s = r->api->store;
		int err = store_tenant_create(s, name);
		char token[STORE_TOKEN_SIZE];
		if (err == -EEXIST)
			reply_error(r, MHD_HTTP_CONFLICT, "exists", "tenant %s already exists", name);
		else if (err == -EINVAL)
			reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "bad tenant name");
		else if (err < 0)
			reply_internal(r, "tenant_create", err);
		else if ((err = store_key_create(s, name, token)) < 0)
			reply_internal(r, "key_create", err);
		else
			reply_json(r, MHD_HTTP_CREATED, json_pack("{s:s, s:s}", "name", name, "key", token));
	}
	json_decref(o);
}

static void tenant_list(struct request *r)
{
	struct store_tenant *ts;
	size_t n;
	int err = store_tenant_list(r->api->store, &ts, &n);
	if (err < 0)
		return reply_internal(r, "tenant_list", err);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, tenant_json(&ts[i]));
	free(ts);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "tenants", a));
}

static void key_create(struct request *r)
{
	if (!r->is_admin && strcmp(r->tenant, r->arg) != 0)
		return reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "a tenant key can only create its own keys");
	char token[STORE_TOKEN_SIZE];
	int err = store_key_create(r->api->store, r->arg, token);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no tenant %s", r->arg);
	if (err < 0)
		return reply_internal(r, "key_create", err);
	char key_id[STORE_KEY_ID_SIZE];
	memcpy(key_id, token, sizeof(key_id) - 1);
	key_id[sizeof(key_id) - 1] = '\0';
	reply_json(r, MHD_HTTP_CREATED, json_pack("{s:s, s:s}", "key", token, "key_id", key_id));
}

static void scaling_set(struct request *r)
{
	json_t *o = body_object(r, false);
	if (!o)
		return;
	struct store_tenant t;
	int err = store_tenant_get(r->api->store, r->arg, &t);
	json_t *min = json_object_get(o, "min"), *max = json_object_get(o, "max");
	json_t *mech = json_object_get(o, "mechanism"), *pol = json_object_get(o, "policy");
	if (err == -ENOENT) {
		reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no tenant %s", r->arg);
	} else if (err < 0) {
		reply_internal(r, "tenant_get", err);
	} else if ((min && !json_is_integer(min)) || (max && !json_is_integer(max)) ||
		   (mech && !json_is_string(mech)) || (pol && !json_is_string(pol))) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "min and max must be integers, mechanism and policy strings");
	} else {
		/* Fields left out keep their current values. */
		struct store_scaling sc = t.scaling;
		json_int_t lo = min ? json_integer_value(min) : sc.min_workers;
		json_int_t hi = max ? json_integer_value(max) : sc.max_workers;
		const char *m = mech ? json_string_value(mech) : sc.mechanism;
		const char *p = pol ? json_string_value(pol) : sc.policy;
		if (lo < 0 || lo > 255 || hi < 0 || hi > 255 || strlen(m) >= sizeof(sc.mechanism) ||
		    strlen(p) >= sizeof(sc.policy)) {
			reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "scaling values out of range");
		} else {
			sc.min_workers = (int)lo;
			sc.max_workers = (int)hi;
			/* Copy only given values: the defaults already sit in sc. */
			if (mech)
				snprintf(sc.mechanism, sizeof(sc.mechanism), "%s", m);
			if (pol)
				snprintf(sc.policy, sizeof(sc.policy), "%s", p);
			err = store_tenant_set_scaling(r->api->store, r->arg, &sc);
			if (err == -EINVAL)
				reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
					    "need 0 <= min <= max, 1 <= max <= 255, mechanism hotplug|precreated "
					    "and a printable policy");
			else if (err < 0)
				reply_internal(r, "set_scaling", err);
			else if ((err = store_tenant_get(r->api->store, r->arg, &t)) < 0)
				reply_internal(r, "tenant_get", err);
			else
				reply_json(r, MHD_HTTP_OK, tenant_json(&t));
		}
	}
	json_decref(o);
}

static void function_list(struct request *r)
{
	struct store_function *fs;
	size_t n;
	int err = store_function_list(r->api->store, r->tenant, &fs, &n);
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
	long long version = 0;
	if (!query_only(r, keys) || !query_uint(r, "version", 1, INT64_MAX, &version))
		return;
	struct store_function f;
	int err = store_function_get(r->api->store, r->tenant, r->arg, version, &f);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no function %s", r->arg);
	if (err < 0)
		return reply_internal(r, "function_get", err);
	reply_json(r, MHD_HTTP_OK, function_json(&f));
}

static void function_delete(struct request *r)
{
	int err = store_function_delete(r->api->store, r->tenant, r->arg);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no function %s", r->arg);
	if (err < 0)
		return reply_internal(r, "function_delete", err);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:s, s:b}", "name", r->arg, "deleted", 1));
}

/* Validates the limits in the query before any body is read, so a bad
 * deploy is refused without uploading the artifact. */
static bool function_limits(struct request *r)
{
	static const char *const keys[] = { "timeout", "memory", "mode", "max_concurrency", NULL };
	long long timeout = TIMEOUT_DEFAULT, memory = MEMORY_DEFAULT, conc = CONCURRENCY_DEFAULT;
	if (!query_only(r, keys) || !query_uint(r, "timeout", 1, TIMEOUT_MAX, &timeout) ||
	    !query_uint(r, "memory", 1, MEMORY_MAX, &memory) ||
	    !query_uint(r, "max_concurrency", 1, CONCURRENCY_MAX, &conc))
		return false;
	const char *mode = query(r, "mode");
	if (!mode)
		mode = "process";
	if (strcmp(mode, "process") != 0 && strcmp(mode, "persistent") != 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "mode must be process or persistent");
		return false;
	}
	r->limits.timeout_ms = (uint32_t)timeout;
	r->limits.memory_mib = (uint32_t)memory;
	r->limits.max_concurrency = (uint32_t)conc;
	snprintf(r->limits.mode, sizeof(r->limits.mode), "%s", mode);
	return true;
}

/* Moves the uploaded artifact into place under its digest (rename is atomic,
 * and a file already there holds the same bytes) and records the version. */
static void function_put(struct request *r)
{
	struct api *a = r->api;
	if (r->received == 0)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "empty", "the artifact body is empty");
	uint8_t d[SHA256_DIGEST_SIZE];
	char digest[SHA256_HEX_SIZE], path[1200];
	sha256_final(&r->hash, d);
	sha256_digest_to_hex(d, digest);
	snprintf(path, sizeof(path), "%s/artifacts/%s", a->data_dir, digest);
	if (fsync(r->fd) < 0 || rename(r->tmp_path, path) < 0)
		return reply_internal(r, "artifact_write", -errno);
	r->tmp_path[0] = '\0';
	int64_t version;
	int err = store_function_put(a->store, r->tenant, r->arg, digest, r->received, &r->limits, &version);
	struct store_function f;
	if (err == -EINVAL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "bad function name or limits");
	if (err == -EBUSY)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", "the store is busy, retry");
	if (err < 0)
		return reply_internal(r, "function_put", err);
	if ((err = store_function_get(a->store, r->tenant, r->arg, version, &f)) < 0)
		return reply_internal(r, "function_get", err);
	log_info("function_deployed tenant=%s name=%s version=%lld digest=%s size=%llu", r->tenant, r->arg,
		 (long long)version, digest, (unsigned long long)r->received);
	reply_json(r, MHD_HTTP_CREATED, function_json(&f));
}

/* ---- routing and the request life cycle ----------------------------------------------------- */

/* Maps the path to a route and its name argument. Returns false (after
 * replying 404 or 400) when there is no such route or the name is bad. */
static bool match(struct request *r)
{
	const char *p = r->path;
	const char *rest;
	if (strcmp(p, "/healthz") == 0) {
		r->route = R_HEALTHZ;
		return true;
	}
	if (strcmp(p, "/v1/tenants") == 0) {
		r->route = R_TENANTS;
		return true;
	}
	if (strcmp(p, "/v1/functions") == 0) {
		r->route = R_FUNCTIONS;
		return true;
	}
	char seg[512], tail[512];
	bool function = false;
	if (strncmp(p, "/v1/tenants/", 12) == 0) {
		rest = p + 12;
	} else if (strncmp(p, "/v1/functions/", 14) == 0) {
		rest = p + 14;
		function = true;
	} else {
		goto not_found;
	}
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	snprintf(seg, sizeof(seg), "%.*s", (int)n, rest);
	snprintf(tail, sizeof(tail), "%s", slash ? slash : "");
	if (function && !*tail)
		r->route = R_FUNCTION;
	else if (!function && strcmp(tail, "/keys") == 0)
		r->route = R_TENANT_KEYS;
	else if (!function && strcmp(tail, "/scaling") == 0)
		r->route = R_TENANT_SCALING;
	else
		goto not_found;
	if (!name_ok(seg, function)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "bad %s name", function ? "function" : "tenant");
		return false;
	}
	memcpy(r->arg, seg, strlen(seg) + 1); /* name_ok bounded its length */
	return true;
not_found:
	reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint %.200s", r->path);
	return false;
}

static bool method_ok(struct request *r)
{
	static const char *const allowed[] = {
		[R_HEALTHZ] = "GET",      [R_TENANTS] = "GET POST",	   [R_TENANT_KEYS] = "POST",
		[R_TENANT_SCALING] = "PUT", [R_FUNCTIONS] = "GET", [R_FUNCTION] = "GET PUT DELETE",
	};
	const char *list = allowed[r->route];
	size_t n = strlen(r->method);
	for (const char *s = list; (s = strstr(s, r->method)); s += n)
		if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0'))
			return true;
	reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method", "%.16s is not allowed on %.200s", r->method,
		    r->path);
	return false;
}

static bool authenticate(struct request *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) >= STORE_TOKEN_SIZE) {
		reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "need Authorization: Bearer <key>");
		return false;
	}
	if (store_key_verify(r->api->store, h + 7, r->tenant, &r->is_admin) < 0) {
		reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown or revoked key");
		return false;
	}
	r->authed = true;
	return true;
}

/* Runs on a request's first call: routes, authenticates and authorises, and
 * sets up the body. Replies early on any refusal. */
static void begin(struct request *r)
{
	if (!match(r) || !method_ok(r))
		return;
	if (r->route == R_HEALTHZ)
		return;
	if (!authenticate(r))
		return;
	bool put_fn = r->route == R_FUNCTION && strcmp(r->method, "PUT") == 0;
	switch (r->route) {
	case R_TENANTS:
	case R_TENANT_SCALING:
		if (!need_admin(r))
			return;
		break;
	case R_FUNCTIONS:
	case R_FUNCTION:
		if (!need_tenant(r))
			return;
		break;
	default: break;
	}
	r->limit = put_fn ? r->api->cfg.max_artifact : JSON_BODY_MAX;
	const char *cl =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > r->limit) {
		reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body of %.24s bytes is over the limit of %llu",
			    cl, (unsigned long long)r->limit);
		return;
	}
	if (put_fn) {
		if (!function_limits(r))
			return;
		snprintf(r->tmp_path, sizeof(r->tmp_path), "%s/artifacts/.upload-XXXXXX", r->api->data_dir);
		r->fd = mkostemp(r->tmp_path, O_CLOEXEC);
		if (r->fd < 0) {
			r->tmp_path[0] = '\0';
			return reply_internal(r, "artifact_create", -errno);
		}
		sha256_init(&r->hash);
	}
}

static void take_body(struct request *r, const char *data, size_t n)
{
	if (r->too_big || r->replied)
		return;
	if (r->received + n > r->limit) {
		r->too_big = true;
		return;
	}
	r->received += n;
	if (r->fd >= 0) {
		sha256_update(&r->hash, data, n);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(r->fd, data + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return reply_internal(r, "artifact_write", -errno);
			off += (size_t)w;
		}
	} else if (buf_append(&r->body, data, n) < 0) {
		reply_internal(r, "body", -ENOMEM);
	}
}

static void dispatch(struct request *r)
{
	bool get = strcmp(r->method, "GET") == 0, put = strcmp(r->method, "PUT") == 0;
	switch (r->route) {
	case R_HEALTHZ: return reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	case R_TENANTS: return get ? tenant_list(r) : tenant_create(r);
	case R_TENANT_KEYS: return key_create(r);
	case R_TENANT_SCALING: return scaling_set(r);
	case R_FUNCTIONS: return function_list(r);
	case R_FUNCTION: return get ? function_get(r) : put ? function_put(r) : function_delete(r);
	default: return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct api *a = cls;
	struct request *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->api = a;
		r->conn = conn;
		r->method = method;
		r->fd = -1;
		r->start_us = time_now_us();
		snprintf(r->path, sizeof(r->path), "%s", url);
		*con_cls = r;
		pthread_mutex_lock(&a->lock);
		begin(r);
		pthread_mutex_unlock(&a->lock);
		/* A refusal is sent at once; MHD then closes the connection
		 * rather than read a body nobody wants. */
		return r->replied ? send_reply(r) : MHD_YES;
	}
	if (*upload_size > 0) {
		take_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->replied) {
		if (r->too_big) {
			reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body is over the limit of %llu bytes",
				    (unsigned long long)r->limit);
		} else {
			pthread_mutex_lock(&a->lock);
			dispatch(r);
			pthread_mutex_unlock(&a->lock);
		}
	}
	return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	if (!r)
		return;
	log_info("http method=%s path=%s status=%u tenant=%s duration_us=%llu", r->method, r->path, r->status,
		 !r->authed ? "-" : r->is_admin ? "(admin)" : r->tenant,
		 (unsigned long long)(time_now_us() - r->start_us));
	if (r->fd >= 0)
		close(r->fd);
	if (r->tmp_path[0])
		unlink(r->tmp_path);
	buf_free(&r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

/* ---- start and stop --------------------------------------------------------------------------- */

/* Keeps the admin key in DATA/admin.key: a live admin key there is used as
 * is; otherwise (first start, or the file was removed) a new one is created
 * and written with mode 0600 through a temporary file and a rename. */
static int admin_key_ensure(struct api *a, char *err, size_t err_size)
{
	char path[1200], tmp[1300], token[STORE_TOKEN_SIZE + 8], tenant[STORE_NAME_SIZE];
	bool is_admin = false;
	snprintf(path, sizeof(path), "%s/admin.key", a->data_dir);
	if (file_read_text(path, token, sizeof(token)) > 0 &&
	    store_key_verify(a->store, token, tenant, &is_admin) == 0 && is_admin)
		return 0;
	int r = store_key_create(a->store, NULL, token);
	if (r < 0) {
		snprintf(err, err_size, "cannot create the admin key: %s", strerror(-r));
		return r;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", token) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, err_size, "cannot write %s: %s", path, strerror(-r));
		return r;
	}
	log_info("admin_key_written path=%s", path);
	return 0;
}

int api_start(const struct api_config *cfg, struct api **ret_api, char *err, size_t err_size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };
	if (inet_pton(AF_INET, cfg->listen_addr, &sin.sin_addr) != 1) {
		snprintf(err, err_size, "--listen must be an IPv4 address, got \"%s\"", cfg->listen_addr);
		return -EINVAL;
	}
	struct api *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	a->cfg = *cfg;
	pthread_mutex_init(&a->lock, NULL);
	char path[1200];
	int r;
	if (snprintf(a->data_dir, sizeof(a->data_dir), "%s", cfg->data_dir) >= (int)sizeof(a->data_dir)) {
		snprintf(err, err_size, "data folder path is too long");
		r = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/artifacts", a->data_dir);
	if ((r = mkdir_parents(path, 0700)) < 0) {
		snprintf(err, err_size, "cannot create %s: %s", path, strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/ditto.db", a->data_dir);
	if ((r = store_open(path, &a->store)) < 0) {
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(-r));
		goto fail;
	}
	if ((r = admin_key_ensure(a, err, err_size)) < 0)
		goto fail;
	a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, a,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED,
				on_completed, a, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
	if (!a->d) {
		snprintf(err, err_size, "cannot listen on %s:%d", cfg->listen_addr, cfg->port);
		r = -EADDRINUSE;
		goto fail;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
	a->port = info ? info->port : cfg->port;
	*ret_api = a;
	return 0;
fail:
	api_stop(a);
	return r;
}

int api_port(const struct api *a)
{
	return a->port;
}

void api_stop(struct api *a)
{
	if (!a)
		return;
	if (a->d)
		MHD_stop_daemon(a->d);
	store_close(a->store);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
