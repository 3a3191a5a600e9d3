/* The HTTP server: the request life cycle, routing, authentication,
 * bodies and replies. The handlers and their route table rows live in
 * api_functions.c and api_operators.c. */
#include "controller_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api_listen.h"
#include "forward.h"
#include "log.h"

/* Threading: libmicrohttpd gives each connection a thread of its own, so a
 * synchronous invocation simply blocks its connection's thread while the
 * agent runs it, and other connections go on. The store is shared through
 * db.lock, which handlers hold only around store calls. */

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
	set_resp(r, s ? status : MHD_HTTP_INTERNAL_SERVER_ERROR, s, s ? strlen(s) : 0,
		 "application/json");
}

void reply_raw(struct request *r, unsigned status, const char *content_type, char *data, size_t len)
{
	set_resp(r, status, data, len, content_type);
}

/* The message may carry bytes from the request (a path, a name): the error
 * body is built so that it is valid UTF-8 whatever they are. */
static void reply_error_v(struct request *r, unsigned status, const char *code, json_t *extra,
			  const char *fmt, va_list ap)
{
	json_t *o = httpd_error_vjson(code, fmt, ap);
	json_t *e = json_object_get(o, "error");
	if (e && r->id_header[0])
		json_object_set_new(e, "invocation", json_string(r->id_header));
	if (e && extra)
		json_object_update(e, extra);
	json_decref(extra);
	reply_json(r, status, o);
}

void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_error_v(r, status, code, NULL, fmt, ap);
	va_end(ap);
}

void reply_error_with(struct request *r, unsigned status, const char *code, json_t *extra,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_error_v(r, status, code, extra, fmt, ap);
	va_end(ap);
}

/* 503 store_unavailable with Retry-After: the store's server cannot be
 * reached or is busy; the controller reconnects by itself. */
static void reply_store_unavailable(struct request *r, const char *what, int err)
{
	log_warn("store_unavailable what=%s err=%s", what, strerror(-err));
	buf_printf(&r->extra_headers, "Retry-After: 1\r\n");
	reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
		    "the store cannot be reached now (%s); retry shortly", strerror(-err));
}

void reply_internal(struct request *r, const char *what, int err)
{
	if (err == -ENOTCONN || err == -EBUSY)
		return reply_store_unavailable(r, what, err);
	log_error("internal_error what=%s err=%s", what, strerror(-err));
	reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s failed", what);
}

/* True when the request's connection was opened while the server already
 * had its configured number of client connections (see on_connection). */
static bool conn_over(struct request *r)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info && info->socket_context == r->ctl;
}

/* Adds r's extra headers, "Name: value" lines: a relayed reply's own
 * (forward.h), a Retry-After. */
static void extra_headers_add(struct request *r, struct MHD_Response *resp)
{
	char *p = (char *)r->extra_headers.data, *end = p + r->extra_headers.len;
	while (p && p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		char *next = eol ? eol + 1 : end;
		char *colon = memchr(p, ':', (size_t)(next - p));
		char *v = colon ? colon + 1 : NULL;
		char *ve = next;
		while (ve > p && (ve[-1] == '\n' || ve[-1] == '\r' || ve[-1] == ' '))
			ve--;
		while (v && v < ve && (*v == ' ' || *v == '\t'))
			v++;
		if (colon && v <= ve) {
			*colon = '\0';
			*ve = '\0';
			MHD_add_response_header(resp, p, v);
		}
		p = next;
	}
}

static enum MHD_Result send_reply(struct request *r)
{
	static const char fallback[] =
		"{\"error\":{\"code\":\"internal\",\"message\":\"no reply\"}}";
	const char *body = r->resp ? r->resp : fallback;
	size_t len = r->resp ? r->resp_len : strlen(fallback);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body,
								    MHD_RESPMEM_MUST_COPY);
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
	extra_headers_add(r, resp);
	if (conn_over(r)) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	}
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status ? r->status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- names, parameters, JSON ------------------------------------------------------------ */

bool name_ok(const char *s, bool function)
{
	size_t n = strlen(s);
	if (n < 1 || n >= STORE_NAME_SIZE || !strcmp(s, ".") || !strcmp(s, ".."))
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

bool query_int(struct request *r, const char *key, int64_t lo, int64_t hi, int64_t *val)
{
	const char *s = query(r, key);
	if (s && parse_i64(s, lo, hi, val) < 0) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
			    "%s must be an integer in %lld..%lld", key, (long long)lo,
			    (long long)hi);
		return false;
	}
	return true;
}

bool query_bool(struct request *r, const char *key, bool *val)
{
	const char *v = query(r, key);
	if (!v)
		return true;
	if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0")) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "%s must be true or false",
			    key);
		return false;
	}
	*val = !strcmp(v, "true") || !strcmp(v, "1");
	return true;
}

struct allowed {
	const char *const *keys;
	const char *bad;
};

static enum MHD_Result check_key(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
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
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
			    "unknown query parameter %.64s", a.bad);
		return false;
	}
	return true;
}

json_t *body_object(struct request *r, bool allow_empty)
{
	if (r->body.data.len == 0 && allow_empty)
		return json_object();
	json_error_t e;
	json_t *o = json_loadb((const char *)r->body.data.data, r->body.data.len, 0, &e);
	if (!json_is_object(o)) {
		json_decref(o);
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json", "body must be a JSON object");
		return NULL;
	}
	return o;
}

static bool need_admin(struct request *r)
{
	if (!r->is_admin)
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "this route needs an admin key");
	return r->is_admin;
}

static bool need_tenant(struct request *r)
{
	if (r->is_admin)
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "this route needs a tenant key");
	return !r->is_admin;
}

/* ---- routing ------------------------------------------------------------------------------ */

static const struct {
	const struct api_route *rows;
	const size_t *n;
} tables[] = {
	{ api_operator_routes, &api_operator_routes_n },
	{ api_function_routes, &api_function_routes_n },
};

int api_route_lookup(const char *method, const char *path, const struct api_route **ret_row,
		     struct httpd_args *ret_args)
{
	int err = -ENOENT;
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++) {
		struct httpd_args args;
		int i = httpd_route_find(tables[t].rows, *tables[t].n, sizeof(struct api_route),
					 method, path, &args);
		if (i >= 0) {
			*ret_row = &tables[t].rows[i];
			*ret_args = args;
			return 0;
		}
		/* The first pattern that matches names the arguments. */
		if (i == -EPERM && err == -ENOENT) {
			*ret_args = args;
			err = -EPERM;
		}
	}
	return err;
}

/* What the "{}" of a path names, by the collection it sits in. */
enum arg_kind { ARG_TENANT, ARG_FUNCTION, ARG_ID, ARG_HOST };
static const struct {
	const char *prefix;
	enum arg_kind kind;
	const char *what;
} arg_kinds[] = {
	{ "/v1/tenants/", ARG_TENANT, "tenant" },
	{ "/v1/functions/", ARG_FUNCTION, "function" },
	{ "/v1/invocations/", ARG_ID, "invocation" },
	{ "/v1/hosts/", ARG_HOST, "host" },
};

static bool arg_ok(const char *s, enum arg_kind kind)
{
	if (kind == ARG_TENANT)
		return name_ok(s, false);
	if (kind == ARG_FUNCTION || kind == ARG_HOST)
		return name_ok(s, true);
	return store_is_lower_hex(s, STORE_ID_SIZE - 1);
}

/* Copies the path's name or id into r->arg. Returns false (after replying
 * 400, or 404 for an invocation id) when it is not a valid one. */
static bool take_arg(struct request *r, const struct httpd_args *args)
{
	if (args->n == 0)
		return true;
	/* The handler judges a second segment (a key id): "" when too long. */
	if (httpd_arg_copy(args, 1, r->arg2, sizeof(r->arg2)) < 0)
		r->arg2[0] = '\0';
	size_t k = 0;
	while (k < ARRAY_SIZE(arg_kinds) - 1 &&
	       strncmp(r->path, arg_kinds[k].prefix, strlen(arg_kinds[k].prefix)) != 0)
		k++;
	if (httpd_arg_copy(args, 0, r->arg, sizeof(r->arg)) == 0 &&
	    arg_ok(r->arg, arg_kinds[k].kind))
		return true;
	if (arg_kinds[k].kind == ARG_ID)
		reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no invocation %.*s",
			    (int)(args->v[0].len < 64 ? args->v[0].len : 64), args->v[0].p);
	else
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "bad %s name", arg_kinds[k].what);
	return false;
}

/* Maps the request to its route and argument. Returns false (after
 * replying 404, 405 or 400) when there is no such route, method or name. */
static bool route(struct request *r)
{
	const struct api_route *row = NULL;
	struct httpd_args args;
	int err = api_route_lookup(r->method, r->path, &row, &args);
	if (err == -ENOENT) {
		reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint %.200s", r->path);
		return false;
	}
	if (!take_arg(r, &args))
		return false;
	if (err == -EPERM) {
		reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method",
			    "%.16s is not allowed on %.200s", r->method, r->path);
		return false;
	}
	r->route = row;
	return true;
}

static bool authenticate(struct request *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token = httpd_bearer(h, STORE_TOKEN_SIZE - 1);
	if (!token) {
		reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
			    "need Authorization: Bearer <key>");
		return false;
	}
	struct key_cache *kc = &r->ctl->keys;
	if (key_cache_get(kc, token, r->tenant, &r->is_admin)) {
		r->authed = true;
		return true;
	}
	uint64_t gen = key_cache_gen(kc);
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_key_verify(db->store, token, r->tenant, &r->is_admin);
	pthread_mutex_unlock(&db->lock);
	/* Only a key the store denies is refused: a store that cannot
	 * answer says nothing of the key. */
	if (err == -ENOTCONN || err == -EBUSY || err == -EIO) {
		reply_store_unavailable(r, "key_verify", err);
		return false;
	}
	if (err < 0) {
		reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown or revoked key");
		return false;
	}
	key_cache_put(kc, gen, token, r->tenant, r->is_admin);
	r->authed = true;
	return true;
}

/* Applies the Content-Length policy to the route's body limit. Returns
 * false when the request was refused at once. */
static bool length_check(struct request *r)
{
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	switch (httpd_content_length(cl, r->body.limit, NULL)) {
	case HTTPD_LENGTH_OK: return true;
	case HTTPD_LENGTH_DRAIN:
		/* Read and dropped, then the 413 (see HTTPD_DRAIN_MAX); a client
		 * that waits for "100 Continue" gets the 413 instead. */
		if (!httpd_expects_continue(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
									MHD_HTTP_HEADER_EXPECT))) {
			r->body.too_big = true;
			return false;
		}
		/* fall through */
	case HTTPD_LENGTH_TOO_LARGE:
		reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
			    "body of %.24s bytes is over the limit of %llu", cl,
			    (unsigned long long)r->body.limit);
		return false;
	case HTTPD_LENGTH_BAD:
	default:
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
			    "Content-Length must be a decimal number");
		return false;
	}
}

/* Runs on a request's first call: routes, authenticates and authorises,
 * checks the query and sets up the body. Replies early on any refusal. */
static void begin(struct request *r)
{
	if (conn_over(r))
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "too_many_connections",
				   "over %u client connections are open; retry later",
				   r->ctl->cfg.max_connections);
	if (!api_input_ok(r) || !route(r))
		return;
	const struct api_route *rt = r->route;
	if (rt->auth != API_AUTH_NONE && !authenticate(r))
		return;
	if ((rt->auth == API_AUTH_ADMIN && !need_admin(r)) ||
	    (rt->auth == API_AUTH_TENANT && !need_tenant(r)))
		return;
	bool stream = rt->body_max == API_BODY_ARTIFACT;
	r->body.limit = stream ? r->ctl->cfg.max_artifact : rt->body_max;
	/* A query that sets the body's limit is read before the length is
	 * checked; an artifact's size is refused before its query is read. */
	if (!stream && rt->check && !rt->check(r))
		return;
	if (!length_check(r) || !stream || (rt->check && !rt->check(r)))
		return;
	snprintf(r->tmp_path, sizeof(r->tmp_path), "%s/.upload-XXXXXX", r->ctl->artifacts_dir);
	r->fd = mkostemp(r->tmp_path, O_CLOEXEC);
	if (r->fd < 0) {
		r->tmp_path[0] = '\0';
		return reply_internal(r, "artifact_create", -errno);
	}
	sha256_init(&r->hash);
}

/* Keeps the body in memory, or streams an artifact to its file with its
 * SHA-256 computed as it arrives (then the body only counts). */
static void take_body(struct request *r, const char *data, size_t n)
{
	if (r->replied)
		return;
	bool stream = r->fd >= 0;
	int e = httpd_body_take(&r->body, data, n, !stream);
	if (e == -EFBIG)
		return;
	if (e < 0)
		return reply_internal(r, "body", e);
	if (!stream)
		return;
	sha256_update(&r->hash, data, n);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(r->fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return reply_internal(r, "artifact_write", -errno);
		off += (size_t)w;
	}
}

/* Sees the request line's target as sent, before MHD decodes it (a %00
 * would end the decoded path early), and makes the request's state, which
 * MHD hands to on_request and on_completed. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	size_t path_len = strcspn(uri, "?");
	const char *nul = strstr(uri, "%00");
	r->path_nul = nul && (size_t)(nul - uri) < path_len;
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct controller *c = cls;
	struct request *r = *con_cls;
	if (!r || !r->begun) {
		r = r ? r : calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->ctl = c;
		r->conn = conn;
		r->method = method;
		r->fd = -1;
		r->start_us = time_now_us();
		r->begun = true;
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
		if (r->body.too_big)
			reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				    "body is over the limit of %llu bytes",
				    (unsigned long long)r->body.limit);
		else if (!forward_request(r))
			r->route->handle(r);
	}
	return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	if (!r)
		return;
	if (!r->begun) {
		/* MHD refused the request itself: only on_uri saw it. */
		free(r);
		*con_cls = NULL;
		return;
	}
	/* Invocations are the hot path: their own record says everything. */
	bool quiet = r->route && r->route->quiet && r->status < 400;
	if (!quiet || log_threshold >= LOG_DEBUG)
		log_info("http method=%s path=%s status=%u tenant=%s duration_us=%llu", r->method,
			 r->path, r->status,
			 !r->authed    ? "-"
			 : r->is_admin ? "(admin)"
				       : r->tenant,
			 (unsigned long long)(time_now_us() - r->start_us));
	if (r->fd >= 0)
		close(r->fd);
	if (r->tmp_path[0])
		unlink(r->tmp_path);
	httpd_body_free(&r->body);
	buf_free(&r->extra_headers);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

/* Counts the open client connections and marks each one opened while
 * max_connections were already open (socket context c; a connection within
 * the limit gets &c->connections): its requests get a 503 with Retry-After,
 * and it is closed after the first. Past the overflow room (api_serve),
 * nothing more is accepted: new connections wait in the kernel's listen
 * backlog until one closes. libmicrohttpd 0.9.75 may report a connection
 * closed that it never reported started (a failure while setting it up):
 * only a started one is counted down. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct controller *c = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		unsigned open = atomic_fetch_add(&c->connections, 1) + 1;
		*socket_context = open > c->cfg.max_connections ? (void *)c
								: (void *)&c->connections;
		return;
	}
	if (*socket_context)
		atomic_fetch_sub(&c->connections, 1);
	api_listener_closed(c->listener);
}

/* Raises the soft limit on open files to fit conns client connections and
 * the controller's own files (the store, links to agents, artifacts), up to
 * the hard limit: past it, accept() fails and connections wait in the listen
 * backlog unanswered. */
static void fd_room(unsigned conns)
{
	rlim_t want = (rlim_t)conns + 256;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		log_warn("fd_limit open_files=%llu needed=%llu (raise the hard limit: ulimit -Hn)",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int api_serve(struct controller *c, const struct sockaddr_in *sin, char *err, size_t err_size)
{
	/* Room over the limit for connections that are answered 503 at once. */
	unsigned hard = c->cfg.max_connections + c->cfg.max_connections / 4 + 16;
	fd_room(hard);
	key_cache_init(&c->keys);
	fn_cache_init(&c->functions);
	int r = api_listener_open(sin, &c->listener, &c->port);
	if (r < 0) {
		snprintf(err, err_size, "cannot listen on %s:%d: %s", c->cfg.listen_addr,
			 c->cfg.port, strerror(-r));
		return r;
	}
	/* The daemon's own limit is a backstop above the listener's. */
	c->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
				0, NULL, NULL, on_request, c, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
				c, MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, c,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				MHD_OPTION_CONNECTION_LIMIT, hard + 64,
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
	if (!c->d) {
		snprintf(err, err_size, "cannot start the HTTP server on %s:%d", c->cfg.listen_addr,
			 c->port);
		return -ENOMEM;
	}
	if ((r = api_listener_start(c->listener, c->d, hard)) < 0) {
		snprintf(err, err_size, "cannot start the HTTP server: %s", strerror(-r));
		return r;
	}
	return 0;
}

void api_close(struct controller *c)
{
	/* No new connection is handed over once the daemon stops. */
	api_listener_free(c->listener);
	c->listener = NULL;
	if (c->d)
		MHD_stop_daemon(c->d);
	c->d = NULL;
	key_cache_destroy(&c->keys);
	fn_cache_destroy(&c->functions);
}
