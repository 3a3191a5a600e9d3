/* The request life cycle: routing, authentication, bodies, replies. The
 * handlers live in api_functions.c and api_operators.c. */
#include "api_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Threading: libmicrohttpd gives each connection a thread of its own, so a
 * synchronous invocation simply blocks its connection's thread while the
 * agent runs it, and other connections go on. The store is shared through
 * db.lock, which handlers hold only around store calls. */

/* The most of a too-large body read (and dropped) so that the client sees
 * the 413. */
#define DRAIN_MAX (16u << 20)

/* ---- replies --------------------------------------------------------------------------- */

static void set_resp(struct request *r, unsigned status, char *data, size_t len, const char *type)
{
	free(r->resp);
	r->resp = data;
	r->resp_len = len;
	r->content_type = type;
	r->status = status;
	r->replied = true;
}

void reply_json(struct request *r, unsigned status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	set_resp(r, s ? status : MHD_HTTP_INTERNAL_SERVER_ERROR, s, s ? strlen(s) : 0, "application/json");
}

void reply_raw(struct request *r, unsigned status, const char *content_type, char *data, size_t len)
{
	set_resp(r, status, data, len, content_type);
}

void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (r->id_header[0])
		json_object_set_new(e, "invocation", json_string(r->id_header));
	reply_json(r, status, json_pack("{s:o}", "error", e));
}

void reply_internal(struct request *r, const char *what, int err)
{
	log_error("internal_error what=%s err=%s", what, strerror(-err));
	reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s failed", what);
}

static enum MHD_Result send_reply(struct request *r)
{
	static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"no reply\"}}";
	const char *body = r->resp ? r->resp : fallback;
	size_t len = r->resp ? r->resp_len : strlen(fallback);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "application/json");
	if (r->id_header[0])
		MHD_add_response_header(resp, "X-Ditto-Invocation-Id", r->id_header);
	if (r->status_header[0])
		MHD_add_response_header(resp, "X-Ditto-Status", r->status_header);
	if (r->cold_header[0])
		MHD_add_response_header(resp, "X-Ditto-Cold-Start", r->cold_header);
	if (r->timing_header[0])
		MHD_add_response_header(resp, "X-Ditto-Timing", r->timing_header);
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status ? r->status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- names, parameters, JSON ------------------------------------------------------------ */

bool name_ok(const char *s, bool function)
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

const char *query(struct request *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool query_uint(struct request *r, const char *key, long long lo, long long hi, long long *val)
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

bool query_only(struct request *r, const char *const *keys)
{
	struct allowed a = { keys, NULL };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_key, &a);
	if (a.bad) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "unknown query parameter %.64s", a.bad);
		return false;
	}
	return true;
}

json_t *body_object(struct request *r, bool allow_empty)
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

bool need_admin(struct request *r)
{
	if (!r->is_admin)
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "this route needs an admin key");
	return r->is_admin;
}

bool need_tenant(struct request *r)
{
	if (r->is_admin)
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "this route needs a tenant key");
	return !r->is_admin;
}

/* ---- routing ------------------------------------------------------------------------------ */

struct route_def {
	enum route route;
	const char *prefix; /* the path up to the argument, or all of it */
	const char *tail;   /* after the argument; NULL: no argument */
	const char *methods;
	enum { ARG_NONE, ARG_TENANT, ARG_FUNCTION, ARG_ID, ARG_HOST } arg;
};

static const struct route_def routes[] = {
	{ R_HEALTHZ, "/healthz", NULL, "GET", ARG_NONE },
	{ R_METRICS, "/metrics", NULL, "GET", ARG_NONE },
	{ R_TENANTS, "/v1/tenants", NULL, "GET POST", ARG_NONE },
	{ R_TENANT, "/v1/tenants/", "", "GET", ARG_TENANT },
	{ R_TENANT_KEYS, "/v1/tenants/", "/keys", "POST", ARG_TENANT },
	{ R_TENANT_SCALING, "/v1/tenants/", "/scaling", "PUT", ARG_TENANT },
	{ R_FUNCTIONS, "/v1/functions", NULL, "GET", ARG_NONE },
	{ R_FUNCTION, "/v1/functions/", "", "GET PUT DELETE", ARG_FUNCTION },
	{ R_FUNCTION_INVOKE, "/v1/functions/", "/invoke", "POST", ARG_FUNCTION },
	{ R_INVOCATIONS, "/v1/invocations", NULL, "GET", ARG_NONE },
	{ R_INVOCATION, "/v1/invocations/", "", "GET", ARG_ID },
	{ R_HOSTS, "/v1/hosts", NULL, "GET POST", ARG_NONE },
	{ R_HOST_HEARTBEAT, "/v1/hosts/", "/heartbeat", "POST", ARG_HOST },
	{ R_HOST_DRAIN, "/v1/hosts/", "/drain", "POST DELETE", ARG_HOST },
};

static bool arg_ok(const char *s, int kind)
{
	size_t n = strlen(s);
	if (kind == ARG_TENANT)
		return name_ok(s, false);
	if (kind == ARG_FUNCTION || kind == ARG_HOST)
		return name_ok(s, true);
	if (n != STORE_ID_SIZE - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool method_in(const char *list, const char *method)
{
	size_t n = strlen(method);
	for (const char *s = list; (s = strstr(s, method)); s += n)
		if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0'))
			return true;
	return false;
}

/* Maps the path to a route and its argument. Returns false (after replying
 * 404, 405 or 400) when there is no such route, method or name. */
static bool match(struct request *r)
{
	static const char *const what[] = { "", "", "tenant", "function", "invocation", "host" };
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const struct route_def *d = &routes[i];
		size_t plen = strlen(d->prefix);
		if (strncmp(r->path, d->prefix, plen) != 0)
			continue;
		const char *rest = r->path + plen;
		if (!d->tail) {
			if (*rest)
				continue;
		} else {
			const char *slash = strchr(rest, '/');
			const char *tail = slash ? slash : rest + strlen(rest);
			if (strcmp(tail, d->tail) != 0 || tail == rest)
				continue;
			size_t n = (size_t)(tail - rest);
			char seg[512];
			snprintf(seg, sizeof(seg), "%.*s", (int)(n < sizeof(seg) ? n : sizeof(seg) - 1), rest);
			if (n >= sizeof(r->arg) || !arg_ok(seg, d->arg)) {
				if (d->arg == ARG_ID)
					reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no invocation %.64s", seg);
				else
					reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "bad %s name", what[d->arg]);
				return false;
			}
			memcpy(r->arg, seg, n + 1);
		}
		if (!method_in(d->methods, r->method)) {
			reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method", "%.16s is not allowed on %.200s",
				    r->method, r->path);
			return false;
		}
		r->route = d->route;
		return true;
	}
	reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint %.200s", r->path);
	return false;
}

static bool authenticate(struct request *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) >= STORE_TOKEN_SIZE) {
		reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "need Authorization: Bearer <key>");
		return false;
	}
	struct db *db = &r->api->db;
	pthread_mutex_lock(&db->lock);
	int err = store_key_verify(db->store, h + 7, r->tenant, &r->is_admin);
	pthread_mutex_unlock(&db->lock);
	if (err < 0) {
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
	if (!match(r) || r->route == R_HEALTHZ)
		return;
	if (!authenticate(r))
		return;
	bool put_fn = r->route == R_FUNCTION && strcmp(r->method, "PUT") == 0;
	switch (r->route) {
	case R_METRICS:
	case R_TENANTS:
	case R_TENANT_SCALING:
	case R_HOSTS:
	case R_HOST_HEARTBEAT:
	case R_HOST_DRAIN:
		if (!need_admin(r))
			return;
		break;
	case R_FUNCTIONS:
	case R_FUNCTION:
	case R_FUNCTION_INVOKE:
	case R_INVOCATIONS:
	case R_INVOCATION:
		if (!need_tenant(r))
			return;
		break;
	default: break;
	}
	r->limit = put_fn ? r->api->cfg.max_artifact : JSON_BODY_MAX;
	if (r->route == R_FUNCTION_INVOKE && !invoke_begin(r))
		return;
	const char *cl =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
	if (declared > r->limit) {
		/* A body that is not much too large is read and dropped before
		 * the 413 goes out: closing on a client still sending makes
		 * the kernel reset the connection, and the client may never
		 * see the answer. A huge one is refused at once. */
		if (declared <= r->limit + DRAIN_MAX) {
			r->too_big = true;
			return;
		}
		reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body of %.24s bytes is over the limit of %llu",
			    cl, (unsigned long long)r->limit);
		return;
	}
	if (put_fn) {
		if (!function_limits(r))
			return;
		snprintf(r->tmp_path, sizeof(r->tmp_path), "%s/.upload-XXXXXX", r->api->artifacts_dir);
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
	const char *m = r->method;
	bool get = !strcmp(m, "GET"), put = !strcmp(m, "PUT"), post = !strcmp(m, "POST");
	switch (r->route) {
	case R_HEALTHZ: return reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	case R_METRICS: return metrics_get(r);
	case R_TENANTS: return get ? tenant_list(r) : tenant_create(r);
	case R_TENANT: return tenant_get(r);
	case R_TENANT_KEYS: return key_create(r);
	case R_TENANT_SCALING: return scaling_set(r);
	case R_FUNCTIONS: return function_list(r);
	case R_FUNCTION: return get ? function_get(r) : put ? function_put(r) : function_delete(r);
	case R_FUNCTION_INVOKE: return function_invoke(r);
	case R_INVOCATIONS: return invocation_list(r);
	case R_INVOCATION: return invocation_get(r);
	case R_HOSTS: return get ? hosts_list(r) : host_register(r);
	case R_HOST_HEARTBEAT: return host_heartbeat(r);
	case R_HOST_DRAIN: return host_drain(r);
	default: (void)post; return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
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
		begin(r);
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
		if (r->too_big)
			reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body is over the limit of %llu bytes",
				    (unsigned long long)r->limit);
		else
			dispatch(r);
	}
	return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	if (!r)
		return;
	/* Invocations are the hot path: their own record says everything. */
	bool quiet = r->route == R_FUNCTION_INVOKE && r->status < 400;
	if (!quiet || log_threshold >= LOG_DEBUG)
		log_info("http method=%s path=%s status=%u tenant=%s duration_us=%llu", r->method, r->path,
			 r->status, !r->authed ? "-" : r->is_admin ? "(admin)" : r->tenant,
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
	    store_key_verify(a->db.store, token, tenant, &is_admin) == 0 && is_admin)
		return 0;
	int r = store_key_create(a->db.store, NULL, token);
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

/* Removes uploads a previous run left half-written. */
static void clean_uploads(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[1400];
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".upload-", 8)) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
}

void api_config_defaults(struct api_config *cfg)
{
	*cfg = (struct api_config){
		.listen_addr = "127.0.0.1", .port = 8080, .data_dir = "data/controller", .max_artifact = 48ull << 20,
		.host_timeout_ms = 5000, .vm_memory_mib = 512, .async_workers = 16, .max_connections = 1024,
		.retain = 10000, .retain_days = 7,
	};
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
	pthread_mutex_init(&a->db.lock, NULL);
	char path[1200];
	int r;
	if (snprintf(a->data_dir, sizeof(a->data_dir), "%s", cfg->data_dir) >= (int)sizeof(a->data_dir)) {
		snprintf(err, err_size, "data folder path is too long");
		r = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(a->artifacts_dir, sizeof(a->artifacts_dir), "%s/artifacts", a->data_dir);
	if ((r = mkdir_parents(a->artifacts_dir, 0700)) < 0) {
		snprintf(err, err_size, "cannot create %s: %s", a->artifacts_dir, strerror(-r));
		goto fail;
	}
	clean_uploads(a->artifacts_dir);
	snprintf(path, sizeof(path), "%s/ditto.db", a->data_dir);
	if ((r = store_open(path, &a->db.store)) < 0) {
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(-r));
		goto fail;
	}
	if ((r = admin_key_ensure(a, err, err_size)) < 0)
		goto fail;
	/* Requests never checkpoint the WAL themselves (its fsyncs would land
	 * on whichever request crossed the threshold); the fleet's thread does,
	 * on a handle of its own. */
	if ((r = store_open(path, &a->checkpoint)) < 0 || (r = store_set_autocheckpoint(a->db.store, 0)) < 0) {
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(-r));
		goto fail;
	}
	struct fleet_config fc = {
		.host_timeout_ms = cfg->host_timeout_ms, .boot_timeout_ms = 180000,
		.vm_memory_mib = cfg->vm_memory_mib, .artifacts_dir = a->artifacts_dir,
		.retain = cfg->retain, .retain_days = cfg->retain_days, .checkpoint = a->checkpoint,
	};
	struct invoker_config ic = { .async_workers = cfg->async_workers, .placement_timeout_ms = 180000 };
	if ((r = link_pool_new(&a->links)) < 0 || (r = metrics_new(&a->metrics)) < 0 ||
	    (r = fleet_new(&fc, &a->db, a->links, a->metrics, &a->fleet)) < 0 ||
	    (r = invoker_new(&ic, &a->db, a->fleet, a->links, a->metrics, &a->invoker)) < 0) {
		snprintf(err, err_size, "cannot start: %s", strerror(-r));
		goto fail;
	}
	if ((r = invoker_recover(a->invoker)) < 0) {
		snprintf(err, err_size, "cannot recover invocations: %s", strerror(-r));
		goto fail;
	}
	a->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
				NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
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
	/* Calls to agents in flight end first, so connection threads blocked
	 * on them can finish and MHD can stop. */
	if (a->fleet)
		fleet_stop_calls(a->fleet);
	if (a->d)
		MHD_stop_daemon(a->d);
	invoker_free(a->invoker);
	fleet_free(a->fleet);
	metrics_free(a->metrics);
	link_pool_free(a->links);
	store_close(a->db.store);
	store_close(a->checkpoint);
	pthread_mutex_destroy(&a->db.lock);
	free(a);
}
